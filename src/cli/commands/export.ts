import { Command } from 'commander';
import { exportWithConfig } from '../../job/index.js';
import type { ExportVmResult } from '../../restore/export-vm.js';
import { formatBytes } from '../format.js';
import type { CommandResult } from '../io.js';
import type { ActionContext, CommandModule } from '../program.js';
import { progressReporter } from '../progress.js';

/** What `hvsnap export` (and `restore` without `--import`) prints. */
export function renderExport(r: ExportVmResult): string {
  return [
    `exported ${r.vm} from ${r.restorePointId} to ${r.dir}:`,
    ...r.configFiles.map((f) => `  ${f}`),
    ...r.disks.map((d) => `  ${d.target}  ${formatBytes(d.virtualSize)}  ${d.sha256 ? `sha256 ${d.sha256}  verified` : ''}`),
    `import it on a Hyper-V host with: Import-VM -Path '<folder>\\Virtual Machines\\<id>.vmcx' -Copy -GenerateNewId`,
  ].join('\n');
}

/** `hvsnap export`, and `hvsnap restore` without `--import`: the export with progress, and what it prints. */
export async function runExport(
  opts: { config: string; restorePoint: string; to: string; verify: boolean },
  { logger, io, signal }: Pick<ActionContext<unknown>, 'logger' | 'io' | 'signal'>,
): Promise<CommandResult> {
  const progress = progressReporter({ stream: io.stderr, logger });
  const r = await exportWithConfig({
    config: opts.config,
    restorePointId: opts.restorePoint,
    to: opts.to,
    verify: opts.verify,
    logger,
    signal,
    onProgress: (p) => progress.update(p.disk, p.doneBytes, p.totalBytes),
  });
  progress.end();
  return { data: r, text: renderExport(r) };
}

export const exportCommand: CommandModule = (kit) =>
  new Command('export')
    .description("write a restore point in Hyper-V's export layout (Virtual Machines/, Virtual Hard Disks/), for Import-VM on any host")
    .requiredOption('-c, --config <file>', 'job configuration (YAML)')
    .requiredOption('--restore-point <id>', 'restore point id (see "hvsnap list")')
    .requiredOption('--to <dir>', 'export folder; the VM gets <dir>/<VM name>/')
    .option('--verify', 'read each written disk back and check it against the restore point (its chunks are checked as they are read anyway)', false)
    .action(kit.action<{ config: string; restorePoint: string; to: string; verify: boolean }>(({ opts, ...ctx }) => runExport(opts, ctx)));
