import { randomUUID } from 'node:crypto';
import { rm } from 'node:fs/promises';
import { HvsnapError, toHvsnapError } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import { silentLogger } from '../core/logger.js';
import type { ByteRange, CallOptions, Checkpoint, ConfigFile, ConsistencyLevel, ReferencePoint, VmGroup, VmInfo, VolumeLocation } from '../core/types.js';
import type { Hypervisor } from '../hyperv/hypervisor.js';
import { openVhdx } from '../vhdx/index.js';
import { createOverlay, hostPath, localPath, settleDisk, volumeOf } from './disk-io.js';
import { readState, takeFault, updateState, type LabCheckpoint, type LabOp, type LabState, type LabVm } from './lab-state.js';
import { changesSince, compactChanges, formatRctId } from './rct.js';
import { readVolumeMarker } from '../core/volume-marker.js';
import { vmConfigFiles, vmFromConfig } from './vm-config.js';
import { recoverLab } from './recover-lab.js';

/**
 * A Hyper-V host simulated on local files (see DESIGN.md, "The lab"). Implements the same
 * Hypervisor contract as the WMI driver; its state lives in `<dir>/lab.json`.
 */
export class LabHypervisor implements Hypervisor {
  readonly kind = 'lab';
  readonly dir: string;
  private readonly logger: Logger;

  constructor(args: { dir: string; logger?: Logger }) {
    this.dir = args.dir;
    this.logger = args.logger ?? silentLogger;
  }

  async listVms(args: { names?: string[] }, _opts?: CallOptions): Promise<VmInfo[]> {
    return readState(this.dir, (s) => {
      if (!args.names) return s.vms.map((vm) => toVmInfo(s, vm));
      return args.names.map((name) => toVmInfo(s, findVm(s, name)));
    });
  }

  async listVmGroups(_args: Record<string, never>, _opts?: CallOptions): Promise<VmGroup[]> {
    return readState(this.dir, (s) => s.groups.map((g) => ({ ...g, vmIds: [...g.vmIds] })));
  }

  async resolveVolume(args: { path: string }, _opts?: CallOptions): Promise<VolumeLocation> {
    const volume = await readState(this.dir, (s) => s.volumes.find((v) => args.path.toLowerCase().startsWith(v.hostRoot.toLowerCase() + '\\')));
    if (!volume) {
      throw new HvsnapError('not_found', `no volume of the lab host holds ${args.path}`, { context: { path: args.path } });
    }
    const marker = await readVolumeMarker(volume.dir);
    return {
      identity: marker.identity,
      volumeRoot: volume.hostRoot,
      relativePath: args.path
        .slice(volume.hostRoot.length + 1)
        .split('\\')
        .join('/'),
    };
  }

  async createCheckpoint(args: { vmId: string; name: string; consistency: ConsistencyLevel }, _opts?: CallOptions): Promise<Checkpoint> {
    const result = await updateState(this.dir, async (s) => {
      const vm = findVm(s, args.vmId);
      const existing = s.checkpoints.find((c) => c.vmId === vm.id && c.name === args.name);
      if (existing) return { checkpoint: publicCheckpoint(existing) };
      const fault = takeFault(s, 'createCheckpoint', vm.name);
      if (fault) return { error: fault.withContext({ step: 'checkpoint' }) };
      if (args.consistency === 'application' && s.faults.appConsistencyFails.includes(vm.name)) {
        return {
          error: new HvsnapError(
            'app_consistency_failed',
            `the guest of VM ${vm.name} could not give an application-consistent checkpoint (VSS writer failed)`,
            {
              retryable: false,
              context: { vm: vm.name },
            },
          ),
        };
      }
      if (s.checkpoints.some((c) => c.vmId === vm.id)) {
        return { error: new HvsnapError('vm_invalid_state', `VM ${vm.name} already has a recovery checkpoint`, { context: { vm: vm.name } }) };
      }
      const id = randomUUID();
      const frozenGenerations: Record<string, number> = {};
      try {
        // deferred merges first: each one leaves the state consistent on its own, and is saved even if what follows fails
        for (const disk of vm.disks) await settleDisk(s, disk);
        for (const disk of vm.disks) await createOverlay(s, disk, id);
      } catch (e) {
        // all disks or none: remove the AVHDX files this call made
        for (const disk of vm.disks) {
          if (!disk.overlay) continue;
          await rm(localPath(volumeOf(s, disk.volume), disk.overlay.relativePath), { force: true });
          delete disk.overlay;
        }
        return { error: toHvsnapError(e, 'checkpoint_failed', { vm: vm.name, step: 'checkpoint' }) };
      }
      for (const disk of vm.disks) {
        frozenGenerations[disk.id] = disk.rct.generation;
        disk.rct.generation += 1;
      }
      const checkpoint: LabCheckpoint = {
        id,
        vmId: vm.id,
        vmName: vm.name,
        name: args.name,
        consistency: args.consistency,
        createdAt: new Date().toISOString(),
        disks: vm.disks.map((d) => ({
          diskId: d.id,
          virtualDiskId: d.virtualDiskId,
          path: hostPath(volumeOf(s, d.volume), d.relativePath),
          sizeBytes: d.sizeBytes,
        })),
        frozenGenerations,
      };
      s.checkpoints.push(checkpoint);
      return { checkpoint: publicCheckpoint(checkpoint) };
    });
    if ('error' in result && result.error) throw result.error;
    this.logger.debug({ vm: result.checkpoint!.vmName, checkpoint: result.checkpoint!.id }, 'lab: recovery checkpoint created');
    return result.checkpoint!;
  }

  async exportConfiguration(args: { checkpoint: Checkpoint }, _opts?: CallOptions): Promise<ConfigFile[]> {
    return this.withFault('exportConfiguration', args.checkpoint.vmId, (s, vm) => {
      const cp = s.checkpoints.find((c) => c.id === args.checkpoint.id);
      if (!cp) throw new HvsnapError('not_found', `checkpoint ${args.checkpoint.id} of VM ${vm.name} does not exist`, { context: { vm: vm.name } });
      return vmConfigFiles(s, vm, cp);
    });
  }

  async changedRanges(args: { checkpoint: Checkpoint; diskId: string; sinceRctId: string }, _opts?: CallOptions): Promise<ByteRange[]> {
    return this.withFault('changedRanges', args.checkpoint.vmId, (s, vm) => {
      const cp = s.checkpoints.find((c) => c.id === args.checkpoint.id);
      if (!cp) throw new HvsnapError('not_found', `checkpoint ${args.checkpoint.id} of VM ${vm.name} does not exist`, { context: { vm: vm.name } });
      const disk = vm.disks.find((d) => d.id === args.diskId);
      if (!disk) throw new HvsnapError('not_found', `VM ${vm.name} has no disk ${args.diskId}`, { context: { vm: vm.name, disk: args.diskId } });
      const known = s.referencePoints.some((rp) => rp.vmId === vm.id && rp.disks.some((d) => d.diskId === disk.id && d.rctId === args.sinceRctId));
      if (!known) {
        throw new HvsnapError('rct_invalid', `RCT id ${args.sinceRctId} belongs to no reference point of disk ${disk.id} of VM ${vm.name}`, {
          context: { vm: vm.name, disk: disk.id },
          hint: 'the next backup of this disk must be a full one',
        });
      }
      return changesSince(disk.rct, args.sinceRctId, cp.frozenGenerations[disk.id], { vm: vm.name, disk: disk.id });
    });
  }

  async convertToReferencePoint(args: { checkpoint: Checkpoint }, _opts?: CallOptions): Promise<ReferencePoint> {
    return this.withFault('convertToReferencePoint', args.checkpoint.vmId, (s, vm) => {
      const done = s.referencePoints.find((r) => r.vmId === vm.id && r.name === args.checkpoint.name);
      if (done) return structuredClone(done);
      const i = s.checkpoints.findIndex((c) => c.id === args.checkpoint.id);
      if (i < 0) throw new HvsnapError('not_found', `checkpoint ${args.checkpoint.id} of VM ${vm.name} does not exist`, { context: { vm: vm.name } });
      const cp = s.checkpoints[i];
      const rp: ReferencePoint = {
        id: randomUUID(),
        vmId: vm.id,
        name: cp.name,
        createdAt: new Date().toISOString(),
        disks: vm.disks.map((d) => ({ diskId: d.id, virtualDiskId: d.virtualDiskId, rctId: formatRctId(d.rct.epoch, cp.frozenGenerations[d.id]) })),
      };
      s.referencePoints.push(rp);
      releaseCheckpoint(s, vm, i);
      return structuredClone(rp);
    });
  }

  async deleteCheckpoint(args: { vmId: string; checkpointId: string }, _opts?: CallOptions): Promise<void> {
    const result = await updateState(this.dir, (s) => {
      const vm = s.vms.find((v) => v.id === args.vmId);
      const i = s.checkpoints.findIndex((c) => c.id === args.checkpointId);
      if (!vm || i < 0) return undefined; // already gone
      const fault = takeFault(s, 'deleteCheckpoint', vm.name);
      if (fault) return fault;
      releaseCheckpoint(s, vm, i);
      return undefined;
    });
    if (result) throw result;
  }

  async listReferencePoints(args: { vmId: string }, _opts?: CallOptions): Promise<ReferencePoint[]> {
    return readState(this.dir, (s) => structuredClone(s.referencePoints.filter((r) => r.vmId === args.vmId)));
  }

  async deleteReferencePoint(args: { vmId: string; referencePointId: string }, _opts?: CallOptions): Promise<void> {
    await updateState(this.dir, (s) => {
      s.referencePoints = s.referencePoints.filter((r) => !(r.vmId === args.vmId && r.id === args.referencePointId));
      const vm = s.vms.find((v) => v.id === args.vmId);
      for (const disk of vm?.disks ?? []) {
        const gens = s.referencePoints
          .filter((r) => r.vmId === args.vmId)
          .flatMap((r) => r.disks.filter((d) => d.diskId === disk.id).map((d) => parseInt(d.rctId.slice(-8), 16)));
        const pinned = s.checkpoints.filter((c) => c.vmId === args.vmId).map((c) => c.frozenGenerations[disk.id] - 1);
        const all = [...gens, ...pinned];
        compactChanges(disk.rct, all.length ? Math.min(...all) : undefined);
      }
    });
  }

  async listLeftovers(args: { tagPrefix: string }, _opts?: CallOptions): Promise<{ checkpoints: Checkpoint[]; referencePoints: ReferencePoint[] }> {
    return readState(this.dir, (s) => ({
      checkpoints: s.checkpoints.filter((c) => c.name.startsWith(args.tagPrefix)).map(publicCheckpoint),
      referencePoints: structuredClone(s.referencePoints.filter((r) => r.name.startsWith(args.tagPrefix))),
    }));
  }

  async importVm(args: { config: ConfigFile[]; diskPaths: Record<string, string>; newId: boolean; name?: string }, _opts?: CallOptions): Promise<VmInfo> {
    return updateState(this.dir, async (s) => {
      const vm = vmFromConfig(s, args);
      // like Hyper-V, the disk's identity is what the VHDX says, not what the old configuration said
      for (const disk of vm.disks) {
        const img = await openVhdx(localPath(volumeOf(s, disk.volume), disk.relativePath)).catch((e) => {
          throw new HvsnapError('not_found', `disk ${disk.relativePath} of VM ${vm.name} is not a readable VHDX on volume ${disk.volume}`, {
            cause: e,
            context: { vm: vm.name, disk: disk.id },
          });
        });
        disk.virtualDiskId = img.virtualDiskId;
        disk.sizeBytes = img.virtualSize;
        await img.close();
      }
      s.vms.push(vm);
      return toVmInfo(s, vm);
    });
  }

  async recover(_opts?: CallOptions): Promise<{ mended: string[] }> {
    const r = await recoverLab(this.dir);
    return { mended: [...r.mergesMended.map((m) => `deferred merge already done: ${m}`), ...r.filesRemoved.map((f) => `removed ${f}`)] };
  }

  /** Runs `fn` on the VM under the lab lock, after any injected fault for `op` (which is consumed and saved). */
  private async withFault<T>(op: LabOp, vmId: string, fn: (s: LabState, vm: LabVm) => T | Promise<T>): Promise<T> {
    const result = await updateState(this.dir, async (s) => {
      const vm = findVm(s, vmId);
      const fault = takeFault(s, op, vm.name);
      if (fault) return { error: fault };
      try {
        return { value: await fn(s, vm) };
      } catch (e) {
        return { error: e };
      }
    });
    if ('error' in result) throw result.error;
    return result.value as T;
  }
}

/** The checkpoint is gone: its AVHDX waits to be merged into the base on the next write or settle. */
function releaseCheckpoint(s: LabState, vm: LabVm, index: number): void {
  s.checkpoints.splice(index, 1);
  for (const disk of vm.disks) {
    if (disk.overlay) {
      disk.pendingMerge = disk.overlay;
      delete disk.overlay;
    }
  }
}

export function findVm(s: LabState, nameOrId: string): LabVm {
  const byId = s.vms.filter((v) => v.id === nameOrId);
  if (byId.length === 1) return byId[0];
  const matches = s.vms.filter((v) => v.name === nameOrId);
  if (matches.length === 0) throw new HvsnapError('vm_not_found', `VM "${nameOrId}" not found on the lab host`, { context: { vm: nameOrId } });
  if (matches.length > 1) throw new HvsnapError('vm_ambiguous', `${matches.length} VMs are named "${nameOrId}"; use the VM id`, { context: { vm: nameOrId } });
  return matches[0];
}

function toVmInfo(s: LabState, vm: LabVm): VmInfo {
  return {
    id: vm.id,
    name: vm.name,
    host: vm.host,
    configVersion: vm.configVersion,
    generation: vm.generation,
    groups: [...vm.groups],
    disks: vm.disks.map((d) => ({
      id: d.id,
      path: hostPath(volumeOf(s, d.volume), d.overlay?.relativePath ?? d.relativePath),
      virtualDiskId: d.virtualDiskId,
      sizeBytes: d.sizeBytes,
    })),
  };
}

function publicCheckpoint(c: LabCheckpoint): Checkpoint {
  const { frozenGenerations: _f, ...rest } = structuredClone(c);
  return rest;
}
