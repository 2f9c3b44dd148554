import { errorSummary, HvsnapError } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import type { Repository } from '../repository/index.js';
import type { GcResult, RestorePointManifest, RetentionPolicy, RetentionResult } from '../repository/types.js';
import type { Provider, SnapshotHandle } from '../../providers/sdk/provider.js';

export interface PruneReport {
  retention: RetentionResult;
  /** retained array snapshots deleted because no restore point keeps them any more */
  snapshotsDeleted: string[];
  /** snapshots that could not be deleted (they stay listed by `hvsnap cleanup`) */
  snapshotFailures: Array<{ name: string; error: Record<string, unknown> }>;
  gc?: GcResult;
}

/**
 * Retention for both modes: applies the policy to the repository and collects unreferenced chunks
 * under one exclusive lock (refused before anything is deleted while a backup, mount or restore
 * holds the repository), then deletes the retained array snapshots (snapshot-only restore points)
 * that no kept restore point still uses: a snapshot goes only after the restore points that used it.
 */
export async function pruneRestorePoints(
  args: { repository: Repository; provider?: Provider; logger: Logger },
  policy: RetentionPolicy & { vm?: string; dryRun?: boolean },
  opts: { signal?: AbortSignal } = {},
): Promise<PruneReport> {
  const before = await args.repository.listRestorePoints();
  const plan = await args.repository.applyRetention({ ...policy, dryRun: true });
  const orphaned = orphanedSnapshots(before, new Set(plan.deleted.map((d) => d.id)));
  const unreachable = orphaned.filter((o) => o.provider !== args.provider?.name);
  if (unreachable.length > 0) {
    // deleting the restore points would orphan snapshots this configuration cannot reach: refuse, before anything is deleted
    throw new HvsnapError(
      'input_invalid',
      `pruning would leave array snapshot(s) ${unreachable.map((o) => `${o.name} (provider ${o.provider})`).join(', ')} with no restore point; run prune with --config naming that array`,
      { context: { field: '--config' } },
    );
  }
  if (policy.dryRun) return { retention: plan, snapshotsDeleted: orphaned.map((o) => o.name), snapshotFailures: [] };
  const { retention, gc } = await args.repository.pruneAndCollect(policy);
  const report: PruneReport = { retention, snapshotsDeleted: [], snapshotFailures: [], gc };
  // the same decisions as the dry run, unless a backup committed in between: recompute from what was deleted
  for (const o of orphanedSnapshots(before, new Set(retention.deleted.map((d) => d.id)))) {
    try {
      await args.provider!.deleteSnapshot({ name: o.name, handle: o.handle as SnapshotHandle | undefined }, { signal: opts.signal });
      report.snapshotsDeleted.push(o.name);
    } catch (e) {
      args.logger.error({ snapshot: o.name, error: errorSummary(e) }, `could not delete retained array snapshot ${o.name}`);
      report.snapshotFailures.push({ name: o.name, error: errorSummary(e) });
    }
  }
  return report;
}

/** Kept array snapshots that only the deleted restore points use. */
function orphanedSnapshots(points: RestorePointManifest[], deleted: Set<string>): Array<{ provider: string; name: string; handle?: Record<string, unknown> }> {
  const key = (s: { provider: string; name: string }) => `${s.provider}\u0000${s.name}`;
  const stillUsed = new Set(points.filter((m) => !deleted.has(m.id)).flatMap((m) => m.arraySnapshots.filter((s) => s.retained).map(key)));
  const out = new Map<string, { provider: string; name: string; handle?: Record<string, unknown> }>();
  for (const m of points.filter((p) => deleted.has(p.id))) {
    for (const s of m.arraySnapshots) if (s.retained && !stillUsed.has(key(s))) out.set(key(s), { provider: s.provider, name: s.name, handle: s.handle });
  }
  return [...out.values()];
}
