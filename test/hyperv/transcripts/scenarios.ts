import { WmiHypervisor, type WmiNode } from '../../../src/hyperv/wmi-hypervisor.js';
import type { Transcript } from '../../../src/transport/transcript.js';
import { SimulatedHost } from '../simulated-host.js';

/**
 * The call sequences the transcripts hold, each a contract of WmiHypervisor: the same steps run once
 * against the simulated host (recording) and once against a transcript (replay). Names the host cannot
 * know (checkpoint names, the import's name) are taken from the transcript on replay, so a transcript
 * recorded on a real host, anonymized or not, drops in with no code change. `between` lets the
 * recording host change between calls (guest writes, a live migration); a replay ignores it.
 */
export interface Scenario {
  /** node names of a recording; a replay uses the transcript's targets */
  nodes: string[];
  /** the simulated hosts of a recording, one per node */
  hosts(): SimulatedHost[];
  run(hv: WmiHypervisor, names: NameSource, between: (step: string) => void): Promise<unknown[]>;
}

/** Checkpoint and import names: recorded ones on replay, the given defaults when recording. */
export interface NameSource {
  checkpoint(n: number, fallback: string): string;
  importName(fallback: string): string;
  /** where the restored disks are (caller-chosen paths) */
  restorePaths(fallback: Record<string, string>): Record<string, string>;
}

export function namesFrom(t: Transcript | undefined): NameSource {
  const inputs = (script: string) =>
    (t?.entries ?? []).filter((e) => e.script === script && !(e.input as { snapshotId?: string }).snapshotId).map((e) => e.input as { name?: string });
  return {
    checkpoint: (n, fallback) => inputs('create-checkpoint.ps1')[n]?.name ?? fallback,
    importName: (fallback) => inputs('import-vm.ps1')[0]?.name ?? fallback,
    restorePaths: (fallback) => (inputs('import-vm.ps1')[0] as { diskPaths?: Record<string, string> } | undefined)?.diskPaths ?? fallback,
  };
}

function oneHost(): SimulatedHost[] {
  const host = new SimulatedHost('HV01').addVolume({ root: 'C:\\ClusterStorage\\Volume1' });
  host.addVm('sql01', { disks: 2 });
  return [host];
}

export const scenarios: Record<string, Scenario> = {
  /** create → export → convert (full) → writes → create → changes → convert → list → delete → leftovers */
  'backup-cycle': {
    nodes: ['HV01'],
    hosts: oneHost,
    async run(hv, names, between) {
      const [vm] = await hv.listVms({});
      const cp1 = await hv.createCheckpoint({ vmId: vm.id, name: names.checkpoint(0, 'hvsnap:job-1:sql01'), consistency: 'application' });
      const config = await hv.exportConfiguration({ checkpoint: cp1 });
      const rp1 = await hv.convertToReferencePoint({ checkpoint: cp1 });
      between('guest writes');
      const cp2 = await hv.createCheckpoint({ vmId: vm.id, name: names.checkpoint(1, 'hvsnap:job-2:sql01'), consistency: 'crash' });
      const ranges = [];
      for (const d of rp1.disks) ranges.push(await hv.changedRanges({ checkpoint: cp2, diskId: d.diskId, sinceRctId: d.rctId }));
      const rp2 = await hv.convertToReferencePoint({ checkpoint: cp2 });
      const listed = await hv.listReferencePoints({ vmId: vm.id });
      await hv.deleteReferencePoint({ vmId: vm.id, referencePointId: rp1.id });
      const left = await hv.listLeftovers({ tagPrefix: 'hvsnap:' });
      return [
        vm,
        cp1.disks,
        config.map((f) => f.name),
        rp1.disks.length,
        ranges,
        rp2.disks.length,
        listed.map((r) => r.id),
        left.referencePoints.map((r) => r.id),
      ];
    },
  },
  /** a restore beside the original: import with a new id */
  'import-new-id': {
    nodes: ['HV01'],
    hosts: oneHost,
    async run(hv, names) {
      const [vm] = await hv.listVms({});
      const cp = await hv.createCheckpoint({ vmId: vm.id, name: names.checkpoint(0, 'hvsnap:job-3:sql01'), consistency: 'crash' });
      const config = await hv.exportConfiguration({ checkpoint: cp });
      await hv.deleteCheckpoint({ vmId: vm.id, checkpointId: cp.id });
      const diskPaths = names.restorePaths(Object.fromEntries(cp.disks.map((d, i) => [d.diskId, `D:\\Restore\\sql01-${i}.vhdx`])));
      const copy = await hv.importVm({ config, diskPaths, newId: true, name: names.importName('sql01-restored') });
      return [copy.id !== vm.id, copy.disks.map((d) => d.path)];
    },
  },
  /** a restore in place of a VM that is gone: import with the same id */
  'import-same-id': {
    nodes: ['HV01'],
    hosts: oneHost,
    async run(hv, names, between) {
      const [vm] = await hv.listVms({});
      const cp = await hv.createCheckpoint({ vmId: vm.id, name: names.checkpoint(0, 'hvsnap:job-4:sql01'), consistency: 'crash' });
      const config = await hv.exportConfiguration({ checkpoint: cp });
      await hv.deleteCheckpoint({ vmId: vm.id, checkpointId: cp.id });
      between('the VM is deleted');
      const diskPaths = names.restorePaths(Object.fromEntries(cp.disks.map((d, i) => [d.diskId, `C:\\ClusterStorage\\Volume1\\restore\\sql01-${i}.vhdx`])));
      const back = await hv.importVm({ config, diskPaths, newId: false });
      return [back.id === vm.id, back.disks.map((d) => d.path)];
    },
  },
  /** two nodes; the VM migrates between the checkpoint and its deletion */
  'cluster-migration': {
    nodes: ['HV01', 'HV02'],
    hosts() {
      const a = new SimulatedHost('HV01').addVolume({ root: 'C:\\ClusterStorage\\Volume1' });
      const b = new SimulatedHost('HV02').addVolume({ root: 'C:\\ClusterStorage\\Volume1' });
      a.addVm('web01');
      b.addVm('sql01', { disks: 2 });
      return [a, b];
    },
    async run(hv, names, between) {
      const vms = await hv.listVms({});
      const sql = vms.find((v) => v.disks.length === 2)!;
      const cp = await hv.createCheckpoint({ vmId: sql.id, name: names.checkpoint(0, 'hvsnap:job-5:sql01'), consistency: 'crash' });
      between('live migration');
      await hv.deleteCheckpoint({ vmId: sql.id, checkpointId: cp.id });
      const left = await hv.listLeftovers({ tagPrefix: 'hvsnap:' });
      return [vms.map((v) => v.host), left.checkpoints.length];
    },
  },
};

/** What a recording host does between steps. */
export function recordingHooks(name: string, hosts: SimulatedHost[]): (step: string) => void {
  return (step) => {
    if (name === 'backup-cycle' && step === 'guest writes') {
      hosts[0].write('sql01', 0, 1 << 20, 65536);
      hosts[0].write('sql01', 1, 0, 4096);
    }
    if (name === 'import-same-id' && step === 'the VM is deleted') hosts[0].vms.splice(0, hosts[0].vms.length);
    if (name === 'cluster-migration' && step === 'live migration') hosts[1].migrate('sql01', hosts[0]);
  };
}

/** A WmiHypervisor over the given nodes, with the options every transcript was made with (the defaults). */
export function hypervisorOver(nodes: WmiNode[]): WmiHypervisor {
  return new WmiHypervisor({ nodes });
}
