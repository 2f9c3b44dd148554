import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { isHvsnapError } from '../core/errors.js';
import { forEachLimit, isErrno } from './fs-util.js';
import { READ_RUN_BYTES } from './pack-chunk-read.js';
import { fromInfo } from './pack-format.js';
import { readPackEntries } from './pack-reader.js';
import type { PackStore } from './pack-store.js';
import type { ScannedRestorePoint } from './restore-point-reader.js';
import type { DiskIndex, RestorePointManifest, VerifyProblem, VerifyReport } from './types.js';

/** What verify needs from the repository. */
export interface VerifyHost {
  readonly chunkSize: number;
  readonly chunks: PackStore;
  /** reads and checks a disk index (hash against the manifest, format) */
  readIndexOf(rp: ScannedRestorePoint & { manifest: RestorePointManifest }, diskId: string): Promise<DiskIndex>;
}

const MAX_PROBLEMS = 1000;

type ChunkState = { size: number } | { problem: 'chunk_missing' | 'chunk_corrupt'; why: string; file?: string };

/**
 * Checks restore points: manifest readable and matching its checksum, every index present with
 * the SHA-256 its manifest records, every referenced chunk indexed, in a pack that exists, not
 * known bad, with the size its position implies; every listed configuration file present; every
 * index file sound. `deep` also reads every distinct chunk once (decrypt, decompress, hash) and the
 * trailer of every pack those chunks are in; a chunk that fails is quarantined, so the next backup
 * that produces it writes a good copy. Deep reads go as a restore's do: chunks a backup stored end to
 * end, in reads of up to READ_RUN_BYTES (PackStore.leaseRun), each chunk still checked on its own. A
 * cold `verify --deep` of the bench's disk (4 GiB of 256 KiB chunks) took 4.1 s, against 7.4 s
 * reading a chunk at a time through the page cache (medians of 3 interleaved runs).
 */
export async function verifyRestorePoints(
  host: VerifyHost,
  points: ScannedRestorePoint[],
  deep: boolean,
  /** per disk: bytes of its not-yet-checked chunks done so far, of all of them (chunk size each, an upper bound) */
  onProgress?: (p: { disk: string; doneBytes: number; totalBytes: number }) => void,
): Promise<VerifyReport> {
  const t0 = Date.now();
  const report: VerifyReport = {
    ok: true,
    deep,
    restorePoints: points.length,
    disks: 0,
    chunkRefs: 0,
    chunksChecked: 0,
    bytesHashed: 0,
    durationMs: 0,
    problemsOmitted: 0,
    problems: [],
  };
  const add = (p: VerifyProblem): void => {
    report.ok = false;
    if (report.problems.length < MAX_PROBLEMS) report.problems.push(p);
    else report.problemsOmitted++;
  };
  const store = host.chunks;
  for (const file of store.damagedIndexFiles)
    add({ kind: 'index_file_damaged', restorePointId: '', file, message: `index file ${file} fails its checksum; run verify --repair` });
  const packs = new Map<string, Promise<'ok' | 'missing' | string>>();
  const checkPack = (name: string): Promise<'ok' | 'missing' | string> => {
    let p = packs.get(name);
    if (!p) {
      const file = store.packPath(name);
      p = (deep ? readPackEntries(file, store.format).then(() => 'ok' as const) : stat(file).then(() => 'ok' as const)).catch((e: unknown) =>
        isErrno(e, 'ENOENT') ? ('missing' as const) : isHvsnapError(e) ? e.message : Promise.reject(e),
      );
      packs.set(name, p);
    }
    return p;
  };
  const states = new Map<string, ChunkState>();
  /** What can be told of chunk `id` without reading it, as its state; none when (deep) it is to be read. */
  const checkWithoutReading = async (id: string): Promise<void> => {
    const loc = store.index.get(id);
    if (!loc) return void states.set(id, { problem: 'chunk_missing', why: 'no pack holds it' });
    const packName = store.index.packs[loc.pack];
    const file = store.packPath(packName);
    if (store.isBad(id, packName)) return void states.set(id, { problem: 'chunk_corrupt', why: 'it is known bad (quarantined)', file });
    const pack = await checkPack(packName);
    if (pack === 'missing') {
      await store.markBad(id, packName, 'pack missing');
      return void states.set(id, { problem: 'chunk_missing', why: `its pack ${file} is missing`, file });
    }
    if (pack !== 'ok' && !deep) return void states.set(id, { problem: 'chunk_corrupt', why: pack, file });
    if (!deep) return void states.set(id, { size: fromInfo(loc.info).rawLength });
  };
  const packFile = (id: string): string | undefined => {
    const loc = store.index.get(id);
    return loc && store.packPath(store.index.packs[loc.pack]);
  };
  /** Deep: reads and checks `ids` (PackStore.leaseRun); a chunk that fails gets its problem, anything else is thrown once all are released. */
  const readChunks = async (ids: string[]): Promise<void> => {
    const settled = await Promise.allSettled(store.leaseRun(ids));
    let failure: { error: unknown } | undefined;
    settled.forEach((s, k) => {
      if (s.status === 'fulfilled') {
        report.bytesHashed += s.value.data.length;
        states.set(ids[k], { size: s.value.data.length });
        s.value.release();
      } else if (isHvsnapError(s.reason) && s.reason.code === 'integrity_failed') {
        const e = s.reason;
        states.set(ids[k], { problem: e.context.reason === 'missing' ? 'chunk_missing' : 'chunk_corrupt', why: e.message, file: packFile(ids[k]) });
      } else failure ??= { error: s.reason };
    });
    if (failure) throw failure.error;
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
      if (
        !(await stat(file).then(
          () => true,
          () => false,
        ))
      )
        add({ ...where, kind: 'config_missing', file, message: `configuration file ${name} is missing` });
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
      const progress = (n: number) => onProgress?.({ disk: key, doneBytes: (done += n) * index.chunkSize, totalBytes: todo.size * index.chunkSize });
      await forEachLimit(todo, 32, async (id) => {
        await checkWithoutReading(id);
        if (states.has(id)) progress(1);
      });
      // deep: the rest read in the disk's order, a run's worth of chunks per call, up to 4 calls at once
      const toRead = [...todo].filter((id) => !states.has(id));
      const per = Math.max(1, Math.floor(READ_RUN_BYTES / index.chunkSize));
      const batches = Array.from({ length: Math.ceil(toRead.length / per) }, (_, b) => toRead.slice(b * per, (b + 1) * per));
      await forEachLimit(batches, 4, async (batch) => {
        await readChunks(batch);
        progress(batch.length);
      });
      report.chunksChecked += todo.size;
      index.chunks.forEach((id, i) => {
        if (id === null) return;
        report.chunkRefs++;
        const state = states.get(id)!;
        const offset = i * index.chunkSize;
        const expected = Math.min(index.chunkSize, index.virtualSize - offset);
        const at = { ...where, diskId: disk.diskId, chunkIndex: i, offset, chunkId: id, file: 'problem' in state ? state.file : undefined };
        const name = `chunk ${i} (offset ${offset}) of disk ${disk.diskId}: ${id}`;
        if ('problem' in state)
          add({ ...at, kind: state.problem, message: `${name} ${state.problem === 'chunk_missing' ? 'is missing' : 'is corrupt'}: ${state.why}` });
        else if (state.size !== expected) add({ ...at, kind: 'chunk_size', message: `${name} holds ${state.size} bytes, expected ${expected}` });
      });
    }
  }
  // deep: a pack whose header or trailer is damaged (its chunks may still read), once per pack
  for (const [name, p] of packs) {
    const state = await p;
    if (state !== 'ok' && state !== 'missing') add({ kind: 'pack_damaged', restorePointId: '', file: store.packPath(name), message: state });
  }
  report.durationMs = Date.now() - t0;
  return report;
}
