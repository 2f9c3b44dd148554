import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { scriptErrorToHvsnap } from '../../src/transport/framing.js';
import type { SimulatedHost } from './simulated-host.js';

/** A disk as Get-Disk shows it (MSFT_Disk): page-83 UniqueId, OfflineReason 4 = Collision, PartitionStyle 1 MBR / 2 GPT. */
export interface SimHostDisk {
  number: number;
  uniqueId: string;
  isOffline: boolean;
  isReadOnly: boolean;
  offlineReason: number;
  partitionStyle: number;
  guid: string;
  accessPaths: string[];
}

/**
 * The storage and VM-action side of the simulated host for instant restore: the answers of
 * instant-rescan/-online-disk/-offline-disk/-vm.ps1. The "SAN" is the lab array's presentation
 * records: a rescan shows every LUN presented to this host as a disk that arrives offline and
 * read-only, colliding with the source LUN's GUID (a clone is a copy of it; hyperv-wmi.md §8.3),
 * and drops the disks of presentations that are gone.
 */
export function addInstantStorage(host: SimulatedHost, arrayStateDir: string) {
  const disks: SimHostDisk[] = [];
  const running = new Map<string, boolean>();
  /**
   * How a storage move goes wrong, for the read-back tests: the values instant-vm.ps1 passes are
   * UNCONFIRMED for this use (MSDOC documents MigrationType 32769 Storage and NewResourceSettingData
   * as RASD instances, not that a storage-only move to the same host places each VHD at the
   * HostResource given), so the simulated host can complete the job and yet ignore the destinations
   * ('ignores-destination') or report them without the files being there ('loses-files'). The
   * order of Set-Disk -IsReadOnly / -IsOffline is UNCONFIRMED too (hyperv-wmi.md §8.3): a disk can
   * stay read-only ('stays-read-only').
   */
  const faults: { move?: 'ignores-destination' | 'loses-files'; online?: 'stays-read-only' } = {};
  const vmOf = (id: string) => host.vms.find((v) => v.id === id);
  const ok = (method: string) => ({
    Method: method,
    ReturnValue: 4096,
    Job: {
      InstanceID: `job-${method}`,
      JobState: 7,
      JobType: 0,
      ErrorCode: 0,
      ErrorDescription: '',
      ErrorSummaryDescription: '',
      PercentComplete: 100,
      Errors: [],
    },
    Affected: [],
  });
  // a script's Stop-Hvsnap, as the runner reports it
  const stop = (code: string, message: string, step: string) =>
    scriptErrorToHvsnap(
      { message, category: 'NotSpecified', line: 1, detail: { kind: 'hvsnap', code, host: host.computerName } },
      { host: host.shell.target, step },
    );
  const diskOf = (uniqueId: string) => disks.find((d) => d.uniqueId.toUpperCase() === String(uniqueId).toUpperCase());
  /**
   * The host's initiator ports as Get-InitiatorPort returns them: MSFT_InitiatorPort's fields and
   * ConnectionType values (1 Fibre Channel, 2 iSCSI), as learn.microsoft.com's
   * windows-hardware/drivers/storage/msft-initiatorport gives them. The software initiator's
   * PortAddress ("ISCSI ANY PORT") and the FC addresses are illustrative: hvsnap reads an iSCSI
   * port's NodeAddress (an IQN) and an FC port's PortAddress (a WWPN) only.
   */
  const ports: Array<{ ConnectionType: number; NodeAddress: string; PortAddress: string }> = [
    { ConnectionType: 2, NodeAddress: `iqn.1991-05.com.microsoft:${host.computerName.toLowerCase()}.contoso.local`, PortAddress: 'ISCSI ANY PORT' },
    { ConnectionType: 1, NodeAddress: '20000025B5AA0001', PortAddress: '20000025B5BB0001' },
  ];
  host.shell.on('instant-initiators.ps1', () => ({ Ports: ports.length === 1 ? ports[0] : ports }));
  host.shell.on('instant-rescan.ps1', () => {
    const presented = new Set<string>();
    for (const f of readdirSync(join(arrayStateDir, 'presentations')).filter((n) => n.endsWith('.json'))) {
      const p = JSON.parse(readFileSync(join(arrayStateDir, 'presentations', f), 'utf8')) as { host: string; luns: Array<{ identity: { id: string } }> };
      if (p.host !== host.computerName) continue;
      for (const l of p.luns) {
        presented.add(l.identity.id.toUpperCase());
        if (!diskOf(l.identity.id))
          disks.push({
            number: disks.length + 10,
            uniqueId: l.identity.id.toUpperCase(),
            isOffline: true,
            isReadOnly: true,
            offlineReason: 4,
            partitionStyle: 2,
            guid: '{SOURCE-GUID}',
            accessPaths: [],
          });
      }
    }
    for (let i = disks.length - 1; i >= 0; i--) if (!presented.has(disks[i].uniqueId)) disks.splice(i, 1);
    return { Rescanned: true, Disks: disks.length };
  });
  host.shell.on('instant-online-disk.ps1', (i: { uniqueId: string; accessPath: string }) => {
    const d = diskOf(i.uniqueId);
    if (!d) throw stop('not_found', `no disk with page-83 id ${i.uniqueId} on ${host.computerName} after a rescan`, 'instant-online-disk.ps1');
    let collided = false;
    if (d.isOffline && d.offlineReason === 4) {
      d.guid = `{NEW-${d.number}}`;
      d.offlineReason = 0;
      collided = true;
    }
    d.isReadOnly = faults.online === 'stays-read-only';
    d.isOffline = false;
    const path = `${i.accessPath.replace(/\\+$/, '')}\\`;
    if (!d.accessPaths.includes(path)) d.accessPaths.push(path);
    return { DiskNumber: d.number, PartitionNumber: 2, Collided: collided, AccessPath: path.slice(0, -1), IsOffline: d.isOffline, IsReadOnly: d.isReadOnly };
  });
  host.shell.on('instant-offline-disk.ps1', (i: { uniqueId: string; accessPath: string }) => {
    const d = diskOf(i.uniqueId);
    if (!d) return { Gone: true };
    const path = `${i.accessPath.replace(/\\+$/, '')}\\`;
    const users = host.vms.filter((v) => v.disks.some((x) => x.path.toLowerCase().startsWith(path.toLowerCase()))).map((v) => v.name);
    if (users.length) return { Gone: false, InUseBy: users.length === 1 ? users[0] : users };
    d.accessPaths = d.accessPaths.filter((a) => a !== path);
    d.isOffline = true;
    return { Gone: false, InUseBy: null };
  });
  host.shell.on('instant-vm.ps1', (i: { action: string; vmId: string; destinationDir?: string }) => {
    const vm = vmOf(i.vmId);
    if (!vm) {
      if (['stop', 'remove', 'state'].includes(i.action)) return { Gone: true };
      throw stop('vm_not_found', `no VM with id ${i.vmId} on ${host.computerName}`, 'instant-vm.ps1');
    }
    let result: unknown = null;
    if ((i.action === 'start' || i.action === 'stop') && running.get(vm.id) !== (i.action === 'start')) {
      running.set(vm.id, i.action === 'start');
      result = ok('RequestStateChange');
    }
    if (i.action === 'remove') {
      host.vms.splice(host.vms.indexOf(vm), 1);
      result = ok('DestroySystem');
    }
    let read: Array<{ Path: string; Exists: boolean }> | null = null;
    if (i.action === 'move') {
      if (faults.move !== 'ignores-destination') for (const d of vm.disks) d.path = `${i.destinationDir!.replace(/\\+$/, '')}\\${d.path.split('\\').pop()}`;
      result = ok('MigrateVirtualSystemToHost');
      read = vm.disks.map((d) => ({ Path: d.path, Exists: faults.move !== 'loses-files' }));
    }
    const gone = !vmOf(i.vmId);
    return { Gone: gone, EnabledState: gone ? null : running.get(vm.id) ? 2 : 3, VmName: vm.name, Result: result, Disks: read };
  });
  return { disks, running, faults, ports };
}
