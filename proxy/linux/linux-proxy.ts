import { promises as fs } from 'node:fs';
import path from 'node:path';
import { HvsnapError, toHvsnapError } from '../../src/core/errors.js';
import { configError } from '../../src/core/config-error.js';
import { withFileLock } from '../../src/core/file-lock.js';
import { silentLogger, type Logger } from '../../src/core/logger.js';
import type { CallOptions } from '../../src/core/types.js';
import type { Presentation } from '../../providers/sdk/provider.js';
import { normalizeIdentityId, safeName } from '../mount-map.js';
import type { AttachedVolume, Attachment, Proxy } from '../proxy.js';
import { createMount } from '../mount.js';
import { createStateStore, type AttachState, type VolumeState } from './attach-state.js';
import { createExecRunner, type CommandRunner } from './command-runner.js';
import { linuxProxyConfigSchema, type LinuxProxyConfig, type LinuxProxyConfigInput } from './config.js';
import { createImageFileDiscovery } from './image-discovery.js';
import { createByIdDiscovery, type DeviceDiscovery } from './device-discovery.js';
import { createAutoDiscovery } from './auto-discovery.js';
import { isBlockDevice, isMountPoint, loopBacking, mountPointsBelow } from './mounts.js';
import { pickDataPartition } from './partition-table.js';

/** What {@link createLinuxProxy} can be given besides the config; everything defaults to the real system. */
export interface LinuxProxyDeps {
  logger?: Logger;
  /** runs losetup, blockdev, sfdisk, ntfs-3g, umount, iscsiadm */
  runner?: CommandRunner;
  /** finds the LUN's block device; default: /dev/disk/by-id after a SCSI rescan */
  discovery?: DeviceDiscovery;
}

/**
 * The Linux proxy: finds each presented LUN by its identity, makes it read-only (`blockdev
 * --setro`), mounts the largest basic-data partition's NTFS volume read-only with ntfs-3g at
 * `<mountRoot>/<presentation>/<identity>`, and undoes all of it on detach, also after a failed
 * attach. Must run as root. Attach is idempotent by presentation name; detach is idempotent.
 */
export function createLinuxProxy(config: LinuxProxyConfigInput, deps: LinuxProxyDeps = {}): Proxy {
  const parsed = linuxProxyConfigSchema.safeParse(config);
  if (!parsed.success) throw configError(parsed.error, { what: 'linux proxy config' });
  const cfg: LinuxProxyConfig = parsed.data;
  const logger = (deps.logger ?? silentLogger).child({ proxy: 'linux' });
  const runner = deps.runner ?? createExecRunner();
  const discovery = deps.discovery ?? chooseDiscovery(cfg, runner, logger);
  const store = createStateStore(cfg.stateDir ?? cfg.mountRoot);
  const run = (command: string, args: string[], opts?: CallOptions) => runner.run({ command, args }, opts);
  const presentationDir = (name: string) => path.join(cfg.mountRoot, safeName(name));
  const stateDir = cfg.stateDir ?? cfg.mountRoot;
  /** One attach or detach of a presentation at a time, across processes (a batch may run several). */
  const locked = async <T>(name: string, fn: () => Promise<T>): Promise<T> => {
    await fs.mkdir(stateDir, { recursive: true });
    return withFileLock(path.join(stateDir, `${safeName(name)}.lock`), fn, {
      timeoutMs: cfg.discovery.timeoutMs + 300_000,
      what: `presentation ${name} on the Linux proxy`,
    });
  };

  async function attachVolume(state: AttachState, v: VolumeState, lun: Presentation['luns'][number], opts: CallOptions) {
    v.device = await discovery.locate({ lun }, opts);
    await store.write(state);
    v.madeReadOnly = await makeReadOnly(v.device, opts);
    await store.write(state);
    const table = await run('sfdisk', ['--json', v.device], opts);
    const part = pickDataPartition(table.stdout, v.device);
    if (await isBlockDevice(part.node)) {
      v.partitionDevice = part.node;
      v.partitionMadeReadOnly = await makeReadOnly(part.node, opts);
    } else {
      // no partition node (no udev, or a loop device without -P): a read-only loop over its byte range
      const { stdout } = await run('losetup', ['-r', '-f', '--show', '-o', String(part.startBytes), '--sizelimit', String(part.sizeBytes), v.device], opts);
      v.partitionLoop = stdout.trim();
      v.partitionOffset = part.startBytes;
      v.partitionDevice = v.partitionLoop;
    }
    await store.write(state);
    v.mountPath = path.join(presentationDir(state.presentationName), safeName(`${lun.identity.kind}-${normalizeIdentityId(lun.identity.id)}`));
    await fs.mkdir(v.mountPath, { recursive: true });
    await store.write(state);
    await run('ntfs-3g', ['-o', ['ro', ...cfg.ntfsOptions].join(','), v.partitionDevice, v.mountPath], opts);
    if (!(await isMountPoint(v.mountPath))) {
      throw new HvsnapError('proxy_failed', `ntfs-3g reported success but ${v.mountPath} is not a mount point`, { context: { path: v.mountPath } });
    }
    logger.info(
      { presentation: state.presentationName, volume: lun.identity.id, device: v.device, partition: v.partitionDevice, mountPath: v.mountPath },
      'volume mounted read-only',
    );
  }

  /**
   * `blockdev --setro` when the device is writable; true when it changed something. The kernel keeps
   * that flag on the device after it is released (a loop device stays read-only for its next user),
   * so teardown turns it back with `--setrw`, and a device that already was read-only is left alone.
   */
  async function makeReadOnly(device: string, opts: CallOptions): Promise<boolean> {
    if ((await run('blockdev', ['--getro', device], opts)).stdout.trim() === '1') return false;
    await run('blockdev', ['--setro', device], opts);
    return true;
  }

  /** Undoes whatever `state` records, newest first; logs and continues past failures, returns them. */
  async function teardown(state: AttachState): Promise<unknown[]> {
    const failures: unknown[] = [];
    /** Runs one undo step; false (and the failure recorded) when it failed. */
    const step = async (what: string, v: VolumeState, fn: () => Promise<void>): Promise<boolean> => {
      try {
        await fn();
        return true;
      } catch (e) {
        const err = toHvsnapError(e, 'proxy_failed', { step: what, volume: v.identity.id, presentation: state.presentationName });
        logger.warn({ err: err.message, step: what, volume: v.identity.id }, 'detach step failed; continuing with the next volume');
        failures.push(err);
        return false;
      }
    };
    // each field is cleared once undone, so the state kept after a failure lists only what is left
    for (const v of [...state.volumes].reverse()) {
      const { mountPath, partitionLoop: loop, device } = v;
      // a volume still mounted keeps its devices: nothing below it is touched until it unmounts
      const unmounted =
        !mountPath ||
        (await step('unmount', v, async () => {
          if (await isMountPoint(mountPath)) await unmount(mountPath);
          await rmdirIfPresent(mountPath);
          v.mountPath = undefined;
        }));
      if (!unmounted) continue;
      if (loop) {
        const ok = await step('detach-partition-loop', v, async () => {
          const backing = await loopBacking(loop);
          // only our own binding: the loop may have been freed and reused by someone else
          if (backing && backing.file === v.device && backing.offset === v.partitionOffset) await run('losetup', ['-d', loop]);
          v.partitionLoop = undefined;
        });
        if (!ok) continue;
      }
      const partitionNode = v.partitionDevice;
      if (v.partitionMadeReadOnly && partitionNode && !loop) {
        await step('restore-partition-rw', v, async () => {
          await run('blockdev', ['--setrw', partitionNode]);
          v.partitionMadeReadOnly = false;
        });
      }
      if (device && v.madeReadOnly) {
        await step('restore-device-rw', v, async () => {
          await run('blockdev', ['--setrw', device]);
          v.madeReadOnly = false;
        });
      }
      if (device) {
        await step('release-device', v, async () => {
          await discovery.release({ identity: v.identity, device });
          v.device = undefined;
        });
      }
    }
    if (failures.length > 0) {
      await store.write(state).catch((e: unknown) => failures.push(e));
      return failures;
    }
    await fs.rmdir(presentationDir(state.presentationName)).catch((e: NodeJS.ErrnoException) => {
      if (e.code !== 'ENOENT') logger.warn({ err: e.message }, 'presentation folder not removed');
    });
    await store.remove(state.presentationName);
    return failures;
  }

  async function unmount(mountPath: string): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        await run('umount', [mountPath]);
        return;
      } catch (e) {
        // a reader that just closed its files can keep the volume busy for a moment
        if (attempt >= 3 || !/busy/i.test((e as Error).message)) throw e;
        await new Promise((r) => setTimeout(r, 200 * attempt));
      }
    }
  }

  function toAttachment(state: AttachState): Attachment {
    const volumes: AttachedVolume[] = state.volumes.map((v) => ({
      sourceIdentity: v.sourceIdentity,
      mountPath: v.mountPath!,
      handle: {
        device: v.device!,
        partitionDevice: v.partitionDevice!,
        ...(v.partitionLoop ? { partitionLoop: v.partitionLoop, partitionOffset: v.partitionOffset! } : {}),
        madeReadOnly: v.madeReadOnly ? 1 : 0,
        identityKind: v.identity.kind,
        identityId: v.identity.id,
      },
    }));
    return { presentationName: state.presentationName, volumes };
  }

  return {
    kind: 'linux',

    async attach({ presentation, volumes }, opts = {}) {
      if (presentation.luns.length === 0) {
        throw new HvsnapError('input_invalid', `presentation ${presentation.name} has no LUNs`, { context: { field: 'presentation.luns' } });
      }
      return createMount(await locked(presentation.name, () => attachLocked(presentation, opts)), volumes);
    },

    async detach(args) {
      const name = 'attachment' in args ? args.attachment.presentationName : args.presentationName;
      return locked(name, () => detachLocked(args));
    },
  };

  async function attachLocked(presentation: Presentation, opts: CallOptions): Promise<Attachment> {
    const previous = await store.read(presentation.name);
    if (previous) {
      const complete =
        previous.volumes.length === presentation.luns.length &&
        (await Promise.all(previous.volumes.map((v) => (v.mountPath ? isMountPoint(v.mountPath) : false)))).every(Boolean);
      if (complete) return toAttachment(previous);
      logger.warn({ presentation: presentation.name }, 'half-done attach found; undoing it before attaching again');
      const failures = await teardown(previous);
      if (failures.length) throw withSuppressed(failures[0], failures.slice(1));
    }
    const state: AttachState = { presentationName: presentation.name, volumes: [] };
    await store.write(state);
    try {
      await discovery.rescan({ luns: presentation.luns, target: presentation.target }, opts);
      for (const lun of presentation.luns) {
        const v: VolumeState = { identity: lun.identity, sourceIdentity: lun.sourceIdentity };
        state.volumes.push(v);
        await attachVolume(state, v, lun, opts);
      }
      return toAttachment(state);
    } catch (e) {
      const err = toHvsnapError(e, 'proxy_failed', { step: 'attach', presentation: presentation.name });
      // cleanup runs without the caller's signal: an aborted attach must still leave nothing behind
      const failures = await teardown(state);
      throw withSuppressed(err, failures);
    }
  }

  async function detachLocked(args: Parameters<Proxy['detach']>[0]): Promise<void> {
    const name = 'attachment' in args ? args.attachment.presentationName : args.presentationName;
    // the state file is removed only when everything was undone, so without it there is nothing to release;
    // handles are not trusted for that: their loop devices may already serve someone else
    const state = await store.read(name);
    if (state) {
      const failures = await teardown(state);
      if (failures.length) throw withSuppressed(failures[0], failures.slice(1));
      logger.info({ presentation: name }, 'presentation detached');
      return;
    }
    // nothing recorded: still unmount anything left below the presentation's folder
    const dir = presentationDir(name);
    for (const m of await mountPointsBelow(dir)) await unmount(m);
    // empty folders only: never a recursive delete near a mount point
    for (const entry of await fs.readdir(dir).catch(() => [] as string[])) await rmdirIfPresent(path.join(dir, entry));
    await rmdirIfPresent(dir);
  }
}

async function rmdirIfPresent(dir: string): Promise<void> {
  await fs.rmdir(dir).catch((e: NodeJS.ErrnoException) => {
    if (e.code !== 'ENOENT') throw e;
  });
}

function withSuppressed(e: unknown, more: unknown[]): HvsnapError {
  const err = toHvsnapError(e, 'proxy_failed');
  err.suppressed.push(...more);
  return err;
}

/** `auto` (the default): from each presentation's target; `by-id` / `image-file`: always that one. */
function chooseDiscovery(cfg: LinuxProxyConfig, runner: CommandRunner, logger: Logger): DeviceDiscovery {
  if (cfg.discovery.mode === 'image-file') return createImageFileDiscovery({ runner });
  const byId = createByIdDiscovery({ config: cfg, runner, logger });
  if (cfg.discovery.mode === 'by-id') return byId;
  return createAutoDiscovery({ byId, imageFile: createImageFileDiscovery({ runner }) });
}
