import { HvsnapError } from '../core/errors.js';
import type { CallOptions, VmGroup, VmInfo } from '../core/types.js';
import type { Hypervisor } from '../hyperv/hypervisor.js';
import type { Provider } from '../../providers/sdk/provider.js';
import { providerErrorKind } from '../../providers/sdk/errors.js';
import { planBackup, type BackupPlan, type VolumeSet } from './plan.js';
import type { BackupPolicy } from './types.js';

/**
 * The plan of a job in any mode. `host`: every VM (or VM group) is a set of its own, read over
 * SFTP from its node, and no volume is resolved. Otherwise the volume-set plan; with
 * `hostFallback`, a set whose volumes the provider does not own, or a VM whose disks are on no
 * array volume at all (a local disk, Storage Spaces Direct), goes to host mode instead of failing.
 */
export async function planSets(
  args: {
    hypervisor: Hypervisor;
    /** asked which volumes it owns, with `hostFallback` only (a dry run without it passes none) */
    provider?: Pick<Provider, 'resolveVolumes'>;
    vms: VmInfo[];
    groups: VmGroup[];
    allVms?: VmInfo[];
    policy: Pick<BackupPolicy, 'mode' | 'hostFallback'>;
  },
  opts?: CallOptions,
): Promise<BackupPlan> {
  if (args.policy.mode === 'host') return { sets: numbered(hostSets(args.vms, args.groups)), unplaced: [] };
  const plan = await planBackup(args, opts);
  if (!args.policy.hostFallback) return plan;
  if (!args.provider) throw new HvsnapError('internal', 'policy.hostFallback needs the provider to tell which volumes it owns');
  const keep: VolumeSet[] = [];
  const toHost: VmInfo[] = [];
  for (const set of plan.sets) {
    if (await providerOwns(args.provider, set, opts)) keep.push(set);
    else toHost.push(...set.vms);
  }
  const unplaced = plan.unplaced.filter((u) => {
    // only "on no array volume" goes to host mode; a VM without disks, or any other error, still fails
    const onNoVolume = u.error.code === 'not_found' && u.vm.disks.length > 0;
    if (onNoVolume) toHost.push(u.vm);
    return !onNoVolume;
  });
  return { sets: numbered([...keep, ...hostSets(toHost, args.groups)]), unplaced };
}

/** True when the provider finds every volume of the set; `not_found` is "no, read it from the host". */
async function providerOwns(provider: Pick<Provider, 'resolveVolumes'>, set: VolumeSet, opts?: CallOptions): Promise<boolean> {
  try {
    await provider.resolveVolumes({ identities: set.volumes.map((v) => v.identity) }, opts);
    return true;
  } catch (e) {
    if (providerErrorKind(e) === 'not_found') return false;
    throw e;
  }
}

/** One host-mode set per VM, or per VM group (its members are checkpointed together). */
function hostSets(vms: VmInfo[], groups: VmGroup[]): VolumeSet[] {
  const sets: VolumeSet[] = [];
  const placed = new Set<string>();
  for (const vm of [...vms].sort((a, b) => a.name.localeCompare(b.name))) {
    if (placed.has(vm.id)) continue;
    const group = groups.find((g) => g.vmIds.includes(vm.id));
    const members = group ? vms.filter((v) => group.vmIds.includes(v.id)) : [vm];
    for (const m of members) placed.add(m.id);
    sets.push({ index: 0, vms: members, volumes: [], groups: group ? [group.name] : [], disks: {}, mode: 'host' });
  }
  return sets;
}

function numbered(sets: VolumeSet[]): VolumeSet[] {
  sets.forEach((s, i) => (s.index = i + 1));
  return sets;
}
