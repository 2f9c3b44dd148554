import { mkdir, readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from '../core/logger.js';
import { isErrno, writeFileSynced } from './fs-util.js';
import type { ChunkId } from './types.js';

/**
 * The quarantine of a {@link PackStore} (pack-store.ts): copies of chunks found bad, recorded under
 * `bad/<chunk id>.<pack>` and never trusted again.
 */
export class PackQuarantine {
  private readonly bad = new Map<ChunkId, Set<string>>();

  constructor(
    readonly badDir: string,
    private readonly logger: Logger,
  ) {}

  /** Loads the quarantine records on disk. */
  async load(): Promise<void> {
    for (const name of await readdirOrEmpty(this.badDir)) {
      const m = /^([0-9a-f]{64})\.([0-9a-f]{32})$/.exec(name);
      if (m) this.badSet(m[1]).add(m[2]);
    }
  }

  private badSet(id: ChunkId): Set<string> {
    let s = this.bad.get(id);
    if (!s) this.bad.set(id, (s = new Set()));
    return s;
  }

  /** True when the copy of `id` in pack `pack` is known bad. */
  isBad(id: ChunkId, pack: string): boolean {
    return this.bad.get(id)?.has(pack) ?? false;
  }

  /** Records that the copy of `id` in pack `pack` is bad (durably), so no backup trusts it again. */
  async markBad(id: ChunkId, pack: string, reason: string): Promise<void> {
    if (this.isBad(id, pack)) return;
    this.badSet(id).add(pack);
    this.logger.warn({ chunk: id, pack, reason }, 'chunk quarantined');
    await mkdir(this.badDir, { recursive: true });
    await writeFileSynced(join(this.badDir, `${id}.${pack}`), reason.slice(0, 500) + '\n');
  }

  /** Removes the quarantine records of packs that no longer exist (gc). */
  async forgetBad(packs: Set<string>): Promise<void> {
    for (const [id, set] of this.bad) {
      for (const pack of set) {
        if (!packs.has(pack)) continue;
        set.delete(pack);
        await rm(join(this.badDir, `${id}.${pack}`), { force: true });
      }
    }
  }

  /** Every quarantined copy: chunk id and pack. */
  badCopies(): Array<{ id: ChunkId; pack: string }> {
    return [...this.bad].flatMap(([id, set]) => [...set].map((pack) => ({ id, pack })));
  }
}

export async function readdirOrEmpty(dir: string): Promise<string[]> {
  try {
    return await readdir(dir);
  } catch (e) {
    if (isErrno(e, 'ENOENT', 'ENOTDIR')) return [];
    throw e;
  }
}
