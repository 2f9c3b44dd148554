import { HvsnapError, isHvsnapError } from '../core/errors.js';
import { openBlob } from './blob-codec.js';
import { isErrno } from './fs-util.js';
import { checkChunkId } from './hash.js';
import { fromInfo } from './pack-format.js';
import type { PackReadCache } from './pack-read-cache.js';
import type { PackStore } from './pack-store.js';
import type { PackWriter } from './pack-writer.js';
import type { SharedBuffers } from './codec-pool.js';
import type { ChunkId } from './types.js';

/** What the reads of a {@link PackStore} work with: the store, its pack writer and its read handles. */
export interface PackReadState {
  store: PackStore;
  writer: PackWriter;
  reads: PackReadCache;
}

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
 * Reads chunk `id`'s blob with `readStored` and opens it into `rawBuf(rawLength)` (or in place, for
 * a blob stored raw and unencrypted), checked; a copy that fails is quarantined first.
 */
async function readChecked(
  { store, writer }: PackReadState,
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
  const inPlace = !store.keys && !compressed && loc.length === rawLength;
  try {
    return await openBlob(stored, id, rawLength, compressed, store.keys, file, inPlace ? stored : rawBuf(rawLength));
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
export async function copyStoredChunk({ store, writer, reads }: PackReadState, id: ChunkId): Promise<boolean> {
  const loc = store.locate(id);
  if (!loc) return false;
  const file = store.packPath(loc.packName);
  const { rawLength, compressed } = fromInfo(loc.info);
  let stored: Buffer;
  try {
    await writer.drain(loc.packName);
    stored = await reads.readAt(file, loc.offset, loc.length);
    await openBlob(stored, id, rawLength, compressed, store.keys, file);
  } catch (e) {
    if (!isDamage(e)) throw e;
    await store.markBad(id, loc.packName, (e as Error).message);
    return false;
  }
  await writer.append(id, { stored, compressed }, rawLength, store.index);
  return true;
}
