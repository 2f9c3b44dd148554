import { promises as fs } from 'node:fs';
import path from 'node:path';
import { HvsnapError } from '../../src/core/errors.js';
import type { VolumeIdentity } from '../../src/core/types.js';
import { safeName } from '../mount-map.js';

/**
 * What the Linux proxy has set up for one presentation, written after every step so that a
 * detach by name (after a crash or from another process) can undo exactly that and no more.
 */
export interface AttachState {
  presentationName: string;
  volumes: VolumeState[];
}

export interface VolumeState {
  /** identity of the presented LUN */
  identity: VolumeIdentity;
  sourceIdentity: VolumeIdentity;
  /** the LUN's block device, once located */
  device?: string;
  /** this proxy set the kernel read-only flag on `device` (to be cleared on detach) */
  madeReadOnly?: boolean;
  /** the same for a partition node */
  partitionMadeReadOnly?: boolean;
  /** the device mounted: a partition node, or `partitionLoop` */
  partitionDevice?: string;
  /** a read-only loop device over the partition's byte range, made when no partition node exists */
  partitionLoop?: string;
  /** bytes: where the partition starts on `device` */
  partitionOffset?: number;
  mountPath?: string;
}

/** One JSON file per presentation in `dir`, replaced atomically (temp file, fsync, rename). */
export function createStateStore(dir: string) {
  const file = (name: string) => path.join(dir, `${safeName(name)}.attach.json`);
  return {
    file,
    async read(name: string): Promise<AttachState | undefined> {
      let text: string;
      try {
        text = await fs.readFile(file(name), 'utf8');
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
        throw e;
      }
      try {
        return JSON.parse(text) as AttachState;
      } catch (e) {
        throw new HvsnapError('proxy_failed', `attach state ${file(name)} is not valid JSON`, { cause: e, context: { file: file(name) } });
      }
    },
    async write(state: AttachState): Promise<void> {
      await fs.mkdir(dir, { recursive: true });
      const target = file(state.presentationName);
      const tmp = `${target}.${process.pid}.tmp`;
      const handle = await fs.open(tmp, 'w');
      try {
        await handle.writeFile(JSON.stringify(state, null, 2));
        await handle.sync();
      } finally {
        await handle.close();
      }
      await fs.rename(tmp, target);
    },
    async remove(name: string): Promise<void> {
      await fs.rm(file(name), { force: true });
    },
  };
}

export type StateStore = ReturnType<typeof createStateStore>;
