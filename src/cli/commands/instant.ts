import { Command } from 'commander';
import type { Logger } from '../../core/logger.js';
import { commitInstantWithConfig, discardInstantWithConfig, instantRestoreWithConfig, listInstantWithConfig } from '../../job/index.js';
import type { InstantSession } from '../../restore/instant/instant-sessions.js';
import type { CommandModule } from '../program.js';

function renderSession(s: InstantSession & { ownerAlive?: boolean }): string {
  const where = s.luns
    .map((l) => l.volumeRoot)
    .filter(Boolean)
    .join(', ');
  return `${s.id}  ${s.phase}  VM ${s.vm.name}${s.vm.id ? ` (${s.vm.id})` : ''} on ${s.host}${where ? ` from ${where}` : ''}  restore point ${s.restorePointId}${s.ownerAlive === false && s.phase !== 'ready' ? '  (its process died: "hvsnap cleanup" finishes it)' : ''}`;
}

/** `hvsnap restore --instant …`: called by the restore command. */
export async function runInstantRestore(
  opts: { config: string; restorePoint: string; host: string; newId?: boolean; name?: string; start: boolean },
  logger: Logger,
  signal: AbortSignal,
) {
  const s = await instantRestoreWithConfig({
    config: opts.config,
    logger,
    signal,
    restorePointId: opts.restorePoint,
    hostName: opts.host,
    newId: opts.newId,
    name: opts.name,
    start: opts.start,
  });
  return {
    data: s,
    text: `instant restore ${s.id}: VM ${s.vm.name} (${s.vm.id}) on ${s.host}${s.vm.started ? ', running' : ''}, its disks on the array clone\nkeep it: hvsnap instant commit ${s.id} --to <host folder>; drop it: hvsnap instant discard ${s.id}`,
  };
}

export const instantCommand: CommandModule = (kit) => {
  const cmd = new Command('instant').description(
    'VMs running from array clones after "hvsnap restore --instant": list, commit (move to production storage) or discard',
  );
  cmd.addCommand(
    new Command('list')
      .description('instant restores in progress or running')
      .requiredOption('-c, --config <file>', 'job configuration (YAML)')
      .action(
        kit.action<{ config: string }>(async ({ opts, logger }) => {
          const sessions = await listInstantWithConfig({ config: opts.config, logger });
          return { data: sessions, text: sessions.length ? sessions.map(renderSession).join('\n') : 'no instant restores' };
        }),
      ),
  );
  cmd.addCommand(
    new Command('commit')
      .description('keep the VM: move its storage to --to while it runs, then unpresent and delete the clone')
      .argument('<id>', 'instant restore id (see "hvsnap instant list")')
      .requiredOption('-c, --config <file>', 'job configuration (YAML)')
      .requiredOption('--to <dir>', 'production folder as the host sees it, e.g. C:\\ClusterStorage\\Volume1\\VMs\\name')
      .action(
        kit.action<{ config: string; to: string }>(async ({ opts, args, logger, signal }) => {
          const s = await commitInstantWithConfig({ config: opts.config, logger, signal, id: args[0], destinationDir: opts.to });
          return { data: s, text: `committed ${s.id}: VM ${s.vm.name} now on ${opts.to}; the clone is gone` };
        }),
      ),
  );
  cmd.addCommand(
    new Command('discard')
      .description('drop the VM: stop and remove it, unpresent and delete the clone')
      .argument('<id>', 'instant restore id (see "hvsnap instant list")')
      .requiredOption('-c, --config <file>', 'job configuration (YAML)')
      .action(
        kit.action<{ config: string }>(async ({ opts, args, logger, signal }) => {
          const s = await discardInstantWithConfig({ config: opts.config, logger, signal, id: args[0] });
          return { data: s, text: `discarded ${s.id}: VM ${s.vm.name} removed, the clone is gone` };
        }),
      ),
  );
  return cmd;
};
