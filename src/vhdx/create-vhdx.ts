import { planLayout, writeSkeleton } from './layout.js';
import type { CreateVhdxOptions } from './types.js';
import { newReadStats, VhdxFile } from './vhdx-file.js';

/**
 * Creates a new dynamic (default) or fixed VHDX at `path`, which must not exist
 * (created exclusively, never through a link). A fixed disk has
 * every block allocated but is sparse on the host file system. The file is fsynced before returning.
 */
export async function createVhdx(path: string, opts: CreateVhdxOptions): Promise<void> {
  await writeNewVhdx(path, planLayout(opts));
}

/**
 * Creates `path` with the skeleton of a planned layout (headers, regions, metadata, BAT) and fsyncs it.
 * The file is created exclusively, never through a link: anything already at `path` is `already_exists`.
 */
export async function writeNewVhdx(path: string, layout: ReturnType<typeof planLayout>): Promise<void> {
  const file = await VhdxFile.create(path, newReadStats());
  try {
    await writeSkeleton(file, layout);
    await file.sync();
  } finally {
    await file.close();
  }
}
