import { planLayout, writeSkeleton } from './layout.js';
import type { CreateVhdxOptions } from './types.js';
import { VhdxFile } from './vhdx-file.js';
import { open } from 'node:fs/promises';

/**
 * Creates a new dynamic (default) or fixed VHDX at `path`, replacing any file there. A fixed disk has
 * every block allocated but is sparse on the host file system. The file is fsynced before returning.
 */
export async function createVhdx(path: string, opts: CreateVhdxOptions): Promise<void> {
  await writeNewVhdx(path, planLayout(opts));
}

/** Replaces any file at `path` with the skeleton of a planned layout (headers, regions, metadata, BAT) and fsyncs it. */
export async function writeNewVhdx(path: string, layout: ReturnType<typeof planLayout>): Promise<void> {
  await (await open(path, 'w')).close();
  const file = await VhdxFile.open(path, true, { fileBytesRead: 0 });
  try {
    await writeSkeleton(file, layout);
    await file.sync();
  } finally {
    await file.close();
  }
}
