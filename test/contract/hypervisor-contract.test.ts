import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLab, labWrite, openLab, updateLabState } from '../../src/lab/index.js';
import { WmiHypervisor } from '../../src/hyperv/wmi-hypervisor.js';
import { SimulatedHost } from '../hyperv/simulated-host.js';
import { runHypervisorContract } from './hypervisor-contract.js';

runHypervisorContract('lab', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'hvsnap-hv-contract-'));
  const labDir = join(dir, 'lab');
  await createLab({ dir: labDir, vms: 2, volumes: 1, diskSizeBytes: 4 << 20, dataBytes: 1 << 20, blockSize: 1 << 20 });
  const hypervisor = openLab(labDir);
  const [vm] = await hypervisor.listVms({});
  return {
    hypervisor,
    vmName: vm.name,
    write: async (vmName) => (await labWrite({ dir: labDir, vm: vmName, count: 4, sizeBytes: 64 << 10, seed: 7 })).writes,
    failAppConsistency: (vmName) => updateLabState(labDir, (s) => void s.faults.appConsistencyFails.push(vmName)),
    cleanup: () => rm(dir, { recursive: true, force: true }),
  };
});

for (const singleObjects of [false, true]) {
  runHypervisorContract(`wmi over a simulated host${singleObjects ? ' (ConvertTo-Json single objects)' : ''}`, async () => {
    const host = new SimulatedHost('HV01').addVolume({ root: 'C:\\ClusterStorage\\Volume1' });
    host.quirks.singleObjects = singleObjects;
    host.addVm('sql01', { disks: 2 });
    host.addVm('web01');
    host.groups.push({ id: 'B7C3E1A0-0000-4000-8000-000000000001', name: 'app', members: [host.vms[0].id] });
    return {
      hypervisor: new WmiHypervisor({ nodes: [{ name: 'HV01', shell: host.shell }] }),
      vmName: 'sql01',
      write: async (vmName) => {
        const vm = host.vms.find((v) => v.name === vmName)!;
        host.write(vmName, 0, 1 << 20, 64 << 10);
        host.write(vmName, 0, 5 << 20, 8192);
        return [
          { diskId: `Microsoft:${vm.id}${vm.disks[0].slot}`, offset: 1 << 20, length: 64 << 10 },
          { diskId: `Microsoft:${vm.id}${vm.disks[0].slot}`, offset: 5 << 20, length: 8192 },
        ];
      },
      failAppConsistency: async (vmName) => void host.appConsistencyFails.add(vmName),
      cleanup: async () => {},
    };
  });
}
