import { existsSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { createWmiHypervisor, wmiHypervisorConfigSchema } from '../../src/hyperv/config.js';
import { loadScript, packageRoot, scriptsDir } from '../../src/hyperv/script-loader.js';
import { checkResult } from '../../src/hyperv/wmi-errors.js';
import { normalizeRanges, slotKey, supportsRct, toVolumeLocation } from '../../src/hyperv/wmi-mapping.js';
import { asArray } from '../../src/hyperv/wmi-shapes.js';
import { FakeShell } from '../../src/transport/fake-shell.js';

const ctx = { host: 'HV01', vm: 'sql01' };
const fp = 'SHA256:' + 'A'.repeat(43);

describe('checkResult (reference §7)', () => {
  const job = (JobState: number, ErrorCode = 0) => ({ InstanceID: 'J1', JobState, ErrorCode, ErrorDescription: 'boom', Errors: 'GetErrorEx text' });
  it('reads 0, 4096 with 7 / 32768 as done, running states as pending', () => {
    expect(checkResult({ Method: 'DestroySnapshot', ReturnValue: 0 }, ctx)).toEqual({ state: 'done', warnings: false });
    expect(checkResult({ Method: 'DestroySnapshot', ReturnValue: 4096, Job: job(7) }, ctx)).toEqual({ state: 'done', warnings: false });
    expect(checkResult({ Method: 'DestroySnapshot', ReturnValue: 4096, Job: job(32768) }, ctx)).toEqual({ state: 'done', warnings: true });
    for (const s of [2, 3, 4, 5, 6, 12]) expect(checkResult({ Method: 'X', ReturnValue: 4096, Job: job(s) }, ctx).state).toBe('pending');
  });
  it('maps failures by family and method', () => {
    const code = (r: Parameters<typeof checkResult>[0], c: Parameters<typeof checkResult>[1] = ctx) => {
      try {
        checkResult(r, c);
        return 'done';
      } catch (e) {
        return `${(e as { code: string }).code}/${(e as { retryable: boolean }).retryable}`;
      }
    };
    expect(code({ Method: 'CreateSnapshot', ReturnValue: 4 })).toBe('input_invalid/false');
    expect(code({ Method: 'CreateSnapshot', ReturnValue: 1 })).toBe('unsupported/false');
    expect(code({ Method: 'CreateSnapshot', ReturnValue: 2, Job: null }, { ...ctx, applicationConsistency: true })).toBe('app_consistency_failed/false');
    expect(code({ Method: 'ExportSystemDefinition', ReturnValue: 32775 })).toBe('vm_invalid_state/true');
    expect(code({ Method: 'ExportSystemDefinition', ReturnValue: 32769 })).toBe('access_denied/false');
    expect(code({ Method: 'GetVirtualDiskChanges', ReturnValue: 32770 })).toBe('rct_unsupported/false');
    expect(code({ Method: 'GetVirtualDiskChanges', ReturnValue: 4096, Job: job(10, 32768) })).toBe('rct_invalid/false');
    expect(code({ Method: 'GetVirtualDiskChanges', ReturnValue: 32779 })).toBe('not_found/false');
    expect(code({ Method: 'ImportSystemDefinition', ReturnValue: 32779 })).toBe('vm_in_use/true');
    expect(code({ Method: 'DestroyReferencePoint', ReturnValue: 4096, Job: job(-1) })).toBe('reference_point_failed/false');
    expect(code({ Method: 'DestroySnapshot', ReturnValue: 4096, Job: job(10, 32774) })).toBe('vm_in_use/true');
  });
  it('names method, host, VM, job state and the error texts', () => {
    expect(() => checkResult({ Method: 'DestroySnapshot', ReturnValue: 4096, Job: job(9, 32768) }, ctx)).toThrow(
      'DestroySnapshot on HV01 for VM sql01 failed: job J1 ended in state 9 (Killed), error code 32768: boom; GetErrorEx text',
    );
  });
});

describe('mapping helpers', () => {
  it('asArray takes what ConvertTo-Json gives', () => {
    expect(asArray(null)).toEqual([]);
    expect(asArray(undefined)).toEqual([]);
    expect(asArray('a')).toEqual(['a']);
    expect(asArray(['a', 'b'])).toEqual(['a', 'b']);
  });
  it('slotKey matches a disk across VM, snapshot and reference point ids', () => {
    const vm = 'Microsoft:0F3C9D2E-1111-4222-8333-944455556666\\83F8638B-8DCA-4152-9EDA-2CA8B33039B4\\0\\1\\L';
    const snap = 'Microsoft:AAAAAAAA-1111-4222-8333-944455556666\\83f8638b-8dca-4152-9eda-2ca8b33039b4\\0\\1\\L';
    expect(slotKey(vm)).toBe(slotKey(snap));
    expect(slotKey(vm)).not.toBe(slotKey(vm.replace('\\0\\1\\', '\\0\\2\\')));
    expect(slotKey('odd-id')).toBe('odd-id');
  });
  it('supportsRct needs configuration version 8.0', () => {
    expect(['5.0', '6.2', '7.1'].map(supportsRct)).toEqual([false, false, false]);
    expect(['8.0', '9.0', '12.0'].map(supportsRct)).toEqual([true, true, true]);
  });
  it('normalizeRanges sorts, merges and clips', () => {
    expect(normalizeRanges([100, 0, 50, 990], [10, 60, 5, 100], 1000, { disk: 'd' })).toEqual([
      { offset: 0, length: 60 },
      { offset: 100, length: 10 },
      { offset: 990, length: 10 },
    ]);
    expect(() => normalizeRanges([1], [], 10, { disk: 'd' })).toThrow(/1 offsets but 0 lengths/);
  });
  it('toVolumeLocation normalizes NAA, EUI-64 and serial identities and refuses Storage Spaces', () => {
    const at = (Disk: object, root = 'C:\\ClusterStorage\\Volume1\\') =>
      toVolumeLocation({ VolumeRoot: root, IsCsv: true, Disk }, 'C:\\ClusterStorage\\Volume1\\VMs\\a.vhdx', 'HV01');
    expect(at({ UniqueId: '600A098038314E6A5A244B4C49543971', UniqueIdFormat: 3, SerialNumber: ' 81MjZ ' })).toEqual({
      identity: { kind: 'naa', id: '600a098038314e6a5a244b4c49543971', serial: '81MjZ' },
      volumeRoot: 'C:\\ClusterStorage\\Volume1',
      relativePath: 'VMs/a.vhdx',
    });
    expect(at({ UniqueId: 'naa.624A9370B1B2C3D4E5F60718000113A2', UniqueIdFormat: 8 }).identity).toEqual({
      kind: 'naa',
      id: '624a9370b1b2c3d4e5f60718000113a2',
      serial: undefined,
    });
    expect(at({ UniqueId: 'eui.0025385B71B12345', UniqueIdFormat: 2 }).identity.kind).toBe('eui');
    expect(at({ UniqueId: '{abc}', UniqueIdFormat: 0, SerialNumber: 'PSX123' }).identity).toEqual({ kind: 'serial', id: 'psx123', serial: 'PSX123' });
    expect(() => at({ UniqueId: 'x', UniqueIdFormat: 3, BusType: 16 })).toThrow(/Storage Spaces/);
    expect(() => at({ UniqueId: '', UniqueIdFormat: 0 })).toThrow(/no NAA\/EUI id nor serial/);
  });
});

describe('script loader', () => {
  it('finds the scripts from the package root and inlines the helper once', () => {
    expect(existsPackageJson(packageRoot())).toBe(true);
    expect(scriptsDir()).toBe(path.join(packageRoot(), 'src', 'hyperv', 'scripts'));
    const text = loadScript('get-vms.ps1');
    expect(text.match(/function Invoke-HvsnapMethod/g)).toHaveLength(1);
    expect(text.indexOf('param(')).toBeLessThan(text.indexOf('function Stop-Hvsnap'));
    expect(loadScript('get-vms.ps1')).toBe(text);
  });
  it('names the file when a script is missing', () => {
    expect(() => loadScript('get-vms.ps1', '/nonexistent')).toThrow(/cannot read hvsnap script get-vms\.ps1 in \/nonexistent/);
  });
});

function existsPackageJson(dir: string): boolean {
  return existsSync(path.join(dir, 'package.json'));
}

describe('wmi hypervisor config', () => {
  const base = {
    kind: 'wmi',
    nodes: [{ name: 'HV01', address: 'hv01.corp', hostKeyFingerprint: fp }],
    transport: { kind: 'ssh', username: 'svc', privateKeyPath: '/k' },
  };
  it('fills defaults', () => {
    const cfg = wmiHypervisorConfigSchema.parse(base);
    expect(cfg.checkpoint).toEqual({ ignoreNonSnapshottableDisks: false, guestBackupType: 'copy' });
    expect(cfg.transport).toMatchObject({ port: 22, executable: 'powershell.exe', acceptUnknownHostKey: false });
  });
  it('names the field of a problem', () => {
    const bad = (c: object) => {
      try {
        createWmiHypervisor(c as never, { shellFor: () => new FakeShell() });
        return 'ok';
      } catch (e) {
        return (e as Error).message;
      }
    };
    expect(bad({ ...base, nodes: [] })).toMatch(/(^|: )hypervisor\.nodes: /);
    expect(bad({ ...base, nodes: [{ name: 'HV01' }] })).toMatch(/no hostKeyFingerprint for HV01/);
    expect(bad({ ...base, nodes: [{ name: 'HV01', hostKeyFingerprint: 'MD5:aa' }] })).toMatch(/hypervisor\.nodes\.0\.hostKeyFingerprint: expected SHA256/);
    expect(bad({ ...base, transport: { kind: 'ssh', username: 'svc' } })).toMatch(/hypervisor\.transport\.privateKeyPath: give privateKeyPath or passwordEnv/);
    expect(bad({ ...base, transport: { kind: 'ssh', username: 'svc', passwordEnv: 'X', password: 'hunter2' } })).toMatch(
      /(^|: )hypervisor\.transport\.password: unknown key/,
    );
    expect(bad({ ...base, nodes: [{ name: 'HV01' }], transport: { ...base.transport, acceptUnknownHostKey: true } })).toBe('ok');
  });
  it('refuses a missing secret environment variable by name', () => {
    expect(() => createWmiHypervisor({ ...base, transport: { kind: 'ssh', username: 'svc', passwordEnv: 'HVSNAP_TEST_PW' } } as never, { env: {} })).toThrow(
      'environment variable HVSNAP_TEST_PW (named by transport.passwordEnv) is not set',
    );
  });
});
