import { createHash } from 'node:crypto';
import path from 'node:path';
import { HvsnapError } from '../src/core/errors.js';
import type { VolumeIdentity } from '../src/core/types.js';
import type { AttachedVolume, Attachment } from './proxy.js';

/**
 * Path mapping shared by the Linux and Windows proxies: a file on a source volume
 * (`C:\ClusterStorage\Volume1\VMs\a.vhdx` on the Hyper-V host) is found on the proxy below the
 * mount point of the attached snapshot of that volume, at the same relative path.
 */

/** The path style of this machine, for paths the data mover opens here. */
export const LOCAL_PATH_STYLE: 'posix' | 'win32' = process.platform === 'win32' ? 'win32' : 'posix';

/** The canonical key of an identity id: lowercase hex, without `naa.`/`eui.`/`0x` prefixes or separators. */
export function normalizeIdentityId(id: string): string {
  return id
    .trim()
    .toLowerCase()
    .replace(/^(naa\.|eui\.|wwn-0x|0x)/, '')
    .replace(/[^0-9a-z]/g, '');
}

/** True when two identities name the same disk: same kind and id, or (for `serial`) the same serial. */
export function sameIdentity(a: VolumeIdentity, b: VolumeIdentity): boolean {
  if (a.kind === b.kind && normalizeIdentityId(a.id) === normalizeIdentityId(b.id)) return true;
  const sa = a.kind === 'serial' ? a.id : a.serial;
  const sb = b.kind === 'serial' ? b.id : b.serial;
  return sa !== undefined && sb !== undefined && sa.trim().toLowerCase() === sb.trim().toLowerCase();
}

/**
 * The path of `sourcePath` relative to `volumeRoot`, with `/` separators and no leading separator,
 * or undefined when the path is not below that root. Windows rules: case-insensitive, `\` or `/`.
 * A path that climbs out with `..` is refused (`input_invalid`).
 */
export function relativeToVolumeRoot(sourcePath: string, volumeRoot: string): string | undefined {
  const split = (p: string) => p.split(/[\\/]+/).filter((s) => s.length > 0 && s !== '.');
  const root = split(volumeRoot);
  const parts = split(sourcePath);
  if (parts.length < root.length) return undefined;
  for (let i = 0; i < root.length; i++) if (parts[i].toLowerCase() !== root[i].toLowerCase()) return undefined;
  const rest = parts.slice(root.length);
  if (rest.includes('..')) {
    throw new HvsnapError('input_invalid', `path ${sourcePath} climbs out of volume root ${volumeRoot} with '..'`, {
      context: { path: sourcePath, field: 'sourcePath' },
    });
  }
  return rest.join('/');
}

/** The attached volume that is the snapshot of `identity`, or undefined. */
export function findAttachedVolume(attachment: Attachment, identity: VolumeIdentity): AttachedVolume | undefined {
  return attachment.volumes.find((v) => sameIdentity(v.sourceIdentity, identity));
}

/**
 * Where a file of a source volume is on the proxy: the attached volume's mount path joined with
 * `relativePath` (`/`-separated, as in {@link VolumeLocation}). `style` is the proxy's path style
 * (`posix` for Linux, `win32` for Windows). Throws `not_found` when the volume is not attached.
 */
export function mapVolumePath(args: { attachment: Attachment; identity: VolumeIdentity; relativePath: string; style?: 'posix' | 'win32' }): string {
  const volume = findAttachedVolume(args.attachment, args.identity);
  if (!volume) {
    throw new HvsnapError('not_found', `volume ${args.identity.kind}:${args.identity.id} is not part of attachment ${args.attachment.presentationName}`, {
      context: { volume: args.identity.id, step: 'map-path' },
      hint: `attached volumes: ${args.attachment.volumes.map((v) => v.sourceIdentity.id).join(', ') || 'none'}`,
    });
  }
  const rel = relativeToVolumeRoot(args.relativePath, '');
  const p = args.style === 'win32' ? path.win32 : path.posix;
  return rel ? p.join(volume.mountPath, ...rel.split('/')) : volume.mountPath;
}

/**
 * Maps a full source path (`C:\ClusterStorage\Volume1\VMs\a.vhdx`) through the longest matching
 * volume root to its place on the proxy. `volumes` says which identity each root belongs to.
 * Throws `not_found` naming the path when no root matches or that volume is not attached.
 */
export function mapSourcePath(args: {
  attachment: Attachment;
  volumes: ReadonlyArray<{ identity: VolumeIdentity; volumeRoot: string }>;
  sourcePath: string;
  style?: 'posix' | 'win32';
}): string {
  let best: { identity: VolumeIdentity; rel: string; depth: number } | undefined;
  for (const v of args.volumes) {
    const rel = relativeToVolumeRoot(args.sourcePath, v.volumeRoot);
    const depth = v.volumeRoot.split(/[\\/]+/).filter(Boolean).length;
    if (rel !== undefined && (!best || depth > best.depth)) best = { identity: v.identity, rel, depth };
  }
  if (!best) {
    throw new HvsnapError('not_found', `path ${args.sourcePath} is on none of the volumes ${args.volumes.map((v) => v.volumeRoot).join(', ')}`, {
      context: { path: args.sourcePath, step: 'map-path' },
    });
  }
  return mapVolumePath({ attachment: args.attachment, identity: best.identity, relativePath: best.rel, style: args.style });
}

/**
 * A file-system safe folder name for a presentation or identity, the same on Linux and Windows:
 * `[A-Za-z0-9._-]` only, plus a hash of the original when anything had to be replaced.
 */
export function safeName(name: string): string {
  const cleaned = name.replace(/[^A-Za-z0-9._-]/g, '_').replace(/^\.+/, '_');
  if (cleaned === name && name.length > 0 && name.length <= 100) return name;
  return `${cleaned.slice(0, 80)}-${createHash('sha256').update(name).digest('hex').slice(0, 8)}`;
}
