import { isHvsnapError } from '../core/errors.js';
import { silentLogger, type Logger } from '../core/logger.js';
import type { CallOptions } from '../core/types.js';
import { loadScript } from './script-loader.js';
import { supportsRct } from './wmi-mapping.js';
import { WmiHypervisor, type WmiNode } from './wmi-hypervisor.js';
import { asArray } from './wmi-shapes.js';

/** One line of `hvsnap doctor`: what was checked, whether it passed, and what was seen. */
export interface HostCheck {
  /** e.g. `HV01: reachable` */
  name: string;
  ok: boolean;
  detail: string;
  /** a finding that does not stop backups (e.g. an old VM configuration version) */
  warning?: boolean;
}

interface ProbeAnswer {
  ComputerName: string;
  PowerShell: string;
  UserName: string;
  IsAdministrator: boolean;
  IsHyperVAdministrator: boolean;
  Os?: string | null;
  OsBuild?: string | null;
  VmmsStatus: string;
  HyperVModule: boolean;
  Namespace: string;
  Cluster?: string | null;
  Vms?: Array<{ Name: string; ElementName: string; Version: string }> | { Name: string; ElementName: string; Version: string } | null;
  VmError?: string;
  /** class name → instance count ("1") or the error getting it */
  Services?: Record<string, string> | null;
  /** MSCluster_Node: State 0 Up, 1 Down, 2 Paused, 3 Joining (CLUSWMI) */
  ClusterNodes?: Array<{ Name: string; State: number }> | { Name: string; State: number } | null;
}

const NODE_STATES = ['up', 'down', 'paused', 'joining'];
const MANAGEMENT_CLASSES = [
  'Msvm_VirtualSystemManagementService',
  'Msvm_VirtualSystemSnapshotService',
  'Msvm_VirtualSystemReferencePointService',
  'Msvm_ImageManagementService',
];

/** Windows Server 2016 is build 14393: the first with recovery checkpoints, reference points and RCT. */
const MIN_BUILD = 14393;

/**
 * Checks each Hyper-V host the way `hvsnap doctor` reports it: reachable, authenticated, rights,
 * Hyper-V service and WMI namespace, OS build, VM configuration versions and, for the VMs named in
 * `vmNames`, that every disk maps to an array LUN identity. Never throws for a failed check.
 */
export async function checkHyperVHost(
  args: { nodes: WmiNode[]; vmNames?: string[]; timeoutMs?: number },
  opts: CallOptions & { logger?: Logger } = {},
): Promise<HostCheck[]> {
  const checks: HostCheck[] = [];
  const reachable: WmiNode[] = [];
  const clusters = new Map<string, Array<{ Name: string; State: number }>>();
  for (const node of args.nodes) {
    const at = (what: string) => `${node.name}: ${what}`;
    let probe: ProbeAnswer;
    try {
      probe = await node.shell.run<ProbeAnswer>(
        { name: 'probe-host.ps1', script: loadScript('probe-host.ps1'), input: {} },
        { signal: opts.signal, timeoutMs: args.timeoutMs ?? 120_000 },
      );
    } catch (e) {
      const code = isHvsnapError(e) ? e.code : 'internal';
      const message = e instanceof Error ? e.message : String(e);
      if (code === 'access_denied') {
        checks.push({ name: at('reachable'), ok: true, detail: node.shell.target }, { name: at('authenticated'), ok: false, detail: message });
      } else {
        checks.push({ name: at('reachable'), ok: false, detail: `${code}: ${message}` });
      }
      continue;
    }
    reachable.push(node);
    checks.push({ name: at('reachable'), ok: true, detail: `${node.shell.target} (computer ${probe.ComputerName}, PowerShell ${probe.PowerShell})` });
    checks.push({ name: at('authenticated'), ok: true, detail: probe.UserName });
    if (probe.ComputerName && probe.ComputerName.toLowerCase() !== node.name.toLowerCase()) {
      checks.push({
        name: at('node name'),
        ok: false,
        detail: `the host calls itself ${probe.ComputerName}; set nodes[].name to it (VMs report their owner by computer name)`,
      });
    }
    checks.push({
      name: at('rights'),
      ok: probe.IsAdministrator || probe.IsHyperVAdministrator,
      detail: probe.IsAdministrator
        ? 'member of Administrators (elevated)'
        : probe.IsHyperVAdministrator
          ? 'member of Hyper-V Administrators (enough for the WMI backup methods is UNCONFIRMED; Administrators is known to work)'
          : `${probe.UserName} is neither an elevated Administrator nor in Hyper-V Administrators`,
      warning: !probe.IsAdministrator && probe.IsHyperVAdministrator,
    });
    checks.push({
      name: at('Hyper-V'),
      ok: probe.VmmsStatus === 'Running' && probe.Namespace === 'ok',
      detail: `vmms service ${probe.VmmsStatus}; root\\virtualization\\v2 ${probe.Namespace}; Hyper-V module ${probe.HyperVModule ? 'present' : 'missing'}`,
    });
    const services = probe.Services ?? {};
    const bad = MANAGEMENT_CLASSES.filter((c) => services[c] !== '1');
    checks.push({
      name: at('management classes'),
      ok: bad.length === 0,
      detail: bad.length ? bad.map((c) => `${c}: ${services[c] ?? 'not reported'}`).join('; ') : `${MANAGEMENT_CLASSES.length} answer (one instance each)`,
    });
    if (probe.Cluster) clusters.set(probe.Cluster, asArray(probe.ClusterNodes));
    const build = parseInt(probe.OsBuild ?? '', 10);
    checks.push({
      name: at('Hyper-V version'),
      ok: Number.isFinite(build) && build >= MIN_BUILD,
      detail: `${probe.Os ?? 'unknown OS'} build ${probe.OsBuild ?? '?'}${Number.isFinite(build) && build < MIN_BUILD ? ': Windows Server 2016 (build 14393) or later is needed' : ''}${probe.Cluster ? `; cluster ${probe.Cluster}` : ''}`,
    });
    const vms = asArray(probe.Vms);
    const old = vms.filter((v) => !supportsRct(v.Version));
    checks.push({
      name: at('VM configuration versions'),
      ok: !probe.VmError,
      warning: old.length > 0,
      detail: probe.VmError
        ? probe.VmError
        : old.length
          ? `${vms.length} VMs; below 8.0 (full backups only, no RCT): ${old.map((v) => `${v.ElementName} ${v.Version}`).join(', ')}`
          : `${vms.length} VMs, all at 8.0 or later`,
    });
  }
  // every node of each cluster seen: configured, answering, up (a paused or draining node fails calls of the VMs it owns)
  for (const [cluster, members] of clusters) {
    for (const m of members) {
      const configured = args.nodes.find((n) => n.name.toLowerCase() === m.Name.toLowerCase());
      const answered = configured && reachable.includes(configured);
      const state = NODE_STATES[m.State] ?? `state ${m.State}`;
      checks.push({
        name: `${cluster}: node ${m.Name}`,
        ok: !!answered && m.State === 0,
        detail: !configured ? `${state}; not in hypervisor.nodes: its VMs cannot be backed up` : !answered ? `${state}; did not answer` : state,
      });
    }
  }
  if (args.vmNames?.length && reachable.length) {
    const hv = new WmiHypervisor({ nodes: reachable, logger: opts.logger ?? silentLogger });
    try {
      const vms = await hv.listVms({ names: args.vmNames }, opts);
      for (const vm of vms) {
        for (const disk of vm.disks) {
          try {
            const loc = await hv.resolveVolume({ path: disk.path }, opts);
            checks.push({
              name: `${vm.host}: disk of ${vm.name}`,
              ok: true,
              detail: `${disk.path} → ${loc.identity.kind} ${loc.identity.id}${loc.identity.serial ? ` (serial ${loc.identity.serial})` : ''} at ${loc.volumeRoot}`,
            });
          } catch (e) {
            checks.push({ name: `${vm.host}: disk of ${vm.name}`, ok: false, detail: `${disk.path}: ${e instanceof Error ? e.message : String(e)}` });
          }
        }
        checks.push(await referencePointCheck(hv, vm, opts));
      }
    } catch (e) {
      checks.push({ name: 'VMs to back up', ok: false, detail: e instanceof Error ? e.message : String(e) });
    }
  }
  return checks;
}

/** The reference points hvsnap left on a VM must carry an RCT id for every disk, else its backups stay full. */
async function referencePointCheck(
  hv: WmiHypervisor,
  vm: { id: string; name: string; host: string; disks: Array<{ id: string }> },
  opts: CallOptions,
): Promise<HostCheck> {
  const name = `${vm.host}: reference points of ${vm.name}`;
  try {
    const rps = (await hv.listReferencePoints({ vmId: vm.id }, opts)).filter((rp) => rp.name);
    if (!rps.length) return { name, ok: true, detail: 'none yet (the first backup is full)' };
    const lacking = rps.flatMap((rp) =>
      vm.disks.filter((d) => !rp.disks.some((x) => WmiHypervisor.sameSlot(x.diskId, d.id) && x.rctId)).map((d) => `${rp.name}: ${d.id}`),
    );
    return lacking.length
      ? {
          name,
          ok: false,
          detail: `no RCT id for ${lacking.join(', ')}: those disks get full backups; check that change tracking is on (configuration version 8.0+)`,
        }
      : { name, ok: true, detail: `${rps.length} with an RCT id for each of ${vm.disks.length} disk(s)` };
  } catch (e) {
    return { name, ok: false, detail: e instanceof Error ? e.message : String(e) };
  }
}
