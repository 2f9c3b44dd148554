import { HvsnapError, isHvsnapError } from '../core/errors.js';
import type { CallOptions } from '../core/types.js';
import type { HostLun, InstantHost } from './instant-host.js';
import { loadScript, type ScriptName } from './script-loader.js';
import { checkResult } from './wmi-errors.js';
import type { WmiNode } from './wmi-hypervisor.js';
import type { WmiMethodResult } from './wmi-shapes.js';

/** online/offline-disk answers */
interface OnlineAnswer {
  DiskNumber: number;
  PartitionNumber: number;
  Collided: boolean;
  AccessPath: string;
  /** the disk's state read back after the Set-Disk calls */
  IsOffline?: boolean;
  IsReadOnly?: boolean;
}
interface OfflineAnswer {
  Gone: boolean;
  InUseBy?: string[] | string | null;
}
/** instant-initiators.ps1: MSFT_InitiatorPort's fields (a single port may come as an object) */
interface InitiatorsAnswer {
  Ports?:
    Array<{ ConnectionType: number; NodeAddress: string; PortAddress: string }> | { ConnectionType: number; NodeAddress: string; PortAddress: string } | null;
}
/**
 * MSFT_InitiatorPort.ConnectionType (learn.microsoft.com/windows-hardware/drivers/storage/msft-initiatorport:
 * 0 Other, 1 Fibre Channel, 2 iSCSI, 3 SAS; MSFT_TargetPort numbers its own differently). Were a host
 * to number them otherwise, no port would read as both the type and the address form checked below:
 * the instant restore then fails naming the value, never presents to a wrong initiator.
 */
const CONNECTION = { fibreChannel: 1, iscsi: 2 } as const;

/** instant-vm.ps1 */
interface VmActionAnswer {
  Gone: boolean;
  /** Msvm_ComputerSystem.EnabledState: 2 Enabled (running), 3 Disabled (off) */
  EnabledState?: number | null;
  VmName?: string;
  Result?: WmiMethodResult | null;
  /** move only: every virtual hard disk of the VM read back after the call (a single one may come as an object) */
  Disks?: Array<{ Path: string; Exists: boolean }> | { Path: string; Exists: boolean } | null;
}

/**
 * The host side of instant restore on a real Hyper-V host (one node: the one the clone is
 * presented to), through PowerShell scripts run by its Shell: storage cmdlets for rescan and
 * online/offline (reference/hyperv-wmi.md §8.3), WMI for the VM actions (§7 for the job rules).
 * A presented LUN's volume is mounted at `<accessRoot>\<last 12 hex digits of its id>`.
 */
export class WmiInstantHost implements InstantHost {
  private readonly accessRoot: string;
  private readonly jobWaitMs: number;
  private readonly scriptTimeoutMs: number;

  constructor(
    private readonly node: WmiNode,
    options: { accessRoot?: string; jobWaitMs?: number; scriptTimeoutMs?: number } = {},
  ) {
    this.accessRoot = (options.accessRoot ?? 'C:\\ClusterStorage\\hvsnap').replace(/\\+$/, '');
    this.jobWaitMs = options.jobWaitMs ?? 600_000;
    this.scriptTimeoutMs = options.scriptTimeoutMs ?? 900_000;
  }

  async initiators(_args: Record<string, never>, opts: CallOptions = {}): Promise<{ iqns: string[]; wwns: string[] }> {
    const answer = await this.run<InitiatorsAnswer>('instant-initiators.ps1', {}, opts);
    const iqns = new Set<string>();
    const wwns = new Set<string>();
    const odd = (what: string, value: string) =>
      new HvsnapError('unsupported', `${this.node.name} reports ${what} "${value}" (Get-InitiatorPort): hvsnap cannot present to it`, {
        context: { host: this.node.name, field: what },
      });
    for (const p of [answer.Ports ?? []].flat()) {
      if (p.ConnectionType === CONNECTION.iscsi) {
        // an iSCSI name is of the iqn., eui. (RFC 3720) or naa. (RFC 3980) form; anything else was not read as documented
        if (!/^(iqn|eui|naa)\./i.test(p.NodeAddress)) throw odd('the iSCSI node address', p.NodeAddress);
        iqns.add(p.NodeAddress);
      } else if (p.ConnectionType === CONNECTION.fibreChannel) {
        const wwpn = p.PortAddress.replace(/[:-]/g, '').toLowerCase();
        if (!/^[0-9a-f]{16}$/.test(wwpn)) throw odd('the Fibre Channel port address', p.PortAddress);
        wwns.add(wwpn);
      }
    }
    return { iqns: [...iqns], wwns: [...wwns] };
  }

  async rescanStorage(_args: Record<string, never>, opts: CallOptions = {}): Promise<void> {
    await this.run('instant-rescan.ps1', {}, opts);
  }

  async onlineDisk(args: { lun: HostLun }, opts: CallOptions = {}): Promise<{ volumeRoot: string }> {
    const answer = await this.run<OnlineAnswer>('instant-online-disk.ps1', { uniqueId: args.lun.identity.id, accessPath: this.accessPath(args.lun) }, opts);
    // believed only as read back: the order of the two Set-Disk calls is UNCONFIRMED (hyperv-wmi.md §8.3)
    const still = answer.IsReadOnly === true ? 'IsReadOnly' : answer.IsOffline === true ? 'IsOffline' : undefined;
    if (still) {
      throw new HvsnapError(
        'unsupported',
        `LUN ${args.lun.identity.id} on ${this.node.name} still reports ${still} after Set-Disk -IsReadOnly $false and -IsOffline $false: an instant restore needs it online and writable`,
        {
          context: { host: this.node.name, volume: args.lun.identity.id, field: still },
          hint: 'check that the array presents the clone writable and the host SAN policy (Get-StorageSetting) lets it online',
        },
      );
    }
    return { volumeRoot: answer.AccessPath };
  }

  async offlineDisk(args: { lun: HostLun }, opts: CallOptions = {}): Promise<void> {
    const answer = await this.run<OfflineAnswer>('instant-offline-disk.ps1', { uniqueId: args.lun.identity.id, accessPath: this.accessPath(args.lun) }, opts);
    const users = answer.InUseBy ? ([] as string[]).concat(answer.InUseBy) : [];
    if (users.length) {
      throw new HvsnapError('vm_in_use', `LUN ${args.lun.identity.id} on ${this.node.name} still holds disks of VM ${users.join(', ')}`, {
        context: { host: this.node.name, volume: args.lun.identity.id, vm: users[0] },
      });
    }
  }

  /**
   * Storage migration with values Microsoft's documentation does not confirm for this use (see
   * instant-vm.ps1), so it is believed only when read back: the job completed, the VM is there, and
   * every one of its virtual hard disks is a file that exists below `destinationDir`. Anything else
   * throws `vm_invalid_state` naming the VM and the value not honoured; the caller keeps the clone.
   */
  async moveVmStorage(args: { vmId: string; destinationDir: string }, opts: CallOptions = {}): Promise<void> {
    const answer = await this.vmAction('move', args.vmId, opts, { destinationDir: args.destinationDir });
    const vm = answer.VmName || args.vmId;
    const dest = `${args.destinationDir.replace(/\\+$/, '').toLowerCase()}\\`;
    const disks = (answer.Disks ? ([] as Array<{ Path: string; Exists: boolean }>).concat(answer.Disks) : []).map((d) => ({
      Path: String(d.Path ?? ''),
      Exists: d.Exists === true,
    }));
    const wrong = [
      ...(answer.Result ? [] : ['MigrateVirtualSystemToHost was not called']),
      ...(answer.Gone ? ['the VM is gone after the move'] : []),
      ...(disks.length || answer.Gone ? [] : ['the VM reports no virtual hard disk after the move']),
      ...disks.filter((d) => !d.Path.toLowerCase().startsWith(dest)).map((d) => `disk ${d.Path} is not below ${args.destinationDir}`),
      ...disks.filter((d) => d.Path.toLowerCase().startsWith(dest) && !d.Exists).map((d) => `disk file ${d.Path} does not exist`),
    ];
    if (wrong.length === 0) return;
    throw new HvsnapError(
      'vm_invalid_state',
      `storage migration of VM ${vm} on ${this.node.name} did not do what was asked (${wrong.join('; ')}): the host did not honour MigrateVirtualSystemToHost with MigrationType 32769 (Storage) and NewResourceSettingData HostResource below ${args.destinationDir}`,
      {
        context: { host: this.node.name, vm, path: args.destinationDir, step: 'MigrateVirtualSystemToHost', field: 'NewResourceSettingData.HostResource' },
        hint: 'the VM still runs from the instant-restore clone, which stays presented: move its storage by hand (Move-VMStorage) and commit again, or discard it',
      },
    );
  }

  async startVm(args: { vmId: string }, opts: CallOptions = {}): Promise<void> {
    await this.vmAction('start', args.vmId, opts);
  }

  async stopVm(args: { vmId: string }, opts: CallOptions = {}): Promise<void> {
    await this.vmAction('stop', args.vmId, opts);
  }

  async removeVm(args: { vmId: string }, opts: CallOptions = {}): Promise<void> {
    await this.vmAction('remove', args.vmId, opts);
  }

  async vmState(args: { vmId: string }, opts: CallOptions = {}): Promise<{ running: boolean } | undefined> {
    const answer = await this.vmAction('state', args.vmId, opts);
    return answer.Gone ? undefined : { running: answer.EnabledState === 2 };
  }

  private accessPath(lun: HostLun): string {
    return `${this.accessRoot}\\${lun.identity.id.toLowerCase().slice(-12)}`;
  }

  private async vmAction(
    action: 'state' | 'start' | 'stop' | 'remove' | 'move',
    vmId: string,
    opts: CallOptions,
    extra: Record<string, unknown> = {},
  ): Promise<VmActionAnswer> {
    const answer = await this.run<VmActionAnswer>('instant-vm.ps1', { action, vmId, waitMs: this.jobWaitMs, ...extra }, opts);
    if (answer.Result) {
      const ctx = { host: this.node.name, vm: answer.VmName ?? vmId };
      // the script waited for the job: one still running here is late, never taken for done
      const state = checkResult(answer.Result, ctx);
      if (state.state === 'pending') {
        throw new HvsnapError('timeout', `${answer.Result.Method} on ${this.node.name} is still running (job ${state.job.InstanceID})`, {
          context: { ...ctx, step: answer.Result.Method },
        });
      }
    }
    return answer;
  }

  private run<T>(name: ScriptName, input: Record<string, unknown>, opts: CallOptions): Promise<T> {
    return this.node.shell.run<T>({ name, script: loadScript(name), input }, { signal: opts.signal, timeoutMs: this.scriptTimeoutMs }).catch((e: unknown) => {
      if (isHvsnapError(e)) throw e.withContext({ host: e.context.host ?? this.node.name });
      throw e;
    });
  }
}
