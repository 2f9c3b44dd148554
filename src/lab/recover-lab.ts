import { readdir, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { sweepLockDrafts } from '../core/file-lock.js';
import { isStale } from '../core/owner.js';
import { volumeLockPath } from '../core/volume-marker.js';
import { localPath } from './disk-io.js';
import { updateState } from './lab-state.js';

/** What {@link recoverLab} mended. */
export interface LabRecovery {
  /** deferred merges whose AVHDX was gone (the merge had finished; only its record was left) */
  mergesMended: string[];
  /** files a killed lab process left: copy-on-write copies, state drafts, AVHDX files no state names */
  filesRemoved: string[];
}

/** `<name>.cow-<pid>` (breakSharing) and `lab.json.<pid>.tmp` (saveState): a lab process's drafts. */
const DRAFT = /\.cow-(\d+)$|^lab\.json\.(\d+)\.tmp$/;
/** the AVHDX a checkpoint of the lab makes next to a base: `<base>_<8 hex>.avhdx` */
const OVERLAY = /_[0-9a-f]{8}\.avhdx$/i;

/**
 * Brings a lab host back to a consistent state after a process was killed inside it, under the lab
 * lock. A deferred merge removes its AVHDX only after the merge is flushed into the base, so a
 * record whose file is gone is a finished merge: the record goes. Drafts of dead processes and
 * AVHDX files that no disk, checkpoint or deferred merge names (a checkpoint whose state was never
 * saved) are removed, and so are the drafts of the lab's locks (`<lock>.new-<pid>-…`) that dead
 * processes left. Idempotent; `hvsnap cleanup` runs it.
 */
export async function recoverLab(dir: string): Promise<LabRecovery> {
  const out: LabRecovery = { mergesMended: [], filesRemoved: [] };
  await updateState(dir, async (s) => {
    const named = new Set<string>();
    for (const vm of s.vms) {
      for (const disk of vm.disks) {
        const volume = s.volumes.find((v) => v.name === disk.volume);
        if (!volume) continue;
        if (disk.pendingMerge && !(await exists(localPath(volume, disk.pendingMerge.relativePath)))) {
          out.mergesMended.push(`${vm.name} ${disk.id}: ${disk.pendingMerge.relativePath}`);
          delete disk.pendingMerge;
        }
        for (const rel of [disk.relativePath, disk.overlay?.relativePath, disk.pendingMerge?.relativePath]) if (rel) named.add(localPath(volume, rel));
      }
    }
    const top = (await readdir(dir, { withFileTypes: true })).filter((e) => e.isFile()).map((e) => join(dir, e.name));
    for (const [folder, files] of [[dir, top] as const, ...(await Promise.all(s.volumes.map(async (v) => [v.dir, await walk(v.dir)] as const)))]) {
      for (const file of files) {
        const name = file.slice(file.lastIndexOf('/') + 1);
        const draft = DRAFT.exec(name);
        const orphanOverlay = folder !== dir && OVERLAY.test(name) && !named.has(file);
        if ((draft && (await isStale({ pid: Number(draft[1] ?? draft[2]), host: '' }))) || orphanOverlay) {
          await rm(file, { force: true });
          out.filesRemoved.push(file);
        }
      }
    }
    // lock drafts and trash of killed processes: the lab lock's and every volume lock's (an
    // acquirer sweeps only its own lock, at most once a second, so cleanup cannot rely on that)
    for (const lock of [join(dir, '.lab.lock'), ...s.volumes.map((v) => volumeLockPath(v.dir))]) out.filesRemoved.push(...(await sweepLockDrafts(lock)));
  });
  return out;
}

async function exists(file: string): Promise<boolean> {
  return stat(file).then(
    () => true,
    () => false,
  );
}

/** Files below `dir` (not following links; hidden folders skipped). */
async function walk(dir: string): Promise<string[]> {
  const out: string[] = [];
  const entries = await readdir(dir, { withFileTypes: true }).catch(() => []);
  for (const e of entries) {
    const p = join(dir, e.name);
    if (e.isDirectory() && !e.name.startsWith('.')) out.push(...(await walk(p)));
    else if (e.isFile()) out.push(p);
  }
  return out;
}
