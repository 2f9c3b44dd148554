import { HvsnapError } from '../../src/core/errors.js';
import { FakeShell } from '../../src/transport/fake-shell.js';
import type { WindowsDisk, WindowsPartition } from '../../proxy/windows/index.js';

/**
 * A proxy host's disks as Get-Disk / Get-Partition show them (MSFT_Disk, MSFT_Partition), behind a
 * FakeShell that answers the Windows proxy's four scripts with the semantics the scripts have on a
 * real host. Every Set-Disk the "host" performs is recorded in `events`.
 */
export interface FakeDisk extends WindowsDisk {
  partitions: Array<WindowsPartition & { fileSystem?: string }>;
  /** invisible until this many rescans happened (a LUN that takes time to appear) */
  appearsAfterRescans?: number;
}

export const BASIC = '{ebd0a0a2-b9e5-4433-87c0-68b6b72699c7}';
export const MSR = '{e3c9e316-0b5c-4db8-817d-f92df00215ae}';

export function csvSnapshotDisk(over: Partial<FakeDisk> = {}): FakeDisk {
  return {
    Number: 3,
    UniqueId: '624A9370ABCDEF0123456789000113F2',
    UniqueIdFormat: 3,
    SerialNumber: 'ABCDEF0123456789000113F2',
    FriendlyName: 'PURE FlashArray',
    Size: 2199023255552,
    BusType: 9,
    PartitionStyle: 2,
    Guid: '{7c1b2a55-3f0e-4a51-9d7a-3b8a0c2d1e4f}',
    Signature: null,
    IsOffline: true,
    OfflineReason: 1,
    IsReadOnly: false,
    IsClustered: false,
    IsBoot: false,
    IsSystem: false,
    partitions: [
      { PartitionNumber: 1, GptType: MSR, Offset: 17408, Size: 134217728, DriveLetter: null, AccessPaths: [] },
      { PartitionNumber: 2, GptType: BASIC, Offset: 135266304, Size: 2199021158400, DriveLetter: null, AccessPaths: [], fileSystem: 'NTFS' },
    ],
    ...over,
  };
}

export const bootDisk: FakeDisk = {
  Number: 0,
  UniqueId: '6002248029F16A9B1C7B0D1E2F304152',
  SerialNumber: null,
  PartitionStyle: 'GPT',
  Guid: '{11111111-2222-3333-4444-555555555555}',
  IsOffline: false,
  OfflineReason: null,
  IsReadOnly: false,
  IsBoot: true,
  IsSystem: true,
  partitions: [{ PartitionNumber: 1, GptType: BASIC, Size: 100e9, DriveLetter: 'C', AccessPaths: ['C:\\'] }],
};

/**
 * An iSCSI target the fake host can log in to, as the array describes it: its IQN, the portals
 * that offer it (`address:port`), and the LUNs behind it. Its disks exist on the host only while a
 * session to it is connected, and (like any new disk) only after a rescan; `appearsAfterRescans`
 * of such a disk counts the rescans since that session was made (a LUN that is late).
 */
export interface FakeIscsiTarget {
  iqn: string;
  portals: string[];
  disks: FakeDisk[];
}

export interface FakeIscsiSession {
  SessionIdentifier: string;
  TargetNodeAddress: string;
  IsConnected: boolean;
  IsPersistent: boolean;
  portal: string | null;
  /** rescans done when the session was made */
  since: number;
}

export function fakeWindowsHost(
  disks: FakeDisk[],
  options: { autoDriveLetter?: string; singleObjectJson?: boolean; iscsiTargets?: FakeIscsiTarget[]; connectedIqns?: string[] } = {},
) {
  let rescans = 0;
  const events: string[] = [];
  const targets = options.iscsiTargets ?? [];
  const portals = new Set<string>();
  const sessions: FakeIscsiSession[] = [];
  /** record files (connect-iscsi.ps1) by path */
  const records = new Map<
    string,
    { presentation: string; sessions: Array<{ iqn: string; sessionIdentifier: string; opened: boolean; portal: string | null }> }
  >();
  let sessionCount = 0;
  const newSession = (iqn: string, portal: string | null, persistent: boolean) => {
    sessionCount++;
    const s = {
      SessionIdentifier: `ffffe00c5e4f7010-40000137000000${String(sessionCount).padStart(2, '0')}`,
      TargetNodeAddress: iqn,
      IsConnected: true,
      IsPersistent: persistent,
      portal,
      since: rescans,
    };
    sessions.push(s);
    return s;
  };
  for (const iqn of options.connectedIqns ?? []) newSession(iqn, null, true);
  const live = (iqn: string) => sessions.filter((x) => x.TargetNodeAddress === iqn && x.IsConnected);
  const visible = () => [
    ...disks.filter((d) => (d.appearsAfterRescans ?? 0) <= rescans),
    ...targets.flatMap((t) => {
      const s = live(t.iqn)[0];
      return s ? t.disks.filter((d) => (d.appearsAfterRescans ?? 0) <= rescans - s.since) : [];
    }),
  ];
  const byNumber = (n: number) => {
    const d = visible().find((x) => x.Number === n);
    if (!d) throw new Error(`No MSFT_Disk objects found with property 'Number' equal to '${n}'`);
    return d;
  };
  const shown = (d: FakeDisk): WindowsDisk => {
    const { partitions: _p, appearsAfterRescans: _a, ...rest } = d;
    return rest;
  };
  const scriptError = (message: string) => new HvsnapError('proxy_failed', message, { context: { step: 'fake-host' } });

  const shell = new FakeShell({
    'find-disks.ps1': (input: { rescan: boolean; iscsiTargets?: boolean }) => {
      if (input.rescan) rescans++;
      // Get-IscsiSession -Disk: the targets whose connected sessions carry the disk (none for a local disk)
      const nodes = (d: FakeDisk) => targets.filter((t) => t.disks.includes(d) && live(t.iqn).length > 0).map((t) => t.iqn);
      const all = visible().map((d) => (input.iscsiTargets ? { ...shown(d), IscsiTargetNodes: nodes(d) } : shown(d)));
      return options.singleObjectJson && all.length === 1 ? all[0] : all;
    },
    'online-disk.ps1': (input: { number: number; uniqueId: string; serial: string | null }) => {
      const d = byNumber(input.number);
      if (d.UniqueId !== input.uniqueId) throw scriptError(`disk ${input.number} is now ${d.UniqueId}, not ${input.uniqueId}`);
      const wasReadOnly = d.IsReadOnly;
      const wasOffline = d.IsOffline;
      if (!d.IsReadOnly) {
        d.IsReadOnly = true;
        events.push(`Set-Disk ${d.Number} -IsReadOnly $true`);
      }
      if (d.IsOffline) {
        d.IsOffline = false;
        d.OfflineReason = null;
        events.push(`Set-Disk ${d.Number} -IsOffline $false`);
        if (options.autoDriveLetter) {
          const data = d.partitions.find((p) => p.GptType === BASIC);
          if (data) {
            data.DriveLetter = options.autoDriveLetter;
            data.AccessPaths = [...(data.AccessPaths ?? []), `${options.autoDriveLetter}:\\`];
          }
        }
      }
      return { number: d.Number, wasReadOnly, wasOffline, partitions: d.partitions.map(({ fileSystem: _f, ...p }) => p) };
    },
    'mount-partition.ps1': (input: { number: number; uniqueId: string; partitionNumber: number; accessPath: string }) => {
      const d = byNumber(input.number);
      if (d.UniqueId !== input.uniqueId) throw scriptError('disk numbering changed');
      const p = d.partitions.find((x) => x.PartitionNumber === input.partitionNumber)!;
      const ap = `${input.accessPath.replace(/\\+$/, '')}\\`;
      if (!(p.AccessPaths ?? []).includes(ap)) {
        p.AccessPaths = [...(p.AccessPaths ?? []), ap];
        events.push(`Add-PartitionAccessPath ${d.Number}/${p.PartitionNumber} ${ap}`);
      }
      let removed: string | null = null;
      if (p.DriveLetter) {
        removed = p.DriveLetter;
        p.AccessPaths = p.AccessPaths!.filter((a) => a !== `${removed}:\\`);
        p.DriveLetter = null;
        events.push(`Remove-PartitionAccessPath ${d.Number}/${p.PartitionNumber} ${removed}:\\`);
      }
      return { accessPath: ap, removedDriveLetter: removed, fileSystem: p.fileSystem ?? '', label: 'CSV1' };
    },
    'offline-disks.ps1': (input: { folder: string; disks: Array<{ uniqueId: string; serial: string | null }> }) => {
      const prefix = `${input.folder.replace(/\\+$/, '')}\\`.toLowerCase();
      const done: Array<{ number: number; uniqueId: string; removedPaths: string[] }> = [];
      for (const d of visible()) {
        if (d.IsBoot || d.IsSystem) continue;
        const listed = input.disks.some((w) => (w.uniqueId && w.uniqueId === d.UniqueId) || (w.serial && w.serial === d.SerialNumber));
        const removedPaths: string[] = [];
        if (!d.IsOffline) {
          for (const p of d.partitions) {
            for (const ap of [...(p.AccessPaths ?? [])]) {
              if (ap.toLowerCase().startsWith(prefix)) {
                p.AccessPaths = p.AccessPaths!.filter((a) => a !== ap);
                removedPaths.push(ap);
                events.push(`Remove-PartitionAccessPath ${d.Number}/${p.PartitionNumber} ${ap}`);
              }
            }
          }
        }
        if (!listed && removedPaths.length === 0) continue;
        if (!d.IsOffline) {
          d.IsOffline = true;
          events.push(`Set-Disk ${d.Number} -IsOffline $true`);
        }
        done.push({ number: d.Number, uniqueId: d.UniqueId, removedPaths });
      }
      return { disks: done };
    },
    // the semantics of connect-iscsi.ps1 over Get-IscsiTargetPortal/New-IscsiTargetPortal, Get-IscsiSession and Connect-IscsiTarget
    'connect-iscsi.ps1': (input: {
      presentation: string;
      recordFile: string;
      recordsDir: string;
      portals: Array<{ address: string; port: number }>;
      iqns: string[];
      multipath: boolean;
    }) => {
      const previous = records.get(input.recordFile)?.sessions ?? [];
      const record = {
        presentation: input.presentation,
        sessions: [] as Array<{ iqn: string; sessionIdentifier: string; opened: boolean; portal: string | null }>,
      };
      records.set(input.recordFile, record);
      for (const p of input.portals) {
        const key = `${p.address}:${p.port}`;
        if (!portals.has(key)) {
          portals.add(key);
          events.push(`New-IscsiTargetPortal ${key}`);
        }
      }
      for (const iqn of input.iqns) {
        const existing = live(iqn);
        if (existing.length) {
          for (const x of existing) {
            const opened = previous.some((r) => r.sessionIdentifier === x.SessionIdentifier && r.opened);
            record.sessions.push({ iqn, sessionIdentifier: x.SessionIdentifier, opened, portal: null });
          }
          continue;
        }
        const failures: string[] = [];
        let connected = false;
        for (const p of input.portals.length ? input.portals.map((x) => `${x.address}:${x.port}`) : [null]) {
          const target = targets.find((t) => t.iqn === iqn && (p === null || t.portals.includes(p)));
          // the initiator's answer for a name the portal does not offer (ISDSC_TARGET_NOT_FOUND)
          if (!target) {
            failures.push(`${p}: The target name is not found or is marked as hidden from login.`);
            continue;
          }
          const made = newSession(iqn, p, false);
          events.push(`Connect-IscsiTarget ${iqn} ${p ?? '(discovered portal)'}${input.multipath ? ' multipath' : ''}`);
          record.sessions.push({ iqn, sessionIdentifier: made.SessionIdentifier, opened: true, portal: p });
          connected = true;
          if (!input.multipath) break;
        }
        if (!connected) throw scriptError(`could not connect iSCSI target ${iqn} through any portal: ${failures.join('; ')}`);
      }
      return { sessions: record.sessions };
    },
    // the semantics of disconnect-iscsi.ps1: only what this presentation opened, handed over while another presentation uses it
    'disconnect-iscsi.ps1': (input: { recordFile: string; recordsDir: string }) => {
      const out = { disconnected: [] as string[], handedOver: [] as string[] };
      const own = records.get(input.recordFile);
      if (!own) return out;
      for (const s of own.sessions.filter((x) => x.opened)) {
        const heir = [...records.entries()].find(
          ([file, r]) => file !== input.recordFile && r.sessions.some((x) => x.sessionIdentifier === s.sessionIdentifier),
        );
        if (heir) {
          for (const x of heir[1].sessions) if (x.sessionIdentifier === s.sessionIdentifier) x.opened = true;
          out.handedOver.push(s.sessionIdentifier);
          continue;
        }
        const session = sessions.find((x) => x.SessionIdentifier === s.sessionIdentifier && x.IsConnected);
        if (session) {
          session.IsConnected = false;
          events.push(`Disconnect-IscsiTarget ${session.TargetNodeAddress} ${session.SessionIdentifier}`);
          out.disconnected.push(s.sessionIdentifier);
        }
      }
      records.delete(input.recordFile);
      return out;
    },
  });
  return { shell, events, disks, rescans: () => rescans, sessions, records, portals, connected: () => sessions.filter((x) => x.IsConnected) };
}

/** The HvsnapError `p` rejects with (see test/helpers/failure.ts). */
export { hvsnapFailure as failure } from '../helpers/failure.js';
