import { spawn } from 'node:child_process';
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
 */
export async function settle(): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    const child = spawn('sync', [], { stdio: 'ignore' });
    child.on('error', reject);
    child.on('close', () => resolve());
  });
  await sleep(PAUSE_MS);
}
