import { createHash } from 'node:crypto';
import { HvsnapError, errorSummary, throwIfAborted } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import { silentLogger } from '../core/logger.js';
import type { RestorePointManifest, SnapshotDisk } from '../repository/types.js';
import { openVhdx, writeVhdxStream } from '../vhdx/index.js';
import type { VhdxChunk } from '../vhdx/types.js';
import type { Provider, ProxyHost, SnapshotHandle } from '../../providers/sdk/provider.js';
import { LOCAL_PATH_STYLE, mapSourcePath, mapVolumePath } from '../../proxy/mount-map.js';
import type { Proxy } from '../../proxy/proxy.js';

/** What a snapshot-only restore point needs to be read: the array that keeps it and a proxy. */
export interface SnapshotAccess {
  provider: Provider;
  proxy: Proxy;
  proxyHost: ProxyHost;
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
}

const PIECE = 4 << 20;

/**
 * Restores the disks of a snapshot-only restore point: the retained array snapshot is presented
 * to the proxy and attached read-only, each VHDX in it is rebuilt as a fresh dynamic VHDX
 * (allocated ranges only, log replayed, chains resolved), optionally read back and compared, and
 * the snapshot is always detached and unpresented again.
 */
export async function restoreFromSnapshot(args: {
  manifest: RestorePointManifest;
  access: SnapshotAccess;
  /** one file per disk of `manifest.snapshotDisks`, in order */
  targets: string[];
  verify: boolean;
  keepVirtualDiskId: boolean;
  logger?: Logger;
  signal?: AbortSignal;
}): Promise<SnapshotDiskResult[]> {
  const { manifest, access } = args;
  const log = args.logger ?? silentLogger;
  const snapshot = manifest.arraySnapshots.find((s) => s.retained);
  if (!snapshot || !manifest.snapshotDisks?.length) {
    throw new HvsnapError('input_invalid', `restore point ${manifest.id} keeps no array snapshot with its disks`, { context: { restorePoint: manifest.id } });
  }
  if (snapshot.provider !== access.provider.name) {
    throw new HvsnapError('input_invalid', `restore point ${manifest.id} is kept on array provider "${snapshot.provider}", not "${access.provider.name}"`, { context: { provider: access.provider.name } });
  }
  const presentationName = `hvsnap-restore-${manifest.id}`.slice(0, 120);
  // the handle the backup stored; a manifest from before handles names the snapshot only
  const handle = (snapshot.handle as SnapshotHandle | undefined)
    ?? (await access.provider.listSnapshots({ prefix: snapshot.name }, { signal: args.signal })).find((s) => s.name === snapshot.name);
  if (!handle) throw new HvsnapError('not_found', `array snapshot ${snapshot.name} of restore point ${manifest.id} is gone from provider "${snapshot.provider}"`, { context: { restorePoint: manifest.id, snapshot: snapshot.name } });
  const presentation = await access.provider.present({ name: presentationName, snapshot: handle, host: access.proxyHost }, { signal: args.signal });
  const results: SnapshotDiskResult[] = [];
  try {
    const attachment = await access.proxy.attach({ presentation }, { signal: args.signal });
    try {
      const volumes = manifest.snapshotDisks.map((d) => d.volume);
      const style = LOCAL_PATH_STYLE;
      for (const [i, disk] of manifest.snapshotDisks.entries()) {
        const source = mapVolumePath({ attachment, identity: disk.volume.identity, relativePath: disk.relativePath, style });
        const target = args.targets[i];
        const resolveParent = (hostPath: string) => {
          try {
            return mapSourcePath({ attachment, volumes, sourcePath: hostPath, style });
          } catch {
            return undefined;
          }
        };
        results.push(await copyOut(source, target, disk, { ...args, resolveParent }));
        log.info({ disk: disk.diskId, target, snapshot: snapshot.name }, 'disk restored from the array snapshot');
      }
    } finally {
      await access.proxy.detach({ attachment }).catch((e) => log.error({ error: errorSummary(e) }, `could not detach ${presentationName} from the proxy`));
    }
  } finally {
    await access.provider.unpresent({ name: presentationName }).catch((e) => log.error({ error: errorSummary(e) }, `could not unpresent ${presentationName}; run "hvsnap cleanup"`));
  }
  return results;
}

async function copyOut(
  source: string,
  target: string,
  disk: SnapshotDisk,
  opts: { verify: boolean; keepVirtualDiskId: boolean; signal?: AbortSignal; resolveParent: (p: string) => string | undefined },
): Promise<SnapshotDiskResult> {
  const img = await openVhdx(source, { resolveParent: opts.resolveParent });
  let bytesRestored = 0;
  const whole = createHash('sha256');
  try {
    if (img.virtualDiskId.toLowerCase() !== disk.virtualDiskId.toLowerCase()) {
      throw new HvsnapError('integrity_failed', `${source} in the snapshot has virtual disk id ${img.virtualDiskId}, the restore point says ${disk.virtualDiskId}`, { context: { disk: disk.diskId, file: source } });
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
    await writeVhdxStream(target, {
      virtualSize: img.virtualSize,
      blockSize: 32 << 20,
      logicalSectorSize: img.logicalSectorSize as 512 | 4096,
      virtualDiskId: opts.keepVirtualDiskId ? img.virtualDiskId : undefined,
      source: pieces(),
    });
  } finally {
    await img.close();
  }
  const sha256 = whole.digest('hex');
  let verified = false;
  if (opts.verify) {
    const back = await openVhdx(target);
    const h = createHash('sha256');
    try {
      for (let o = 0; o < back.virtualSize; o += PIECE) h.update(await back.read(o, Math.min(PIECE, back.virtualSize - o)));
    } finally {
      await back.close();
    }
    if (h.digest('hex') !== sha256) throw new HvsnapError('integrity_failed', `restored disk ${target} differs from the snapshot's ${source}`, { context: { disk: disk.diskId, file: target } });
    verified = true;
  }
  return { diskId: disk.diskId, target, virtualSize: disk.virtualSize, bytesRestored, sha256, verified };
}
