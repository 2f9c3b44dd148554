import { readdir, rm, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { fromInfo } from './pack-format.js';
import type { PackStore } from './pack-store.js';
import type { ChunkId } from './types.js';

/**
 * Rewrites the index as one consolidated index file listing every chunk of the store's in-memory
 * index that is not known bad and not in one of `dropPacks` (chunks no restore point uses stay
 * listed while their pack stays: a later backup may use them again), then removes every other
 * index file and the packs in `dropPacks`. Crash-safe by order: the new index file is durable before any old
 * one or any pack goes, and it names only packs that stay.
 */
export async function consolidateIndex(store: PackStore, dropPacks: Iterable<string>): Promise<void> {
  await store.flush();
  const dropped = new Set(dropPacks);
  const byPack = new Map<string, Array<{ id: ChunkId; offset: number; length: number; rawLength: number; compressed: boolean }>>();
  for (const [id, loc] of store.index.entries()) {
    const name = store.index.packs[loc.pack];
    if (dropped.has(name) || store.isBad(id, name)) continue;
    let list = byPack.get(name);
    if (!list) byPack.set(name, (list = []));
    list.push({ id, offset: loc.offset, length: loc.length, ...fromInfo(loc.info) });
  }
  const old = (await readdir(store.indexDir)).filter((n) => n.endsWith('.idx') || n.endsWith('.tmp'));
  const name = `${Date.now().toString(36).padStart(9, '0')}-${randomBytes(8).toString('hex')}.idx`;
  await store.writeIndexFile(
    name,
    [...byPack].map(([pack, entries]) => ({ name: pack, entries })),
  );
  for (const n of old) await rm(join(store.indexDir, n), { force: true });
  for (const pack of dropped) await unlink(store.packPath(pack)).catch(() => undefined);
  await store.forgetBad(dropped);
  await store.close(); // cached read handles may name removed packs
  await store.refresh();
}
