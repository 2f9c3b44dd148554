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
  /** CopyVmRuntimeInformation of the configuration export (.vmrs/.vmgs state); default false */
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
      copyRuntimeInformation: options.copyRuntimeInformation ?? false,
      jobWaitMs: options.jobWaitMs ?? 120_000,
      scriptTimeoutMs: options.scriptTimeoutMs ?? 900_000,
      changesPagesPerCall: options.changesPagesPerCall ?? 64,
      importDirectory: options.importDirectory,
    };
  }

  async listVms(args: { names?: string[] }, opts: CallOptions = {}): Promise<VmInfo[]> {
    const all = await this.scanVms(args.names, opts);
    if (!args.names) return all;
    return args.names.map((name) => {
      // exact name first; Hyper-V compares names without case, so fall back to that
      const exact = all.filter((vm) => vm.name === name || vm.id.toLowerCase() === name.toLowerCase());
      const hits = exact.length ? exact : all.filter((vm) => vm.name.toLowerCase() === name.toLowerCase());
      if (hits.length === 0) throw new HvsnapError('vm_not_found', `no VM named "${name}" on ${this.nodes.map((n) => n.name).join(', ')}`, { context: { vm: name } });
      if (hits.length > 1) {
        throw new HvsnapError('vm_ambiguous', `${hits.length} VMs are named "${name}" (${hits.map((h) => `${h.id} on ${h.host}`).join(', ')}); use the VM id`, { context: { vm: name } });
      }
      return hits[0];
    });
  }

  async listVmGroups(_args: Record<string, never>, opts: CallOptions = {}): Promise<VmGroup[]> {
    const answers = await Promise.all(this.nodes.map((n) => this.run<{ Groups: WmiGroup[] | WmiGroup | null }>(n, 'list-vm-groups.ps1', {}, opts)));
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
    // a CSV is seen from every node; a local volume only from its own: try each node in turn
    for (const node of this.nodes) {
      try {
        const answer = await this.run<WmiVolumeAnswer>(node, 'resolve-volume.ps1', { path: args.path }, opts);
        return toVolumeLocation(answer, args.path, node.name);
      } catch (e) {
        if (!(isHvsnapError(e) && e.code === 'not_found')) throw e;
        last = e;
      }
    }
    throw last;
  }

  async createCheckpoint(args: { vmId: string; name: string; consistency: ConsistencyLevel }, opts: CallOptions = {}): Promise<Checkpoint> {
    return this.onOwner(args.vmId, opts, async (node) => {
      const input = {
        vmId: args.vmId,
        name: args.name,
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
          throw new HvsnapError('checkpoint_failed', `the CreateSnapshot job for VM ${answer.VmName} on ${node.name} finished without naming the checkpoint it made`, {
            context: ctx,
            hint: 'run hvsnap cleanup, and check the VM for an unnamed recovery checkpoint (Get-VMSnapshot -SnapshotType Recovery)',
          });
        }
        answer = await this.run<WmiCheckpointAnswer>(node, 'create-checkpoint.ps1', { ...input, snapshotId }, opts);
      }
      if (!answer.Snapshot) throw new HvsnapError('checkpoint_failed', `create-checkpoint.ps1 on ${node.name} returned no checkpoint for VM ${answer.VmName}`, { context: ctx });
      const checkpoint = toCheckpoint(answer.Snapshot, { id: args.vmId, name: answer.VmName }, asArray(answer.VmDisks), args.consistency);
      if (answer.Result && answer.Snapshot.ElementName !== args.name) {
        // the snapshot exists but could not be named: remove it rather than leave an untagged checkpoint
        const failure = await this.settle(node, answer.Result, ctx, opts).then(
          () => undefined,
          (e: unknown) => e,
        );
        await this.deleteCheckpoint({ vmId: args.vmId, checkpointId: checkpoint.id }, {}).catch((e: unknown) =>
          this.logger.error({ vm: answer.VmName, checkpoint: checkpoint.id, err: (e as Error).message }, 'could not remove an unnamed recovery checkpoint'),
        );
        throw failure ?? new HvsnapError('checkpoint_failed', `recovery checkpoint of VM ${answer.VmName} could not be named ${args.name}`, { context: ctx });
      }
      if (answer.Result) this.mustBeDone(answer.Result, ctx);
      for (const d of checkpoint.disks as WmiFrozenDisk[]) {
        if (d.parentPaths) this.logger.warn({ vm: answer.VmName, disk: d.diskId, parents: d.parentPaths }, 'the frozen disk is a differencing disk (user checkpoints?): the copy must read its parent chain');
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
      if (!files.length) throw new HvsnapError('export_failed', `export of checkpoint ${cp.name} of VM ${cp.vmName} on ${node.name} produced no files`, { context: { vm: cp.vmName, host: node.name } });
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
          throw new HvsnapError('reference_point_failed', `the ConvertToReferencePoint job for VM ${cp.vmName} on ${node.name} finished without naming the reference point it made`, {
            context: { host: node.name, vm: cp.vmName },
          });
        }
        answer = await this.run<WmiConvertAnswer>(node, 'convert-checkpoint.ps1', { ...input, referencePointId }, opts);
      }
      if (answer.Result && answer.ReferencePoint) this.mustBeDone(answer.Result, { host: node.name, vm: cp.vmName });
      if (!answer.ReferencePoint) throw new HvsnapError('reference_point_failed', `conversion of ${cp.name} of VM ${cp.vmName} on ${node.name} returned no reference point`, { context: { vm: cp.vmName, host: node.name } });
      return toReferencePoint(answer.ReferencePoint, asArray(answer.Disks), { frozen: cp.disks, logger: this.logger, vmName: cp.vmName, name: cp.name });
    });
  }

  async deleteCheckpoint(args: { vmId: string; checkpointId: string }, opts: CallOptions = {}): Promise<void> {
    await this.deleteOn(args.vmId, 'delete-checkpoint.ps1', { vmId: args.vmId, snapshotId: args.checkpointId, waitMs: this.o.jobWaitMs }, opts);
  }

  async listReferencePoints(args: { vmId: string }, opts: CallOptions = {}): Promise<ReferencePoint[]> {
    return this.onOwner(args.vmId, opts, async (node) => {
      const answer = await this.run<{ ReferencePoints: WmiReferencePoint[] | WmiReferencePoint | null; Disks: WmiDisk[] | WmiDisk | null }>(node, 'list-reference-points.ps1', { vmId: args.vmId }, opts);
      return asArray(answer.ReferencePoints)
        .filter((rp) => rp.ReferencePointType === undefined || rp.ReferencePointType === 2)
        .map((rp) => toReferencePoint(rp, asArray(answer.Disks), { logger: this.logger, vmName: this.vmNames.get(args.vmId) }));
    });
  }

  async deleteReferencePoint(args: { vmId: string; referencePointId: string }, opts: CallOptions = {}): Promise<void> {
    await this.deleteOn(args.vmId, 'delete-reference-point.ps1', { vmId: args.vmId, referencePointId: args.referencePointId, waitMs: this.o.jobWaitMs }, opts);
  }

  async listLeftovers(args: { tagPrefix: string }, opts: CallOptions = {}): Promise<{ checkpoints: Checkpoint[]; referencePoints: ReferencePoint[] }> {
    type Answer = { Checkpoints: Array<{ VmName: string; Snapshot: WmiSnapshot }> | { VmName: string; Snapshot: WmiSnapshot } | null; ReferencePoints: WmiReferencePoint[] | WmiReferencePoint | null };
    const answers = await Promise.all(this.nodes.map((n) => this.run<Answer>(n, 'list-leftovers.ps1', { tagPrefix: args.tagPrefix }, opts)));
    return {
      // consistency is not recorded on a snapshot: report the weaker level
      checkpoints: answers.flatMap((a) => asArray(a.Checkpoints)).map((c) => toCheckpoint(c.Snapshot, { id: c.Snapshot.VirtualSystemIdentifier, name: c.VmName }, [], 'crash')),
      referencePoints: answers.flatMap((a) => asArray(a.ReferencePoints)).map((rp) => toReferencePoint(rp, [], { logger: silentLogger })),
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

  private async scanVms(names: string[] | undefined, opts: CallOptions): Promise<VmInfo[]> {
    const answers = await Promise.all(this.nodes.map(async (n) => ({ node: n, answer: await this.run<WmiVmList>(n, 'get-vms.ps1', { names: names ?? null }, opts) })));
    const byId = new Map<string, VmInfo>();
    for (const { node, answer } of answers) {
      for (const raw of asArray(answer.Vms)) {
        const vm = toVmInfo(raw, answer.ComputerName || node.name, this.logger);
        if (byId.has(vm.id)) this.logger.warn({ vm: vm.name, hosts: [byId.get(vm.id)!.host, vm.host] }, 'VM reported by two nodes; using the first');
        else byId.set(vm.id, vm);
        this.owner.set(vm.id, node);
        this.vmNames.set(vm.id, vm.name);
      }
    }
    return [...byId.values()];
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
    await this.scanVms(undefined, opts);
    const node = this.owner.get(vmId);
    if (!node) throw new HvsnapError('vm_not_found', `no VM with id ${vmId} on ${this.nodes.map((n) => n.name).join(', ')}`, { context: { vm: vmId } });
    return fn(node);
  }

  private async deleteOn(vmId: string, script: ScriptName, input: Record<string, unknown>, opts: CallOptions): Promise<void> {
    let node: WmiNode | undefined = this.owner.get(vmId);
    if (!node) {
      await this.scanVms(undefined, opts);
      node = this.owner.get(vmId);
      if (!node) return; // the VM is gone, and so is what it had
    }
    const answer = await this.run<WmiDeleteAnswer>(node, script, input, opts);
    if (!answer.Gone && answer.Result) await this.settle(node, answer.Result, { host: node.name, vm: answer.VmName }, opts);
  }

  /** A result that must be final: a job still running after the script's wait is a timeout. */
  private mustBeDone(result: WmiMethodResult, ctx: ResultContext): void {
    const state = checkResult(result, ctx);
    if (state.state === 'pending') {
      throw new HvsnapError('timeout', `${result.Method} on ${ctx.host} is still running (job ${state.job.InstanceID}, ${state.job.PercentComplete ?? 0}%)`, { retryable: false, context: { ...ctx, step: result.Method } });
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
        throw new HvsnapError('timeout', `${current.Method} on ${ctx.host} did not finish in ${this.o.scriptTimeoutMs} ms (job ${state.job.InstanceID})`, { context: { ...ctx, step: current.Method } });
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
    return node.shell.run<T>({ name, script: loadScript(name), input, idempotent: name !== 'import-vm.ps1' }, { signal: opts.signal, timeoutMs: this.o.scriptTimeoutMs }).catch((e: unknown) => {
      if (isHvsnapError(e)) throw e.withContext({ host: e.context.host ?? node.name });
      throw e;
    });
  }
}
