import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { Language, Parser } from 'web-tree-sitter';
import { captureLogger } from '../../src/core/logger.js';
import type { Presentation } from '../../providers/sdk/provider.js';
import { createWindowsProxy, offlineReason, windowsScriptsDir } from '../../proxy/windows/index.js';
import { mapSourcePath } from '../../proxy/mount-map.js';
import { bootDisk, csvSnapshotDisk, failure, fakeWindowsHost, type FakeDisk } from './fake-windows-host.js';

const source = { kind: 'naa' as const, id: '624a9370abcdef0123456789000100aa' };
const presentation: Presentation = {
  name: 'job-7-csv1',
  snapshotName: 'job-7',
  host: 'proxy-win1',
  target: { transport: 'iscsi' },
  luns: [{ volumeId: 'vol-csv1', sourceIdentity: source, identity: { kind: 'naa', id: 'naa.624a9370abcdef0123456789000113f2' } }],
};

function setup(disks: FakeDisk[], hostOptions: Parameters<typeof fakeWindowsHost>[1] = {}, config: Record<string, unknown> = {}) {
  const host = fakeWindowsHost(disks, hostOptions);
  const logger = captureLogger();
  const sleeps: number[] = [];
  const proxy = createWindowsProxy({ discoveryTimeoutMs: 60_000, ...config }, { shell: host.shell, logger, sleep: async (ms) => void sleeps.push(ms) });
  return { ...host, proxy, logger, sleeps };
}

describe('windows proxy over a recording fake shell', () => {
  it('rescans, finds the disk by UniqueId, sets read-only THEN online, mounts on a folder without a drive letter, offlines on detach', async () => {
    const disk = csvSnapshotDisk();
    const { proxy, shell, events } = setup([bootDisk, disk], { autoDriveLetter: 'E' });
    const attachment = await proxy.attach({ presentation });

    expect(shell.calls.map((c) => c.name)).toEqual(['find-disks.ps1', 'online-disk.ps1', 'mount-partition.ps1']);
    expect(shell.calls[0].input).toEqual({ rescan: true });
    expect(shell.calls[0].script).toMatch(/Update-HostStorageCache/);
    expect(shell.calls[1].input).toEqual({ number: 3, uniqueId: disk.UniqueId, serial: disk.SerialNumber });
    // the script itself sets read-only before online, in two calls (different parameter sets)
    const online = shell.calls[1].script;
    expect(online.indexOf('-IsReadOnly $true')).toBeGreaterThan(0);
    expect(online.indexOf('-IsReadOnly $true')).toBeLessThan(online.indexOf('-IsOffline $false'));
    expect(events.slice(0, 2)).toEqual(['Set-Disk 3 -IsReadOnly $true', 'Set-Disk 3 -IsOffline $false']);

    const mountPath = 'C:\\ProgramData\\hvsnap\\mounts\\job-7-csv1\\naa-624a9370abcdef0123456789000113f2\\';
    expect(shell.calls[2].input).toMatchObject({ number: 3, partitionNumber: 2 }); // the basic-data partition, not the MSR
    expect(attachment.volumes).toEqual([
      { sourceIdentity: source, mountPath, handle: { diskNumber: 3, uniqueId: disk.UniqueId, serial: disk.SerialNumber, partitionNumber: 2 } },
    ]);
    expect(events).toContain('Remove-PartitionAccessPath 3/2 E:\\'); // the letter Windows gave it is taken away
    expect(disk.partitions[1].DriveLetter).toBeNull();
    expect(disk.IsReadOnly).toBe(true);

    expect(
      mapSourcePath({
        attachment,
        volumes: [{ identity: source, volumeRoot: 'C:\\ClusterStorage\\Volume1' }],
        sourcePath: 'C:\\ClusterStorage\\Volume1\\VMs\\sql1\\Virtual Hard Disks\\sql1.vhdx',
        style: 'win32',
      }),
    ).toBe(`${mountPath}VMs\\sql1\\Virtual Hard Disks\\sql1.vhdx`);

    await proxy.detach({ attachment });
    expect(shell.calls.slice(-2).map((c) => c.name)).toEqual(['offline-disks.ps1', 'disconnect-iscsi.ps1']);
    const last = shell.calls.at(-2)!;
    expect(last.input).toEqual({ folder: 'C:\\ProgramData\\hvsnap\\mounts\\job-7-csv1', disks: [{ uniqueId: disk.UniqueId, serial: disk.SerialNumber }] });
    expect(disk.IsOffline).toBe(true);
    expect(disk.partitions[1].AccessPaths).toEqual([]);
    expect(bootDisk.IsOffline).toBe(false);

    // detach again, and by name: nothing left to do, still success
    await proxy.detach({ attachment });
    await proxy.detach({ presentationName: presentation.name });
    expect(events.filter((e) => e.includes('-IsOffline $true'))).toHaveLength(1);
  });

  it('is idempotent by name: a second attach finds the disk online and its access path in place', async () => {
    const disk = csvSnapshotDisk();
    const { proxy, events } = setup([disk]);
    const a = await proxy.attach({ presentation });
    const b = await proxy.attach({ presentation });
    // the same attachment (the Mount's functions are new closures each time, so compare the data)
    expect({ presentationName: b.presentationName, volumes: b.volumes }).toEqual({ presentationName: a.presentationName, volumes: a.volumes });
    expect(events.filter((e) => e.startsWith('Add-PartitionAccessPath'))).toHaveLength(1);
  });

  it.each([
    ['number 4', 4],
    ['the name PowerShell shows', 'Collision'],
  ])('refuses a disk offline for a collision (%s): the proxy also sees the source LUN', async (_label, reason) => {
    const disk = csvSnapshotDisk({ OfflineReason: reason });
    const { proxy, shell, events } = setup([disk]);
    const err = await failure(proxy.attach({ presentation }));
    expect(err.code).toBe('proxy_failed');
    expect(err.message).toMatch(/disk 3 .* collision: this proxy also sees the source LUN/);
    expect(err.context).toMatchObject({ reason: 'collision', presentation: 'job-7-csv1', disk: '3' });
    expect(err.hint).toMatch(/proxy host that is not presented the source LUN/);
    expect(shell.calls.map((c) => c.name)).toEqual(['find-disks.ps1', 'offline-disks.ps1', 'disconnect-iscsi.ps1']);
    expect(shell.calls[1].input).toMatchObject({ disks: [] }); // the refused disk is not touched
    expect(events).toEqual([]);
  });

  it('refuses a snapshot whose GPT GUID an online disk already has (the source LUN is visible here)', async () => {
    const snap = csvSnapshotDisk();
    const sourceLun = csvSnapshotDisk({ Number: 2, UniqueId: '624A9370ABCDEF0123456789000100AA', SerialNumber: 'X1', IsOffline: false, OfflineReason: null });
    const { proxy, events } = setup([sourceLun, snap]);
    const err = await failure(proxy.attach({ presentation }));
    expect(err.message).toMatch(/same GPT GUID \{7c1b2a55-.*\} as online disk 2: this proxy also sees the source LUN/);
    expect(events).toEqual([]);
  });

  it.each([
    [{ OfflineReason: 2 }, /redundant path/, /MPIO/],
    [{ OfflineReason: 'CriticalWriteFailures' }, /offline for reason critical_write_failures/, /Get-Disk/],
    [{ IsClustered: true }, /is a cluster disk/, /outside the cluster/],
  ] as const)('refuses %o with a message that says why', async (over, message, hint) => {
    const { proxy, events } = setup([csvSnapshotDisk(over as Partial<FakeDisk>)]);
    const err = await failure(proxy.attach({ presentation }));
    expect(err.message).toMatch(message);
    expect(err.hint).toMatch(hint);
    expect(events).toEqual([]);
  });

  it('accepts OfflineReason Snapshot, matches by serial when UniqueId renders differently, and survives a single-object JSON answer', async () => {
    const disk = csvSnapshotDisk({ OfflineReason: 3, UniqueId: 'PURE    FlashArray      ABCDEF0123456789000113F2' });
    const lun = { ...presentation.luns[0], identity: { kind: 'naa' as const, id: '624a9370ffff', serial: 'abcdef0123456789000113f2' } };
    const { proxy } = setup([disk], { singleObjectJson: true });
    const a = await proxy.attach({ presentation: { ...presentation, luns: [lun] } });
    expect(a.volumes[0].handle).toMatchObject({ diskNumber: 3 });
    expect(disk.IsOffline).toBe(false);
  });

  it('waits for a LUN that appears after some rescans, and gives up naming what it saw', async () => {
    const { proxy, shell, sleeps, rescans } = setup([bootDisk, csvSnapshotDisk({ appearsAfterRescans: 3 })], {}, { pollMs: 1500 });
    await proxy.attach({ presentation });
    expect(rescans()).toBe(3);
    expect(sleeps).toEqual([1500, 1500]);
    expect(shell.callsTo('find-disks.ps1')).toHaveLength(3);

    const missing = setup([bootDisk], {}, { discoveryTimeoutMs: 0 });
    const err = await failure(missing.proxy.attach({ presentation }));
    expect(err.code).toBe('not_found');
    expect(err.message).toMatch(/LUN vol-csv1 \(naa:naa\.624a9370abcdef0123456789000113f2\) did not appear on fake within 0 ms/);
    expect(err.hint).toMatch(/disks seen: 0=6002248029F16A9B1C7B0D1E2F304152/);
  });

  it('stops waiting for a LUN when aborted, and still runs the cleanup script', async () => {
    const host = fakeWindowsHost([bootDisk]);
    const ac = new AbortController();
    const proxy = createWindowsProxy({}, { shell: host.shell, sleep: async () => ac.abort() });
    const err = await failure(proxy.attach({ presentation }, { signal: ac.signal }));
    expect(err.code).toBe('aborted');
    expect(host.shell.calls.map((c) => c.name)).toEqual(['find-disks.ps1', 'offline-disks.ps1', 'disconnect-iscsi.ps1']);
  });

  it('takes the disk offline again when mounting fails, and keeps the original error', async () => {
    const disk = csvSnapshotDisk();
    const { proxy, shell } = setup([disk]);
    shell.on('mount-partition.ps1', () => {
      throw new Error('Access to the path is denied');
    });
    const err = await failure(proxy.attach({ presentation }));
    expect(err.message).toMatch(/Access to the path is denied/);
    expect(shell.calls.map((c) => c.name)).toEqual(['find-disks.ps1', 'online-disk.ps1', 'mount-partition.ps1', 'offline-disks.ps1', 'disconnect-iscsi.ps1']);
    expect(disk.IsOffline).toBe(true);
    expect(err.suppressed).toEqual([]);
  });

  it('refuses a RAW volume, and reports a cleanup failure as suppressed without masking the cause', async () => {
    const disk = csvSnapshotDisk();
    disk.partitions[1].fileSystem = '';
    const { proxy, shell, logger } = setup([disk]);
    shell.on('offline-disks.ps1', () => {
      throw new Error('WinRM dropped');
    });
    const err = await failure(proxy.attach({ presentation }));
    expect(err.message).toMatch(/has file system 'RAW', not NTFS or ReFS/);
    expect(err.suppressed).toHaveLength(1);
    expect(String((err.suppressed[0] as Error).message)).toMatch(/WinRM dropped/);
    expect(logger.lines.some((l) => l.level === 'warn' && /cleanup after a failed attach failed/.test(l.msg ?? ''))).toBe(true);
  });

  it('checks its config without I/O, naming the field', () => {
    const { shell } = fakeWindowsHost([]);
    expect(() => createWindowsProxy({ mountRoot: '/mnt' }, { shell })).toThrow(/windows proxy config: mountRoot: must be an absolute Windows path/);
    expect(() => createWindowsProxy({ allowOfflineReasons: ['collision' as 'policy'] }, { shell })).toThrow(/allowOfflineReasons/);
  });

  it('reads OfflineReason as a number or a name', () => {
    expect(offlineReason(1)).toBe('policy');
    expect(offlineReason('Redundant Path')).toBe('redundant_path');
    expect(offlineReason('4')).toBe('collision');
    expect(offlineReason(null)).toBeUndefined();
  });
});

describe('windows proxy scripts', () => {
  const dir = windowsScriptsDir();
  const files = readdirSync(dir).filter((f) => f.endsWith('.ps1'));

  it('are the six the proxy runs, each taking one JSON string argument it decodes itself', () => {
    expect(files.sort()).toEqual([
      'connect-iscsi.ps1',
      'disconnect-iscsi.ps1',
      'find-disks.ps1',
      'mount-partition.ps1',
      'offline-disks.ps1',
      'online-disk.ps1',
    ]);
    for (const f of files) {
      const text = readFileSync(path.join(dir, f), 'utf8');
      expect(text, f).toMatch(/^param\(\[string\]\$InputJson\)$/m);
      expect(text, f).toMatch(/\$InputJson \| ConvertFrom-Json/);
      expect(text, f).not.toMatch(/Invoke-Expression|iex /i);
      expect(text, f).toMatch(/ConvertTo-Json .*-InputObject/);
    }
  });

  it('parse under the tree-sitter PowerShell grammar', async () => {
    await Parser.init();
    const wasm = path.join(process.cwd(), 'node_modules/tree-sitter-powershell/tree-sitter-powershell.wasm');
    const parser = new Parser();
    parser.setLanguage(await Language.load(wasm));
    expect(parser.parse('if ($x { "a" }')!.rootNode.hasError).toBe(true); // the check can fail
    for (const f of files) {
      const tree = parser.parse(readFileSync(path.join(dir, f), 'utf8'))!;
      expect(tree.rootNode.hasError, f).toBe(false);
    }
  });
});
