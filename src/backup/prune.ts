import { errorSummary } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import type { Repository } from '../repository/index.js';
import type { GcResult, RetentionPolicy, RetentionResult } from '../repository/types.js';
import type { Provider } from '../../providers/sdk/provider.js';

export interface PruneReport {
  retention: RetentionResult;
  /** retained array snapshots deleted because no restore point keeps them any more */
  snapshotsDeleted: string[];
  /** snapshots that could not be deleted (they stay listed by `hvsnap cleanup`) */
  snapshotFailures: Array<{ name: string; error: Record<string, unknown> }>;
  gc?: GcResult;
}

/**
 * Retention for both modes: applies the policy to the repository, deletes the retained array
 * snapshots (snapshot-only restore points) that no kept restore point still uses, then collects
 * unreferenced chunks. A snapshot is deleted only after the restore points that used it are gone.
 */
export async function pruneRestorePoints(
  args: { repository: Repository; provider?: Provider; logger: Logger },
  policy: RetentionPolicy & { vm?: string; dryRun?: boolean },
  opts: { signal?: AbortSignal } = {},
): Promise<PruneReport> {
  const before = new Map((await args.repository.listRestorePoints()).map((m) => [m.id, m]));
  const retention = await args.repository.applyRetention(policy);
  const kept = new Set(retention.kept.map((k) => k.id));
  const stillUsed = new Set(
    [...before.values()].filter((m) => kept.has(m.id) || !retention.deleted.some((d) => d.id === m.id)).flatMap((m) => m.arraySnapshots.filter((s) => s.retained).map((s) => `${s.provider}/${s.name}`)),
  );
  const orphaned = new Set<string>();
  for (const d of retention.deleted) {
    for (const s of before.get(d.id)?.arraySnapshots ?? []) if (s.retained && !stillUsed.has(`${s.provider}/${s.name}`)) orphaned.add(`${s.provider}/${s.name}`);
  }
  const report: PruneReport = { retention, snapshotsDeleted: [], snapshotFailures: [] };
  if (policy.dryRun) {
    report.snapshotsDeleted = [...orphaned];
    return report;
  }
  for (const key of orphaned) {
    const [provider, name] = [key.slice(0, key.indexOf('/')), key.slice(key.indexOf('/') + 1)];
    if (!args.provider || args.provider.name !== provider) {
      report.snapshotFailures.push({ name, error: { message: `kept on provider "${provider}", which this configuration does not name` } });
      continue;
    }
    try {
      await args.provider.deleteSnapshot({ name }, { signal: opts.signal });
      report.snapshotsDeleted.push(name);
    } catch (e) {
      args.logger.error({ snapshot: name, error: errorSummary(e) }, `could not delete retained array snapshot ${name}`);
      report.snapshotFailures.push({ name, error: errorSummary(e) });
    }
  }
  report.gc = await args.repository.gc();
  return report;
}
