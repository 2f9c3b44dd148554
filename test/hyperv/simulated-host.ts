import { randomUUID } from 'node:crypto';
import { HvsnapError } from '../../src/core/errors.js';
import { FakeShell } from '../../src/transport/fake-shell.js';
import { scriptErrorToHvsnap } from '../../src/transport/framing.js';
import type { WmiDisk, WmiJob, WmiMethodResult, WmiReferencePoint, WmiSnapshot, WmiVm } from '../../src/hyperv/wmi-shapes.js';

/**
 * A Hyper-V host simulated behind a FakeShell: each handler does what its .ps1 does and answers in
 * the shapes the reference documents (ReturnValue 0 / 4096, Msvm_ConcreteJob states 4, 7, 10, 32768,
 * GetErrorEx texts, virtual-hard-disk SASD InstanceIDs `Microsoft:<owner GUID>\<controller>\<n>\<n>\L`
 * (the drive's RASD ends in `\D`, the disk's SASD in `\L`), RCT ids `rctX:…:<seq>`, paged
 * GetVirtualDiskChanges, Get-Disk enums as the Storage module's names, no CreationTime on a reference
 * point (Msvm_VirtualSystemReferencePoint has none: MSDOC msvm-virtualsystemreferencepoint)). `quirks.singleObjects` renders every one-element array
 * as a bare object and every empty one as null, as ConvertTo-Json does after pipeline unrolling.
 */
export type JobMode = 'sync' | 'job' | 'warnings' | 'late' | 'fail' | { returnValue: number };

interface SimDisk {
  unreadable?: boolean;
  parents?: string[];
  slot: string;
  path: string;
  virtualDiskId: string;
  size: number;
  epoch: string;
  gen: number;
  writes: Array<{ gen: number; offset: number; length: number }>;
}
interface SimVm {
  id: string;
  name: string;
  version: string;
  subType: string;
  opStatus: number[];
  disks: SimDisk[];
  vtpm?: boolean;
}
interface SimSnapshot {
  id: string;
  vmId: string;
  name: string;
  created: string;
  frozen: Record<string, { gen: number; path: string }>;
}
interface SimRp {
  id: string;
  vmId: string;
  name: string;
  /** our bookkeeping file's time, written by convert-checkpoint.ps1 */ created: string;
  consistency: number;
  disks: Array<{ slot: string; rctId: string }>;
}
/** Get-Disk's view: UniqueIdFormat and BusType as the Storage module renders them (names; numbers also accepted) */
interface SimVolume {
  root: string;
  csv: boolean;
  uniqueId: string;
  uniqueIdFormat: number | string;
  serial: string;
  busType: number | string;
}

export class SimulatedHost {
  readonly shell: FakeShell;
  readonly vms: SimVm[] = [];
  readonly snapshots: SimSnapshot[] = [];
  readonly referencePoints: SimRp[] = [];
  readonly groups: Array<{ id: string; name: string; members: string[] }> = [];
  readonly volumes: SimVolume[] = [];
  /** one-shot behaviours per WMI method, consumed in order; the default is 'job' */
  readonly modes: Record<string, JobMode[]> = {};
  /** VM names whose guest cannot give application consistency */
  readonly appConsistencyFails = new Set<string>();
  /**
   * singleObjects: ConvertTo-Json unrolling; renameIgnored: ModifySystemSettings completes but the
   * checkpoint keeps its old name; missingRct: the next reference point has an empty RCT id for its
   * last disk
   */
  quirks = { singleObjects: false, renameIgnored: false, missingRct: false };
  /** the node does not answer (paused, drained, unreachable): every script fails to start */
  down = false;
  /** management classes whose query fails on this host (probe-host.ps1) */
  readonly missingClasses = new Set<string>();
  /** the cluster this node is in, as MSCluster_Cluster / MSCluster_Node report it */
  cluster: { name: string; nodes: Array<{ Name: string; State: number }> } | undefined;
  /** bytes one GetVirtualDiskChanges call processes */
  pageBytes = 3 << 20;
  /** planned VMs import-vm.ps1 destroyed after a refusal */
  destroyedPlanned = 0;
  /** drive slots the planned VM of the next imports lacks, from the end */
  plannedSlotsDropped = 0;
  private readonly jobs = new Map<string, { polls: number; final: WmiJob; affected: string[]; method: string }>();

  constructor(readonly computerName = 'HV01') {
    this.shell = new FakeShell({}, `fake://${computerName}`);
    const on = (name: string, fn: (input: any) => unknown) =>
      this.shell.on(name, (input: any) => {
        if (this.down)
          throw new HvsnapError('transport_failed', `connection to ${this.computerName} failed: connect ECONNREFUSED`, {
            retryable: true,
            context: { host: this.computerName, step: name },
          });
        return this.render(fn(input));
      });
    on('get-vms.ps1', (i) => this.getVms(i));
    on('list-vm-groups.ps1', () => ({ Groups: this.groups.map((g) => ({ CollectionID: g.id, ElementName: g.name, Members: g.members })) }));
    on('create-checkpoint.ps1', (i) => this.createCheckpoint(i));
    on('delete-checkpoint.ps1', (i) => this.deleteCheckpoint(i));
    on('convert-checkpoint.ps1', (i) => this.convert(i));
    on('list-reference-points.ps1', (i) => ({
      ReferencePoints: this.referencePoints.filter((r) => r.vmId === i.vmId).map((r) => this.rpShape(r)),
      Disks: this.diskShapes(this.vm(i.vmId)),
    }));
    on('delete-reference-point.ps1', (i) => this.deleteRp(i));
    on('list-leftovers.ps1', (i) => this.leftovers(i));
    on('get-changes.ps1', (i) => this.changes(i));
    on('export-config.ps1', (i) => this.exportConfig(i));
    on('resolve-volume.ps1', (i) => this.resolveVolume(i));
    on('wait-job.ps1', (i) => this.waitJob(i));
    on('import-vm.ps1', (i) => this.importVm(i));
    on('probe-host.ps1', () => ({
      ComputerName: this.computerName,
      PowerShell: '5.1.20348.2849',
      UserName: 'CORP\\svc-hvsnap',
      IsAdministrator: true,
      IsHyperVAdministrator: false,
      Os: 'Microsoft Windows Server 2022 Datacenter',
      OsBuild: '20348',
      VmmsStatus: 'Running',
      HyperVModule: true,
      Namespace: 'ok',
      Vms: this.vms.map((v) => ({ Name: v.id, ElementName: v.name, Version: v.version })),
      Services: Object.fromEntries(
        [
          'Msvm_VirtualSystemManagementService',
          'Msvm_VirtualSystemSnapshotService',
          'Msvm_VirtualSystemReferencePointService',
          'Msvm_ImageManagementService',
        ].map((c) => [c, this.missingClasses.has(c) ? 'Invalid class' : '1']),
      ),
      Cluster: this.cluster?.name ?? null,
      ClusterNodes: this.cluster?.nodes ?? [],
    }));
  }

  addVolume(v: Partial<SimVolume> & { root: string }): this {
    this.volumes.push({
      csv: true,
      uniqueId: '600A098038314E6A5A244B4C49543971',
      uniqueIdFormat: 'FCPH Name',
      serial: '81MjZ$KLIT9q',
      busType: 'Fibre Channel',
      ...v,
    });
    return this;
  }

  addVm(name: string, opts: { disks?: number; sizeBytes?: number; version?: string; volume?: string; id?: string } = {}): SimVm {
    const id = opts.id ?? randomUUID().toUpperCase();
    const root = opts.volume ?? this.volumes[0]?.root ?? 'C:\\ClusterStorage\\Volume1';
    const vm: SimVm = { id, name, version: opts.version ?? '10.0', subType: 'Microsoft:Hyper-V:SubType:2', opStatus: [2], disks: [] };
    for (let i = 0; i < (opts.disks ?? 1); i++) {
      vm.disks.push({
        slot: `\\83F8638B-8DCA-4152-9EDA-2CA8B33039B4\\0\\${i}\\L`,
        path: `${root}\\${name}\\Virtual Hard Disks\\${name}-${i}.vhdx`,
        virtualDiskId: randomUUID().toUpperCase(),
        size: opts.sizeBytes ?? 8 << 20,
        epoch: randomUUID(),
        gen: 1,
        writes: [],
      });
    }
    this.vms.push(vm);
    return vm;
  }

  /** a guest write: lands in the disk's current generation (after the checkpoint if one exists) */
  write(vmName: string, disk: number, offset: number, length: number): void {
    const d = this.vms.find((v) => v.name === vmName)!.disks[disk];
    d.writes.push({ gen: d.gen, offset, length });
  }

  /** A live migration: the VM with its checkpoints and reference points now belongs to `to`. */
  migrate(vmName: string, to: SimulatedHost): void {
    const at = this.vms.findIndex((v) => v.name === vmName);
    const [vm] = this.vms.splice(at, 1);
    to.vms.push(vm);
    for (const [from, into] of [
      [this.snapshots, to.snapshots],
      [this.referencePoints, to.referencePoints],
    ] as const) {
      for (let i = from.length - 1; i >= 0; i--) if (from[i].vmId === vm.id) (into as unknown[]).push(...from.splice(i, 1));
    }
  }

  /** makes `vmName`'s next `count` calls of `method` behave as `mode` */
  next(method: string, ...modes: JobMode[]): this {
    (this.modes[method] ??= []).push(...modes);
    return this;
  }

  private vm(id: string): SimVm {
    const vm = this.vms.find((v) => v.id === id);
    if (!vm) throw this.stop('vm_not_found', `no VM with id ${id} on ${this.computerName}`, { vm: id });
    return vm;
  }

  private stop(code: string, message: string, ctx: Record<string, unknown> = {}, step = 'script') {
    return scriptErrorToHvsnap(
      { message, category: 'NotSpecified', line: 1, detail: { kind: 'hvsnap', code, host: this.computerName, ...ctx } },
      { host: this.shell.target, step },
    );
  }

  /** the Result of one method call and whether its effect happened now (sync/job/warnings), later (late) or never */
  private call(method: string, affected: string[]): { result: WmiMethodResult; effect: boolean; late: boolean } {
    const mode = this.modes[method]?.shift() ?? 'job';
    const jobId = randomUUID().toUpperCase();
    const job = (JobState: number, extra: Partial<WmiJob> = {}): WmiJob => ({
      InstanceID: jobId,
      JobState,
      JobType: 0,
      ErrorCode: 0,
      ErrorDescription: '',
      ErrorSummaryDescription: '',
      PercentComplete: JobState === 4 ? 40 : 100,
      Errors: [],
      ...extra,
    });
    if (mode === 'sync') return { result: { Method: method, ReturnValue: 0, Job: null, Affected: [] }, effect: true, late: false };
    if (typeof mode === 'object') return { result: { Method: method, ReturnValue: mode.returnValue, Job: null, Affected: [] }, effect: false, late: false };
    if (mode === 'fail') {
      const failed = job(10, {
        ErrorCode: 32768,
        ErrorDescription: `'${method}' failed.`,
        ErrorSummaryDescription: 'The operation failed.',
        Errors: [
          '<INSTANCE CLASSNAME="Msvm_Error"><PROPERTY NAME="Message"><VALUE>Production checkpoints cannot be created (0x80070490)</VALUE></PROPERTY></INSTANCE>',
        ],
      });
      return { result: { Method: method, ReturnValue: 4096, Job: failed, Affected: [] }, effect: false, late: false };
    }
    if (mode === 'late') {
      this.jobs.set(jobId, { polls: 0, final: job(7), affected, method });
      return { result: { Method: method, ReturnValue: 4096, Job: job(4), Affected: [] }, effect: true, late: true };
    }
    return { result: { Method: method, ReturnValue: 4096, Job: job(mode === 'warnings' ? 32768 : 7), Affected: affected }, effect: true, late: false };
  }

  private waitJob(i: any) {
    const j = this.jobs.get(i.jobId);
    if (!j)
      return {
        Method: i.method,
        ReturnValue: 4096,
        Job: { InstanceID: i.jobId, JobState: -1, ErrorCode: 0, ErrorDescription: 'the job no longer exists', Errors: [] },
        Affected: [],
      };
    j.polls++;
    if (j.polls < 2) return { Method: i.method, ReturnValue: 4096, Job: { ...j.final, JobState: 4, PercentComplete: 80 }, Affected: [] };
    return { Method: i.method, ReturnValue: 4096, Job: j.final, Affected: i.affectedClass ? j.affected : [] };
  }

  private diskShapes(vm: SimVm, snap?: SimSnapshot): WmiDisk[] {
    const active = this.snapshots.find((s) => s.vmId === vm.id);
    return vm.disks.map((d) => ({
      InstanceID: `Microsoft:${snap ? snap.id.slice('Microsoft:'.length) : vm.id}${d.slot}`,
      Path: snap ? snap.frozen[d.slot].path : active ? d.path.replace(/\.vhdx$/, `_${active.id.slice(10, 18)}.avhdx`) : d.path,
      // what the old Get-VHD reading gave when it failed: blanks
      VirtualDiskId: d.unreadable ? null : d.virtualDiskId,
      Size: d.unreadable ? null : d.size,
      Format: d.unreadable ? 'unreadable: Get-VHD is not recognized' : 'VHDX',
      ParentPaths: snap || !active ? (d.parents ?? []) : [d.path, ...(d.parents ?? [])],
    }));
  }

  private vmShape(vm: SimVm): WmiVm {
    return {
      Name: vm.id,
      ElementName: vm.name,
      Version: vm.version,
      VirtualSystemSubType: vm.subType,
      EnabledState: 2,
      OperationalStatus: vm.opStatus,
      Groups: this.groups.filter((g) => g.members.includes(vm.id)).map((g) => g.id),
      Disks: this.diskShapes(vm),
    };
  }

  private snapShape(s: SimSnapshot): WmiSnapshot {
    return {
      InstanceID: s.id,
      ElementName: s.name,
      VirtualSystemType: 'Microsoft:Hyper-V:Snapshot:Recovery',
      VirtualSystemIdentifier: s.vmId,
      CreationTime: s.created,
      Disks: this.diskShapes(this.vm(s.vmId), s),
    };
  }

  private rpShape(r: SimRp): WmiReferencePoint {
    return {
      InstanceID: r.id,
      VirtualSystemIdentifier: r.vmId,
      ElementName: '',
      HvsnapName: r.name,
      HvsnapCreatedAt: r.created,
      ReferencePointType: 2,
      ConsistencyLevel: r.consistency,
      VirtualDiskIdentifiers: r.disks.map((d) => `Microsoft:${r.vmId}${d.slot}`),
      ResilientChangeTrackingIdentifiers: r.disks.map((d) => d.rctId),
    };
  }

  private getVms(i: any) {
    const names: string[] | null = i.names;
    const vms = this.vms.filter((v) => !names || names.some((n) => n.toLowerCase() === v.name.toLowerCase() || n.toLowerCase() === v.id.toLowerCase()));
    return { ComputerName: this.computerName, Vms: vms.map((v) => this.vmShape(v)) };
  }

  private createCheckpoint(i: any) {
    const vm = this.vm(i.vmId);
    const existing = this.snapshots.find((s) => s.vmId === vm.id && s.name === i.name);
    if (existing) return { VmName: vm.name, Existing: true, Snapshot: this.snapShape(existing), VmDisks: this.diskShapes(vm) };
    let snap: SimSnapshot | undefined;
    let result: WmiMethodResult | null = null;
    if (i.snapshotId) {
      snap = this.snapshots.find((s) => s.id === i.snapshotId);
    } else {
      // like create-checkpoint.ps1: busy is what the caller lists; without a list every second status is
      const busy = (s: number) => (Array.isArray(i.busyStatuses) ? i.busyStatuses.includes(s) : s !== 0);
      if (vm.opStatus.length > 1 && busy(vm.opStatus[1]))
        throw this.stop(
          'vm_invalid_state',
          `VM ${vm.name} is busy (OperationalStatus ${vm.opStatus[1]})`,
          { vm: vm.name, retryable: true },
          'create-checkpoint.ps1',
        );
      if (this.snapshots.some((s) => s.vmId === vm.id))
        throw this.stop('vm_invalid_state', `VM ${vm.name} already has a recovery checkpoint`, { vm: vm.name }, 'create-checkpoint.ps1');
      const id = `Microsoft:${randomUUID().toUpperCase()}`;
      if (i.consistencyLevel === 1 && this.appConsistencyFails.has(vm.name)) this.next('CreateSnapshot', 'fail');
      const c = this.call('CreateSnapshot', [id]);
      result = c.result;
      if (c.effect) {
        snap = { id, vmId: vm.id, name: c.late ? '' : i.name, created: new Date().toISOString(), frozen: {} };
        for (const d of vm.disks) {
          snap.frozen[d.slot] = { gen: d.gen, path: d.path };
          d.gen++;
        }
        this.snapshots.push(snap);
      }
      if (!c.effect || c.late) return { VmName: vm.name, Result: result };
    }
    if (!snap) throw this.stop('checkpoint_failed', 'the recovery checkpoint vanished', {}, 'create-checkpoint.ps1');
    // the name is read back from the host after ModifySystemSettings (create-checkpoint.ps1)
    if (!this.quirks.renameIgnored) snap.name = i.name;
    return { VmName: vm.name, Result: result, Snapshot: this.snapShape(snap), VmDisks: this.diskShapes(vm) };
  }

  private deleteCheckpoint(i: any) {
    const vm = this.vms.find((v) => v.id === i.vmId);
    const at = this.snapshots.findIndex((s) => s.id === i.snapshotId);
    if (!vm) return { Gone: true, VmAbsent: true };
    if (at < 0) return { Gone: true };
    const c = this.call('DestroySnapshot', []);
    if (c.effect) this.snapshots.splice(at, 1);
    return { Gone: false, VmName: vm.name, Result: c.result };
  }

  private convert(i: any) {
    const vm = this.vm(i.vmId);
    const done = this.referencePoints.find((r) => r.vmId === vm.id && r.name === i.name);
    if (done) return { ReferencePoint: this.rpShape(done), Disks: this.diskShapes(vm) };
    let rpId: string = i.referencePointId;
    let result: WmiMethodResult | null = null;
    if (!rpId) {
      const at = this.snapshots.findIndex((s) => s.id === i.snapshotId);
      if (at < 0) throw this.stop('not_found', `checkpoint ${i.snapshotId} of VM ${vm.name} does not exist`, { vm: vm.name }, 'convert-checkpoint.ps1');
      const snap = this.snapshots[at];
      rpId = `Microsoft:${randomUUID().toUpperCase()}`;
      const c = this.call('ConvertToReferencePoint', [rpId]);
      result = c.result;
      if (c.effect) {
        this.referencePoints.push({
          id: rpId,
          vmId: vm.id,
          name: '',
          created: new Date().toISOString(),
          consistency: 1,
          disks: vm.disks.map((d, n) => ({
            slot: d.slot,
            rctId:
              this.quirks.missingRct && n === vm.disks.length - 1
                ? ''
                : `rctX:${d.epoch.replace(/-/g, ':')}:${snap.frozen[d.slot].gen.toString(16).padStart(8, '0')}`,
          })),
        });
        this.snapshots.splice(at, 1);
      }
      if (!c.effect || c.late) return { Result: result };
    }
    const rp = this.referencePoints.find((r) => r.id === rpId)!;
    rp.name = i.name;
    return { Result: result, ReferencePoint: this.rpShape(rp), Disks: this.diskShapes(vm) };
  }

  private deleteRp(i: any) {
    const vm = this.vms.find((v) => v.id === i.vmId);
    const at = this.referencePoints.findIndex((r) => r.id === i.referencePointId && r.vmId === i.vmId);
    if (!vm) return { Gone: true, VmAbsent: true };
    if (at < 0) return { Gone: true };
    const c = this.call('DestroyReferencePoint', []);
    if (c.effect) this.referencePoints.splice(at, 1);
    return { Gone: false, VmName: vm.name, Result: c.result };
  }

  private leftovers(i: any) {
    return {
      Checkpoints: this.snapshots.filter((s) => s.name.startsWith(i.tagPrefix)).map((s) => ({ VmName: this.vm(s.vmId).name, Snapshot: this.snapShape(s) })),
      ReferencePoints: this.referencePoints.filter((r) => r.name.startsWith(i.tagPrefix)).map((r) => this.rpShape(r)),
    };
  }

  private changes(i: any) {
    let disk: SimDisk | undefined;
    let snap: SimSnapshot | undefined;
    for (const s of this.snapshots) {
      for (const d of this.vm(s.vmId).disks)
        if (s.frozen[d.slot].path === i.path) {
          disk = d;
          snap = s;
        }
    }
    const offsets: number[] = [];
    const lengths: number[] = [];
    let offset: number = i.offset;
    let pages = 0;
    let last: WmiMethodResult | null = null;
    while (offset < i.sizeBytes && pages < i.maxPages) {
      const m = /^rctX:(.+):([0-9a-f]{8})$/.exec(i.limitId);
      const known = disk && m && m[1] === disk.epoch.replace(/-/g, ':') && this.referencePoints.some((r) => r.disks.some((d) => d.rctId === i.limitId));
      if (!disk || !snap || !known) {
        const c = this.call('GetVirtualDiskChanges', []);
        last = { ...c.result, ReturnValue: c.result.ReturnValue === 0 || c.result.ReturnValue === 4096 ? 32768 : c.result.ReturnValue, Job: null };
        break;
      }
      last = this.call('GetVirtualDiskChanges', []).result;
      const from = parseInt(m![2], 16);
      const to = snap.frozen[disk.slot].gen;
      const end = Math.min(i.sizeBytes, offset + this.pageBytes);
      for (const w of disk.writes.filter((x) => x.gen > from && x.gen <= to)) {
        const a = Math.max(w.offset, offset);
        const b = Math.min(w.offset + w.length, end);
        if (b > a) {
          offsets.push(a);
          lengths.push(b - a);
        }
      }
      offset = end;
      pages++;
    }
    return { Result: last, ProcessedUntil: offset, ChangedByteOffsets: offsets, ChangedByteLengths: lengths };
  }

  private exportConfig(i: any) {
    const vm = this.vm(i.vmId);
    const snap = this.snapshots.find((s) => s.id === i.snapshotId);
    if (!snap) throw this.stop('not_found', `checkpoint ${i.snapshotId} of VM ${vm.name} does not exist`, { vm: vm.name }, 'export-config.ps1');
    const c = this.call('ExportSystemDefinition', []);
    if (!c.effect || c.late) return { Result: c.result };
    const vmcx = Buffer.from(
      JSON.stringify({
        id: vm.id,
        name: vm.name,
        version: vm.version,
        vtpm: vm.vtpm ?? false,
        disks: vm.disks.map((d) => ({ slot: d.slot, size: d.size, virtualDiskId: d.virtualDiskId })),
      }),
    );
    const files = [{ Name: `Virtual Machines/${vm.id}.vmcx`, DataBase64: vmcx.toString('base64') }];
    // .vmgs (guest state: vTPM, UEFI variables) and .vmrs come only with CopyVmRuntimeInformation
    // (MSDOC msvm-virtualsystemexportsettingdata; BAREOS 64726c80 got .vmcx/.VMRS/.vmgs that way)
    if (i.copyRuntimeInformation === true) {
      files.push({ Name: `Virtual Machines/${vm.id}.vmgs`, DataBase64: Buffer.alloc(64, 7).toString('base64') });
      files.push({ Name: `Virtual Machines/${vm.id}.VMRS`, DataBase64: Buffer.alloc(32, 3).toString('base64') });
    }
    return { Result: c.result, Files: files };
  }

  private resolveVolume(i: any) {
    const hits = this.volumes.filter((v) => i.path.toLowerCase().startsWith(v.root.toLowerCase() + '\\')).sort((a, b) => b.root.length - a.root.length);
    if (!hits.length) throw this.stop('not_found', `no volume on ${this.computerName} holds ${i.path}`, { path: i.path }, 'resolve-volume.ps1');
    const v = hits[0];
    // the enums pass through as Get-Disk renders them (names), the worst case the mapping must take
    return {
      VolumeRoot: v.root,
      IsCsv: v.csv,
      Disk: { UniqueId: v.uniqueId, UniqueIdFormat: v.uniqueIdFormat, SerialNumber: v.serial, BusType: v.busType, FriendlyName: 'NETAPP LUN C-Mode' },
    };
  }

  private importVm(i: any) {
    const vmcx = i.files.find((f: any) => f.name.endsWith('.vmcx'));
    if (!vmcx) throw this.stop('input_invalid', 'the configuration holds no .vmcx file', { field: 'config' }, 'import-vm.ps1');
    const def = JSON.parse(Buffer.from(vmcx.dataBase64, 'base64').toString('utf8'));
    // the lab's stand-in vmcx (src/lab/vm-config.ts) names disks by id: their slot is the id without the VM
    if (def.format === 'hvsnap-lab-vmcx/1') {
      def.version = def.configVersion;
      def.disks = def.disks.map((d: any) => ({
        slot: String(d.id).replace(/^Microsoft:[0-9A-Fa-f-]{36}/, ''),
        size: d.sizeBytes,
        virtualDiskId: d.virtualDiskId,
      }));
    }
    // a planned VM Hyper-V built with fewer drives than the export had (plannedSlotsDropped)
    def.disks = def.disks.slice(0, Math.max(0, def.disks.length - this.plannedSlotsDropped));
    const c = this.call('ImportSystemDefinition', []);
    if (!c.effect || c.late) return { Result: c.result };
    if (!i.newId && this.vms.some((v) => v.id === def.id)) return { Result: { Method: 'ImportSystemDefinition', ReturnValue: 32773, Job: null, Affected: [] } };
    // the planned VM's slots; like import-vm.ps1, every slot must take a restored disk and every
    // restored disk a slot, else the planned VM is destroyed and nothing is realized
    const slotOf = (diskId: string) => diskId.toLowerCase().replace(String(i.sourceVmId).toLowerCase(), '*');
    const planned: string[] = def.disks.map((d: any) => `microsoft:*${d.slot}`.toLowerCase());
    const restored = Object.keys(i.diskPaths);
    const emptySlots = planned.filter((p) => !restored.some((k) => slotOf(k) === p));
    const homeless = restored.filter((k) => !planned.includes(slotOf(k)));
    if (emptySlots.length || homeless.length) {
      this.destroyedPlanned++;
      throw this.stop(
        'input_invalid',
        `the planned VM's disk slots do not match the restored disks (slots without a disk: ${emptySlots.join(', ') || 'none'}; disks without a slot: ${homeless.join(', ') || 'none'})`,
        { field: 'diskPaths' },
        'import-vm.ps1',
      );
    }
    const id = i.newId ? randomUUID().toUpperCase() : def.id;
    const vm: SimVm = { id, name: i.name ?? def.name, version: def.version, subType: 'Microsoft:Hyper-V:SubType:2', opStatus: [2], disks: [], vtpm: def.vtpm };
    for (const d of def.disks) {
      const key = restored.find((k) => slotOf(k) === `microsoft:*${d.slot}`.toLowerCase())!;
      vm.disks.push({ slot: d.slot, path: i.diskPaths[key], virtualDiskId: d.virtualDiskId, size: d.size, epoch: randomUUID(), gen: 1, writes: [] });
    }
    this.vms.push(vm);
    return { Result: c.result, Vm: this.vmShape(vm) };
  }

  private render(x: unknown): unknown {
    if (!this.quirks.singleObjects) return x;
    const walk = (v: unknown): unknown => {
      if (Array.isArray(v)) return v.length === 0 ? null : v.length === 1 ? walk(v[0]) : v.map(walk);
      if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, e]) => [k, walk(e)]));
      return v;
    };
    return walk(x);
  }
}
