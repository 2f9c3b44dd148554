import { copyFile, mkdir, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { HvsnapError } from '../core/errors.js';
import type { CallOptions } from '../core/types.js';
import { readVolumeMarker, VOLUME_MARKER } from '../core/volume-marker.js';
import type { HostLun, InstantHost } from '../hyperv/instant-host.js';
import { localPath, settleDisk, volumeOf, withVolume } from './disk-io.js';
import { findVm } from './lab-hypervisor.js';
import { readState, updateState } from './lab-state.js';

/** Where the lab host shows the volumes of LUNs it brought online. */
const INSTANT_ROOT = 'C:\\ClusterStorage\\hvsnap';

/**
 * The lab host's side of an instant restore, on real files: a presented LUN is a folder (the lab
 * array's linked clone of the snapshot), onlining it makes it a volume of the host (its marker
 * gets the LUN's own identity: the clone's "disk signature" never collides with the source's),
 * moving storage copies each VHDX to the destination volume and deletes the source.
 */
export class LabInstantHost implements InstantHost {
  constructor(readonly dir: string) {}

  async initiators(_args: Record<string, never>, _opts?: CallOptions): Promise<{ iqns: string[]; wwns: string[] }> {
    // the lab array presents folders by host name: the host has no initiator it is known by
    return { iqns: [], wwns: [] };
  }

  async rescanStorage(_args: Record<string, never>, _opts?: CallOptions): Promise<void> {
    // a lab LUN is a folder: visible the moment the array made it; nothing to re-enumerate
  }

  async onlineDisk(args: { lun: HostLun }, _opts?: CallOptions): Promise<{ volumeRoot: string }> {
    const path = args.lun.path;
    if (!path)
      throw new HvsnapError('input_invalid', `LUN ${args.lun.identity.id} has no folder: the lab host sees only lab array LUNs`, {
        context: { volume: args.lun.identity.id },
      });
    return updateState(this.dir, async (s) => {
      const existing = s.volumes.find((v) => v.dir === path);
      if (existing) return { volumeRoot: existing.hostRoot };
      const name = `hvsnap-${args.lun.identity.id.slice(-12)}`;
      // the clone's identity is the LUN's; were it another volume's, the host would write a new one (a new signature)
      const taken = await Promise.all(
        s.volumes.map((v) =>
          readVolumeMarker(v.dir).then(
            (m) => m.identity.id,
            () => '',
          ),
        ),
      );
      const identity = taken.includes(args.lun.identity.id)
        ? { ...args.lun.identity, id: `${args.lun.identity.id.slice(0, 20)}${Date.now().toString(16).slice(-12)}` }
        : args.lun.identity;
      await writeFile(join(path, VOLUME_MARKER), JSON.stringify({ name, identity }, null, 2) + '\n');
      const volume = { name, dir: path, hostRoot: `${INSTANT_ROOT}\\${name}` };
      s.volumes.push(volume);
      return { volumeRoot: volume.hostRoot };
    });
  }

  async offlineDisk(args: { lun: HostLun }, _opts?: CallOptions): Promise<void> {
    await updateState(this.dir, (s) => {
      const volume = s.volumes.find((v) => v.dir === args.lun.path);
      if (!volume) return;
      const users = s.vms.filter((vm) => vm.disks.some((d) => d.volume === volume.name));
      if (users.length) {
        throw new HvsnapError('vm_in_use', `volume ${volume.hostRoot} still holds disks of VM ${users.map((u) => u.name).join(', ')}`, {
          context: { volume: volume.name, vm: users[0].name },
        });
      }
      s.volumes = s.volumes.filter((v) => v !== volume);
    });
  }

  async moveVmStorage(args: { vmId: string; destinationDir: string }, _opts?: CallOptions): Promise<void> {
    await updateState(this.dir, async (s) => {
      const vm = findVm(s, args.vmId);
      const target = s.volumes.find(
        (v) => args.destinationDir.toLowerCase().startsWith(v.hostRoot.toLowerCase() + '\\') || args.destinationDir.toLowerCase() === v.hostRoot.toLowerCase(),
      );
      if (!target)
        throw new HvsnapError('not_found', `no volume of the lab host holds ${args.destinationDir}`, { context: { path: args.destinationDir, vm: vm.name } });
      const below = args.destinationDir.slice(target.hostRoot.length).replace(/^\\+/, '').split('\\').filter(Boolean);
      for (const disk of vm.disks) {
        const from = volumeOf(s, disk.volume);
        // a deferred merge lands in the base first: the copy is the disk as the guest sees it
        await settleDisk(s, disk);
        const relativePath = [...below, disk.relativePath.split('/').pop()!].join('/');
        const dest = localPath(target, relativePath);
        await mkdir(dirname(dest), { recursive: true });
        await withVolume(target, () => copyFile(localPath(from, disk.relativePath), dest));
        const source = localPath(from, disk.relativePath);
        disk.volume = target.name;
        disk.relativePath = relativePath;
        await rm(source, { force: true });
      }
    });
  }

  async startVm(args: { vmId: string }, _opts?: CallOptions): Promise<void> {
    await updateState(this.dir, (s) => void (findVm(s, args.vmId).running = true));
  }

  async stopVm(args: { vmId: string }, _opts?: CallOptions): Promise<void> {
    await updateState(this.dir, (s) => {
      const vm = s.vms.find((v) => v.id === args.vmId);
      if (vm) vm.running = false;
    });
  }

  async removeVm(args: { vmId: string }, _opts?: CallOptions): Promise<void> {
    await updateState(this.dir, (s) => {
      s.vms = s.vms.filter((v) => v.id !== args.vmId);
    });
  }

  async vmState(args: { vmId: string }, _opts?: CallOptions): Promise<{ running: boolean } | undefined> {
    return readState(this.dir, (s) => {
      const vm = s.vms.find((v) => v.id === args.vmId);
      return vm ? { running: vm.running !== false } : undefined;
    });
  }
}
