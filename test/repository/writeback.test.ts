import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { captureLogger } from '../../src/core/logger.js';
import { ChunkStore } from '../../src/repository/chunk-store.js';
import type { FileSystemSync } from '../../src/repository/sync-file-system.js';
import { CHUNK, tempDir } from './helpers.js';

/** A FileSystemSync whose syncs stay open until `release` is called; records every call. */
function heldSync(): FileSystemSync & { calls: string[]; release(ok: boolean): void } {
  const calls: string[] = [];
  const open: Array<(ok: boolean) => void> = [];
  return {
    available: true,
    calls,
    sync: (path) => (calls.push(path), new Promise<boolean>((resolve) => open.push(resolve))),
    prepare: () => undefined,
    close: () => undefined,
    release: (ok) => open.splice(0).forEach((r) => r(ok)),
  };
}

describe('chunk store background write-back', () => {
  it('starts one syncfs while chunks are still being put, and the flush still syncs them all itself', async () => {
    const fsSync = heldSync();
    const logger = captureLogger();
    const store = new ChunkStore(join(await tempDir(), 'chunks'), CHUNK, logger, fsSync);
    // 16 MiB of new chunks start a write-back; more puts while it runs start no second one
    const puts = (16 * 1024 * 1024) / CHUNK + 8;
    for (let i = 0; i < puts; i++) expect((await store.put(randomBytes(CHUNK))).written).toBe(true);
    expect(fsSync.calls).toEqual([store.root]);

    // the write-back marked nothing durable: the flush syncs again and counts every chunk
    const flushed = store.flush();
    await new Promise((r) => setImmediate(r));
    expect(fsSync.calls).toEqual([store.root, store.root]);
    fsSync.release(true);
    await flushed;
    const lines = logger.lines.filter((l) => l.msg === 'chunks flushed').map((l) => l.obj);
    expect(lines).toEqual([expect.objectContaining({ chunks: puts, how: 'syncfs' })]);
  });

  it('a failed write-back leaves the flush to fsync every chunk', async () => {
    const fsSync = heldSync();
    const logger = captureLogger();
    const store = new ChunkStore(join(await tempDir(), 'chunks'), CHUNK, logger, fsSync);
    const puts = (16 * 1024 * 1024) / CHUNK;
    for (let i = 0; i < puts; i++) await store.put(randomBytes(CHUNK));
    expect(fsSync.calls).toHaveLength(1);
    fsSync.release(false);
    const flushed = store.flush();
    await new Promise((r) => setImmediate(r));
    fsSync.release(false);
    await flushed;
    const lines = logger.lines.filter((l) => l.msg === 'chunks flushed').map((l) => l.obj);
    expect(lines).toEqual([expect.objectContaining({ chunks: puts, how: 'fsync' })]);
  });
});
