import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { writeVolumeMarker, type VolumeMarker } from '../../src/core/volume-marker.js';
import { defineProvider } from '../sdk/define-provider.js';
import { LabArrayClient } from './client.js';
import { countedArray, createLabProviderInstance } from './provider.js';

/** The lab array's operations a configuration can fail or slow down. */
const LAB_ARRAY_OPS = ['createSnapshot', 'deleteSnapshot', 'present', 'unpresent'] as const;

export const labProviderConfigSchema = z
  .object({
    /** folder whose subfolders are the array's volumes */
    volumesDir: z.string().min(1),
    /** folder where the array keeps snapshots and presentations */
    stateDir: z.string().min(1),
    /** operations to fail, for tests and demos */
    failOn: z.array(z.enum(LAB_ARRAY_OPS)).default([]),
    /** operations that take this long (ms) before they run, as a real array's take seconds: for tests of stopping */
    delayMs: z.partialRecord(z.enum(LAB_ARRAY_OPS), z.number().int().min(0).max(600_000)).default({}),
    /**
     * `folder`: a presentation is the snapshot's folders (for the local proxy); `ntfs-image`: a GPT
     * disk image with an NTFS volume per snapshotted volume, for the Linux proxy (root, ntfs-3g)
     */
    presentAs: z.enum(['folder', 'ntfs-image']).default('folder'),
  })
  .strict();

export type LabProviderConfig = z.input<typeof labProviderConfigSchema>;

/** The lab array: volumes are folders, snapshots are hard-linked trees of them. */
export const labProvider = defineProvider({
  name: 'lab',
  configSchema: labProviderConfigSchema,
  create: (config) =>
    countedArray(
      createLabProviderInstance(new LabArrayClient(config), { failOn: config.failOn, delayMs: config.delayMs, presentAs: config.presentAs }),
      join(config.stateDir, 'inflight.json'),
    ),
});

/** Makes a new lab volume (a folder with an NAA identity) under `volumesDir`. */
export async function createLabVolume(args: { volumesDir: string; name: string }): Promise<VolumeMarker> {
  const dir = join(args.volumesDir, args.name);
  await mkdir(dir, { recursive: true });
  return writeVolumeMarker(dir, args.name);
}
