import { readdir, rm, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { HvsnapError } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import type { ChunkStore } from './chunk-store.js';
import type { DiskIndex, GcResult, RestorePointManifest } from './types.js';
import type { ScannedRestorePoint } from './restore-point-reader.js';

/** What garbage collection needs from the repository. */
export interface GcHost {
  readonly chunks: ChunkStore;
  readonly tmpDir: string;
  readonly logger: Logger;
  scan(): Promise<ScannedRestorePoint[]>;
  readIndexOf(rp: ScannedRestorePoint & { manifest: RestorePointManifest }, diskId: string): Promise<DiskIndex>;
}

/**
 * Mark and sweep. The caller holds the exclusive lock, so no writer is running: every temp
 * folder (crashed or aborted writers, interrupted deletions) is garbage, and the committed
 * manifests name every chunk in use. A restore point whose manifest or index cannot be read
 * stops gc before anything is deleted: its chunks cannot be marked.
 */
export async function collectGarbage(host: GcHost): Promise<GcResult> {
  const t0 = Date.now();
  let tempRemoved = 0;
  for (const name of await readdir(host.tmpDir)) {
    await rm(join(host.tmpDir, name), { recursive: true, force: true });
    tempRemoved++;
  }

  const marked = new Set<string>();
  for (const rp of await host.scan()) {
    if (!rp.manifest) {
      throw new HvsnapError('repository_invalid', `gc stopped before deleting anything: restore point ${rp.id} is unreadable (${rp.error?.message ?? 'no manifest'})`, {
        cause: rp.error,
        context: { file: join(rp.dir, 'manifest.json'), restorePoint: rp.id },
        hint: `\`hvsnap verify --restore-point ${rp.id}\` shows the damage; move ${rp.dir} out of the repository, then run \`hvsnap prune\` again`,
      });
    }
    for (const disk of rp.manifest.disks) {
      let index: DiskIndex;
      try {
        index = await host.readIndexOf({ ...rp, manifest: rp.manifest }, disk.diskId);
      } catch (e) {
        throw new HvsnapError('repository_invalid', `gc stopped before deleting anything: the index of disk ${disk.diskId} in restore point ${rp.id} is unreadable`, {
          cause: e,
          context: { restorePoint: rp.id, disk: disk.diskId },
          hint: `\`hvsnap verify --restore-point ${rp.id}\` shows the damage; move ${rp.dir} out of the repository, then run \`hvsnap prune\` again`,
        });
      }
      for (const id of index.chunks) if (id !== null) marked.add(id);
    }
  }

  let chunksDeleted = 0;
  let bytesFreed = 0;
  let chunksKept = 0;
  for await (const f of host.chunks.files()) {
    if (f.id !== undefined && marked.has(f.id)) {
      chunksKept++;
      continue;
    }
    const size = await host.chunks.sizeOf(f.path);
    await unlink(f.path).catch(() => undefined);
    if (f.id === undefined) continue; // a temp file of a crashed put
    chunksDeleted++;
    bytesFreed += size;
  }
  const result = { chunksDeleted, bytesFreed, chunksKept, tempRemoved, durationMs: Date.now() - t0 };
  host.logger.info(result, 'garbage collection done');
  return result;
}
