import { readdir, rm, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { HvsnapError } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import { consolidateIndex } from './pack-rewrite.js';
import type { PackStore } from './pack-store.js';
import type { DiskIndex, GcResult, RestorePointManifest } from './types.js';
import type { ScannedRestorePoint } from './restore-point-reader.js';

/** What garbage collection needs from the repository. */
export interface GcHost {
  readonly chunks: PackStore;
  readonly tmpDir: string;
  readonly logger: Logger;
  scan(): Promise<ScannedRestorePoint[]>;
  readIndexOf(rp: ScannedRestorePoint & { manifest: RestorePointManifest }, diskId: string): Promise<DiskIndex>;
}

/** A pack whose live share (bytes of chunks in use / bytes of chunks) falls below this is rewritten. */
export const REPACK_BELOW = 0.5;

/**
 * Mark and sweep over packs. The caller holds the exclusive lock, so no writer is running: every
 * temp folder is garbage, and the committed manifests name every chunk in use. A pack whose live
 * share is below {@link REPACK_BELOW}, or that holds a quarantined copy, has its live chunks
 * copied (checked, not recompressed) into new packs; packs with nothing live, packs no index
 * names (crashed writers) and rewritten packs are deleted after one consolidated index is
 * durable. A restore point whose manifest or index cannot be read stops gc before anything is
 * deleted: its chunks cannot be marked.
 */
export async function collectGarbage(host: GcHost, repackBelow = REPACK_BELOW): Promise<GcResult> {
  if (!(repackBelow >= 0 && repackBelow <= 1))
    throw new HvsnapError('input_invalid', `repackBelow must be a share from 0 to 1, got ${repackBelow}`, { context: { field: 'repackBelow' } });
  const t0 = Date.now();
  const store = host.chunks;
  let tempRemoved = 0;
  for (const name of await readdir(host.tmpDir)) {
    await rm(join(host.tmpDir, name), { recursive: true, force: true });
    tempRemoved++;
  }
  const marked = new Set<string>();
  for (const rp of await host.scan()) {
    if (!rp.manifest) {
      throw new HvsnapError(
        'repository_invalid',
        `gc stopped before deleting anything: restore point ${rp.id} is unreadable (${rp.error?.message ?? 'no manifest'})`,
        {
          cause: rp.error,
          context: { file: join(rp.dir, 'manifest.json'), restorePoint: rp.id },
          hint: `\`hvsnap verify --restore-point ${rp.id}\` shows the damage; move ${rp.dir} out of the repository, then run \`hvsnap prune\` again`,
        },
      );
    }
    for (const disk of rp.manifest.disks) {
      let index: DiskIndex;
      try {
        index = await host.readIndexOf({ ...rp, manifest: rp.manifest }, disk.diskId);
      } catch (e) {
        throw new HvsnapError(
          'repository_invalid',
          `gc stopped before deleting anything: the index of disk ${disk.diskId} in restore point ${rp.id} is unreadable`,
          {
            cause: e,
            context: { restorePoint: rp.id, disk: disk.diskId },
            hint: `\`hvsnap verify --restore-point ${rp.id}\` shows the damage; move ${rp.dir} out of the repository, then run \`hvsnap prune\` again`,
          },
        );
      }
      for (const id of index.chunks) if (id !== null) marked.add(id);
    }
  }

  // chunks put but never indexed (aborted writers, puts released by close) are garbage now
  const forgotten = await store.reset();
  // per pack: bytes in use, bytes in all, and whether it holds a quarantined copy
  const packs = new Map<string, { live: number; total: number; bad: boolean; liveIds: string[]; count: number }>();
  let chunksDeleted = forgotten;
  let chunksKept = 0;
  for (const [id, loc] of store.index.entries()) {
    const name = store.index.packs[loc.pack];
    let p = packs.get(name);
    if (!p) packs.set(name, (p = { live: 0, total: 0, bad: false, liveIds: [], count: 0 }));
    p.total += loc.length;
    p.count++;
    if (store.isBad(id, name)) p.bad = true;
    else if (marked.has(id)) {
      p.live += loc.length;
      p.liveIds.push(id);
      chunksKept++;
    }
  }
  // packs no index names: a crashed writer's, never committed (listed before new packs appear)
  const orphans: string[] = [];
  const files = new Set<string>();
  for (const f of await store.packFiles()) {
    if (f.name === undefined) await unlink(f.path).catch(() => undefined);
    else if (!packs.has(f.name)) orphans.push(f.name);
    if (f.name !== undefined) files.add(f.name);
  }
  // a pack holding a quarantined copy is rewritten (even when the index now points at a good copy
  // elsewhere); the records of packs already gone are simply dropped
  const vanished = new Set<string>();
  for (const { pack } of store.badCopies()) {
    const p = packs.get(pack);
    if (p) p.bad = true;
    else if (!files.has(pack)) vanished.add(pack);
  }
  await store.forgetBad(vanished);
  const drop: string[] = [];
  let packsRewritten = 0;
  for (const [name, p] of packs) {
    if (p.live === p.total && !p.bad) continue;
    if (p.live > 0 && p.live >= p.total * repackBelow && !p.bad) continue; // mostly live: kept as it is until it falls below
    for (const id of p.liveIds) {
      if (!(await store.copyStored(id))) chunksKept--; // a bad copy: not carried over (verify reports it)
    }
    if (p.liveIds.length > 0) packsRewritten++;
    chunksDeleted += p.count - p.liveIds.length;
    drop.push(name);
  }
  let bytesFreed = 0;
  for (const name of drop) bytesFreed += await store.sizeOf(store.packPath(name));
  for (const name of orphans) bytesFreed += await store.sizeOf(store.packPath(name));
  await consolidateIndex(store, [...drop, ...orphans]);
  const result = {
    chunksDeleted,
    bytesFreed,
    chunksKept,
    tempRemoved,
    packsRewritten,
    packsDeleted: drop.length + orphans.length,
    durationMs: Date.now() - t0,
  };
  host.logger.info(result, 'garbage collection done');
  return result;
}
