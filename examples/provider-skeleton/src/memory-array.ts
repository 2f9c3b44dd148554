import { randomBytes } from 'node:crypto';

/**
 * A stand-in for a vendor's array and its client library: in memory, shared by name so a test can
 * add volumes and the provider can find them. Replace it with your REST client (build it on
 * `HttpClient` from `hvsnap/sdk`, which already does TLS, auth refresh, retries and redaction).
 */
export interface MemoryVolume {
  id: string;
  name: string;
  naa: string;
  sizeBytes: number;
}
export interface MemorySnapshot {
  name: string;
  id: string;
  createdAt: string;
  cg: boolean;
  members: Array<{ volumeId: string; snapshotId: string; naa: string }>;
}
export interface MemoryMapping {
  name: string;
  snapshotId: string;
  snapshotName: string;
  host: string;
  luns: Array<{ volumeId: string; lun: number; naa: string }>;
}

export class MemoryArray {
  readonly volumes = new Map<string, MemoryVolume>();
  readonly snapshots = new Map<string, MemorySnapshot>();
  readonly mappings = new Map<string, MemoryMapping>();
  readonly hosts = new Set<string>();

  /** Adds a volume; returns its NAA id (32 hex digits, a made-up vendor prefix `6acce550`). */
  addVolume(name: string, sizeBytes = 1 << 30): MemoryVolume {
    const v = { id: `vol-${randomBytes(4).toString('hex')}`, name, naa: `6acce550${randomBytes(12).toString('hex')}`, sizeBytes };
    this.volumes.set(v.id, v);
    return v;
  }
}

const arrays = new Map<string, MemoryArray>();

/** The array named `name`, made on first use. */
export function memoryArray(name: string): MemoryArray {
  let a = arrays.get(name);
  if (!a) arrays.set(name, (a = new MemoryArray()));
  return a;
}
