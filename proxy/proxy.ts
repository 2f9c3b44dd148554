import type { CallOptions, VolumeIdentity } from '../src/core/types.js';
import type { Presentation } from '../providers/sdk/provider.js';
import type { CopyDiskArgs, CopyDiskResult } from './data-mover.js';

export type { CopyDiskArgs, CopyDiskResult } from './data-mover.js';

/**
 * The host side of the copy (CSI node-like): attach a presented snapshot read-only so that every
 * source volume appears as a folder with the same relative paths as on the source, then detach.
 * `detach` MUST succeed when nothing is attached and MUST be safe to call after a failed attach.
 */
export interface Proxy {
  /** e.g. `local`, `linux`, `windows` */
  readonly kind: string;
  /**
   * Attaches a presentation read-only. `volumes` says which host path root each source volume has
   * (`C:\\ClusterStorage\\Volume1` = identity …), so that the mount can resolve host paths.
   */
  attach(args: { presentation: Presentation; volumes?: readonly VolumeRoot[] }, opts?: CallOptions): Promise<Mount>;
  detach(args: { attachment: Attachment } | { presentationName: string }, opts?: CallOptions): Promise<void>;
}

export interface Attachment {
  presentationName: string;
  volumes: AttachedVolume[];
}

export interface AttachedVolume {
  /** the source volume's identity (what the host reported for the disk) */
  sourceIdentity: VolumeIdentity;
  /** local folder where the volume's root is mounted read-only */
  mountPath: string;
  /** implementation details needed to detach (device, loop, disk number ...) */
  handle?: Record<string, string | number>;
}

/** A source volume as the host sees it: its identity and the path of its root. */
export interface VolumeRoot {
  identity: VolumeIdentity;
  volumeRoot: string;
}

/**
 * An attached presentation as backup and restore use it: files named by their host path are
 * resolved to readable paths on this machine, and the data mover copies a disk out of it. Made by
 * `createMount` (proxy/mount.ts) in every proxy implementation.
 */
export interface Mount extends Attachment {
  /** Where the file at `hostPath` (on one of the attached volumes) is readable here; throws `not_found`. */
  resolve(hostPath: string): string;
  /** {@link resolve}, or undefined when the path is on no attached volume (a VHDX parent's resolver). */
  tryResolve(hostPath: string): string | undefined;
  /** Where a file is, by the identity of its volume and its `/`-separated path below the volume root. */
  resolveOnVolume(identity: VolumeIdentity, relativePath: string): string;
  /**
   * The data mover: copies the VHDX at `hostPath` into the repository (full, or the changed
   * ranges); parents of a differencing disk are found on the mount too.
   */
  copyDisk(args: Omit<CopyDiskArgs, 'file' | 'resolveParent'> & { hostPath: string }): Promise<CopyDiskResult>;
}
