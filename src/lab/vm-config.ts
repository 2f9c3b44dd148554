import { randomUUID } from 'node:crypto';
import { HvsnapError } from '../core/errors.js';
import type { ConfigFile } from '../core/types.js';
import { newRct, type LabCheckpoint, type LabState, type LabVm } from './lab-state.js';

/**
 * The lab's stand-in for a configuration-only export: `Virtual Machines/<id>.vmcx` holding the
 * VM's definition as JSON (Hyper-V's vmcx is binary; only hvsnap reads the lab's).
 */
interface LabVmcx {
  format: 'hvsnap-lab-vmcx/1';
  id: string;
  name: string;
  configVersion: string;
  generation: 1 | 2;
  checkpoint: { id: string; name: string; consistency: string; createdAt: string };
  disks: Array<{ id: string; virtualDiskId: string; sizeBytes: number; path: string }>;
}

export function vmConfigFiles(s: LabState, vm: LabVm, cp: LabCheckpoint): ConfigFile[] {
  const vmcx: LabVmcx = {
    format: 'hvsnap-lab-vmcx/1',
    id: vm.id,
    name: vm.name,
    configVersion: vm.configVersion,
    generation: vm.generation,
    checkpoint: { id: cp.id, name: cp.name, consistency: cp.consistency, createdAt: cp.createdAt },
    disks: cp.disks.map((d) => ({ id: d.diskId, virtualDiskId: d.virtualDiskId, sizeBytes: d.sizeBytes, path: d.path })),
  };
  return [{ name: `Virtual Machines/${vm.id.toUpperCase()}.vmcx`, data: Buffer.from(JSON.stringify(vmcx, null, 2)) }];
}

/** Builds the VM an import creates. Disks must already be in place on a lab volume. */
export function vmFromConfig(s: LabState, args: { config: ConfigFile[]; diskPaths: Record<string, string>; newId: boolean; name?: string }): LabVm {
  const file = args.config.find((f) => f.name.toLowerCase().endsWith('.vmcx'));
  if (!file) throw new HvsnapError('input_invalid', 'the configuration has no .vmcx file', { context: { field: 'config' } });
  let vmcx: LabVmcx;
  try {
    vmcx = JSON.parse(Buffer.from(file.data).toString('utf8')) as LabVmcx;
  } catch (e) {
    throw new HvsnapError('input_invalid', `${file.name} is not a lab VM configuration`, { cause: e, context: { file: file.name } });
  }
  const id = args.newId ? randomUUID() : vmcx.id;
  if (s.vms.some((v) => v.id === id)) {
    throw new HvsnapError('already_exists', `a VM with id ${id} already exists on the lab host; import with a new id`, { context: { vm: vmcx.name } });
  }
  return {
    id,
    name: args.name ?? vmcx.name,
    host: s.hosts[0],
    configVersion: vmcx.configVersion,
    generation: vmcx.generation,
    groups: [],
    disks: vmcx.disks.map((d) => {
      const path = args.diskPaths[d.id];
      const volume = path && s.volumes.find((v) => path.toLowerCase().startsWith(v.hostRoot.toLowerCase() + '\\'));
      if (!path || !volume) {
        throw new HvsnapError('input_invalid', `disk ${d.id} of VM ${vmcx.name}: no restored path on a lab volume`, {
          context: { vm: vmcx.name, disk: d.id, path },
        });
      }
      return {
        id: args.newId ? d.id.replace(vmcx.id.toUpperCase(), id.toUpperCase()) : d.id,
        volume: volume.name,
        relativePath: path
          .slice(volume.hostRoot.length + 1)
          .split('\\')
          .join('/'),
        virtualDiskId: d.virtualDiskId,
        sizeBytes: d.sizeBytes,
        rct: newRct(),
      };
    }),
  };
}
