import path from 'node:path';
import { HvsnapError, throwIfAborted, toHvsnapError } from '../../src/core/errors.js';
import { configError } from '../../src/core/config-error.js';
import { silentLogger, type Logger } from '../../src/core/logger.js';
import type { CallOptions } from '../../src/core/types.js';
import type { Shell } from '../../src/transport/shell.js';
import type { PresentedLun } from '../../providers/sdk/provider.js';
import { systemClock } from '../data-mover-io.js';
import { normalizeIdentityId, safeName } from '../mount-map.js';
import type { AttachedVolume, Attachment, Proxy } from '../proxy.js';
import { createMount } from '../mount.js';
import { windowsProxyConfigSchema, type WindowsProxyConfig, type WindowsProxyConfigInput } from './config.js';
import { checkDiskOnTarget, checkDiskUsable, diskMatches, pickWindowsPartition, type WindowsDisk, type WindowsPartition } from './disk-policy.js';
import { loadWindowsScript, type WindowsProxyScript } from './scripts.js';
import { iscsiPlan, iscsiRecordFile, type IscsiConnectInput, type IscsiConnectResult, type IscsiDisconnectResult } from './iscsi-plan.js';

/** What {@link createWindowsProxy} needs besides the config. */
export interface WindowsProxyDeps {
  /** where the proxy's PowerShell runs (local or SSH); the same Shell contract as the Hyper-V driver */
  shell: Shell;
  logger?: Logger;
  /** for tests: waiting between rescans, ms */
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
}

/** How an attach finds its disks: rescan on the first look (a new session or FC path), and the target IQNs the disks must be on. */
interface Discovery {
  rescan: boolean;
  iqns?: string[];
}

interface OnlineResult {
  number: number;
  wasReadOnly: boolean;
  wasOffline: boolean;
  partitions: WindowsPartition[];
}

interface MountResult {
  accessPath: string;
  removedDriveLetter: string | null;
  fileSystem: string;
  label: string;
}

/**
 * The Windows proxy: through PowerShell on the proxy host, logs in to exactly the iSCSI target the
 * presentation names (FC: a rescan), rescans storage, finds each presented disk by UniqueId or
 * serial (and, for iSCSI, on that target), refuses disks it must not touch (collision, clustered,
 * boot), makes the disk read-only and then brings it online, mounts its basic-data partition on a folder
 * `<mountRoot>\<presentation>\<identity>` without a drive letter; detach removes the access paths,
 * takes the disks offline again and logs out the iSCSI sessions the attach opened (only those, and
 * only once no other presentation uses them). Attach and detach are idempotent by presentation name.
 */
export function createWindowsProxy(config: WindowsProxyConfigInput, deps: WindowsProxyDeps): Proxy {
  const parsed = windowsProxyConfigSchema.safeParse(config);
  if (!parsed.success) throw configError(parsed.error, { what: 'windows proxy config' });
  const cfg: WindowsProxyConfig = parsed.data;
  const { shell } = deps;
  const logger = (deps.logger ?? silentLogger).child({ proxy: 'windows', host: shell.target });
  const sleep = deps.sleep ?? systemClock.sleep;
  const folderOf = (presentationName: string) => path.win32.join(cfg.mountRoot, safeName(presentationName));

  const run = <T>(name: WindowsProxyScript, input: unknown, opts: CallOptions = {}) =>
    shell.run<T>({ name, script: loadWindowsScript(name), input }, { signal: opts.signal, timeoutMs: cfg.scriptTimeoutMs });

  async function listDisks(rescan: boolean, iscsi: boolean, opts: CallOptions): Promise<WindowsDisk[]> {
    const out = await run<WindowsDisk[] | WindowsDisk | null>('find-disks.ps1', { rescan, ...(iscsi ? { iscsiTargets: true } : {}) }, opts);
    // ConvertTo-Json turns a one-element array into an object when a script forgets -InputObject
    return out === null ? [] : Array.isArray(out) ? out : [out];
  }

  /**
   * The disk of `lun`, rescanning until it appears; with every disk seen, for collision checks. With
   * `via.iqns` (an iSCSI target hvsnap connected) the disk must also be on a session to one of them.
   */
  async function findDisk(lun: PresentedLun, via: Discovery, opts: CallOptions): Promise<{ disk: WindowsDisk; all: WindowsDisk[] }> {
    const deadline = Date.now() + cfg.discoveryTimeoutMs;
    for (let first = true; ; first = false) {
      throwIfAborted(opts.signal);
      const all = await listDisks(cfg.rescan || via.rescan || !first, !!via.iqns, opts);
      const hits = all.filter((d) => diskMatches(d, lun.identity));
      if (hits.length > 1) {
        throw new HvsnapError(
          'proxy_failed',
          `LUN ${lun.volumeId} (${lun.identity.kind}:${lun.identity.id}) matches ${hits.length} disks (${hits.map((d) => d.Number).join(', ')}) on ${shell.target}`,
          {
            context: { volume: lun.identity.id, step: 'find-disk', host: shell.target },
            hint: 'the LUN is seen through several paths without MPIO, or two LUNs share a serial; configure MPIO',
          },
        );
      }
      if (hits.length === 1) {
        if (via.iqns) checkDiskOnTarget({ disk: hits[0], iqns: via.iqns, lun, host: shell.target });
        return { disk: hits[0], all };
      }
      if (Date.now() >= deadline) {
        throw new HvsnapError(
          'not_found',
          `presented LUN ${lun.volumeId} (${lun.identity.kind}:${lun.identity.id}) did not appear on ${shell.target} within ${cfg.discoveryTimeoutMs} ms`,
          {
            context: { volume: lun.identity.id, step: 'find-disk', host: shell.target },
            hint: `disks seen: ${all.map((d) => `${d.Number}=${d.UniqueId}`).join(', ') || 'none'}; check the array's host mapping and the proxy's initiators`,
          },
        );
      }
      await sleep(cfg.pollMs, opts.signal);
    }
  }

  async function attachLun(
    presentationName: string,
    lun: PresentedLun,
    touched: Array<{ uniqueId: string; serial: string | null }>,
    via: Discovery,
    opts: CallOptions,
  ): Promise<AttachedVolume> {
    const lunId = lun.identity.id;
    const { disk, all } = await findDisk(lun, via, opts);
    checkDiskUsable({ disk, allDisks: all, allow: cfg.allowOfflineReasons, lunId });
    touched.push({ uniqueId: disk.UniqueId, serial: disk.SerialNumber ?? null });
    const online = await run<OnlineResult>('online-disk.ps1', { number: disk.Number, uniqueId: disk.UniqueId, serial: disk.SerialNumber ?? null }, opts);
    const part = pickWindowsPartition(online.partitions ?? [], disk.Number, lunId);
    const accessPath = path.win32.join(folderOf(presentationName), safeName(`${lun.identity.kind}-${normalizeIdentityId(lunId)}`));
    const mounted = await run<MountResult>(
      'mount-partition.ps1',
      { number: disk.Number, uniqueId: disk.UniqueId, partitionNumber: part.PartitionNumber, accessPath },
      opts,
    );
    if (!/^(ntfs|refs)$/i.test(mounted.fileSystem)) {
      throw new HvsnapError(
        'proxy_failed',
        `disk ${disk.Number} partition ${part.PartitionNumber} (LUN ${lunId}) has file system '${mounted.fileSystem || 'RAW'}', not NTFS or ReFS`,
        {
          context: { disk: String(disk.Number), volume: lunId, step: 'mount' },
          hint: 'a crash-consistent ReFS/NTFS volume may need log replay a read-only mount cannot do; present a writable clone',
        },
      );
    }
    logger.info(
      {
        presentation: presentationName,
        volume: lunId,
        disk: disk.Number,
        wasOffline: online.wasOffline,
        accessPath: mounted.accessPath,
        removedDriveLetter: mounted.removedDriveLetter,
      },
      'volume mounted read-only',
    );
    return {
      sourceIdentity: lun.sourceIdentity,
      mountPath: mounted.accessPath,
      handle: {
        diskNumber: disk.Number,
        uniqueId: disk.UniqueId,
        ...(disk.SerialNumber ? { serial: disk.SerialNumber } : {}),
        partitionNumber: part.PartitionNumber,
      },
    };
  }

  async function offline(presentationName: string, disks: Array<{ uniqueId: string; serial: string | null }>): Promise<void> {
    // no caller signal: cleanup must run to the end even when the attach was aborted
    const out = await run<{ disks: Array<{ number: number; removedPaths: string[] }> }>('offline-disks.ps1', { folder: folderOf(presentationName), disks });
    logger.info({ presentation: presentationName, disks: (out?.disks ?? []).map((d) => d.number) }, 'disks offline again');
  }

  /** Logs in to exactly the presentation's iSCSI target(s) (nothing for FC, folder or a target without IQNs). */
  async function connect(plan: IscsiConnectInput | undefined, opts: CallOptions): Promise<void> {
    if (!plan) return;
    const out = await run<IscsiConnectResult>('connect-iscsi.ps1', plan, opts);
    logger.info({ presentation: plan.presentation, sessions: out?.sessions ?? [] }, 'iSCSI target connected');
  }

  /** Logs out the iSCSI sessions this presentation opened and no other presentation uses; by the record on the host, so it works by name. */
  async function disconnect(presentationName: string): Promise<void> {
    const input = { recordFile: iscsiRecordFile(cfg.mountRoot, presentationName), recordsDir: cfg.mountRoot };
    const out = await run<IscsiDisconnectResult>('disconnect-iscsi.ps1', input);
    if (out?.disconnected.length || out?.handedOver.length) logger.info({ presentation: presentationName, ...out }, 'iSCSI sessions released');
  }

  /** Offline, then disconnect: when the offline fails the sessions stay (no logout under a mounted volume). */
  async function release(presentationName: string, disks: Array<{ uniqueId: string; serial: string | null }>): Promise<void> {
    await offline(presentationName, disks);
    await disconnect(presentationName);
  }

  return {
    kind: 'windows',

    async attach({ presentation, volumes: roots }, opts = {}) {
      if (presentation.luns.length === 0) {
        throw new HvsnapError('input_invalid', `presentation ${presentation.name} has no LUNs`, { context: { field: 'presentation.luns' } });
      }
      const touched: Array<{ uniqueId: string; serial: string | null }> = [];
      const volumes: AttachedVolume[] = [];
      if (presentation.target?.transport === 'folder') {
        throw new HvsnapError(
          'input_invalid',
          `presentation ${presentation.name} is a folder of disk images (the lab array), not LUNs the Windows proxy can see`,
          {
            context: { field: 'presentation.target.transport', presentation: presentation.name },
            hint: 'use proxy kind local or linux with the lab array',
          },
        );
      }
      const plan = iscsiPlan(presentation, { mountRoot: cfg.mountRoot, multipath: cfg.iscsiMultipath }); // bad input: nothing done yet
      const transport = presentation.target?.transport;
      const via: Discovery = { rescan: plan !== undefined || transport === 'fc' || transport === 'nvme', iqns: plan?.iqns };
      try {
        await connect(plan, opts);
        for (const lun of presentation.luns) volumes.push(await attachLun(presentation.name, lun, touched, via, opts));
        return createMount({ presentationName: presentation.name, volumes } satisfies Attachment, roots);
      } catch (e) {
        const err = toHvsnapError(e, 'proxy_failed', { step: 'attach', presentation: presentation.name, host: shell.target });
        try {
          await release(presentation.name, touched);
        } catch (undo) {
          logger.warn({ err: (undo as Error).message }, 'cleanup after a failed attach failed');
          err.suppressed.push(undo);
        }
        throw err;
      }
    },

    async detach(args) {
      const name = 'attachment' in args ? args.attachment.presentationName : args.presentationName;
      const disks =
        'attachment' in args
          ? args.attachment.volumes.map((v) => ({
              uniqueId: String(v.handle?.uniqueId ?? ''),
              serial: v.handle?.serial === undefined ? null : String(v.handle.serial),
            }))
          : [];
      await release(name, disks);
    },
  };
}
