import { describe, expect, it } from 'vitest';
import { captureLogger } from '../../src/core/logger.js';
import { isHvsnapError } from '../../src/core/errors.js';
import { loadScript } from '../../src/hyperv/script-loader.js';
import { WmiHypervisor } from '../../src/hyperv/wmi-hypervisor.js';
import { SimulatedHost } from './simulated-host.js';

const err = (p: Promise<unknown>) =>
  p.then(
    () => undefined,
    (e: unknown) => (isHvsnapError(e) ? e : Promise.reject(e)),
  );

function setup(opts: { pageBytes?: number; pagesPerCall?: number; singleObjects?: boolean } = {}) {
  const host = new SimulatedHost('HV01').addVolume({ root: 'C:\\ClusterStorage\\Volume1' });
  if (opts.pageBytes) host.pageBytes = opts.pageBytes;
  host.quirks.singleObjects = opts.singleObjects ?? false;
  host.addVm('sql01', { disks: 2 });
  const logger = captureLogger();
  const hv = new WmiHypervisor({ nodes: [{ name: 'HV01', shell: host.shell }], logger, changesPagesPerCall: opts.pagesPerCall });
  return { host, hv, logger, vmId: host.vms[0].id };
}

describe('WmiHypervisor: WMI jobs in the documented shapes', () => {
  it('waits out a CreateSnapshot job that finishes late, then names and describes the snapshot', async () => {
    const { host, hv, vmId } = setup();
    host.next('CreateSnapshot', 'late');
    const cp = await hv.createCheckpoint({ vmId, name: 'hvsnap:job-7', consistency: 'application' });
    expect(cp.name).toBe('hvsnap:job-7');
    expect(cp.disks).toHaveLength(2);
    expect(host.shell.calls.map((c) => c.name)).toEqual(['get-vms.ps1', 'create-checkpoint.ps1', 'wait-job.ps1', 'wait-job.ps1', 'create-checkpoint.ps1']);
    const last = host.shell.calls.at(-1)!.input as { snapshotId: string };
    expect(last.snapshotId).toBe(cp.id);
    expect(host.snapshots[0].name).toBe('hvsnap:job-7');
  });

  it('accepts CompletedWithWarnings (32768) and logs it', async () => {
    const { host, hv, vmId, logger } = setup();
    host.next('CreateSnapshot', 'warnings');
    await hv.createCheckpoint({ vmId, name: 'hvsnap:w', consistency: 'crash' });
    expect(logger.lines.some((l) => l.level === 'warn' && /completed with warnings/.test(l.msg ?? ''))).toBe(true);
  });

  it('maps return codes: CIM 5 Invalid State is vm_invalid_state (retryable), vendor 32774 is vm_in_use', async () => {
    const { host, hv, vmId } = setup();
    host.next('CreateSnapshot', { returnValue: 5 });
    expect(await err(hv.createCheckpoint({ vmId, name: 'hvsnap:a', consistency: 'crash' }))).toMatchObject({
      code: 'vm_invalid_state',
      retryable: true,
      context: { status: 5, host: 'HV01', vm: 'sql01' },
    });
    const rp = await hv.convertToReferencePoint({ checkpoint: await hv.createCheckpoint({ vmId, name: 'hvsnap:b', consistency: 'crash' }) });
    host.next('DestroyReferencePoint', { returnValue: 32774 });
    expect(await err(hv.deleteReferencePoint({ vmId, referencePointId: rp.id }))).toMatchObject({ code: 'vm_in_use', retryable: true });
    host.next('DestroyReferencePoint', { returnValue: 32769 });
    expect(await err(hv.deleteReferencePoint({ vmId, referencePointId: rp.id }))).toMatchObject({ code: 'access_denied', retryable: false });
  });

  it('reports a failed job with its state, error code and GetErrorEx text', async () => {
    const { host, hv, vmId } = setup();
    const cp = await hv.createCheckpoint({ vmId, name: 'hvsnap:e', consistency: 'crash' });
    host.next('ExportSystemDefinition', 'fail');
    const e = await err(hv.exportConfiguration({ checkpoint: cp }));
    expect(e).toMatchObject({ code: 'export_failed', context: { step: 'ExportSystemDefinition', status: 32768 } });
    expect(e!.message).toMatch(/state 10 \(Exception\).*Production checkpoints cannot be created/);
    host.next('ExportSystemDefinition', 'late');
    expect(await err(hv.exportConfiguration({ checkpoint: cp }))).toMatchObject({ code: 'timeout' });
  });

  it('a crash-consistent job failure is checkpoint_failed, an application-consistent one app_consistency_failed', async () => {
    const { host, hv, vmId } = setup();
    host.next('CreateSnapshot', 'fail');
    expect(await err(hv.createCheckpoint({ vmId, name: 'hvsnap:c', consistency: 'crash' }))).toMatchObject({ code: 'checkpoint_failed' });
    host.next('CreateSnapshot', 'fail');
    const e = await err(hv.createCheckpoint({ vmId, name: 'hvsnap:c', consistency: 'application' }));
    expect(e).toMatchObject({ code: 'app_consistency_failed', retryable: false });
    expect(e!.hint).toMatch(/crash-consistent fallback/);
  });

  it('waits out a late ConvertToReferencePoint and a late DestroySnapshot', async () => {
    const { host, hv, vmId } = setup();
    const cp = await hv.createCheckpoint({ vmId, name: 'hvsnap:l', consistency: 'crash' });
    host.next('ConvertToReferencePoint', 'late');
    const rp = await hv.convertToReferencePoint({ checkpoint: cp });
    expect(rp.disks).toHaveLength(2);
    expect(host.referencePoints[0].name).toBe('hvsnap:l');
    const cp2 = await hv.createCheckpoint({ vmId, name: 'hvsnap:l2', consistency: 'crash' });
    host.next('DestroySnapshot', 'late');
    await hv.deleteCheckpoint({ vmId, checkpointId: cp2.id });
    expect(host.snapshots).toHaveLength(0);
  });

  it('pages GetVirtualDiskChanges until the whole disk is processed and merges across pages', async () => {
    const { host, hv, vmId } = setup({ pageBytes: 1 << 20, pagesPerCall: 2, singleObjects: true });
    const rp = await hv.convertToReferencePoint({ checkpoint: await hv.createCheckpoint({ vmId, name: 'hvsnap:f', consistency: 'crash' }) });
    host.write('sql01', 0, (3 << 20) - 4096, 8192); // spans a page boundary
    host.write('sql01', 0, 7 << 20, 4096);
    host.write('sql01', 1, 0, 4096);
    const cp = await hv.createCheckpoint({ vmId, name: 'hvsnap:i', consistency: 'crash' });
    const disk0 = rp.disks.find((d) => d.diskId.endsWith('\\0\\0\\L'))!;
    const before = host.shell.callsTo('get-changes.ps1').length;
    const ranges = await hv.changedRanges({ checkpoint: cp, diskId: disk0.diskId, sinceRctId: disk0.rctId });
    expect(ranges).toEqual([
      { offset: (3 << 20) - 4096, length: 8192 },
      { offset: 7 << 20, length: 4096 },
    ]);
    const calls = host.shell
      .callsTo('get-changes.ps1')
      .slice(before)
      .map((c) => (c.input as { offset: number }).offset);
    expect(calls).toEqual([0, 2 << 20, 4 << 20, 6 << 20]);
    expect(await err(hv.changedRanges({ checkpoint: cp, diskId: disk0.diskId, sinceRctId: 'rctX:bogus:00000001' }))).toMatchObject({
      code: 'rct_invalid',
      context: { disk: disk0.diskId },
    });
  });

  it('leaves out of a reference point a disk whose VHDX changed during the backup (next backup full)', async () => {
    const { host, hv, vmId, logger } = setup();
    const cp = await hv.createCheckpoint({ vmId, name: 'hvsnap:x', consistency: 'crash' });
    host.vms[0].disks[1].virtualDiskId = '11111111-2222-3333-4444-555555555555';
    const rp = await hv.convertToReferencePoint({ checkpoint: cp });
    expect(rp.disks.map((d) => d.diskId)).toEqual([cp.disks[0].diskId]);
    expect(logger.lines.some((l) => /next backup is full/.test(l.msg ?? ''))).toBe(true);
  });
});

describe('WmiHypervisor: VMs, nodes and names', () => {
  it('sends names and paths as data: quotes, $(), backticks, semicolons, newlines', async () => {
    const { host, hv } = setup();
    const nasty = `it's "x" $(Stop-Computer -Force) \`$env:PATH; Remove-Item C:\\ -Recurse\nsecond line`;
    host.addVm(nasty);
    const [vm] = await hv.listVms({ names: [nasty] });
    expect(vm.name).toBe(nasty);
    const cp = await hv.createCheckpoint({ vmId: vm.id, name: `hvsnap:${nasty}`, consistency: 'crash' });
    expect(cp.name).toBe(`hvsnap:${nasty}`);
    for (const call of host.shell.calls) {
      expect(call.script).toBe(loadScript(call.name as Parameters<typeof loadScript>[0]));
      expect(call.script).not.toContain('Stop-Computer');
    }
    expect(host.shell.callsTo('get-vms.ps1').at(-1)!.input).toEqual({ names: [nasty] });
    expect(host.shell.callsTo('create-checkpoint.ps1').at(-1)!.input).toMatchObject({ name: `hvsnap:${nasty}` });
  });

  it('runs every call on the node that owns the VM and follows a live migration', async () => {
    const a = new SimulatedHost('HV01').addVolume({ root: 'C:\\ClusterStorage\\Volume1' });
    const b = new SimulatedHost('HV02').addVolume({ root: 'C:\\ClusterStorage\\Volume1' });
    a.addVm('web01');
    const vm2 = b.addVm('sql01');
    const hv = new WmiHypervisor({
      nodes: [
        { name: 'HV01', shell: a.shell },
        { name: 'HV02', shell: b.shell },
      ],
    });
    const [info] = await hv.listVms({ names: ['sql01'] });
    expect(info.host).toBe('HV02');
    const cp = await hv.createCheckpoint({ vmId: vm2.id, name: 'hvsnap:m', consistency: 'crash' });
    expect(a.shell.callsTo('create-checkpoint.ps1')).toHaveLength(0);
    await hv.deleteCheckpoint({ vmId: vm2.id, checkpointId: cp.id });
    // live migration to HV01
    a.vms.push(...b.vms.splice(0));
    const cp2 = await hv.createCheckpoint({ vmId: vm2.id, name: 'hvsnap:m2', consistency: 'crash' });
    expect(a.snapshots.map((s) => s.id)).toEqual([cp2.id]);
    expect(b.shell.callsTo('create-checkpoint.ps1')).toHaveLength(2);
  });

  it('refuses an ambiguous name and warns about configuration versions below 8.0', async () => {
    const { host, hv, logger } = setup();
    host.addVm('dup');
    host.addVm('dup');
    host.addVm('old', { version: '7.1' });
    expect(await err(hv.listVms({ names: ['dup'] }))).toMatchObject({ code: 'vm_ambiguous' });
    const [old] = await hv.listVms({ names: ['old'] });
    expect(old.configVersion).toBe('7.1');
    expect(logger.lines.some((l) => l.level === 'warn' && l.obj.vm === 'old')).toBe(true);
  });

  it('finds a VM by name without case when no name matches exactly', async () => {
    const { hv } = setup();
    expect((await hv.listVms({ names: ['SQL01'] }))[0].name).toBe('sql01');
  });

  it('reports the parent chain of a frozen differencing disk, and warns', async () => {
    const { host, hv, vmId, logger } = setup({ singleObjects: true });
    host.vms[0].disks[0].parents = ['C:\\ClusterStorage\\Volume1\\sql01\\base.vhdx'];
    const cp = await hv.createCheckpoint({ vmId, name: 'hvsnap:p', consistency: 'crash' });
    expect((cp.disks[0] as { parentPaths?: string[] }).parentPaths).toEqual(['C:\\ClusterStorage\\Volume1\\sql01\\base.vhdx']);
    expect((cp.disks[1] as { parentPaths?: string[] }).parentPaths).toBeUndefined();
    expect(logger.lines.some((l) => /differencing disk/.test(l.msg ?? ''))).toBe(true);
  });

  it('lists groups, merging ConvertTo-Json single objects', async () => {
    const { host, hv, vmId } = setup({ singleObjects: true });
    host.groups.push({ id: 'G1', name: 'app', members: [vmId] });
    expect(await hv.listVmGroups({})).toEqual([{ id: 'G1', name: 'app', vmIds: [vmId] }]);
    const [vm] = await hv.listVms({ names: ['sql01'] });
    expect(vm.groups).toEqual(['G1']);
    expect(vm.disks).toHaveLength(2);
  });
});
