import { createHash } from 'node:crypto';
import { restorePresentationName, restoreJobId } from '../core/names.js';
import { HvsnapError, throwIfAborted } from '../core/errors.js';
import { createLimit } from '../core/concurrency.js';
import type { Logger } from '../core/logger.js';
import { silentLogger } from '../core/logger.js';
import type { RestorePointManifest, SnapshotDisk } from '../repository/types.js';
import { openVhdx, vhdxSha256, writeVhdxStream } from '../vhdx/index.js';
import type { VhdxChunk } from '../vhdx/types.js';
import type { Provider, ProxyHost, SnapshotHandle } from '../../providers/sdk/provider.js';
import { Journal } from '../backup/journal.js';
import { runSteps } from '../backup/run-steps.js';
import { Saga } from '../backup/saga.js';
import { attachStep } from '../backup/steps/attach.js';
import { ensureHostStep, findHostStep, type HostRun } from '../backup/steps/ensure-host.js';
import { presentStep, type PresentTarget } from '../backup/steps/present.js';
import type { SetStep } from '../backup/steps/step.js';
import type { Proxy } from '../../proxy/proxy.js';

/** What a snapshot-only restore point needs to be read: the array that keeps it and a proxy. */
export interface SnapshotAccess {
  provider: Provider;
  proxy: Proxy;
  proxyHost: ProxyHost;
  /** keep a host object made for the proxy on the array after the restore (the job's `proxy.keepHost`); default false */
  keepHost?: boolean;
}

export interface SnapshotDiskResult {
  diskId: string;
  target: string;
  virtualSize: number;
  /** bytes read out of the snapshot */
  bytesRestored: number;
  /** SHA-256 of the whole virtual disk content */
  sha256: string;
  verified: boolean;
  /** the final fsync's time, ms (see RestoreDiskResult) */
  syncMs: number;
}

const PIECE = 4 << 20;

/** What the restore steps share (the runner's state). */
interface RestoreRun extends Omit<PresentTarget, 'env'>, Omit<HostRun, 'env'> {
  readonly env: PresentTarget['env'] & HostRun['env'];
  readonly manifest: RestorePointManifest;
  readonly disks: SnapshotDisk[];
  readonly targets: string[];
  readonly verify: boolean;
  readonly keepVirtualDiskId: boolean;
  readonly log: Logger;
  readonly results: SnapshotDiskResult[];
}

/** Every disk of the restore point read out of the attached snapshot into a fresh VHDX. */
const copyOutStep: SetStep<RestoreRun> = {
  name: 'copy-out',
  scope: 'set',
  async run(r) {
    for (const [i, disk] of r.disks.entries()) {
      const source = r.mount!.resolveOnVolume(disk.volume.identity, disk.relativePath);
      r.results.push(
        await copyOut(source, r.targets[i], disk, {
          verify: r.verify,
          keepVirtualDiskId: r.keepVirtualDiskId,
          signal: r.signal,
          resolveParent: r.mount!.tryResolve,
        }),
      );
      r.log.info({ disk: disk.diskId, target: r.targets[i], snapshot: r.names.snapshot }, 'disk restored from the array snapshot');
    }
  },
};

/**
 * A snapshot-only restore: the proxy's host object (found, or made and journaled as a backup's
 * is), present, attach, copy out; then the runner detaches, unpresents and removes a host it made.
 */
const restoreSteps: Array<SetStep<RestoreRun>> = [findHostStep, ensureHostStep, presentStep, attachStep, copyOutStep];

/**
 * Restores the disks of a snapshot-only restore point: the retained array snapshot is presented
 * to the proxy and attached read-only, each VHDX in it is rebuilt as a fresh dynamic VHDX
 * (allocated ranges only, log replayed, chains resolved), optionally read back and compared, and
 * the snapshot is detached and unpresented again. The host object, the presentation and the
 * attachment are journaled in `journalDir` before they are made, so `hvsnap cleanup` undoes them
 * after a crash.
 */
export async function restoreFromSnapshot(args: {
  manifest: RestorePointManifest;
  access: SnapshotAccess;
  /** one file per disk of `manifest.snapshotDisks`, in order */
  targets: string[];
  verify: boolean;
  keepVirtualDiskId: boolean;
  /** where the restore's journal is kept (the repository's `.journal`); none when omitted */
  journalDir?: string;
  logger?: Logger;
  signal?: AbortSignal;
}): Promise<SnapshotDiskResult[]> {
  const { manifest, access } = args;
  const log = args.logger ?? silentLogger;
  const { snapshot, handle, disks } = await retainedSnapshot(manifest, access, args.signal);
  const state: RestoreRun = {
    env: access,
    policy: { keepHosts: access.keepHost ?? false },
    snapshot: handle,
    names: { snapshot: snapshot.name, presentation: restorePresentationName(manifest.id) },
    volumeRoots: disks.map((d) => d.volume),
    signal: args.signal,
    manifest,
    disks,
    targets: args.targets,
    verify: args.verify,
    keepVirtualDiskId: args.keepVirtualDiskId,
    log,
    results: [],
  };
  const journal = args.journalDir ? await Journal.open(args.journalDir, restoreJobId()) : Journal.none();
  const saga = new Saga({ provider: access.provider, proxy: access.proxy, abortRestorePoint: async () => {} }, journal, log);
  const error = await runSteps<RestoreRun, never>(
    {
      state,
      items: [],
      itemOf: () => ({ owner: '', label: '', failed: true }),
      failItem: () => {},
      saga,
      log,
      signal: args.signal,
      slots: () => createLimit(1),
      context: { restorePoint: manifest.id },
    },
    restoreSteps,
  );
  await journal.end(log);
  // what could not be undone stays journaled for `hvsnap cleanup`
  if (saga.leftBehind.length === 0) await journal.close();
  if (error) throw error;
  return state.results;
}

/** The retained array snapshot of a snapshot-only restore point, its handle on `access`'s array, and its disks. */
async function retainedSnapshot(
  manifest: RestorePointManifest,
  access: SnapshotAccess,
  signal: AbortSignal | undefined,
): Promise<{ snapshot: RestorePointManifest['arraySnapshots'][number]; handle: SnapshotHandle; disks: SnapshotDisk[] }> {
  const snapshot = manifest.arraySnapshots.find((s) => s.retained);
  if (!snapshot || !manifest.snapshotDisks?.length) {
    throw new HvsnapError('input_invalid', `restore point ${manifest.id} keeps no array snapshot with its disks`, { context: { restorePoint: manifest.id } });
  }
  if (snapshot.provider !== access.provider.name) {
    throw new HvsnapError('input_invalid', `restore point ${manifest.id} is kept on array provider "${snapshot.provider}", not "${access.provider.name}"`, {
      context: { provider: access.provider.name },
    });
  }
  // the handle the backup stored; a manifest from before handles names the snapshot only
  const handle =
    (snapshot.handle as SnapshotHandle | undefined) ??
    (await access.provider.listSnapshots({ prefix: snapshot.name }, { signal: signal })).find((s) => s.name === snapshot.name);
  if (!handle) {
    throw new HvsnapError('not_found', `array snapshot ${snapshot.name} of restore point ${manifest.id} is gone from provider "${snapshot.provider}"`, {
      context: { restorePoint: manifest.id, snapshot: snapshot.name },
    });
  }
  return { snapshot, handle, disks: manifest.snapshotDisks };
}

async function copyOut(
  source: string,
  target: string,
  disk: SnapshotDisk,
  opts: { verify: boolean; keepVirtualDiskId: boolean; signal?: AbortSignal; resolveParent: (p: string) => string | undefined },
): Promise<SnapshotDiskResult> {
  const img = await openVhdx(source, { resolveParent: opts.resolveParent });
  let bytesRestored = 0;
  let syncMs: number;
  const whole = createHash('sha256');
  try {
    if (img.virtualDiskId.toLowerCase() !== disk.virtualDiskId.toLowerCase()) {
      throw new HvsnapError(
        'integrity_failed',
        `${source} in the snapshot has virtual disk id ${img.virtualDiskId}, the restore point says ${disk.virtualDiskId}`,
        { context: { disk: disk.diskId, file: source } },
      );
    }
    const ranges = await img.allocatedRanges();
    const zero = Buffer.alloc(PIECE);
    async function* pieces(): AsyncIterable<VhdxChunk> {
      let at = 0;
      for (const r of ranges) {
        for (; at < r.offset; at += Math.min(PIECE, r.offset - at)) whole.update(zero.subarray(0, Math.min(PIECE, r.offset - at)));
        for (let o = r.offset; o < r.offset + r.length; o += PIECE) {
          throwIfAborted(opts.signal);
          const data = await img.read(o, Math.min(PIECE, r.offset + r.length - o));
          whole.update(data);
          bytesRestored += data.length;
          yield { offset: o, data };
        }
        at = r.offset + r.length;
      }
      for (; at < img.virtualSize; at += Math.min(PIECE, img.virtualSize - at)) whole.update(zero.subarray(0, Math.min(PIECE, img.virtualSize - at)));
    }
    ({ syncMs } = await writeVhdxStream(target, {
      virtualSize: img.virtualSize,
      blockSize: 32 << 20,
      logicalSectorSize: img.logicalSectorSize as 512 | 4096,
      virtualDiskId: opts.keepVirtualDiskId ? img.virtualDiskId : undefined,
      source: pieces(),
    }));
  } finally {
    await img.close();
  }
  const sha256 = whole.digest('hex');
  if (opts.verify) await readBackAndCompare(target, sha256, disk, source);
  return { diskId: disk.diskId, target, virtualSize: disk.virtualSize, bytesRestored, sha256, verified: opts.verify, syncMs };
}

/** Reads the restored VHDX back and compares its content with what was read out of the snapshot. */
async function readBackAndCompare(target: string, sha256: string, disk: SnapshotDisk, source: string): Promise<void> {
  if ((await vhdxSha256(target)) !== sha256) {
    throw new HvsnapError('integrity_failed', `restored disk ${target} differs from the snapshot's ${source}`, {
      context: { disk: disk.diskId, file: target },
    });
  }
}
