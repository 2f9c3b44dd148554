import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { checkHyperVHost } from '../../src/hyperv/check-host.js';
import { SCRIPT_NAMES, scriptsDir } from '../../src/hyperv/script-loader.js';
import { WmiHypervisor } from '../../src/hyperv/wmi-hypervisor.js';
import { WmiInstantHost } from '../../src/hyperv/wmi-instant-host.js';
import { SimulatedHost } from './simulated-host.js';
import { addInstantStorage } from './simulated-instant.js';

const read = (f: string) => readFileSync(path.join(scriptsDir(), f), 'utf8');

/**
 * Cross-checks the .ps1 files against the TypeScript that calls them: every `$in.<field>` a script
 * reads is a field the hypervisor sends, and every Hvsnap helper a script calls is defined.
 */
describe('scripts and their callers agree', () => {
  it('every $in.<field> a script reads is sent by the WMI hypervisor', async () => {
    const host = new SimulatedHost('HV01').addVolume({ root: 'C:\\ClusterStorage\\Volume1' });
    host.addVm('sql01', { disks: 2 });
    const hv = new WmiHypervisor({ nodes: [{ name: 'HV01', shell: host.shell }] });
    const [vm] = await hv.listVms({ names: ['sql01'] });
    await hv.listVms({});
    await hv.listVmGroups({});
    await hv.resolveVolume({ path: vm.disks[0].path });
    host.next('CreateSnapshot', 'late');
    const cp = await hv.createCheckpoint({ vmId: vm.id, name: 'hvsnap:1', consistency: 'crash' });
    const config = await hv.exportConfiguration({ checkpoint: cp });
    const rp = await hv.convertToReferencePoint({ checkpoint: cp });
    const cp2 = await hv.createCheckpoint({ vmId: vm.id, name: 'hvsnap:2', consistency: 'crash' });
    await hv.changedRanges({ checkpoint: cp2, diskId: rp.disks[0].diskId, sinceRctId: rp.disks[0].rctId });
    host.next('ConvertToReferencePoint', 'late');
    await hv.convertToReferencePoint({ checkpoint: cp2 });
    await hv.listReferencePoints({ vmId: vm.id });
    await hv.listLeftovers({ tagPrefix: 'hvsnap:' });
    await hv.deleteReferencePoint({ vmId: vm.id, referencePointId: rp.id });
    const cp3 = await hv.createCheckpoint({ vmId: vm.id, name: 'hvsnap:3', consistency: 'crash' });
    await hv.deleteCheckpoint({ vmId: vm.id, checkpointId: cp3.id });
    await hv.importVm({ config, diskPaths: Object.fromEntries(cp.disks.map((d) => [d.diskId, d.path])), newId: true, name: 'copy' });
    await checkHyperVHost({ nodes: [{ name: 'HV01', shell: host.shell }] });
    // instant restore's host side: a LUN presented to HV01 by an array
    const san = mkdtempSync(path.join(tmpdir(), 'hvsnap-san-'));
    mkdirSync(path.join(san, 'presentations'));
    writeFileSync(
      path.join(san, 'presentations', 'p.json'),
      JSON.stringify({ host: 'HV01', luns: [{ identity: { id: '6001405AABBCCDDEEFF00112233445566' } }] }),
    );
    addInstantStorage(host, san);
    const instant = new WmiInstantHost({ name: 'HV01', shell: host.shell });
    const lun = { identity: { kind: 'naa' as const, id: '6001405AABBCCDDEEFF00112233445566' } };
    await instant.initiators({});
    await instant.rescanStorage({});
    await instant.onlineDisk({ lun });
    await instant.startVm({ vmId: vm.id });
    await instant.moveVmStorage({ vmId: vm.id, destinationDir: 'C:\\ClusterStorage\\Volume1\\moved' });
    await instant.offlineDisk({ lun });
    rmSync(san, { recursive: true, force: true });

    const sent = new Map<string, Set<string>>();
    for (const c of host.shell.calls) {
      const keys = sent.get(c.name) ?? new Set<string>();
      for (const k of Object.keys(c.input as object)) keys.add(k.toLowerCase());
      sent.set(c.name, keys);
    }
    expect([...sent.keys()].sort()).toEqual([...SCRIPT_NAMES].sort());
    for (const name of SCRIPT_NAMES) {
      const used = new Set([...read(name).matchAll(/\$in\.(\w+)/g)].map((m) => m[1].toLowerCase()));
      const missing = [...used].filter((u) => !sent.get(name)!.has(u));
      expect({ script: name, missing }).toEqual({ script: name, missing: [] });
    }
  });

  it('every Hvsnap helper a script calls is defined', () => {
    const defined = new Set<string>();
    const all = ['_hvsnap.ps1', ...SCRIPT_NAMES].map((f) => [f, read(f)] as const);
    for (const [, text] of all) for (const m of text.matchAll(/^\s*function\s+([\w-]+)/gm)) defined.add(m[1].toLowerCase());
    for (const [file, text] of all) {
      const calls = [...text.matchAll(/\b([A-Z][a-z]+-Hvsnap\w*)/g)].map((m) => m[1]);
      const unknown = calls.filter((c) => !defined.has(c.toLowerCase()));
      expect({ file, unknown }).toEqual({ file, unknown: [] });
    }
  });
});
