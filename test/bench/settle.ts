import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { runPeer } from './run-peer.js';
import { setTimeout as sleep } from 'node:timers/promises';

/** Longer than Linux's free page reporting delay (mm/page_reporting.c: PAGE_REPORTING_DELAY, 2 s). */
const PAUSE_MS = 3000;

/**
 * Puts every timed process of a comparison in the same memory state before it starts: dirty pages
 * written back (`sync`), then a pause longer than the guest kernel's free-page-reporting delay.
 *
 * Why: on a VM with free page reporting (this bench's machine: Firecracker, `page_reporting_order`
 * on the kernel command line), memory a process frees goes back to the host about 2 s later, and
 * touching it again costs a fault in the host. A tool started right after another deleted its
 * output writes into those pages while they are still warm; one started later pays for every page.
 * Measured here with `dd bs=8M count=256 conv=fsync` (2 GiB into the page cache): 0.3-0.8 s of system
 * time right after an `rm` of the previous file, 5-6 s after a 3 s pause. Without this, the order of
 * the tools decided the figures (the restore timed first after the backups paid, those after it did
 * not). On a machine without page reporting it costs the pause and nothing else.
 *
 * The pause does not reach that state after a large free: the host takes freed memory back at a few
 * hundred MiB/s (`reported_kib` of this kernel's page_reporting module grew 8,046 MiB in the 30 s
 * after an 8 GiB file written through the page cache was deleted, in steps of about 600-770 MiB every 2 s).
 * A tool that writes through the page cache is then faster the more memory was freed just before it:
 * `qemu-img convert` of the bench's raw image took 2.9-3.1 s started 3 s after such a delete and
 * 8.2-10.0 s started 15-60 s after it (2 runs each). The peers scenario measures its restore
 * comparison in both states ({@link dropCold} gives the other one).
 */
export async function settle(): Promise<void> {
  await runPeer('sync', []);
  await sleep(PAUSE_MS);
}

/**
 * {@link settle}, with every file under `paths` (files or folders) first dropped from the page
 * cache: the input of a timed backup or restore is then read from the disk, as a proxy reads a
 * snapshot just presented to it, or a restore long after its backup. Without it the tools were not
 * compared like with like: the raw image `qemu-img convert` restores from (written by `qemu-img
 * convert` at the scenario's start; one made the same way from an 8 GiB lab disk was 4.7 of 4.7 GB
 * in memory by `fincore`), and the repositories restic and borg write through the page cache, were
 * read from memory, while hvsnap reads its packs past the cache (direct I/O); and a backup read the
 * disk warm or cold depending on what ran before it.
 */
export async function settleCold(paths: string[]): Promise<void> {
  await dropCold(paths);
  await settle();
}

/**
 * Dirty pages written back (`sync`) and every file under `paths` dropped from the page cache, with no
 * pause after: a tool started at once reads its input from the disk and writes into memory that was
 * just freed and is still backed by the host, as every page is on a machine without free page
 * reporting (see {@link settle}). Uses coreutils `dd iflag=nocache count=0` (POSIX_FADV_DONTNEED on
 * the whole file, no root needed); the pages must be clean, so it runs after `sync`.
 */
export async function dropCold(paths: string[]): Promise<void> {
  await runPeer('sync', []); // only clean pages can be dropped
  for (const p of paths) {
    const st = await stat(p).catch(() => undefined);
    if (!st) continue;
    for (const f of st.isDirectory() ? await filesUnder(p) : [p]) await runPeer('dd', [`if=${f}`, 'iflag=nocache', 'count=0', 'status=none']);
  }
}

/** Every file under `dir`, in a stable order. */
export async function filesUnder(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries
    .filter((e) => e.isFile())
    .map((e) => join(e.parentPath, e.name))
    .sort();
}
