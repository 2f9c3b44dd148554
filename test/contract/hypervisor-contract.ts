import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isHvsnapError } from '../../src/core/errors.js';
import type { ByteRange } from '../../src/core/types.js';
import type { Hypervisor } from '../../src/hyperv/hypervisor.js';

/** What the contract suite needs of one implementation. */
export interface HypervisorSubject {
  hypervisor: Hypervisor;
  /** a VM with at least one disk and no checkpoint */
  vmName: string;
  /** guest writes into the VM's disks; returns what was written, per disk id */
  write(vmName: string): Promise<Array<ByteRange & { diskId: string }>>;
  /** makes the guest of vmName unable to give application consistency from now on */
  failAppConsistency(vmName: string): Promise<void>;
  cleanup(): Promise<void>;
}

const TAG = 'hvsnap:contract:';

async function codeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return 'resolved';
  } catch (e) {
    return isHvsnapError(e) ? e.code : `untyped: ${String(e)}`;
  }
}

/**
 * The Hypervisor contract (src/hyperv/hypervisor.ts) as tests. Every implementation (lab, WMI over a
 * simulated host) runs the same suite; each test starts from a fresh subject and cleans up after.
 */
export function runHypervisorContract(name: string, makeHypervisor: () => Promise<HypervisorSubject>): void {
  describe(`Hypervisor contract: ${name}`, () => {
    let s: HypervisorSubject;
    let hv: Hypervisor;
    beforeEach(async () => {
      s = await makeHypervisor();
      hv = s.hypervisor;
    });
    afterEach(async () => {
      await hv.close?.();
      await s.cleanup();
    });

    it('lists VMs with their disks, by name too; unknown names are vm_not_found', async () => {
      const all = await hv.listVms({});
      expect(all.length).toBeGreaterThan(0);
      for (const vm of all) {
        expect(vm.id).toBeTruthy();
        expect(vm.host).toBeTruthy();
        expect(vm.configVersion).toMatch(/^\d+\.\d+$/);
        expect([1, 2]).toContain(vm.generation);
        for (const d of vm.disks) {
          expect(d.id && d.path && d.virtualDiskId).toBeTruthy();
          expect(d.sizeBytes).toBeGreaterThan(0);
        }
      }
      const [one] = await hv.listVms({ names: [s.vmName] });
      expect(one.name).toBe(s.vmName);
      expect(one.disks.length).toBeGreaterThan(0);
      expect(await codeOf(hv.listVms({ names: ['no such VM'] }))).toBe('vm_not_found');
      const groups = await hv.listVmGroups({});
      for (const g of groups) for (const id of g.vmIds) expect(all.find((v) => v.id === id)?.groups).toContain(g.id);
    });

    it('resolves a disk path to its volume and page-83 identity', async () => {
      const [vm] = await hv.listVms({ names: [s.vmName] });
      const loc = await hv.resolveVolume({ path: vm.disks[0].path });
      expect(['naa', 'eui', 'serial']).toContain(loc.identity.kind);
      expect(loc.identity.id).toBe(loc.identity.id.toLowerCase());
      expect(vm.disks[0].path.toLowerCase().startsWith(loc.volumeRoot.toLowerCase())).toBe(true);
      expect(loc.relativePath).not.toMatch(/^[\\/]|\\/);
      expect(await codeOf(hv.resolveVolume({ path: 'Q:\\nowhere\\x.vhdx' }))).toBe('not_found');
    });

    it('creates a recovery checkpoint idempotently by name, exports its configuration, converts it', async () => {
      const [vm] = await hv.listVms({ names: [s.vmName] });
      const name = `${TAG}job1`;
      const cp = await hv.createCheckpoint({ vmId: vm.id, name, consistency: 'crash' });
      expect(cp).toMatchObject({ vmId: vm.id, vmName: vm.name, name, consistency: 'crash' });
      expect(cp.disks.map((d) => d.diskId).sort()).toEqual(vm.disks.map((d) => d.id).sort());
      for (const d of cp.disks) expect(d.sizeBytes).toBe(vm.disks.find((x) => x.id === d.diskId)!.sizeBytes);
      const again = await hv.createCheckpoint({ vmId: vm.id, name, consistency: 'crash' });
      expect(again.id).toBe(cp.id);

      const files = await hv.exportConfiguration({ checkpoint: cp });
      expect(files.some((f) => f.name.toLowerCase().endsWith('.vmcx'))).toBe(true);
      for (const f of files) expect(f.name).not.toMatch(/^[\\/]|\\/);

      const left = await hv.listLeftovers({ tagPrefix: TAG });
      expect(left.checkpoints.map((c) => c.id)).toContain(cp.id);

      const rp = await hv.convertToReferencePoint({ checkpoint: cp });
      expect(rp).toMatchObject({ vmId: vm.id, name });
      expect(rp.disks.map((d) => d.diskId).sort()).toEqual(vm.disks.map((d) => d.id).sort());
      for (const d of rp.disks) expect(d.rctId).toBeTruthy();
      expect((await hv.convertToReferencePoint({ checkpoint: cp })).id).toBe(rp.id);
      expect((await hv.listReferencePoints({ vmId: vm.id })).map((r) => r.id)).toContain(rp.id);
      const after = await hv.listLeftovers({ tagPrefix: TAG });
      expect(after.checkpoints.map((c) => c.id)).not.toContain(cp.id);
      expect(after.referencePoints.map((r) => r.id)).toContain(rp.id);
      expect((await hv.listLeftovers({ tagPrefix: 'other-tool:' })).referencePoints).toEqual([]);
    });

    it('reports the changed ranges since a reference point, covering the writes, sorted and disjoint', async () => {
      const [vm] = await hv.listVms({ names: [s.vmName] });
      const rp = await hv.convertToReferencePoint({ checkpoint: await hv.createCheckpoint({ vmId: vm.id, name: `${TAG}full`, consistency: 'crash' }) });
      const writes = await s.write(vm.name);
      const cp2 = await hv.createCheckpoint({ vmId: vm.id, name: `${TAG}incr`, consistency: 'crash' });
      for (const disk of rp.disks) {
        const ranges = await hv.changedRanges({ checkpoint: cp2, diskId: disk.diskId, sinceRctId: disk.rctId });
        const size = cp2.disks.find((d) => d.diskId === disk.diskId)!.sizeBytes;
        for (let i = 0; i < ranges.length; i++) {
          expect(ranges[i].length).toBeGreaterThan(0);
          expect(ranges[i].offset + ranges[i].length).toBeLessThanOrEqual(size);
          if (i > 0) expect(ranges[i].offset).toBeGreaterThan(ranges[i - 1].offset + ranges[i - 1].length - 1);
        }
        for (const w of writes.filter((x) => x.diskId === disk.diskId)) {
          expect(ranges.some((r) => r.offset <= w.offset && r.offset + r.length >= w.offset + w.length)).toBe(true);
        }
      }
      const unknown = await codeOf(
        hv.changedRanges({ checkpoint: cp2, diskId: rp.disks[0].diskId, sinceRctId: 'rctX:00000000:0000:0000:0000:000000000000:00000001' }),
      );
      expect(unknown).toBe('rct_invalid');
      await hv.deleteCheckpoint({ vmId: vm.id, checkpointId: cp2.id });
    });

    it('deletes checkpoints and reference points, and deleting twice succeeds', async () => {
      const [vm] = await hv.listVms({ names: [s.vmName] });
      const cp = await hv.createCheckpoint({ vmId: vm.id, name: `${TAG}del`, consistency: 'crash' });
      await hv.deleteCheckpoint({ vmId: vm.id, checkpointId: cp.id });
      await hv.deleteCheckpoint({ vmId: vm.id, checkpointId: cp.id });
      expect((await hv.listLeftovers({ tagPrefix: TAG })).checkpoints).toEqual([]);
      const rp = await hv.convertToReferencePoint({ checkpoint: await hv.createCheckpoint({ vmId: vm.id, name: `${TAG}del2`, consistency: 'crash' }) });
      await hv.deleteReferencePoint({ vmId: vm.id, referencePointId: rp.id });
      await hv.deleteReferencePoint({ vmId: vm.id, referencePointId: rp.id });
      expect((await hv.listReferencePoints({ vmId: vm.id })).map((r) => r.id)).not.toContain(rp.id);
    });

    it('refuses application consistency the guest cannot give, and does not fall back by itself', async () => {
      const [vm] = await hv.listVms({ names: [s.vmName] });
      await s.failAppConsistency(vm.name);
      expect(await codeOf(hv.createCheckpoint({ vmId: vm.id, name: `${TAG}app`, consistency: 'application' }))).toBe('app_consistency_failed');
      expect((await hv.listLeftovers({ tagPrefix: TAG })).checkpoints).toEqual([]);
      const crash = await hv.createCheckpoint({ vmId: vm.id, name: `${TAG}app`, consistency: 'crash' });
      expect(crash.consistency).toBe('crash');
      await hv.deleteCheckpoint({ vmId: vm.id, checkpointId: crash.id });
    });

    it('imports an exported configuration as a new VM with its disks in place', async () => {
      const [vm] = await hv.listVms({ names: [s.vmName] });
      const cp = await hv.createCheckpoint({ vmId: vm.id, name: `${TAG}imp`, consistency: 'crash' });
      const config = await hv.exportConfiguration({ checkpoint: cp });
      const diskPaths = Object.fromEntries(cp.disks.map((d) => [d.diskId, d.path]));
      await hv.deleteCheckpoint({ vmId: vm.id, checkpointId: cp.id });
      const restored = await hv.importVm({ config, diskPaths, newId: true, name: `${vm.name}-restored` });
      expect(restored.id).not.toBe(vm.id);
      expect(restored.name).toBe(`${vm.name}-restored`);
      expect(restored.disks.map((d) => d.path).sort()).toEqual(Object.values(diskPaths).sort());
      expect((await hv.listVms({ names: [`${vm.name}-restored`] }))[0].id).toBe(restored.id);
    });
  });
}
