import { describe, expect, it } from 'vitest';
import { planBackup } from '../../src/backup/plan.js';
import type { Hypervisor } from '../../src/hyperv/hypervisor.js';
import type { VmInfo } from '../../src/core/types.js';

const vol = (n: number) => ({ kind: 'naa' as const, id: `6001405${String(n).padStart(25, '0')}` });
function vm(name: string, volumes: number[]): VmInfo {
  return {
    id: `id-${name}`,
    name,
    host: 'h1',
    configVersion: '9.0',
    generation: 2,
    groups: [],
    disks: volumes.map((v, i) => ({
      id: `${name}-d${i}`,
      path: `C:\\ClusterStorage\\Volume${v}\\${name}\\d${i}.vhdx`,
      virtualDiskId: `vd-${name}-${i}`,
      sizeBytes: 1 << 20,
    })),
  };
}
/** The plan only asks the host which volume a path is on: answered from the path, as the lab and WMI do. */
const host = {
  resolveVolume: async ({ path }: { path: string }) => {
    const n = Number(/Volume(\d+)/.exec(path)![1]);
    return { identity: vol(n), volumeRoot: `C:\\ClusterStorage\\Volume${n}`, relativePath: path.split('\\').slice(3).join('/') };
  },
} as unknown as Hypervisor;

describe('planBackup', () => {
  it('one set per volume when VMs do not share volumes', async () => {
    const vms = [vm('a', [1]), vm('b', [1]), vm('c', [2]), vm('d', [2]), vm('e', [1]), vm('f', [2])];
    const plan = await planBackup({ hypervisor: host, vms, groups: [] });
    expect(plan.sets.map((s) => [s.vms.map((v) => v.name), s.volumes.length])).toEqual([
      [['a', 'b', 'e'], 1],
      [['c', 'd', 'f'], 1],
    ]);
  });

  it('a VM with disks on two volumes joins them into one set', async () => {
    const plan = await planBackup({ hypervisor: host, vms: [vm('a', [1]), vm('b', [1, 2]), vm('c', [2]), vm('d', [3])], groups: [] });
    expect(plan.sets.map((s) => s.vms.map((v) => v.name))).toEqual([['a', 'b', 'c'], ['d']]);
    expect(plan.sets[0].volumes).toHaveLength(2);
  });

  it('a VM group is one set, and selecting one member brings the whole group', async () => {
    const all = [vm('a', [1]), vm('b', [2]), vm('c', [3])];
    const plan = await planBackup({ hypervisor: host, vms: [all[0]], allVms: all, groups: [{ id: 'g', name: 'app', vmIds: ['id-a', 'id-c'] }] });
    expect(plan.sets).toHaveLength(1);
    expect(plan.sets[0].vms.map((v) => v.name)).toEqual(['a', 'c']);
    expect(plan.sets[0].groups).toEqual(['app']);
    expect(plan.sets[0].volumes).toHaveLength(2);
  });

  it('a VM the plan cannot place stays out, by name, and takes only its own VM group with it', async () => {
    const nowhere = { ...vm('local', [1]), disks: [{ id: 'd0', path: 'D:\\VMs\\local.vhdx', virtualDiskId: 'x', sizeBytes: 1 }] };
    const strictHost = {
      resolveVolume: async (a: { path: string }) => (a.path.startsWith('D:') ? Promise.reject(new Error('not a CSV')) : host.resolveVolume(a)),
    } as unknown as Hypervisor;
    const vms = [vm('empty', []), nowhere, vm('buddy', [2]), vm('ok', [1])];
    const plan = await planBackup({ hypervisor: strictHost, vms, groups: [{ id: 'g', name: 'pair', vmIds: ['id-local', 'id-buddy'] }] });
    expect(plan.sets.map((s) => s.vms.map((v) => v.name))).toEqual([['ok']]);
    const why = Object.fromEntries(plan.unplaced.map((u) => [u.vm.name, u.error.message]));
    expect(why.empty).toMatch(/empty has no virtual disks/);
    expect(why.local).toMatch(/D:\\VMs\\local\.vhdx of VM local is on no volume/);
    expect(why.buddy).toMatch(/VM group pair cannot be snapshotted as one set/);
  });
});
