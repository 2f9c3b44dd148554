import { randomBytes } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { HvsnapError } from './errors.js';
import type { VolumeIdentity } from './types.js';

/**
 * A lab volume is a folder standing for a LUN. Its page-83 identity (what both the host and the
 * array report for the LUN) is kept in this marker file at the folder's root, so that the lab
 * hypervisor and the lab array, which know nothing of each other, agree on it.
 */
export const VOLUME_MARKER = '.hvsnap-volume.json';

export interface VolumeMarker {
  name: string;
  identity: VolumeIdentity;
}

export async function readVolumeMarker(dir: string): Promise<VolumeMarker> {
  const file = join(dir, VOLUME_MARKER);
  try {
    const parsed = JSON.parse(await readFile(file, 'utf8')) as VolumeMarker;
    if (!parsed?.identity?.id) throw new Error('no identity');
    return parsed;
  } catch (e) {
    throw new HvsnapError('not_found', `${dir} is not a lab volume (no readable ${VOLUME_MARKER})`, {
      cause: e,
      context: { path: dir, file },
    });
  }
}

export async function writeVolumeMarker(dir: string, name: string): Promise<VolumeMarker> {
  // NAA type 6 (IEEE registered extended): "6", a 24-bit company id (the Linux LIO one), 100 random bits.
  const id = ('6001405' + randomBytes(13).toString('hex')).slice(0, 32);
  const marker: VolumeMarker = { name, identity: { kind: 'naa', id, serial: randomBytes(12).toString('hex') } };
  await writeFile(join(dir, VOLUME_MARKER), JSON.stringify(marker, null, 2) + '\n');
  return marker;
}

/**
 * The lock that makes a lab volume's snapshot atomic against writes to it. It sits beside the
 * folder, not in it, so that a snapshot of the folder does not copy it.
 */
export function volumeLockPath(dir: string): string {
  return dir.replace(/[\\/]+$/, '') + '.lock';
}
