import { HvsnapError } from '../core/errors.js';
import type { CallOptions, VmGroup, VmInfo, VolumeIdentity, VolumeLocation } from '../core/types.js';
import type { Hypervisor } from '../hyperv/hypervisor.js';

/** VMs that must be checkpointed together and covered by ONE array snapshot. */
export interface VolumeSet {
  /** 1-based, stable within a plan */
  index: number;
  vms: VmInfo[];
  /** distinct volumes, in a stable order */
  volumes: Array<{ identity: VolumeIdentity; volumeRoot: string }>;
  /** VM groups wholly in this set */
  groups: string[];
  /** where each disk of each VM lives: `${vmId}/${diskId}` → location */
  disks: Record<string, VolumeLocation>;
  /** `host`: no array volume; the set's VMs are read over SFTP from their nodes (host mode) */
  mode?: 'host';
}

export interface BackupPlan {
  sets: VolumeSet[];
  /** VMs no set can hold (no disks, a disk on no array volume, or a VM group with such a member) */
  unplaced: Array<{ vm: VmInfo; error: HvsnapError }>;
}

/**
 * Groups VMs by the volumes their disks live on: two VMs that share a volume, or a VM group, land
 * in one set (union–find), so a CSV holding fifty VMs is snapshotted once, never fifty times.
 * Selecting one member of a VM group brings in the whole group.
 */
export async function planBackup(
  args: { hypervisor: Hypervisor; vms: VmInfo[]; groups: VmGroup[]; allVms?: VmInfo[] },
  opts?: CallOptions,
): Promise<BackupPlan> {
  const byId = withGroupMembers(args);

  const parent = new Map<string, string>();
  const find = (x: string): string => {
    let r = x;
    while (parent.get(r) !== r) r = parent.get(r)!;
    parent.set(x, r);
    return r;
  };
  const union = (a: string, b: string) => parent.set(find(a), find(b));
  const node = (k: string) => {
    if (!parent.has(k)) parent.set(k, k);
    return k;
  };

  const { disks, unplaced } = await locateDisks(args, byId, opts);
  for (const vm of byId.values()) {
    node(`vm:${vm.id}`);
    for (const d of vm.disks) union(`vm:${vm.id}`, node(`vol:${disks[`${vm.id}/${d.id}`].identity.id.toLowerCase()}`));
  }
  for (const g of args.groups) {
    const members = g.vmIds.filter((id) => byId.has(id));
    for (let i = 1; i < members.length; i++) union(`vm:${members[0]}`, `vm:${members[i]}`);
  }

  const sets = new Map<string, VolumeSet>();
  for (const vm of [...byId.values()].sort((a, b) => a.name.localeCompare(b.name))) {
    const root = find(`vm:${vm.id}`);
    let set = sets.get(root);
    if (!set) sets.set(root, (set = { index: 0, vms: [], volumes: [], groups: [], disks: {} }));
    set.vms.push(vm);
    for (const d of vm.disks) {
      const loc = disks[`${vm.id}/${d.id}`];
      set.disks[`${vm.id}/${d.id}`] = loc;
      if (!set.volumes.some((v) => v.identity.id.toLowerCase() === loc.identity.id.toLowerCase())) {
        set.volumes.push({ identity: loc.identity, volumeRoot: loc.volumeRoot });
      }
    }
  }
  const ordered = [...sets.values()];
  ordered.forEach((s, i) => {
    s.index = i + 1;
    s.volumes.sort((a, b) => a.volumeRoot.localeCompare(b.volumeRoot));
    s.groups = args.groups.filter((g) => g.vmIds.some((id) => s.vms.some((v) => v.id === id))).map((g) => g.name);
  });
  return { sets: ordered, unplaced: [...unplaced.values()] };
}

/** The selected VMs and every member of a VM group one of them belongs to (a group is backed up whole), by id. */
function withGroupMembers(args: { vms: VmInfo[]; groups: VmGroup[]; allVms?: VmInfo[] }): Map<string, VmInfo> {
  const byId = new Map<string, VmInfo>();
  for (const vm of args.vms) byId.set(vm.id, vm);
  const everyone = new Map((args.allVms ?? args.vms).map((v) => [v.id, v]));
  for (const g of args.groups) {
    if (!g.vmIds.some((id) => byId.has(id))) continue;
    for (const id of g.vmIds) {
      const vm = everyone.get(id);
      if (!vm) throw new HvsnapError('vm_not_found', `VM group ${g.name}: member ${id} was not found on the host`, { context: { vm: id } });
      byId.set(id, vm);
    }
  }
  return byId;
}

/**
 * Where each disk lives (its volume and the identity behind it). A VM with no disks, with a disk
 * on no array volume, or in a VM group with such a member cannot be placed: it is left out of
 * `byId` and returned as unplaced, with the reason.
 */
async function locateDisks(
  args: { hypervisor: Hypervisor; groups: VmGroup[] },
  byId: Map<string, VmInfo>,
  opts?: CallOptions,
): Promise<{ disks: Record<string, VolumeLocation>; unplaced: Map<string, { vm: VmInfo; error: HvsnapError }> }> {
  const disks: Record<string, VolumeLocation> = {};
  const unplaced = new Map<string, { vm: VmInfo; error: HvsnapError }>();
  for (const vm of byId.values()) {
    if (vm.disks.length === 0) {
      unplaced.set(vm.id, {
        vm,
        error: new HvsnapError('input_invalid', `VM ${vm.name} has no virtual disks to back up`, { context: { vm: vm.name, step: 'plan' } }),
      });
      continue;
    }
    for (const d of vm.disks) {
      try {
        disks[`${vm.id}/${d.id}`] = await args.hypervisor.resolveVolume({ path: d.path }, opts);
      } catch (e) {
        unplaced.set(vm.id, {
          vm,
          error: new HvsnapError('not_found', `disk ${d.path} of VM ${vm.name} is on no volume the array can snapshot`, {
            cause: e,
            context: { vm: vm.name, disk: d.id, path: d.path, step: 'plan' },
          }),
        });
        break;
      }
    }
  }
  // a VM group is one consistency set: one member that cannot be placed keeps the whole group out
  for (const g of args.groups) {
    const bad = g.vmIds.map((id) => unplaced.get(id)).find((u) => u !== undefined);
    if (!bad) continue;
    for (const id of g.vmIds) {
      const vm = byId.get(id);
      if (vm && !unplaced.has(id))
        unplaced.set(id, {
          vm,
          error: new HvsnapError('input_invalid', `VM group ${g.name} cannot be snapshotted as one set: ${bad.error.message}`, {
            context: { vm: vm.name, step: 'plan' },
          }),
        });
    }
  }
  for (const id of unplaced.keys()) byId.delete(id);
  return { disks, unplaced };
}
