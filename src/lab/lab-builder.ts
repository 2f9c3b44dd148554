import { randomUUID } from 'node:crypto';
import { mkdir, readdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { HvsnapError } from '../core/errors.js';
import { writeVolumeMarker } from '../core/volume-marker.js';
import { createVhdx } from '../vhdx/index.js';
import { localPath, withVolume, writeVhdxAt } from './disk-io.js';
import { emptyState, newRct, saveState, type LabState, type LabVm } from './lab-state.js';
import { recordChange } from './rct.js';
import { seededRandom, randomBlock } from '../core/random.js';

export interface CreateLabArgs {
  /** folder for the lab; must be empty or missing */
  dir: string;
  /** number of VMs; default 6 */
  vms?: number;
  /** number of volumes (CSVs); VMs are spread over them; default 2 */
  volumes?: number;
  /** disks per VM; default 1 */
  disksPerVm?: number;
  /** virtual size of each disk in bytes; default 64 MiB */
  diskSizeBytes?: number;
  /** bytes of random data written into each disk, in 1 MiB runs at random places; default a quarter of the disk */
  dataBytes?: number;
  /** VHDX block size; default 1 MiB (small labs), Hyper-V's default is 32 MiB */
  blockSize?: number;
  /** VM groups: name → VM names */
  groups?: Record<string, string[]>;
  /** VM name prefix; default `vm` */
  namePrefix?: string;
  seed?: number;
}

/** Builds a lab: volumes (folders with an NAA identity), VMs with real VHDX disks filled with data. */
export async function createLab(args: CreateLabArgs): Promise<LabState> {
  const dir = resolve(args.dir);
  await mkdir(dir, { recursive: true });
  if ((await readdir(dir)).length > 0) {
    throw new HvsnapError('input_invalid', `lab folder ${dir} is not empty`, { context: { path: dir, field: 'dir' } });
  }
  const nVms = args.vms ?? 6;
  const nVolumes = args.volumes ?? 2;
  const diskSize = args.diskSizeBytes ?? 64 << 20;
  const dataBytes = Math.min(args.dataBytes ?? diskSize / 4, diskSize);
  const blockSize = args.blockSize ?? 1 << 20;
  if (nVms < 1 || nVolumes < 1 || diskSize < 1 << 20 || diskSize % (1 << 20) !== 0) {
    throw new HvsnapError('input_invalid', 'a lab needs at least one VM and one volume, and disk sizes in whole MiB (at least 1 MiB)', {
      context: { field: 'diskSizeBytes' },
    });
  }
  const state = emptyState();
  for (let i = 1; i <= nVolumes; i++) {
    const name = `Volume${i}`;
    const vdir = join(dir, 'volumes', name);
    await mkdir(vdir, { recursive: true });
    await writeVolumeMarker(vdir, name);
    state.volumes.push({ name, dir: vdir, hostRoot: `C:\\ClusterStorage\\${name}` });
  }
  const rand = seededRandom(args.seed ?? 1);
  for (let i = 1; i <= nVms; i++) {
    const name = `${args.namePrefix ?? 'vm'}-${String(i).padStart(2, '0')}`;
    const id = randomUUID();
    const volume = state.volumes[(i - 1) % nVolumes];
    const vm: LabVm = { id, name, host: state.hosts[0], configVersion: '9.0', generation: 2, groups: [], disks: [] };
    for (let d = 0; d < (args.disksPerVm ?? 1); d++) {
      const relativePath = `VMs/${name}/Virtual Hard Disks/${name}-disk${d}.vhdx`;
      await mkdir(join(volume.dir, 'VMs', name, 'Virtual Hard Disks'), { recursive: true });
      const virtualDiskId = randomUUID();
      await createVhdx(localPath(volume, relativePath), { virtualSize: diskSize, blockSize, virtualDiskId });
      const disk = {
        id: `Microsoft:${id.toUpperCase()}\\83F8638B-8DCA-4152-9EDA-2CA8B33039B4\\0\\${d}\\D`,
        volume: volume.name,
        relativePath,
        virtualDiskId,
        sizeBytes: diskSize,
        rct: newRct(),
      };
      const writes: Array<{ offset: number; data: Uint8Array }> = [];
      const run = 1 << 20;
      const runs = Math.floor(dataBytes / run);
      const slots = diskSize / run;
      const picked = new Set<number>();
      while (picked.size < runs) picked.add(Math.floor(rand() * slots));
      for (const slot of [...picked].sort((a, b) => a - b)) {
        writes.push({ offset: slot * run, data: randomBlock(rand, run) });
        recordChange(disk.rct, { offset: slot * run, length: run });
      }
      await withVolume(volume, () => writeVhdxAt(localPath(volume, relativePath), writes));
      vm.disks.push(disk);
    }
    state.vms.push(vm);
  }
  for (const [gname, members] of Object.entries(args.groups ?? {})) {
    const gid = randomUUID();
    const vmIds = members.map((m) => {
      const vm = state.vms.find((v) => v.name === m);
      if (!vm) throw new HvsnapError('vm_not_found', `group ${gname}: no VM named ${m}`, { context: { vm: m, field: 'groups' } });
      vm.groups.push(gid);
      return vm.id;
    });
    state.groups.push({ id: gid, name: gname, vmIds });
  }
  await saveState(dir, state);
  return state;
}
