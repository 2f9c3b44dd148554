import { link, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { Checkpoint } from '../core/types.js';
import { localPath } from './disk-io.js';
import { findVm } from './lab-hypervisor.js';
import { readState } from './lab-state.js';

/**
 * Keeps the frozen base VHDX of each disk of a checkpoint as it is now, by hard link (O(1): the
 * lab host breaks the sharing before it writes). Tests and the demo compare restores with these.
 * Returns disk id → pinned file.
 */
export async function labPinFrozen(dir: string, checkpoint: Checkpoint, toDir: string): Promise<Record<string, string>> {
  await mkdir(toDir, { recursive: true });
  return readState(dir, async (s) => {
    const vm = findVm(s, checkpoint.vmId);
    const out: Record<string, string> = {};
    for (const d of checkpoint.disks) {
      const disk = vm.disks.find((x) => x.id === d.diskId)!;
      const volume = s.volumes.find((v) => v.name === disk.volume)!;
      const target = join(toDir, `${vm.name}-${checkpoint.id.slice(0, 8)}-${vm.disks.indexOf(disk)}.vhdx`);
      await link(localPath(volume, disk.relativePath), target);
      out[d.diskId] = target;
    }
    return out;
  });
}
