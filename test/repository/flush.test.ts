import { randomBytes } from 'node:crypto';
import { readdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { isHvsnapError } from '../../src/core/errors.js';
import { captureLogger } from '../../src/core/logger.js';
import { ChunkStore } from '../../src/repository/chunk-store.js';
import { hashChunk } from '../../src/repository/index.js';
import { fileSystemSync, syncfsReportsErrors, type FileSystemSync } from '../../src/repository/sync-file-system.js';
import { CHUNK, tempDir } from './helpers.js';

/** A FileSystemSync that records its calls and answers `result`. */
function recordingSync(result: boolean): FileSystemSync & { calls: string[] } {
  const calls: string[] = [];
  return { available: true, calls, sync: async (path) => (calls.push(path), result), prepare: () => undefined, close: () => undefined };
}

async function storeWith(fsSync: FileSystemSync) {
  const logger = captureLogger();
  const store = new ChunkStore(join(await tempDir(), 'chunks'), CHUNK, logger, fsSync);
  const flushes = () => logger.lines.filter((l) => l.msg === 'chunks flushed').map((l) => l.obj);
  return { store, flushes };
}

describe('chunk store flush', () => {
  it('makes many chunks durable with one syncfs of the store, and nothing twice', async () => {
    const fsSync = recordingSync(true);
    const { store, flushes } = await storeWith(fsSync);
    for (let i = 0; i < 40; i++) expect((await store.put(randomBytes(1000))).written).toBe(true);
    await store.flush();
    expect(fsSync.calls).toEqual([store.root]);
    expect(flushes()).toEqual([expect.objectContaining({ chunks: 40, how: 'syncfs' })]);
    await store.flush(); // nothing pending: no second sync
    expect(fsSync.calls).toHaveLength(1);
  });

  it('fsyncs a few chunks one by one rather than the whole file system', async () => {
    const fsSync = recordingSync(true);
    const { store, flushes } = await storeWith(fsSync);
    await store.put(randomBytes(1000));
    await store.flush();
    expect(fsSync.calls).toEqual([]);
    expect(flushes()).toEqual([expect.objectContaining({ chunks: 1, how: 'fsync' })]);
  });

  it('falls back to fsyncs when syncfs fails, and reports a chunk that cannot be synced', async () => {
    const fsSync = recordingSync(false);
    const { store, flushes } = await storeWith(fsSync);
    const ids: string[] = [];
    for (let i = 0; i < 40; i++) ids.push((await store.put(randomBytes(1000))).id!);
    await store.flush();
    expect(fsSync.calls).toHaveLength(1);
    expect(flushes()).toEqual([expect.objectContaining({ chunks: 40, how: 'fsync' })]);

    // a pending chunk that vanished before the flush: the fsync names the store, the chunk stays pending
    for (let i = 0; i < 40; i++) ids.push((await store.put(randomBytes(1000))).id!);
    await rm(store.pathOf(ids[45]));
    const e = await store.flush().catch((x: unknown) => x);
    expect(isHvsnapError(e) && e.code).toBe('repository_invalid');
    expect(String((e as Error).message)).toContain(store.root);
    await expect(store.flush()).rejects.toThrow(/ENOENT/);
  });

  it('writes a chunk through a temp file and leaves none behind, even for concurrent puts of the same chunk', async () => {
    const { store } = await storeWith(recordingSync(true));
    const data = randomBytes(CHUNK);
    const results = await Promise.all(Array.from({ length: 6 }, () => store.put(data)));
    expect(results.filter((r) => r.written)).toHaveLength(1);
    const id = hashChunk(data);
    expect(await readdir(join(store.root, id.slice(0, 2), id.slice(2, 4)))).toEqual([id]);
    expect((await readFile(store.pathOf(id))).equals(data)).toBe(true);
  });
});

describe('fileSystemSync', () => {
  it('is used on Linux 5.8 or later only, whose syncfs reports write-back errors', () => {
    expect(syncfsReportsErrors('linux', '6.18.44-fc')).toBe(true);
    expect(syncfsReportsErrors('linux', '5.8.0')).toBe(true);
    expect(syncfsReportsErrors('linux', '5.4.0-150-generic')).toBe(false);
    expect(syncfsReportsErrors('linux', '4.19.0')).toBe(false);
    expect(syncfsReportsErrors('darwin', '23.1.0')).toBe(false);
    expect(syncfsReportsErrors('win32', '10.0.22631')).toBe(false);
  });

  it.runIf(syncfsReportsErrors())('syncs the file system of a folder with sync -f, one helper for many calls, in order', async () => {
    const s = fileSystemSync();
    try {
      expect(s.available).toBe(true);
      const dir = await tempDir();
      expect(await Promise.all([s.sync(dir), s.sync(dir), s.sync(dir)])).toEqual([true, true, true]);
      s.close();
      expect(await s.sync(dir)).toBe(true); // a new helper after close
      expect(s.available).toBe(true);
    } finally {
      s.close();
    }
  });

  it('answers false, and stays unavailable, when the command is missing or fails', async () => {
    const missing = fileSystemSync({ command: 'hvsnap-no-such-sync-command' });
    expect(await missing.sync(await tempDir())).toBe(false);
    expect(missing.available).toBe(false);
    expect(await missing.sync(await tempDir())).toBe(false);
    missing.close();

    const failing = fileSystemSync(); // sync -f of a path that does not exist exits non-zero
    expect(await failing.sync(join(await tempDir(), 'no-such-folder'))).toBe(false);
    expect(failing.available).toBe(false);
    expect(await failing.sync(await tempDir())).toBe(false); // and it is not tried again
    failing.close();
  });
});
