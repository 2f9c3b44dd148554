import { HvsnapError, isHvsnapError } from '../core/errors.js';
import { join } from 'node:path';
import { isErrno } from './fs-util.js';
import type { Logger } from '../core/logger.js';
import { ChunkIndex } from './chunk-index.js';
import { infoOf } from './pack-format.js';
import { readPackEntries } from './pack-reader.js';
import { consolidateIndex } from './pack-rewrite.js';
import type { PackStore } from './pack-store.js';
import type { ScannedRestorePoint } from './restore-point-reader.js';
import type { DiskIndex, RestorePointManifest } from './types.js';

/** What `verify --repair` did. */
export interface RepairResult {
  /** packs read in full */
  packsChecked: number;
  /** packs that were damaged (truncated, bad trailer) or held bad chunks, and were rewritten or removed */
  packsDropped: number;
  /** index files that failed their checksum and were replaced */
  indexFilesReplaced: number;
  /** distinct chunks kept, checked sound */
  chunksKept: number;
  /** chunk copies dropped: bad, or in a pack that cannot be read */
  chunksDropped: number;
  /**
   * Restore points that reference chunks no pack holds any more (a backup of the VM heals them), or
   * whose manifest or disk index cannot be read (`unreadable` says which and why: nothing heals that
   * restore point, and gc stops until it is moved out of the repository).
   */
  affected: Array<{ restorePointId: string; vm: string; missingChunks: number; unreadable?: string[] }>;
}

/** What repair needs from the repository. */
export interface RepairHost {
  readonly chunks: PackStore;
  readonly logger: Logger;
  scan(): Promise<ScannedRestorePoint[]>;
  readIndexOf(rp: ScannedRestorePoint & { manifest: RestorePointManifest }, diskId: string): Promise<DiskIndex>;
}

/**
 * Rebuilds the index from the packs themselves and checks every chunk (the caller holds the
 * exclusive lock). A pack's trailer names its chunks, so a lost or damaged index file loses
 * nothing; every chunk is read and checked, and a pack holding a bad chunk or a damaged trailer
 * has its sound chunks copied into a new pack (chunks the old index knew in a pack whose trailer
 * is gone are salvaged that way too) before it is removed. Only hvsnap's own verdict is damage: a
 * read the system refuses (EIO, EACCES, the codec stopped) stops the repair before it removes
 * anything. Lists the restore points that still miss chunks (healed by the next backup of their
 * VM: an incremental re-reads what is missing; never restored as data in the meantime) and those
 * whose manifest or disk index cannot be read (nothing heals them).
 */
export async function repairRepository(host: RepairHost): Promise<RepairResult> {
  const stopped = (what: string, cause: unknown, file: string, when = 'repair stopped before removing anything') =>
    new HvsnapError('repository_invalid', `${when}: ${what}: ${(cause as Error).message}`, {
      cause,
      context: { file },
      hint: 'an error of the system, not damage the repair can mend: check the disk and file system under the repository, then run `hvsnap verify --repair` again',
    });
  const store = host.chunks;
  await store.refresh();
  const damagedIndexFiles = store.damagedIndexFiles.length;
  const old = store.index;
  // the index rebuilt from the trailers of the readable packs
  const rebuilt = new ChunkIndex();
  const broken: string[] = [];
  let packsChecked = 0;
  for (const f of await store.packFiles()) {
    if (f.name === undefined) continue;
    packsChecked++;
    try {
      const { entries } = await readPackEntries(f.path, store.format);
      const n = rebuilt.packNumber(f.name);
      for (const e of entries)
        if (!rebuilt.get(e.id) || store.isBad(e.id, rebuilt.packs[rebuilt.get(e.id)!.pack]))
          rebuilt.set(e.id, { pack: n, offset: e.offset, length: e.length, info: infoOf(e.rawLength, e.compressed) });
    } catch (e) {
      // only hvsnap's own verdict (or a pack gone) is damage; a read the system refused (EIO, EACCES,
      // EMFILE) says nothing about the pack, and a pack taken for damaged would be rewritten and removed
      if (!(isHvsnapError(e) && e.code === 'integrity_failed') && !isErrno(e, 'ENOENT')) throw stopped(`cannot read pack ${f.path}`, e, f.path);
      broken.push(f.name);
      host.logger.warn({ pack: f.path, err: (e as Error).message }, 'pack damaged');
    }
  }
  // chunks the old index placed in a broken pack, and that no sound pack holds: try to salvage them
  for (const [id, loc] of old.entries()) {
    const name = old.packs[loc.pack];
    if (broken.includes(name) && !rebuilt.get(id)) rebuilt.set(id, { ...loc, pack: rebuilt.packNumber(name) });
  }
  store.index = rebuilt;
  // read every chunk; bad ones are quarantined by the read, their packs rewritten
  const rewrite = new Set<string>(broken);
  let chunksDropped = 0;
  for (const [id, loc] of [...rebuilt.entries()]) {
    const name = rebuilt.packs[loc.pack];
    try {
      await store.get(id);
    } catch (e) {
      // a failed check quarantined the copy; any other failure (the codec stopped, EIO) is not the chunk's
      if (!(isHvsnapError(e) && e.code === 'integrity_failed')) throw stopped(`cannot check chunk ${id} of pack ${name}`, e, store.packPath(name));
      chunksDropped++;
      rewrite.add(name);
    }
  }
  for (const [id, loc] of [...rebuilt.entries()])
    if (rewrite.has(rebuilt.packs[loc.pack]) && !store.isBad(id, rebuilt.packs[loc.pack])) await store.copyStored(id);
  for (const { id, pack } of store.badCopies()) if (store.index.get(id) && store.index.packs[store.index.get(id)!.pack] === pack) store.index.drop(id);
  await consolidateIndex(store, rewrite);

  const affected: RepairResult['affected'] = [];
  // the packs are mended by now; a read the system refuses here stops the listing, not the repair
  const listing = 'repair done, but stopped while listing the restore points affected';
  for (const rp of await host.scan()) {
    if (!rp.manifest && systemRefusal(rp.error))
      throw stopped(`cannot read the manifest of restore point ${rp.id}`, rp.error, join(rp.dir, 'manifest.json'), listing);
    if (!rp.manifest) {
      affected.push({ restorePointId: rp.id, vm: '', missingChunks: 0, unreadable: [`manifest: ${rp.error?.message ?? 'unreadable'}`] });
      continue;
    }
    let missing = 0;
    const unreadable: string[] = [];
    for (const d of rp.manifest.disks) {
      let index: DiskIndex;
      try {
        index = await host.readIndexOf({ ...rp, manifest: rp.manifest }, d.diskId);
      } catch (e) {
        if (!isHvsnapError(e)) throw e;
        if (systemRefusal(e))
          throw stopped(`cannot read the index of disk ${d.diskId} in restore point ${rp.id}`, e, String(e.context.file ?? rp.dir), listing);
        unreadable.push(`index of disk ${d.diskId}: ${e.message}`);
        continue;
      }
      missing += (await store.unusable(index.chunks)).length;
    }
    if (missing > 0 || unreadable.length)
      affected.push({ restorePointId: rp.id, vm: rp.manifest.vm.name, missingChunks: missing, ...(unreadable.length && { unreadable }) });
  }
  const result = { packsChecked, packsDropped: rewrite.size, indexFilesReplaced: damagedIndexFiles, chunksKept: store.index.size, chunksDropped, affected };
  host.logger.info(result, 'repair done');
  return result;
}

/**
 * The code of a read the system refused (EIO, EACCES, EMFILE...) found in `e` or its causes; ENOENT
 * is a file gone, which is damage. Undefined when `e` is hvsnap's own verdict on what it read.
 */
function systemRefusal(e: unknown): string | undefined {
  for (let c: unknown = e, depth = 0; c && typeof c === 'object' && depth < 8; c = (c as { cause?: unknown }).cause, depth++) {
    const code = (c as NodeJS.ErrnoException).code;
    if (typeof code === 'string' && /^E[A-Z0-9]+$/.test(code) && code !== 'ENOENT') return code;
  }
  return undefined;
}
