import type { CallOptions, VolumeIdentity } from '../src/core/types.js';
import type { Presentation } from '../providers/sdk/provider.js';

/**
 * The host side of the copy (CSI node-like): attach a presented snapshot read-only so that every
 * source volume appears as a folder with the same relative paths as on the source, then detach.
 * `detach` MUST succeed when nothing is attached and MUST be safe to call after a failed attach.
 */
export interface Proxy {
  /** e.g. `local`, `linux`, `windows` */
  readonly kind: string;
  attach(args: { presentation: Presentation }, opts?: CallOptions): Promise<Attachment>;
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
