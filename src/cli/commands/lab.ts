import { Command } from 'commander';
import { createLab, labSettle, labWrite, loadLabState, updateLabState, type LabOp } from '../../lab/index.js';
import { HvsnapError } from '../../core/errors.js';
import { formatBytes, parseCount, parseSize, table } from '../format.js';
import type { CommandModule } from '../program.js';

const OPS: LabOp[] = ['createCheckpoint', 'exportConfiguration', 'changedRanges', 'convertToReferencePoint', 'deleteCheckpoint', 'importVm'];

export const labCommand: CommandModule = (kit) => {
  const lab = new Command('lab').description('the lab: a simulated Hyper-V host and array on local files');
  lab
    .command('init')
    .description('create a lab: volumes, VMs with real VHDX disks filled with data')
    .requiredOption('--dir <dir>', 'lab folder (empty or missing)')
    .option('--vms <n>', 'number of VMs', '6')
    .option('--volumes <n>', 'number of volumes', '2')
    .option('--disks-per-vm <n>', 'disks per VM', '1')
    .option('--disk-size <size>', 'virtual size of each disk', '64MiB')
    .option('--data <size>', 'data written into each disk', '16MiB')
    .option('--group <name=vm1,vm2>', 'a VM group (repeatable)', (v: string, prev: string[]) => [...prev, v], [] as string[])
    .action(
      kit.action<{ dir: string; vms: string; volumes: string; disksPerVm: string; diskSize: string; data: string; group: string[] }>(async ({ opts }) => {
        const groups: Record<string, string[]> = {};
        for (const g of opts.group) {
          const [name, members] = g.split('=');
          if (!name || !members) throw new HvsnapError('input_invalid', `--group "${g}" must look like name=vm-01,vm-02`, { context: { field: '--group' } });
          groups[name] = members.split(',');
        }
        const s = await createLab({
          dir: opts.dir,
          vms: parseCount(opts.vms, '--vms', 1),
          volumes: parseCount(opts.volumes, '--volumes', 1),
          disksPerVm: parseCount(opts.disksPerVm, '--disks-per-vm', 1),
          diskSizeBytes: parseSize(opts.diskSize, '--disk-size'),
          dataBytes: parseSize(opts.data, '--data'),
          groups,
        });
        return { data: s, text: `lab created in ${opts.dir}: ${s.vms.length} VMs on ${s.volumes.length} volumes, ${s.groups.length} group(s)` };
      }),
    );
  lab
    .command('write')
    .description("random writes into a VM's disks (safe while a backup runs)")
    .requiredOption('--dir <dir>', 'lab folder')
    .requiredOption('--vm <name>', 'VM name or id')
    .option('--count <n>', 'number of writes', '16')
    .option('--size <size>', 'bytes per write (multiple of 4 KiB)', '64KiB')
    .option('--seed <n>', 'random seed')
    .action(
      kit.action<{ dir: string; vm: string; count: string; size: string; seed?: string }>(async ({ opts }) => {
        const r = await labWrite({
          dir: opts.dir,
          vm: opts.vm,
          count: parseCount(opts.count, '--count', 1),
          sizeBytes: parseSize(opts.size, '--size'),
          seed: opts.seed ? parseCount(opts.seed, '--seed') : undefined,
        });
        return { data: r, text: `${r.writes.length} writes into ${r.vm}, ${formatBytes(r.writes.reduce((n, w) => n + w.length, 0))}` };
      }),
    );
  lab
    .command('settle')
    .description('merge deferred AVHDX files into their base disks')
    .requiredOption('--dir <dir>', 'lab folder')
    .action(kit.action<{ dir: string }>(async ({ opts }) => (await labSettle(opts.dir), { data: { settled: true }, text: 'settled' })));
  lab
    .command('show')
    .description('VMs, volumes, checkpoints and reference points of a lab')
    .requiredOption('--dir <dir>', 'lab folder')
    .action(
      kit.action<{ dir: string }>(async ({ opts }) => {
        const s = await loadLabState(opts.dir);
        const text = [
          table(
            ['VM', 'id', 'volume', 'disks', 'checkpoints', 'reference points'],
            s.vms.map((v) => [
              v.name,
              v.id,
              [...new Set(v.disks.map((d) => d.volume))].join(','),
              v.disks.length,
              s.checkpoints.filter((c) => c.vmId === v.id).length,
              s.referencePoints.filter((r) => r.vmId === v.id).length,
            ]),
          ),
          `groups: ${s.groups.map((g) => g.name).join(', ') || 'none'}; armed faults: ${s.faults.failures.length}`,
        ].join('\n');
        return { data: s, text };
      }),
    );
  lab
    .command('fault')
    .description("arm a failure of a host operation (or make a VM's guest refuse application consistency)")
    .requiredOption('--dir <dir>', 'lab folder')
    .option('--op <op>', `operation to fail: ${OPS.join(', ')}`)
    .option('--vm <name>', 'only for this VM')
    .option('--times <n>', 'how many times', '1')
    .option('--no-app-consistency', "the VM's guest cannot give application consistency (with --vm)")
    .action(
      kit.action<{ dir: string; op?: string; vm?: string; times: string; appConsistency: boolean }>(async ({ opts }) => {
        await updateLabState(opts.dir, (s) => {
          if (opts.appConsistency === false) {
            if (!opts.vm) throw new HvsnapError('input_invalid', '--no-app-consistency needs --vm', { context: { field: '--vm' } });
            s.faults.appConsistencyFails.push(opts.vm);
          }
          if (opts.op) {
            if (!OPS.includes(opts.op as LabOp))
              throw new HvsnapError('input_invalid', `--op "${opts.op}" is not one of ${OPS.join(', ')}`, { context: { field: '--op' } });
            s.faults.failures.push({ op: opts.op as LabOp, vm: opts.vm, times: parseCount(opts.times, '--times', 1) });
          }
        });
        return { data: { armed: true }, text: 'armed' };
      }),
    );
  return lab;
};
