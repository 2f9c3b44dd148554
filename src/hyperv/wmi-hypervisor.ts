import { HvsnapError, isHvsnapError, throwIfAborted } from '../core/errors.js';
import { silentLogger } from '../core/logger.js';
import type { ByteRange, CallOptions, Checkpoint, ConfigFile, ConsistencyLevel, ReferencePoint, VmGroup, VmInfo, VolumeLocation } from '../core/types.js';
import type { Shell } from '../transport/shell.js';
import type { Hypervisor } from './hypervisor.js';
import { convertWmiCheckpoint, createWmiCheckpoint } from './wmi-checkpoint.js';
import { normalizeRanges, slotKey, toCheckpoint, toReferencePoint, toVmInfo, toVolumeLocation } from './wmi-mapping.js';
import { WmiNodeCalls, type NodeFailure, type WmiHypervisorOptions, type WmiNode } from './wmi-node-calls.js';
import {
  asArray,
  type WmiChangesAnswer,
  type WmiDisk,
  type WmiExportAnswer,
  type WmiGroup,
  type WmiImportAnswer,
  type WmiReferencePoint,
  type WmiSnapshot,
  type WmiVolumeAnswer,
} from './wmi-shapes.js';

export { BUSY_OPERATIONAL_STATUSES } from './wmi-checkpoint.js';
export type { WmiHypervisorOptions, WmiNode } from './wmi-node-calls.js';

/**
 * The {@link Hypervisor} of real Hyper-V hosts: WMI (root\virtualization\v2) through PowerShell
 * scripts run by a Shell on the VM's owner node (reference/hyperv-wmi.md §11). The scripts report
 * what WMI said; this class decides (job states, return codes, disk matching) and maps errors.
 */
export class WmiHypervisor implements Hypervisor {
  readonly kind = 'wmi';
  /** the nodes, settings and owner lookups every call goes through (wmi-node-calls.ts) */
  private readonly c: WmiNodeCalls;
  /** The node of that computer name (case-insensitive), or undefined: what instant restore's host side runs on. */
  node(name: string): WmiNode | undefined {
    return this.c.nodes.find((n) => n.name.toLowerCase() === name.toLowerCase());
  }

  constructor(options: WmiHypervisorOptions) {
    this.c = new WmiNodeCalls(options);
  }

  /** The shell of the node named `host` (case-insensitive), for what else runs over its connection (host mode's SFTP). */
  shellOf(host: string): Shell | undefined {
    return this.c.nodes.find((n) => n.name.toLowerCase() === host.toLowerCase())?.shell;
  }

  async listVms(args: { names?: string[] }, opts: CallOptions = {}): Promise<VmInfo[]> {
    const { vms: all, failed, broken } = await this.c.scanVms(args.names, opts);
    if (!args.names) return all;
    return args.names.map((name) => {
      // a VM named here whose disks the host could not read is an error; unnamed ones were only logged
      const bad = broken.find((b) => b.name === name || b.id.toLowerCase() === name.toLowerCase() || b.name.toLowerCase() === name.toLowerCase());
      if (bad) throw bad.error;
      // exact name first; Hyper-V compares names without case, so fall back to that
      const exact = all.filter((vm) => vm.name === name || vm.id.toLowerCase() === name.toLowerCase());
      const hits = exact.length ? exact : all.filter((vm) => vm.name.toLowerCase() === name.toLowerCase());
      if (hits.length === 0) throw this.c.notFound(name, failed);
      if (hits.length > 1) {
        throw new HvsnapError('vm_ambiguous', `${hits.length} VMs are named "${name}" (${hits.map((h) => `${h.id} on ${h.host}`).join(', ')}); use the VM id`, {
          context: { vm: name },
        });
      }
      return hits[0];
    });
  }

  async listVmGroups(_args: Record<string, never>, opts: CallOptions = {}): Promise<VmGroup[]> {
    const answers = await this.c.onEachNode('list-vm-groups.ps1', (n) =>
      this.c.run<{ Groups: WmiGroup[] | WmiGroup | null }>(n, 'list-vm-groups.ps1', {}, opts),
    );
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
    for (const node of this.c.nodes) {
      try {
        const answer = await this.c.run<WmiVolumeAnswer>(node, 'resolve-volume.ps1', { path: args.path }, opts);
        return toVolumeLocation(answer, args.path, node.name);
      } catch (e) {
        if (isHvsnapError(e) && e.code === 'transport_failed' && this.c.nodes.length > 1) {
          this.c.logger.error({ host: node.name, path: args.path, err: e.message }, 'a cluster node did not answer; trying the others');
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
    return createWmiCheckpoint(this.c, args, opts, (a, o) => this.deleteCheckpoint(a, o));
  }

  async exportConfiguration(args: { checkpoint: Checkpoint }, opts: CallOptions = {}): Promise<ConfigFile[]> {
    const cp = args.checkpoint;
    return this.c.onOwner(cp.vmId, opts, async (node) => {
      const answer = await this.c.run<WmiExportAnswer>(
        node,
        'export-config.ps1',
        {
          vmId: cp.vmId,
          snapshotId: cp.id,
          copyRuntimeInformation: this.c.o.copyRuntimeInformation,
          waitMs: Math.max(1000, this.c.o.scriptTimeoutMs - 30_000),
        },
        opts,
      );
      if (answer.Result) this.c.mustBeDone(answer.Result, { host: node.name, vm: cp.vmName });
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
    return this.c.onOwner(cp.vmId, opts, async (node) => {
      const offsets: number[] = [];
      const lengths: number[] = [];
      let offset = 0;
      while (offset < disk.sizeBytes) {
        throwIfAborted(opts.signal);
        const answer = await this.c.run<WmiChangesAnswer>(
          node,
          'get-changes.ps1',
          { path: disk.path, limitId: args.sinceRctId, offset, sizeBytes: disk.sizeBytes, maxPages: this.c.o.changesPagesPerCall, waitMs: this.c.o.jobWaitMs },
          opts,
        );
        if (answer.Result) this.c.mustBeDone(answer.Result, { host: node.name, ...where, path: disk.path });
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
    return convertWmiCheckpoint(this.c, args, opts);
  }

  async deleteCheckpoint(args: { vmId: string; checkpointId: string }, opts: CallOptions = {}): Promise<void> {
    await this.c.deleteOn(args.vmId, 'delete-checkpoint.ps1', { vmId: args.vmId, snapshotId: args.checkpointId, waitMs: this.c.o.jobWaitMs }, opts);
  }

  async listReferencePoints(args: { vmId: string }, opts: CallOptions = {}): Promise<ReferencePoint[]> {
    return this.c.onOwner(args.vmId, opts, async (node) => {
      const answer = await this.c.run<{ ReferencePoints: WmiReferencePoint[] | WmiReferencePoint | null; Disks: WmiDisk[] | WmiDisk | null }>(
        node,
        'list-reference-points.ps1',
        { vmId: args.vmId },
        opts,
      );
      return asArray(answer.ReferencePoints)
        .filter((rp) => rp.ReferencePointType === undefined || rp.ReferencePointType === 2)
        .map((rp) => toReferencePoint(rp, asArray(answer.Disks), { logger: this.c.logger, vmName: this.c.vmNames.get(args.vmId) }));
    });
  }

  async deleteReferencePoint(args: { vmId: string; referencePointId: string }, opts: CallOptions = {}): Promise<void> {
    await this.c.deleteOn(
      args.vmId,
      'delete-reference-point.ps1',
      { vmId: args.vmId, referencePointId: args.referencePointId, waitMs: this.c.o.jobWaitMs },
      opts,
    );
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
    const answers = await this.c.onEachNode(
      'list-leftovers.ps1',
      (n) => this.c.run<Answer>(n, 'list-leftovers.ps1', { tagPrefix: args.tagPrefix }, opts),
      failed,
    );
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
    const node = this.c.nodes[0];
    const answer = await this.c.run<WmiImportAnswer>(
      node,
      'import-vm.ps1',
      {
        files: args.config.map((f) => ({ name: f.name, dataBase64: Buffer.from(f.data).toString('base64') })),
        diskPaths: args.diskPaths,
        newId: args.newId,
        name: args.name ?? null,
        sourceVmId,
        directory: this.c.o.importDirectory ?? null,
        waitMs: Math.max(1000, this.c.o.scriptTimeoutMs - 30_000),
      },
      opts,
    );
    if (answer.Result) this.c.mustBeDone(answer.Result, { host: node.name, vm: args.name ?? sourceVmId });
    if (!answer.Vm) throw new HvsnapError('internal', `import on ${node.name} returned no VM`, { context: { host: node.name } });
    const vm = toVmInfo(answer.Vm, node.name, this.c.logger);
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
    this.c.owner.set(vm.id, node);
    this.c.vmNames.set(vm.id, vm.name);
    return vm;
  }

  async close(): Promise<void> {
    await Promise.all(this.c.nodes.map((n) => n.shell.close().catch(() => undefined)));
  }

  /** Matches a disk slot across a VM, its snapshots and reference points (exported for callers that hold ids). */
  static sameSlot(a: string, b: string): boolean {
    return slotKey(a) === slotKey(b);
  }
}
