import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { isHvsnapError } from '../core/errors.js';
import type { ChunkStore } from './chunk-store.js';
import type { ScannedRestorePoint } from './restore-point-reader.js';
import { forEachLimit, isErrno } from './fs-util.js';
import { hashChunk } from './hash.js';
import type { DiskIndex, RestorePointManifest, VerifyProblem, VerifyReport } from './types.js';


/** What verify needs from the repository. */
export interface VerifyHost {
  readonly chunkSize: number;
  readonly chunks: ChunkStore;
  /** reads and checks a disk index (hash against the manifest, format) */
  readIndexOf(rp: ScannedRestorePoint & { manifest: RestorePointManifest }, diskId: string): Promise<DiskIndex>;
}

const MAX_PROBLEMS = 1000;

type ChunkState = { size: number } | 'missing' | 'corrupt';

/**
 * Checks restore points: manifest readable, every index present with the SHA-256 its manifest
 * records, every referenced chunk present with the size its position implies, every listed
 * configuration file present. `deep` also re-hashes every distinct chunk once.
 */
export async function verifyRestorePoints(
  host: VerifyHost,
  points: ScannedRestorePoint[],
  deep: boolean,
  /** per disk: bytes of its not-yet-checked chunks done so far, of all of them (chunk size each, an upper bound) */
  onProgress?: (p: { disk: string; doneBytes: number; totalBytes: number }) => void,
): Promise<VerifyReport> {
  const t0 = Date.now();
  const report: VerifyReport = { ok: true, deep, restorePoints: points.length, disks: 0, chunkRefs: 0, chunksChecked: 0, bytesHashed: 0, durationMs: 0, problemsOmitted: 0, problems: [] };
  const add = (p: VerifyProblem): void => {
    report.ok = false;
    if (report.problems.length < MAX_PROBLEMS) report.problems.push(p);
    else report.problemsOmitted++;
  };
  const states = new Map<string, ChunkState>();
  const checkChunk = async (id: string): Promise<void> => {
    const file = host.chunks.pathOf(id);
    try {
      if (deep) {
        const data = await readFile(file);
        report.bytesHashed += data.length;
        states.set(id, hashChunk(data) === id ? { size: data.length } : 'corrupt');
      } else {
        states.set(id, { size: (await stat(file)).size });
      }
    } catch (e) {
      if (!isErrno(e, 'ENOENT')) throw e;
      states.set(id, 'missing');
    }
  };

  for (const rp of points) {
    if (!rp.manifest) {
      add({ kind: 'manifest_invalid', restorePointId: rp.id, file: join(rp.dir, 'manifest.json'), message: rp.error?.message ?? 'manifest unreadable' });
      continue;
    }
    const m = rp.manifest;
    const where = { restorePointId: rp.id, vm: m.vm.name };
    for (const name of m.configFiles) {
      const file = join(rp.dir, 'config', name);
      if (!(await stat(file).then(() => true, () => false))) add({ ...where, kind: 'config_missing', file, message: `configuration file ${name} is missing` });
    }
    for (const disk of m.disks) {
      report.disks++;
      let index: DiskIndex;
      try {
        index = await host.readIndexOf({ ...rp, manifest: m }, disk.diskId);
      } catch (e) {
        const file = isHvsnapError(e) ? String(e.context.file ?? '') : '';
        const reason = isHvsnapError(e) ? e.context.reason : undefined;
        const kind = reason === 'missing' ? 'index_missing' : reason === 'mismatch' ? 'index_mismatch' : 'index_invalid';
        add({ ...where, kind, diskId: disk.diskId, file, message: (e as Error).message });
        continue;
      }
      const todo = new Set<string>();
      for (const id of index.chunks) if (id !== null && !states.has(id)) todo.add(id);
      let done = 0;
      const key = `${m.vm.name} ${disk.diskId}`;
      await forEachLimit(todo, deep ? 4 : 32, async (id) => {
        await checkChunk(id);
        onProgress?.({ disk: key, doneBytes: ++done * index.chunkSize, totalBytes: todo.size * index.chunkSize });
      });
      report.chunksChecked += todo.size;
      index.chunks.forEach((id, i) => {
        if (id === null) return;
        report.chunkRefs++;
        const state = states.get(id);
        const offset = i * index.chunkSize;
        const expected = Math.min(index.chunkSize, index.virtualSize - offset);
        const at = { ...where, diskId: disk.diskId, chunkIndex: i, offset, chunkId: id, file: host.chunks.pathOf(id) };
        if (state === 'missing') add({ ...at, kind: 'chunk_missing', message: `chunk ${i} (offset ${offset}) of disk ${disk.diskId}: ${id} is missing` });
        else if (state === 'corrupt') add({ ...at, kind: 'chunk_corrupt', message: `chunk ${i} (offset ${offset}) of disk ${disk.diskId}: ${id} does not hash to its id` });
        else if (state && state.size !== expected) add({ ...at, kind: 'chunk_size', message: `chunk ${i} (offset ${offset}) of disk ${disk.diskId}: ${id} holds ${state.size} bytes, expected ${expected}` });
      });
    }
  }
  report.durationMs = Date.now() - t0;
  return report;
}
