import { HvsnapError, isHvsnapError, throwIfAborted } from '../core/errors.js';
import { silentLogger, type Logger } from '../core/logger.js';
import type { ByteRange, CallOptions, Checkpoint, ConfigFile, ConsistencyLevel, ReferencePoint, VmGroup, VmInfo, VolumeLocation } from '../core/types.js';
import type { Shell } from '../transport/shell.js';
import type { Hypervisor } from './hypervisor.js';
import { loadScript, type ScriptName } from './script-loader.js';
import { checkResult, type ResultContext } from './wmi-errors.js';
import { normalizeRanges, slotKey, toCheckpoint, toReferencePoint, toVmInfo, toVolumeLocation, type WmiFrozenDisk } from './wmi-mapping.js';
import {
  asArray,
  type WmiChangesAnswer,
  type WmiCheckpointAnswer,
  type WmiConvertAnswer,
  type WmiDeleteAnswer,
  type WmiDisk,
  type WmiExportAnswer,
  type WmiGroup,
  type WmiImportAnswer,
  type WmiMethodResult,
  type WmiReferencePoint,
  type WmiSnapshot,
  type WmiVmList,
  type WmiVolumeAnswer,
} from './wmi-shapes.js';

/** A node that did not answer one call, and why. */
interface NodeFailure {
  node: string;
  error: HvsnapError;
}

/**
 * Msvm_ComputerSystem.OperationalStatus[1] values during which no checkpoint may be taken (MSDOC
 * msvm-computersystem.md; reference §2.4): 32768 creating, 32769 applying, 32770 deleting a
 * checkpoint, 32772 merging disks, 32773 exporting, 32774 migrating. 32771 "Waiting to Start" is not
 * an operation on the VM's storage and does not block a checkpoint (the review; UNCONFIRMED on a host).
 */
export const BUSY_OPERATIONAL_STATUSES = [32768, 32769, 32770, 32772, 32773, 32774];

/** One Hyper-V host (a cluster node) and the shell that reaches it. */
export interface WmiNode {
  /** its computer name; VmInfo.host */
  name: string;
  shell: Shell;
}

export interface WmiHypervisorOptions {
  /** every node whose VMs hvsnap may back up; each call runs on the node that owns the VM */
  nodes: WmiNode[];
  logger?: Logger;
  /** IgnoreNonSnapshottableDisks: skip pass-through and virtual FC disks instead of failing; default false */
  ignoreNonSnapshottableDisks?: boolean;
  /** GuestBackupType: `copy` (default) leaves the guest's backup history alone, `full` lets it truncate logs */
  guestBackupType?: 'full' | 'copy';
  /**
   * CopyVmRuntimeInformation of the configuration export; default true. Why (reference/hyperv-wmi.md style):
   * - MSDOC `msvm-virtualsystemexportsettingdata.md`: CopyVmRuntimeInformation "copy runtime state"
   *   (.vmrs/.vmgs, saved state); with it false the export holds only the .vmcx.
   * - The .vmgs is the guest state file of a Generation 2 VM: vTPM keys, UEFI variables, Secure Boot
   *   state (VMVER file types; APPROACH: a VM backup must include .VMCX, .VMGS and .VMRS, not only disks).
   *   A vTPM VM restored without it loses its TPM (BitLocker recovery) — so it is on by default.
   * - BAREOS's first plugin (commit 64726c80, prepare_backup) exports a recovery checkpoint with
   *   CopySnapshotConfiguration 3 and CopyVmRuntimeInformation = true and got `.vmcx/.VMRS/.vmgs` (its docs' log).
   * - With CaptureLiveState 0 (crash-consistent, no saved state) the .vmrs carries no memory image, so the
   *   export stays small. UNCONFIRMED: the size of .vmrs on a real host for a running VM's recovery checkpoint.
   */
  copyRuntimeInformation?: boolean;
  /** ms one script waits for a WMI job before handing it back as late; default 120 000 */
  jobWaitMs?: number;
  /** ms a script may run before the shell stops it; default 900 000 */
  scriptTimeoutMs?: number;
  /** GetVirtualDiskChanges calls per script run; default 64 */
  changesPagesPerCall?: number;
  /** folder on the host for imported VMs; default the host's DefaultExternalDataRoot */
  importDirectory?: string;
}

/**
 * The {@link Hypervisor} of real Hyper-V hosts: WMI (root\virtualization\v2) through PowerShell
 * scripts run by a Shell on the VM's owner node (reference/hyperv-wmi.md §11). The scripts report
 * what WMI said; this class decides (job states, return codes, disk matching) and maps errors.
 */
export class WmiHypervisor implements Hypervisor {
  readonly kind = 'wmi';
  private readonly nodes: WmiNode[];
  private readonly logger: Logger;
  private readonly o: Required<Omit<WmiHypervisorOptions, 'nodes' | 'logger' | 'importDirectory'>> & { importDirectory?: string };
  /** VM id → node that owns it, from the last listing */
  private readonly owner = new Map<string, WmiNode>();
  private readonly vmNames = new Map<string, string>();

  /** The node of that computer name (case-insensitive), or undefined: what instant restore's host side runs on. */
  node(name: string): WmiNode | undefined {
    return this.nodes.find((n) => n.name.toLowerCase() === name.toLowerCase());
  }

  constructor(options: WmiHypervisorOptions) {
    if (!options.nodes.length) throw new HvsnapError('config_invalid', 'the WMI hypervisor needs at least one node', { context: { field: 'nodes' } });
    this.nodes = options.nodes;
    this.logger = (options.logger ?? silentLogger).child({ hypervisor: 'wmi' });
    this.o = {
      ignoreNonSnapshottableDisks: options.ignoreNonSnapshottableDisks ?? false,
      guestBackupType: options.guestBackupType ?? 'copy',
      copyRuntimeInformation: options.copyRuntimeInformation ?? true,
      jobWaitMs: options.jobWaitMs ?? 120_000,
      scriptTimeoutMs: options.scriptTimeoutMs ?? 900_000,
      changesPagesPerCall: options.changesPagesPerCall ?? 64,
      importDirectory: options.importDirectory,
    };
  }

  /** The shell of the node named `host` (case-insensitive), for what else runs over its connection (host mode's SFTP). */
  shellOf(host: string): Shell | undefined {
    return this.nodes.find((n) => n.name.toLowerCase() === host.toLowerCase())?.shell;
  }

  async listVms(args: { names?: string[] }, opts: CallOptions = {}): Promise<VmInfo[]> {
    const { vms: all, failed, broken } = await this.scanVms(args.names, opts);
    if (!args.names) return all;
    return args.names.map((name) => {
      // a VM named here whose disks the host could not read is an error; unnamed ones were only logged
      const bad = broken.find((b) => b.name === name || b.id.toLowerCase() === name.toLowerCase() || b.name.toLowerCase() === name.toLowerCase());
      if (bad) throw bad.error;
      // exact name first; Hyper-V compares names without case, so fall back to that
      const exact = all.filter((vm) => vm.name === name || vm.id.toLowerCase() === name.toLowerCase());
      const hits = exact.length ? exact : all.filter((vm) => vm.name.toLowerCase() === name.toLowerCase());
      if (hits.length === 0) throw this.notFound(name, failed);
      if (hits.length > 1) {
        throw new HvsnapError('vm_ambiguous', `${hits.length} VMs are named "${name}" (${hits.map((h) => `${h.id} on ${h.host}`).join(', ')}); use the VM id`, {
          context: { vm: name },
        });
      }
      return hits[0];
    });
  }

  async listVmGroups(_args: Record<string, never>, opts: CallOptions = {}): Promise<VmGroup[]> {
    const answers = await this.onEachNode('list-vm-groups.ps1', (n) => this.run<{ Groups: WmiGroup[] | WmiGroup | null }>(n, 'list-vm-groups.ps1', {}, opts));
    const groups = new Map<string, VmGroup>();
    for (const g of answers.flatMap((a) => asArray(a.Groups))) {
      const seen = groups.get(g.CollectionID) ?? { id: g.CollectionID, name: g.ElementName, vmIds: [] };
      for (const m of asArray(g.Members)) if (!seen.vmIds.includes(m)) seen.vmIds.push(m);
      groups.set(g.CollectionID, seen);
    }
    return [...groups.values()];
  }

  async resolveVolume(args: { path: string }, opts: CallOptions = {}): Promise<VolumeLocation> {
    let last: unknown;
    let down: HvsnapError | undefined;
    // a CSV is seen from every node; a local volume only from its own: try each node in turn. A node
    // that does not answer is passed over (another may see the volume); if none could, its error is given.
    for (const node of this.nodes) {
      try {
        const answer = await this.run<WmiVolumeAnswer>(node, 'resolve-volume.ps1', { path: args.path }, opts);
        return toVolumeLocation(answer, args.path, node.name);
      } catch (e) {
        if (isHvsnapError(e) && e.code === 'transport_failed' && this.nodes.length > 1) {
          this.logger.error({ host: node.name, path: args.path, err: e.message }, 'a cluster node did not answer; trying the others');
          down ??= e;
          continue;
        }
        if (!(isHvsnapError(e) && e.code === 'not_found')) throw e;
        last = e;
      }
    }
    throw down ?? last;
  }

  async createCheckpoint(args: { vmId: string; name: string; consistency: ConsistencyLevel }, opts: CallOptions = {}): Promise<Checkpoint> {
    return this.onOwner(args.vmId, opts, async (node) => {
      const input = {
        vmId: args.vmId,
        name: args.name,
        busyStatuses: BUSY_OPERATIONAL_STATUSES,
        consistencyLevel: args.consistency === 'application' ? 1 : 2,
        ignoreNonSnapshottableDisks: this.o.ignoreNonSnapshottableDisks,
        guestBackupType: this.o.guestBackupType === 'full' ? 1 : 2,
        waitMs: this.o.jobWaitMs,
      };
      let answer = await this.run<WmiCheckpointAnswer>(node, 'create-checkpoint.ps1', input, opts);
      const ctx = { host: node.name, vm: answer.VmName, applicationConsistency: args.consistency === 'application' };
      if (!answer.Snapshot && answer.Result) {
        const snapshotId = await this.settle(node, answer.Result, ctx, opts, 'Msvm_VirtualSystemSettingData');
        if (!snapshotId) {
          throw new HvsnapError(
            'checkpoint_failed',
            `the CreateSnapshot job for VM ${answer.VmName} on ${node.name} finished without naming the checkpoint it made`,
            {
              context: ctx,
              hint: 'run hvsnap cleanup, and check the VM for an unnamed recovery checkpoint (Get-VMSnapshot -SnapshotType Recovery)',
            },
          );
        }
        answer = await this.run<WmiCheckpointAnswer>(node, 'create-checkpoint.ps1', { ...input, snapshotId }, opts);
      }
      if (!answer.Snapshot)
        throw new HvsnapError('checkpoint_failed', `create-checkpoint.ps1 on ${node.name} returned no checkpoint for VM ${answer.VmName}`, { context: ctx });
      const checkpoint = toCheckpoint(answer.Snapshot, { id: args.vmId, name: answer.VmName }, asArray(answer.VmDisks), args.consistency);
      if (answer.Snapshot.ElementName !== args.name) {
        // The name is the one read back from the host. The snapshot exists but could not be named: an
        // untagged checkpoint is invisible to tag-based cleanup, so remove it now by its instance id.
        const failure = answer.Result
          ? await this.settle(node, answer.Result, ctx, opts).then(
              () => undefined,
              (e: unknown) => e,
            )
          : undefined;
        await this.deleteCheckpoint({ vmId: args.vmId, checkpointId: checkpoint.id }, {}).catch((e: unknown) =>
          this.logger.error({ vm: answer.VmName, checkpoint: checkpoint.id, err: (e as Error).message }, 'could not remove an unnamed recovery checkpoint'),
        );
        throw failure ?? new HvsnapError('checkpoint_failed', `recovery checkpoint of VM ${answer.VmName} could not be named ${args.name}`, { context: ctx });
      }
      if (answer.Result) this.mustBeDone(answer.Result, ctx);
      for (const d of checkpoint.disks as WmiFrozenDisk[]) {
        if (d.parentPaths)
          this.logger.warn(
            { vm: answer.VmName, disk: d.diskId, parents: d.parentPaths },
            'the frozen disk is a differencing disk (user checkpoints?): the copy must read its parent chain',
          );
      }
      if (answer.Existing) this.logger.info({ vm: answer.VmName, checkpoint: checkpoint.id }, 'recovery checkpoint already existed under this name');
      return { ...checkpoint, name: args.name };
    });
  }

  async exportConfiguration(args: { checkpoint: Checkpoint }, opts: CallOptions = {}): Promise<ConfigFile[]> {
    const cp = args.checkpoint;
    return this.onOwner(cp.vmId, opts, async (node) => {
      const answer = await this.run<WmiExportAnswer>(
        node,
        'export-config.ps1',
        { vmId: cp.vmId, snapshotId: cp.id, copyRuntimeInformation: this.o.copyRuntimeInformation, waitMs: Math.max(1000, this.o.scriptTimeoutMs - 30_000) },
        opts,
      );
      if (answer.Result) this.mustBeDone(answer.Result, { host: node.name, vm: cp.vmName });
      const files = asArray(answer.Files);
      if (!files.length)
        throw new HvsnapError('export_failed', `export of checkpoint ${cp.name} of VM ${cp.vmName} on ${node.name} produced no files`, {
          context: { vm: cp.vmName, host: node.name },
        });
      return files.map((f) => ({ name: f.Name, data: new Uint8Array(Buffer.from(f.DataBase64, 'base64')) }));
    });
  }

  async changedRanges(args: { checkpoint: Checkpoint; diskId: string; sinceRctId: string }, opts: CallOptions = {}): Promise<ByteRange[]> {
    const cp = args.checkpoint;
    const disk = cp.disks.find((d) => d.diskId === args.diskId);
    const where = { vm: cp.vmName, disk: args.diskId };
    if (!disk) throw new HvsnapError('not_found', `checkpoint ${cp.name} of VM ${cp.vmName} has no disk ${args.diskId}`, { context: where });
    if (!args.sinceRctId) throw new HvsnapError('rct_invalid', `no RCT id given for disk ${args.diskId} of VM ${cp.vmName}`, { context: where });
    return this.onOwner(cp.vmId, opts, async (node) => {
      const offsets: number[] = [];
      const lengths: number[] = [];
      let offset = 0;
      while (offset < disk.sizeBytes) {
        throwIfAborted(opts.signal);
        const answer = await this.run<WmiChangesAnswer>(
          node,
          'get-changes.ps1',
          { path: disk.path, limitId: args.sinceRctId, offset, sizeBytes: disk.sizeBytes, maxPages: this.o.changesPagesPerCall, waitMs: this.o.jobWaitMs },
          opts,
        );
        if (answer.Result) this.mustBeDone(answer.Result, { host: node.name, ...where, path: disk.path });
        offsets.push(...asArray(answer.ChangedByteOffsets));
        lengths.push(...asArray(answer.ChangedByteLengths));
        if (!(answer.ProcessedUntil > offset)) {
          throw new HvsnapError('rct_invalid', `GetVirtualDiskChanges made no progress at offset ${offset} of ${disk.path}`, { context: { ...where, offset } });
        }
        offset = answer.ProcessedUntil;
      }
      return normalizeRanges(offsets, lengths, disk.sizeBytes, where);
    });
  }

  async convertToReferencePoint(args: { checkpoint: Checkpoint }, opts: CallOptions = {}): Promise<ReferencePoint> {
    const cp = args.checkpoint;
    return this.onOwner(cp.vmId, opts, async (node) => {
      const input = { vmId: cp.vmId, snapshotId: cp.id, name: cp.name, waitMs: this.o.jobWaitMs };
      let answer = await this.run<WmiConvertAnswer>(node, 'convert-checkpoint.ps1', input, opts);
      if (!answer.ReferencePoint && answer.Result) {
        const referencePointId = await this.settle(node, answer.Result, { host: node.name, vm: cp.vmName }, opts, 'Msvm_VirtualSystemReferencePoint');
        if (!referencePointId) {
          throw new HvsnapError(
            'reference_point_failed',
            `the ConvertToReferencePoint job for VM ${cp.vmName} on ${node.name} finished without naming the reference point it made`,
            {
              context: { host: node.name, vm: cp.vmName },
            },
          );
        }
        answer = await this.run<WmiConvertAnswer>(node, 'convert-checkpoint.ps1', { ...input, referencePointId }, opts);
      }
      if (answer.Result && answer.ReferencePoint) this.mustBeDone(answer.Result, { host: node.name, vm: cp.vmName });
      if (!answer.ReferencePoint)
        throw new HvsnapError('reference_point_failed', `conversion of ${cp.name} of VM ${cp.vmName} on ${node.name} returned no reference point`, {
          context: { vm: cp.vmName, host: node.name },
        });
      return toReferencePoint(answer.ReferencePoint, asArray(answer.Disks), {
        frozen: cp.disks,
        logger: this.logger,
        vmName: cp.vmName,
        name: cp.name,
        requireRct: true,
      });
    });
  }

  async deleteCheckpoint(args: { vmId: string; checkpointId: string }, opts: CallOptions = {}): Promise<void> {
    await this.deleteOn(args.vmId, 'delete-checkpoint.ps1', { vmId: args.vmId, snapshotId: args.checkpointId, waitMs: this.o.jobWaitMs }, opts);
  }

  async listReferencePoints(args: { vmId: string }, opts: CallOptions = {}): Promise<ReferencePoint[]> {
    return this.onOwner(args.vmId, opts, async (node) => {
      const answer = await this.run<{ ReferencePoints: WmiReferencePoint[] | WmiReferencePoint | null; Disks: WmiDisk[] | WmiDisk | null }>(
        node,
        'list-reference-points.ps1',
        { vmId: args.vmId },
        opts,
      );
      return asArray(answer.ReferencePoints)
        .filter((rp) => rp.ReferencePointType === undefined || rp.ReferencePointType === 2)
        .map((rp) => toReferencePoint(rp, asArray(answer.Disks), { logger: this.logger, vmName: this.vmNames.get(args.vmId) }));
    });
  }

  async deleteReferencePoint(args: { vmId: string; referencePointId: string }, opts: CallOptions = {}): Promise<void> {
    await this.deleteOn(args.vmId, 'delete-reference-point.ps1', { vmId: args.vmId, referencePointId: args.referencePointId, waitMs: this.o.jobWaitMs }, opts);
  }

  async listLeftovers(
    args: { tagPrefix: string },
    opts: CallOptions = {},
  ): Promise<{ checkpoints: Checkpoint[]; referencePoints: ReferencePoint[]; unanswered: Array<{ host: string; error: HvsnapError }> }> {
    type Answer = {
      Checkpoints: Array<{ VmName: string; Snapshot: WmiSnapshot }> | { VmName: string; Snapshot: WmiSnapshot } | null;
      ReferencePoints: WmiReferencePoint[] | WmiReferencePoint | null;
    };
    const failed: NodeFailure[] = [];
    const answers = await this.onEachNode('list-leftovers.ps1', (n) => this.run<Answer>(n, 'list-leftovers.ps1', { tagPrefix: args.tagPrefix }, opts), failed);
    return {
      // consistency is not recorded on a snapshot: report the weaker level
      checkpoints: answers
        .flatMap((a) => asArray(a.Checkpoints))
        .map((c) => toCheckpoint(c.Snapshot, { id: c.Snapshot.VirtualSystemIdentifier, name: c.VmName }, [], 'crash')),
      referencePoints: answers.flatMap((a) => asArray(a.ReferencePoints)).map((rp) => toReferencePoint(rp, [], { logger: silentLogger })),
      unanswered: failed.map((f) => ({ host: f.node, error: f.error })),
    };
  }

  async importVm(args: { config: ConfigFile[]; diskPaths: Record<string, string>; newId: boolean; name?: string }, opts: CallOptions = {}): Promise<VmInfo> {
    const vmcx = args.config.find((f) => f.name.toLowerCase().endsWith('.vmcx'));
    const guid = /([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})/i;
    const sourceVmId = guid.exec(vmcx?.name ?? '')?.[1] ?? guid.exec(Object.keys(args.diskPaths)[0] ?? '')?.[1] ?? '';
    if (!vmcx) throw new HvsnapError('input_invalid', 'the configuration to import holds no .vmcx file', { context: { field: 'config' } });
    const node = this.nodes[0];
    const answer = await this.run<WmiImportAnswer>(
      node,
      'import-vm.ps1',
      {
        files: args.config.map((f) => ({ name: f.name, dataBase64: Buffer.from(f.data).toString('base64') })),
        diskPaths: args.diskPaths,
        newId: args.newId,
        name: args.name ?? null,
        sourceVmId,
        directory: this.o.importDirectory ?? null,
        waitMs: Math.max(1000, this.o.scriptTimeoutMs - 30_000),
      },
      opts,
    );
    if (answer.Result) this.mustBeDone(answer.Result, { host: node.name, vm: args.name ?? sourceVmId });
    if (!answer.Vm) throw new HvsnapError('internal', `import on ${node.name} returned no VM`, { context: { host: node.name } });
    const vm = toVmInfo(answer.Vm, node.name, this.logger);
    // import-vm.ps1 refuses a planned VM whose slots do not all take a restored disk; this checks the
    // result once more: a disk left at the exported path would be the production VHDX (BackupIntent)
    const want = new Set(Object.values(args.diskPaths).map((p) => p.toLowerCase()));
    const got = new Set(vm.disks.map((d) => d.path.toLowerCase()));
    if (want.size !== got.size || [...got].some((p) => !want.has(p))) {
      throw new HvsnapError(
        'input_invalid',
        `imported VM ${vm.name} (${vm.id}) on ${node.name} has disks ${[...got].join(', ')}, not exactly the restored ${[...want].join(', ')}: remove it before starting it`,
        {
          context: { host: node.name, vm: vm.name },
        },
      );
    }
    this.owner.set(vm.id, node);
    this.vmNames.set(vm.id, vm.name);
    return vm;
  }

  async close(): Promise<void> {
    await Promise.all(this.nodes.map((n) => n.shell.close().catch(() => undefined)));
  }

  /** Matches a disk slot across a VM, its snapshots and reference points (exported for callers that hold ids). */
  static sameSlot(a: string, b: string): boolean {
    return slotKey(a) === slotKey(b);
  }

  /**
   * Every node's VMs. A node that does not answer (paused, draining, unreachable) is reported for that
   * node (logged, and returned in `failed`) and the VMs of the others go on; all nodes failing is an error.
   */
  private async scanVms(
    names: string[] | undefined,
    opts: CallOptions,
  ): Promise<{ vms: VmInfo[]; failed: NodeFailure[]; broken: Array<{ id: string; name: string; error: HvsnapError }> }> {
    const failed: NodeFailure[] = [];
    const broken: Array<{ id: string; name: string; error: HvsnapError }> = [];
    const answers = await this.onEachNode(
      'get-vms.ps1',
      async (n) => ({ node: n, answer: await this.run<WmiVmList>(n, 'get-vms.ps1', { names: names ?? null }, opts) }),
      failed,
    );
    const byId = new Map<string, VmInfo>();
    for (const { node, answer } of answers) {
      for (const raw of asArray(answer.Vms)) {
        this.owner.set(raw.Name, node);
        let vm: VmInfo;
        try {
          vm = toVmInfo(raw, answer.ComputerName || node.name, this.logger);
        } catch (e) {
          // one VM whose disk facts cannot be read does not hide the others
          const error = isHvsnapError(e) ? e : new HvsnapError('internal', String(e), { cause: e });
          broken.push({ id: raw.Name, name: raw.ElementName, error });
          this.logger.error({ vm: raw.ElementName, host: node.name, code: error.code, err: error.message }, 'VM left out: its disks cannot be read');
          continue;
        }
        if (byId.has(vm.id)) this.logger.warn({ vm: vm.name, hosts: [byId.get(vm.id)!.host, vm.host] }, 'VM reported by two nodes; using the first');
        else byId.set(vm.id, vm);
        this.owner.set(vm.id, node);
        this.vmNames.set(vm.id, vm.name);
      }
    }
    return { vms: [...byId.values()], failed, broken };
  }

  /** Runs fn on every node at once; failures are logged per node and collected, all failing throws the first. */
  private async onEachNode<T>(script: ScriptName, fn: (node: WmiNode) => Promise<T>, failed: NodeFailure[] = []): Promise<T[]> {
    const settled = await Promise.allSettled(this.nodes.map(fn));
    const ok: T[] = [];
    settled.forEach((r, i) => {
      if (r.status === 'fulfilled') return void ok.push(r.value);
      const error = isHvsnapError(r.reason) ? r.reason : new HvsnapError('internal', String(r.reason), { cause: r.reason });
      if (error.code === 'aborted') throw error;
      failed.push({ node: this.nodes[i].name, error });
      this.logger.error({ host: this.nodes[i].name, script, code: error.code, err: error.message }, 'a cluster node did not answer; going on with the others');
    });
    if (!ok.length && failed.length) throw failed[0].error;
    return ok;
  }

  /** No VM by that name or id: when nodes did not answer, the error says so (the VM may be there). */
  private notFound(vm: string, failed: NodeFailure[]): HvsnapError {
    const where = this.nodes.map((n) => n.name).join(', ');
    if (!failed.length) return new HvsnapError('vm_not_found', `no VM named "${vm}" on ${where}`, { context: { vm } });
    const first = failed[0].error;
    return new HvsnapError(
      first.code,
      `VM "${vm}" not found on the nodes that answered; ${failed.map((f) => `${f.node} did not answer (${f.error.message})`).join('; ')}`,
      {
        retryable: first.retryable,
        context: { vm, host: failed.map((f) => f.node).join(',') },
        cause: first,
      },
    );
  }

  /** Runs fn on the VM's owner node; after a vm_not_found from a cached owner (live migration), looks again once. */
  private async onOwner<T>(vmId: string, opts: CallOptions, fn: (node: WmiNode) => Promise<T>): Promise<T> {
    const cached = this.owner.get(vmId);
    if (cached) {
      try {
        return await fn(cached);
      } catch (e) {
        if (!(isHvsnapError(e) && e.code === 'vm_not_found') || this.nodes.length === 1) throw e;
        this.owner.delete(vmId);
      }
    }
    const { failed } = await this.scanVms(undefined, opts);
    const node = this.owner.get(vmId);
    if (!node) throw this.notFound(vmId, failed);
    return fn(node);
  }

  /**
   * Deletes on the VM's owner. A node the VM is not on answers "gone" for it (VmAbsent): after a live
   * migration that is the old owner, so the owner is looked up again and the delete repeated there;
   * only when no node has the VM is it gone. A node that did not answer makes that unknowable: error.
   */
  private async deleteOn(vmId: string, script: ScriptName, input: Record<string, unknown>, opts: CallOptions): Promise<void> {
    let node: WmiNode | undefined = this.owner.get(vmId);
    for (let attempt = 0; ; attempt++) {
      if (!node) {
        const { failed } = await this.scanVms(undefined, opts);
        node = this.owner.get(vmId);
        if (!node) {
          if (failed.length) throw this.notFound(vmId, failed);
          return; // the VM is gone, and so is what it had
        }
      }
      const answer = await this.run<WmiDeleteAnswer>(node, script, input, opts);
      if (answer.VmAbsent && attempt === 0 && this.nodes.length > 1) {
        this.owner.delete(vmId);
        node = undefined;
        continue;
      }
      if (!answer.Gone && answer.Result) await this.settle(node, answer.Result, { host: node.name, vm: answer.VmName }, opts);
      return;
    }
  }

  /** A result that must be final: a job still running after the script's wait is a timeout. */
  private mustBeDone(result: WmiMethodResult, ctx: ResultContext): void {
    const state = checkResult(result, ctx);
    if (state.state === 'pending') {
      throw new HvsnapError('timeout', `${result.Method} on ${ctx.host} is still running (job ${state.job.InstanceID}, ${state.job.PercentComplete ?? 0}%)`, {
        retryable: false,
        context: { ...ctx, step: result.Method },
      });
    }
    if (state.warnings) this.logger.warn({ ...ctx, method: result.Method }, 'WMI job completed with warnings');
  }

  /**
   * Waits out a job the script handed back as late (wait-job.ps1 until it ends) and returns the first
   * affected object's id when `affectedClass` is given; throws the mapped error when it failed.
   */
  private async settle(node: WmiNode, result: WmiMethodResult, ctx: ResultContext, opts: CallOptions, affectedClass?: string): Promise<string | undefined> {
    let current = result;
    const deadline = Date.now() + this.o.scriptTimeoutMs;
    for (;;) {
      const state = checkResult(current, ctx);
      if (state.state === 'done') {
        if (state.warnings) this.logger.warn({ ...ctx, method: current.Method }, 'WMI job completed with warnings');
        return asArray(current.Affected)[0];
      }
      if (Date.now() > deadline) {
        throw new HvsnapError('timeout', `${current.Method} on ${ctx.host} did not finish in ${this.o.scriptTimeoutMs} ms (job ${state.job.InstanceID})`, {
          context: { ...ctx, step: current.Method },
        });
      }
      this.logger.debug({ ...ctx, method: current.Method, job: state.job.InstanceID, percent: state.job.PercentComplete }, 'WMI job still running; waiting');
      current = await this.run<WmiMethodResult>(
        node,
        'wait-job.ps1',
        { jobId: state.job.InstanceID, method: current.Method, waitMs: this.o.jobWaitMs, affectedClass: affectedClass ?? null, affectedKey: 'InstanceID' },
        opts,
      );
    }
  }

  private run<T>(node: WmiNode, name: ScriptName, input: Record<string, unknown>, opts: CallOptions): Promise<T> {
    // an import run twice would import twice: never repeat it after a dropped connection
    return node.shell
      .run<T>({ name, script: loadScript(name), input, idempotent: name !== 'import-vm.ps1' }, { signal: opts.signal, timeoutMs: this.o.scriptTimeoutMs })
      .catch((e: unknown) => {
        if (isHvsnapError(e)) throw e.withContext({ host: e.context.host ?? node.name });
        throw e;
      });
  }
}
