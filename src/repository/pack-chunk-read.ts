import { HvsnapError, isHvsnapError } from '../core/errors.js';
import { inPlaceOf, openBlob, openBlobs } from './blob-codec.js';
import { isErrno } from './fs-util.js';
import { checkChunkId, isChunkId } from './hash.js';
import { fromInfo } from './pack-format.js';
import type { PackReadCache } from './pack-read-cache.js';
import type { PackStore } from './pack-store.js';
import type { PackWriter } from './pack-writer.js';
import { SEAL_OVERHEAD, type OpenMode, type SharedBuffers } from './codec-pool.js';
import type { ChunkId } from './types.js';

/** What the reads of a {@link PackStore} work with: the store, its pack writer, its read handles, and how blobs are checked. */
export interface PackReadState {
  store: PackStore;
  writer: PackWriter;
  reads: PackReadCache;
  mode: OpenMode;
}

/**
 * Bytes one read covers at most when a restore asks for chunks whose blobs lie end to end in a
 * pack ({@link leaseChunkRun}), as a backup writes a disk's chunks. On the bench's VM, 4 GiB of
 * packs read cold took 1.46-2.14 s in 256 KiB reads (one per chunk) and 1.05-1.74 s in 4 MiB reads;
 * a restore of the bench's disk made 4.2-4.5 thousand read requests instead of 16.6 thousand, and
 * the disk's time on them (read ticks of /sys/block/vda/stat) fell by about half.
 */
export const READ_RUN_BYTES = 4 << 20;
/**
 * Bytes a read of a run may cover beyond {@link READ_RUN_BYTES}: each blob's own bytes besides its
 * chunk (nonce and tag, or checksum: at most SEAL_OVERHEAD) for as many chunks of the smallest size
 * (64 KiB) as READ_RUN_BYTES holds, so that a run of READ_RUN_BYTES of chunks stored raw is one read.
 */
export const READ_RUN_SLACK = (READ_RUN_BYTES / (64 << 10)) * SEAL_OVERHEAD;

/** A chunk read into reused memory: `data` is valid until `release()`. */
export interface ChunkLease {
  data: Buffer;
  release(): void;
}

/** {@link PackStore.get}: the bytes of chunk `id`, checked; a copy that fails is quarantined first. */
export async function readChunkCopy(state: PackReadState, id: ChunkId): Promise<Buffer> {
  return readChecked(
    state,
    id,
    (file, offset, length) => state.reads.readAt(file, offset, length),
    (rawLength) => Buffer.allocUnsafe(rawLength),
  );
}

/**
 * {@link PackStore.lease}: {@link readChunkCopy} into buffers taken from `buffers`, given back by
 * release(); the blob is read past the page cache (PackReadCache.readDirect).
 */
export async function leaseChunkCopy(state: PackReadState & { buffers: SharedBuffers }, id: ChunkId): Promise<ChunkLease> {
  const taken: Buffer[] = [];
  const take = (n: number) => {
    const b = state.buffers.take(n);
    taken.push(b);
    return b;
  };
  let released = false;
  const release = () => {
    if (released) return;
    released = true;
    for (const b of taken) state.buffers.give(b);
  };
  try {
    const readStored = (file: string, offset: number, length: number) => state.reads.readDirect(file, offset, length, take);
    return { data: await readChecked(state, id, readStored, take), release };
  } catch (e) {
    release();
    throw e;
  }
}

/**
 * {@link leaseChunkCopy} of each of `ids`, where blobs that lie end to end in one pack (in whatever
 * order they are asked for) are read together: one direct read of up to {@link READ_RUN_BYTES} (and {@link READ_RUN_SLACK}) into a buffer from
 * `runBuffers`, each blob then opened and checked on its own, all of a run's in one task on the codec
 * pool (a raw, unencrypted chunk in place, as a view of that buffer, which goes back once every chunk
 * of the run is released). One promise per id,
 * in order. A chunk that is missing or known bad, or a run whose read finds its pack missing or short,
 * falls back to {@link leaseChunkCopy} chunk by chunk, so every error, and every quarantine, is the
 * one a read of that chunk alone gives.
 */
export function leaseChunkRun(
  state: PackReadState & { buffers: SharedBuffers; runBuffers: SharedBuffers },
  ids: readonly ChunkId[],
): Array<Promise<ChunkLease>> {
  const { store } = state;
  const out = new Array<Promise<ChunkLease>>(ids.length);
  type Member = { at: number; id: ChunkId; pack: number; offset: number; length: number; info: number };
  let run: Member[] = [];
  const close = () => {
    if (run.length === 1) out[run[0].at] = leaseChunkCopy(state, run[0].id);
    else if (run.length > 1) leaseRun(state, store.index.packs[run[0].pack], run).forEach((p, k) => (out[run[k].at] = p));
    run = [];
  };
  const found: Member[] = [];
  for (const [at, id] of ids.entries()) {
    const loc = isChunkId(id) ? store.index.get(id) : undefined;
    if (loc && !store.isBad(id, store.index.packs[loc.pack])) found.push({ at, id, pack: loc.pack, offset: loc.offset, length: loc.length, info: loc.info });
    else out[at] = leaseChunkCopy(state, id); // the error a read of it alone gives
  }
  // in pack order: the codec pool seals a backup's chunks in parallel, so neighbours on the disk are
  // neighbours in the pack but not always in the same order (42% of the bench disk's chunks directly
  // follow their predecessor on the disk in its pack)
  found.sort((a, b) => a.pack - b.pack || a.offset - b.offset);
  for (const m of found) {
    const last = run.at(-1);
    if (!last || m.pack !== last.pack || m.offset !== last.offset + last.length || m.offset + m.length - run[0].offset > READ_RUN_BYTES + READ_RUN_SLACK)
      close();
    run.push(m);
  }
  close();
  return out;
}

/** The chunks of one run of end-to-end blobs of `packName` (see {@link leaseChunkRun}). */
function leaseRun(
  state: PackReadState & { buffers: SharedBuffers; runBuffers: SharedBuffers },
  packName: string,
  run: ReadonlyArray<{ id: ChunkId; offset: number; length: number; info: number }>,
): Array<Promise<ChunkLease>> {
  const { store, writer, reads } = state;
  const file = store.packPath(packName);
  const first = run[0].offset;
  let runBuf: Buffer | undefined;
  let holders = run.length;
  const drop = () => {
    if (--holders === 0 && runBuf) state.runBuffers.give(runBuf);
  };
  const stored = (async () => {
    await writer.drain(packName);
    return await reads.readDirect(file, first, run.at(-1)!.offset + run.at(-1)!.length - first, (n) => (runBuf = state.runBuffers.take(n)));
  })();
  // once read, every blob of the run is opened and checked in one task on the codec pool (openBlobs);
  // a raw, unencrypted chunk in place, as a view of the run's buffer
  const opened = stored.then((view) => {
    const items: Array<{ stored: Buffer; out: Buffer; id: ChunkId; rawLength: number; compressed: boolean; inPlace: boolean }> = [];
    try {
      for (const m of run) {
        const blob = view.subarray(m.offset - first, m.offset - first + m.length);
        const { rawLength, compressed } = fromInfo(m.info);
        const inPlace = inPlaceOf(blob, rawLength, compressed, store.keys, state.mode);
        items.push({ stored: blob, out: inPlace ?? state.buffers.take(rawLength), id: m.id, rawLength, compressed, inPlace: !!inPlace });
      }
    } catch (e) {
      // a buffer that cannot be taken fails the run: those taken before it go back
      for (const item of items) if (!item.inPlace) state.buffers.give(item.out);
      throw e;
    }
    const checked = openBlobs(items, store.keys, state.mode, file);
    checked.catch(() => undefined); // observed by every chunk of the run below
    return { items, checked };
  });
  return run.map(async (m, k) => {
    let batch: Awaited<typeof opened>;
    try {
      batch = await opened;
    } catch (e) {
      drop();
      // a missing or short pack: each chunk read alone, for its own error and quarantine
      if (isDamage(e)) return await leaseChunkCopy(state, m.id);
      throw e;
    }
    const item = batch.items[k];
    let released = false;
    const release = () => {
      if (released) return;
      released = true;
      if (!item.inPlace) state.buffers.give(item.out); // a chunk opened in place is the run buffer's
      drop();
    };
    try {
      const problem = (await batch.checked)[k];
      if (problem) throw problem;
      return { data: item.out, release };
    } catch (e) {
      release();
      if (isDamage(e)) await store.markBad(m.id, packName, (e as Error).message);
      throw e;
    }
  });
}

/**
 * Reads chunk `id`'s blob with `readStored` and opens it into `rawBuf(rawLength)` (or in place, for
 * a blob stored raw and unencrypted), checked; a copy that fails is quarantined first.
 */
async function readChecked(
  { store, writer, mode }: PackReadState,
  id: ChunkId,
  readStored: (file: string, offset: number, length: number) => Promise<Buffer>,
  rawBuf: (rawLength: number) => Buffer,
): Promise<Buffer> {
  const loc = store.index.get(checkChunkId(id));
  if (!loc) throw new HvsnapError('integrity_failed', `chunk ${id} is missing (no pack holds it)`, { context: { chunk: id, reason: 'missing' } });
  const packName = store.index.packs[loc.pack];
  const file = store.packPath(packName);
  if (store.isBad(id, packName))
    throw new HvsnapError('integrity_failed', `chunk ${id} in pack ${file} is known bad (quarantined)`, { context: { chunk: id, file, reason: 'bad' } });
  await writer.drain(packName);
  let stored: Buffer;
  try {
    stored = await readStored(file, loc.offset, loc.length);
  } catch (e) {
    if (isDamage(e)) {
      await store.markBad(id, packName, `read failed: ${(e as Error).message}`);
      throw new HvsnapError('integrity_failed', `chunk ${id}: pack ${file} is ${isErrno(e, 'ENOENT') ? 'missing' : 'truncated'}`, {
        cause: e,
        context: { chunk: id, file, reason: 'missing' },
      });
    }
    throw e;
  }
  const { rawLength, compressed } = fromInfo(loc.info);
  try {
    return await openBlob(
      stored,
      id,
      rawLength,
      compressed,
      store.keys,
      mode,
      file,
      inPlaceOf(stored, rawLength, compressed, store.keys, mode) ?? rawBuf(rawLength),
    );
  } catch (e) {
    if (isDamage(e)) await store.markBad(id, packName, (e as Error).message);
    throw e;
  }
}

/**
 * Whether a failed read or check of a stored copy says the copy is damaged (its pack missing or
 * short, its bytes not what its id says): only then is it quarantined. Anything else (the codec's
 * worker stopped, memory ran out, a disk error) says nothing about the copy, which stays trusted;
 * quarantining it would make a sound restore point unrestorable until a backup stored it again.
 */
function isDamage(e: unknown): boolean {
  return isErrno(e, 'ENOENT') || (isHvsnapError(e) && e.code === 'integrity_failed');
}

/**
 * {@link PackStore.copyStored}: chunk `id`'s stored blob, checked, copied into the open pack; false
 * (and the copy quarantined) when the copy is damaged, a throw when the check itself failed.
 */
export async function copyStoredChunk({ store, writer, reads, mode }: PackReadState, id: ChunkId): Promise<boolean> {
  const loc = store.locate(id);
  if (!loc) return false;
  const file = store.packPath(loc.packName);
  const { rawLength, compressed } = fromInfo(loc.info);
  let stored: Buffer;
  try {
    await writer.drain(loc.packName);
    stored = await reads.readAt(file, loc.offset, loc.length);
    await openBlob(stored, id, rawLength, compressed, store.keys, mode, file);
  } catch (e) {
    if (!isDamage(e)) throw e;
    await store.markBad(id, loc.packName, (e as Error).message);
    return false;
  }
  await writer.append(id, { stored, compressed }, rawLength, store.index);
  return true;
}
