import { describe, expect, it } from 'vitest';
import type { Presentation, PresentedLun } from '../../providers/sdk/provider.js';
import { createWindowsProxy } from '../../proxy/windows/index.js';
import { parsePortal } from '../../proxy/windows/iscsi-plan.js';
import { bootDisk, csvSnapshotDisk, failure, fakeWindowsHost, type FakeIscsiTarget } from './fake-windows-host.js';

// The array's description of what it presented (what Pure/ONTAP/PowerStore `present` returns): a target
// IQN offered on two portals, and the presented LUN's NAA. The portal also offers another target of
// the same array (a production host's), which the proxy must never log in to.
const IQN = 'iqn.2010-06.com.purestorage:flasharray.5d1c7e1b2a3f4e5d';
const OTHER_IQN = 'iqn.2010-06.com.purestorage:flasharray.0000production';
const PORTALS = ['192.0.2.21:3260', '192.0.2.22:3260'];
const source = { kind: 'naa' as const, id: '624a9370abcdef0123456789000100aa' };
const lun = (over: Partial<PresentedLun> = {}): PresentedLun => ({
  volumeId: 'vol-csv1',
  sourceIdentity: source,
  identity: { kind: 'naa', id: 'naa.624a9370abcdef0123456789000113f2' },
  lun: 1,
  ...over,
});
const presentation = (name = 'job-7-csv1', luns = [lun()]): Presentation => ({
  name,
  snapshotName: 'job-7',
  host: 'proxy-win1',
  target: { transport: 'iscsi', portals: PORTALS, iqns: [IQN] },
  luns,
});

function array(disks = [csvSnapshotDisk({ Number: 5 })]): FakeIscsiTarget[] {
  return [
    { iqn: IQN, portals: PORTALS, disks },
    { iqn: OTHER_IQN, portals: PORTALS, disks: [csvSnapshotDisk({ Number: 9, UniqueId: '624A9370ABCDEF01234567890000FFFF', SerialNumber: 'PROD' })] },
  ];
}

function setup(opts: Parameters<typeof fakeWindowsHost>[1] = {}, config: Record<string, unknown> = {}) {
  const host = fakeWindowsHost([bootDisk], { iscsiTargets: array(), ...opts });
  const sleeps: number[] = [];
  const proxy = createWindowsProxy({ discoveryTimeoutMs: 300, ...config }, { shell: host.shell, sleep: async (ms) => void sleeps.push(ms) });
  return { ...host, proxy, sleeps };
}

describe('windows proxy: the presentation target decides what is connected', () => {
  it('adds the portals, connects exactly the presented IQN (not persistent), finds the disk by NAA; detach offlines, then logs out that session', async () => {
    const { proxy, shell, events, connected, records } = setup({}, { rescan: false });
    const attachment = await proxy.attach({ presentation: presentation() });

    expect(shell.calls.map((c) => c.name)).toEqual(['connect-iscsi.ps1', 'find-disks.ps1', 'online-disk.ps1', 'mount-partition.ps1']);
    expect(shell.calls[0].input).toEqual({
      presentation: 'job-7-csv1',
      recordFile: 'C:\\ProgramData\\hvsnap\\mounts\\job-7-csv1.iscsi.json',
      recordsDir: 'C:\\ProgramData\\hvsnap\\mounts',
      portals: [
        { address: '192.0.2.21', port: 3260 },
        { address: '192.0.2.22', port: 3260 },
      ],
      iqns: [IQN],
      multipath: false,
    });
    // config rescan=false, but a LUN behind a new session needs one; and which sessions each disk is on
    expect(shell.calls[1].input).toEqual({ rescan: true, iscsiTargets: true });
    expect(events.slice(0, 3)).toEqual([
      'New-IscsiTargetPortal 192.0.2.21:3260',
      'New-IscsiTargetPortal 192.0.2.22:3260',
      `Connect-IscsiTarget ${IQN} 192.0.2.21:3260`,
    ]);
    expect(connected().map((s) => [s.TargetNodeAddress, s.IsPersistent])).toEqual([[IQN, false]]);
    expect(attachment.volumes[0].handle).toMatchObject({ diskNumber: 5 });
    // the script itself connects only the IQN it is given, never the portal's whole target list
    const script = shell.calls[0].script;
    expect(script).toMatch(/Connect-IscsiTarget @params/);
    expect(script).toMatch(/NodeAddress = \[string\]\$iqn; IsPersistent = \$false/);
    expect(script).not.toMatch(/Get-IscsiTarget\s*\|\s*Connect-IscsiTarget/);

    await proxy.detach({ attachment });
    expect(shell.calls.slice(-2).map((c) => c.name)).toEqual(['offline-disks.ps1', 'disconnect-iscsi.ps1']);
    expect(events.at(-1)).toMatch(new RegExp(`^Disconnect-IscsiTarget ${IQN.replace(/\./g, '\\.')} `));
    expect(connected()).toEqual([]);
    expect(records.size).toBe(0);
    // idempotent, also by name
    await proxy.detach({ presentationName: 'job-7-csv1' });
    expect(events.filter((e) => e.startsWith('Disconnect-IscsiTarget'))).toHaveLength(1);
  });

  it('reuses a session it did not open and leaves it connected on detach; another target stays untouched', async () => {
    const { proxy, events, connected } = setup({ connectedIqns: [IQN, OTHER_IQN] });
    const attachment = await proxy.attach({ presentation: presentation() });
    expect(events.filter((e) => e.startsWith('Connect-IscsiTarget'))).toEqual([]);
    await proxy.detach({ attachment });
    expect(events.filter((e) => e.startsWith('Disconnect-IscsiTarget'))).toEqual([]);
    expect(connected().map((s) => s.TargetNodeAddress)).toEqual([IQN, OTHER_IQN]);
  });

  it('detach logs out only its own session: a session two presentations share is handed over, and logged out by the last one', async () => {
    const disks = [
      csvSnapshotDisk({ Number: 5 }),
      csvSnapshotDisk({ Number: 6, UniqueId: '624A9370ABCDEF0123456789000113F3', SerialNumber: 'S2', Guid: '{00000000-0000-0000-0000-000000000002}' }),
    ];
    const host = fakeWindowsHost([bootDisk], { iscsiTargets: [{ iqn: IQN, portals: PORTALS, disks }], connectedIqns: [OTHER_IQN] });
    const proxy = createWindowsProxy({ discoveryTimeoutMs: 300 }, { shell: host.shell, sleep: async () => {} });
    const a = await proxy.attach({ presentation: presentation('job-7-a') });
    const b = await proxy.attach({
      presentation: presentation('job-7-b', [lun({ volumeId: 'vol-csv2', identity: { kind: 'naa', id: '624a9370abcdef0123456789000113f3' } })]),
    });
    expect(host.events.filter((e) => e.startsWith('Connect-IscsiTarget'))).toHaveLength(1);

    await proxy.detach({ attachment: a });
    // b still reads through that session: it stays, and b's disk is still online
    expect(
      host
        .connected()
        .map((s) => s.TargetNodeAddress)
        .sort(),
    ).toEqual([IQN, OTHER_IQN].sort());
    expect(disks[1].IsOffline).toBe(false);
    expect(host.events.filter((e) => e.startsWith('Disconnect-IscsiTarget'))).toEqual([]);

    await proxy.detach({ attachment: b });
    expect(host.connected().map((s) => s.TargetNodeAddress)).toEqual([OTHER_IQN]);
  });

  it('a LUN whose identity never appears: not_found naming the LUN and what was seen, and the session it opened is logged out', async () => {
    const { proxy, connected, records, events } = setup({}, { discoveryTimeoutMs: 0 });
    const wrong = lun({ identity: { kind: 'naa', id: '624a9370abcdef01234567890000dead' } });
    const err = await failure(proxy.attach({ presentation: presentation('job-7-csv1', [wrong]) }));
    expect(err.code).toBe('not_found');
    expect(err.message).toMatch(/presented LUN vol-csv1 \(naa:624a9370abcdef01234567890000dead\) did not appear/);
    expect(err.hint).toMatch(/5=624A9370ABCDEF0123456789000113F2/); // the disk that was there, by UniqueId: not picked
    expect(events.some((e) => e.startsWith('Set-Disk'))).toBe(false);
    expect(connected()).toEqual([]);
    expect(records.size).toBe(0);
  });

  it('a disk with the identity that is not on the presented target is refused, and nothing is left connected', async () => {
    // the same UniqueId on a disk this host sees through something else (a local path, another array's target)
    const impostor = csvSnapshotDisk({ Number: 2, IsOffline: true });
    const host = fakeWindowsHost([bootDisk, impostor], {
      iscsiTargets: [
        { iqn: IQN, portals: PORTALS, disks: [csvSnapshotDisk({ Number: 5, UniqueId: '624A9370ABCDEF01234567890000BEEF', SerialNumber: 'OTHER' })] },
      ],
    });
    const proxy = createWindowsProxy({ discoveryTimeoutMs: 300 }, { shell: host.shell, sleep: async () => {} });
    const err = await failure(proxy.attach({ presentation: presentation() }));
    expect(err.code).toBe('proxy_failed');
    expect(err.message).toMatch(
      new RegExp(
        `disk 2 on fake matches LUN vol-csv1 \\(naa:naa\\.624a9370abcdef0123456789000113f2\\) but is not on the presented iSCSI target ${IQN.replace(/\./g, '\\.')} \\(it is on no iSCSI session\\)`,
      ),
    );
    expect(host.events.some((e) => e.startsWith('Set-Disk'))).toBe(false);
    expect(host.connected()).toEqual([]);
  });

  it('a LUN without an identity is refused before anything is connected, naming the LUN and the field', async () => {
    const { proxy, shell } = setup();
    const err = await failure(proxy.attach({ presentation: presentation('job-7-csv1', [lun({ identity: { kind: 'naa', id: ' ' } })]) }));
    expect(err.code).toBe('input_invalid');
    expect(err.message).toMatch(/LUN vol-csv1 of presentation job-7-csv1 has no identity/);
    expect(err.context).toMatchObject({ field: 'presentation.luns[0].identity' });
    expect(shell.calls).toEqual([]);
  });

  it('waits with a deadline for a LUN that appears some rescans after the login', async () => {
    const { proxy, sleeps, shell } = setup(
      { iscsiTargets: [{ iqn: IQN, portals: PORTALS, disks: [csvSnapshotDisk({ Number: 5, appearsAfterRescans: 3 })] }] },
      { pollMs: 700 },
    );
    const attachment = await proxy.attach({ presentation: presentation() });
    expect(attachment.volumes[0].handle).toMatchObject({ diskNumber: 5 });
    expect(shell.callsTo('find-disks.ps1')).toHaveLength(3);
    expect(sleeps).toEqual([700, 700]);
  });

  it('an IQN the portals do not offer: a clear error, and nothing left connected', async () => {
    const { proxy, connected } = setup();
    const p = presentation();
    p.target = { ...p.target, iqns: ['iqn.2010-06.com.purestorage:flasharray.nosuchtarget'] };
    const err = await failure(proxy.attach({ presentation: p }));
    expect(err.message).toMatch(/could not connect iSCSI target iqn\.2010-06\.com\.purestorage:flasharray\.nosuchtarget through any portal/);
    expect(connected()).toEqual([]);
  });

  it('multipath: one session per portal; detach logs out both', async () => {
    const { proxy, connected, events } = setup({}, { iscsiMultipath: true });
    const attachment = await proxy.attach({ presentation: presentation() });
    expect(events.filter((e) => e.startsWith('Connect-IscsiTarget'))).toEqual([
      `Connect-IscsiTarget ${IQN} 192.0.2.21:3260 multipath`,
      `Connect-IscsiTarget ${IQN} 192.0.2.22:3260 multipath`,
    ]);
    await proxy.detach({ attachment });
    expect(connected()).toEqual([]);
  });

  it('a mount failure after the login takes the disk offline and logs out the session', async () => {
    const { proxy, shell, connected } = setup();
    shell.on('mount-partition.ps1', () => {
      throw new Error('Access to the path is denied');
    });
    const err = await failure(proxy.attach({ presentation: presentation() }));
    expect(err.message).toMatch(/Access to the path is denied/);
    expect(shell.calls.slice(-2).map((c) => c.name)).toEqual(['offline-disks.ps1', 'disconnect-iscsi.ps1']);
    expect(connected()).toEqual([]);
  });

  it('FC: no login, a rescan even when the config turns rescans off', async () => {
    const fcDisk = fakeWindowsHost([bootDisk, csvSnapshotDisk()]);
    const fc = createWindowsProxy({ rescan: false }, { shell: fcDisk.shell, sleep: async () => {} });
    await fc.attach({ presentation: { ...presentation(), target: { transport: 'fc', wwpns: ['524a937000000001'] } } });
    expect(fcDisk.shell.calls[0]).toMatchObject({ name: 'find-disks.ps1', input: { rescan: true } });
    expect(fcDisk.shell.callsTo('connect-iscsi.ps1')).toEqual([]);
  });

  it('refuses a folder presentation (the lab array) at once, saying which proxy reads it', async () => {
    const { proxy, shell } = setup();
    const err = await failure(proxy.attach({ presentation: { ...presentation(), target: { transport: 'folder' } } }));
    expect(err.code).toBe('input_invalid');
    expect(err.message).toMatch(/job-7-csv1 is a folder of disk images/);
    expect(err.hint).toMatch(/local or linux/);
    expect(shell.calls).toEqual([]);
  });

  it('refuses a malformed portal or a target with portals but no IQN before running anything', async () => {
    const { proxy, shell } = setup();
    const bad = presentation();
    bad.target = { transport: 'iscsi', portals: ['192.0.2.21:99999'], iqns: [IQN] };
    expect((await failure(proxy.attach({ presentation: bad }))).message).toMatch(
      /presentation\.target\.portals\[0\]: iSCSI portal '192\.0\.2\.21:99999' is not address:port/,
    );
    bad.target = { transport: 'iscsi', portals: PORTALS };
    expect((await failure(proxy.attach({ presentation: bad }))).message).toMatch(/names portals but no target IQN/);
    expect(shell.calls).toEqual([]);
    expect(parsePortal('[2001:db8::10]:3261', 'x')).toEqual({ address: '2001:db8::10', port: 3261 });
    expect(parsePortal('array-a.example', 'x')).toEqual({ address: 'array-a.example', port: 3260 });
  });
});
