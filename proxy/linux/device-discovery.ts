import { promises as fs } from 'node:fs';
import path from 'node:path';
import { HvsnapError, throwIfAborted } from '../../src/core/errors.js';
import type { Logger } from '../../src/core/logger.js';
import type { CallOptions, VolumeIdentity } from '../../src/core/types.js';
import type { PresentationTarget, PresentedLun } from '../../providers/sdk/provider.js';
import { systemClock } from '../data-mover-io.js';
import { normalizeIdentityId } from '../mount-map.js';
import type { CommandRunner } from './command-runner.js';
import type { LinuxProxyConfig } from './config.js';

/**
 * How the Linux proxy finds the block device of a presented LUN, as a narrow interface: the
 * default looks in /dev/disk/by-id after a SCSI rescan (and iSCSI login); tests map identities
 * to loop devices of image files.
 */
export interface DeviceDiscovery {
  /**
   * Makes newly presented LUNs visible (bus rescan, iSCSI login to the presentation's target).
   * Called once per attach. May be retried.
   */
  rescan(args: { luns: readonly PresentedLun[]; target?: PresentationTarget }, opts?: CallOptions): Promise<void>;
  /** The block device (`/dev/sdc`, `/dev/loop3`) of the LUN, waiting for it to appear; `not_found` after the timeout. */
  locate(args: { lun: PresentedLun }, opts?: CallOptions): Promise<string>;
  /** Forgets the device after it was unmounted. MUST be idempotent (a device already gone is success). */
  release(args: { identity: VolumeIdentity; device: string }, opts?: CallOptions): Promise<void>;
}

/** The by-id names a LUN identity may appear under, most specific (multipath) first. */
export function byIdCandidates(identity: VolumeIdentity): string[] {
  const id = normalizeIdentityId(identity.id);
  switch (identity.kind) {
    case 'naa':
      return [`dm-uuid-mpath-3${id}`, `wwn-0x${id}`, `scsi-3${id}`];
    case 'eui':
      return [`nvme-eui.${id}`, `wwn-0x${id}`, `scsi-2${id}`];
    case 'serial':
      return [];
  }
}

/** The default discovery: SCSI rescan through sysfs, optional iSCSI login, then /dev/disk/by-id. */
export function createByIdDiscovery(deps: {
  config: LinuxProxyConfig;
  runner: CommandRunner;
  logger: Logger;
  /** for tests: a different /sys */
  sysRoot?: string;
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
}): DeviceDiscovery {
  const { config, runner, logger } = deps;
  const sys = deps.sysRoot ?? '/sys';
  const sleep = deps.sleep ?? systemClock.sleep;
  const byIdDir = config.discovery.byIdDir;

  /** Logs in to the target the array named in the presentation; the static `iscsi` config only when it named none. */
  async function iscsiLogin(target: PresentationTarget | undefined, opts: CallOptions): Promise<void> {
    const fromTarget =
      target?.transport === 'iscsi' && target.portals?.length ? { portals: target.portals, targets: target.iqns?.length ? target.iqns : undefined } : undefined;
    const iscsi = fromTarget ?? (target && target.transport !== 'iscsi' ? undefined : config.iscsi);
    if (!iscsi) return;
    for (const portal of iscsi.portals) {
      await runner.run({ command: 'iscsiadm', args: ['-m', 'discovery', '-t', 'sendtargets', '-p', portal] }, opts);
      const targets = iscsi.targets ?? [undefined];
      for (const target of targets) {
        const args = ['-m', 'node', '-p', portal, ...(target ? ['-T', target] : []), '--login'];
        try {
          await runner.run({ command: 'iscsiadm', args }, opts);
        } catch (e) {
          // exit code 15: a session to that target is already logged in, which is what we want
          if ((e as HvsnapError).context?.exitCode !== 15) throw e;
        }
      }
    }
    await runner.run({ command: 'iscsiadm', args: ['-m', 'session', '--rescan'] }, opts);
  }

  async function findInById(identity: VolumeIdentity): Promise<string | undefined> {
    let names: string[];
    try {
      names = await fs.readdir(byIdDir);
    } catch {
      return undefined; // no by-id folder yet: nothing has appeared
    }
    const wanted = byIdCandidates(identity);
    let hit = wanted.find((w) => names.includes(w));
    if (!hit && (identity.kind === 'serial' || identity.serial)) {
      const serial = (identity.kind === 'serial' ? identity.id : identity.serial!).toLowerCase();
      hit = names.find((n) => !/-part\d+$/.test(n) && n.toLowerCase().endsWith(`_${serial}`));
    }
    return hit ? fs.realpath(path.join(byIdDir, hit)) : undefined;
  }

  return {
    async rescan(args, opts = {}) {
      await iscsiLogin(args.target, opts);
      if (!config.discovery.scsiRescan) return;
      const hostsDir = path.join(sys, 'class/scsi_host');
      const hosts = await fs.readdir(hostsDir).catch(() => [] as string[]);
      for (const host of hosts) {
        throwIfAborted(opts.signal);
        await fs.writeFile(path.join(hostsDir, host, 'scan'), '- - -').catch((e: unknown) => {
          logger.warn({ host, err: (e as Error).message }, 'SCSI rescan of one host failed; continuing');
        });
      }
    },

    async locate({ lun }, opts = {}) {
      const deadline = Date.now() + config.discovery.timeoutMs;
      for (;;) {
        throwIfAborted(opts.signal);
        const device = await findInById(lun.identity);
        if (device) return device;
        if (Date.now() >= deadline) {
          throw new HvsnapError(
            'not_found',
            `presented LUN ${lun.identity.kind}:${lun.identity.id} did not appear in ${byIdDir} within ${config.discovery.timeoutMs} ms`,
            {
              context: { volume: lun.identity.id, step: 'locate', path: byIdDir },
              hint: `looked for ${[...byIdCandidates(lun.identity), lun.identity.serial ? `*_${lun.identity.serial}` : ''].filter(Boolean).join(', ')}; check the array's host mapping (initiator IQN/WWN) and zoning`,
            },
          );
        }
        await sleep(config.discovery.pollMs, opts.signal);
      }
    },

    async release({ identity, device }) {
      const name = path.basename(device);
      if (!config.discovery.deleteDeviceOnDetach || !/^sd[a-z]+$/.test(name)) return;
      // after a reboot the name may belong to another disk: only delete what still is this LUN
      const current = await findInById(identity);
      if (current !== device) {
        logger.warn({ device, volume: identity.id, current }, 'device no longer belongs to this LUN; not removing it');
        return;
      }
      const deleteFile = path.join(sys, 'block', name, 'device/delete');
      try {
        await fs.writeFile(deleteFile, '1');
        logger.debug({ device, volume: identity.id }, 'SCSI device removed');
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'ENOENT') return; // already gone
        throw new HvsnapError('proxy_failed', `could not remove SCSI device ${device} of LUN ${identity.id} through ${deleteFile}: ${(e as Error).message}`, {
          cause: e,
          context: { volume: identity.id, path: deleteFile, step: 'release' },
        });
      }
    },
  };
}
