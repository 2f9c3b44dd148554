import { HvsnapError, isHvsnapError } from '../core/errors.js';
import { silentLogger, type Logger } from '../core/logger.js';
import type { CallOptions, VmInfo } from '../core/types.js';
import type { Shell } from '../transport/shell.js';
import { loadScript, type ScriptName } from './script-loader.js';
import { checkResult, type ResultContext } from './wmi-errors.js';
import { toVmInfo } from './wmi-mapping.js';
import { asArray, type WmiDeleteAnswer, type WmiMethodResult, type WmiVmList } from './wmi-shapes.js';

/** A node that did not answer one call, and why. */
export interface NodeFailure {
  node: string;
  error: HvsnapError;
}

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
 * The nodes of a WmiHypervisor (wmi-hypervisor.ts), its settings, the VM owners and names from the last listing, and
 * how a call reaches the owner node (scripts, WMI jobs, retries after a live migration).
 */
export class WmiNodeCalls {
  readonly nodes: WmiNode[];
  readonly logger: Logger;
  readonly o: Required<Omit<WmiHypervisorOptions, 'nodes' | 'logger' | 'importDirectory'>> & { importDirectory?: string };
  /** VM id → node that owns it, from the last listing */
  readonly owner = new Map<string, WmiNode>();
  readonly vmNames = new Map<string, string>();

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

  /**
   * Every node's VMs. A node that does not answer (paused, draining, unreachable) is reported for that
   * node (logged, and returned in `failed`) and the VMs of the others go on; all nodes failing is an error.
   */
  async scanVms(
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
  async onEachNode<T>(script: ScriptName, fn: (node: WmiNode) => Promise<T>, failed: NodeFailure[] = []): Promise<T[]> {
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
  notFound(vm: string, failed: NodeFailure[]): HvsnapError {
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
  async onOwner<T>(vmId: string, opts: CallOptions, fn: (node: WmiNode) => Promise<T>): Promise<T> {
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
  async deleteOn(vmId: string, script: ScriptName, input: Record<string, unknown>, opts: CallOptions): Promise<void> {
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
  mustBeDone(result: WmiMethodResult, ctx: ResultContext): void {
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
  async settle(node: WmiNode, result: WmiMethodResult, ctx: ResultContext, opts: CallOptions, affectedClass?: string): Promise<string | undefined> {
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

  run<T>(node: WmiNode, name: ScriptName, input: Record<string, unknown>, opts: CallOptions): Promise<T> {
    // an import run twice would import twice: never repeat it after a dropped connection
    return node.shell
      .run<T>({ name, script: loadScript(name), input, idempotent: name !== 'import-vm.ps1' }, { signal: opts.signal, timeoutMs: this.o.scriptTimeoutMs })
      .catch((e: unknown) => {
        if (isHvsnapError(e)) throw e.withContext({ host: e.context.host ?? node.name });
        throw e;
      });
  }
}
