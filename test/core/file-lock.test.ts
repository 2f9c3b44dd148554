import { spawnSync } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { withFileLock } from '../../src/core/file-lock.js';

let dir: string;
beforeEach(async () => (dir = await mkdtemp(join(tmpdir(), 'hvsnap-lock-'))));
afterEach(async () => rm(dir, { recursive: true, force: true }));

async function plantLock(path: string, ownerText: string) {
  await mkdir(path);
  await writeFile(join(path, 'owner'), ownerText);
}

describe('withFileLock', () => {
  it('serialises callers of one process', async () => {
    const lock = join(dir, 'a.lock');
    let inside = 0;
    let peak = 0;
    await Promise.all(
      Array.from({ length: 8 }, () =>
        withFileLock(lock, async () => {
          peak = Math.max(peak, ++inside);
          await new Promise((r) => setTimeout(r, 5));
          inside--;
        }),
      ),
    );
    expect(peak).toBe(1);
  });

  it('never takes a fresh lock whose owner file is still empty (being written by its holder)', async () => {
    const lock = join(dir, 'e.lock');
    await plantLock(lock, '');
    await expect(withFileLock(lock, async () => 'stolen', { timeoutMs: 300 })).rejects.toMatchObject({ code: 'locked' });
  });

  it('takes over a lock whose owner process is gone', async () => {
    const lock = join(dir, 'b.lock');
    // a process that has exited: its pid is free (node itself, so the test needs no other program)
    const dead = spawnSync(process.execPath, ['-e', '']).pid!;
    await plantLock(lock, `${dead}:feedface`);
    expect(await withFileLock(lock, async () => 'got it', { timeoutMs: 2000 })).toBe('got it');
  });

  it('takes over a lock with this pid but not one this process holds (a restarted container, pid 1 again)', async () => {
    const lock = join(dir, 'c.lock');
    await plantLock(lock, `${process.pid}:0000000000000000`);
    expect(await withFileLock(lock, async () => 'got it', { timeoutMs: 2000 })).toBe('got it');
  });

  it('waits for a live owner, then says who holds it with a stable code', async () => {
    const lock = join(dir, 'd.lock');
    await plantLock(lock, `${process.ppid}:abcdef`); // the parent process is alive
    await expect(withFileLock(lock, async () => 'never', { timeoutMs: 200, what: 'lab volume Volume1' })).rejects.toMatchObject({
      code: 'locked',
      retryable: true,
      message: 'lab volume Volume1 is locked by another process',
    });
  });

  it('never takes over a lock whose owner record is empty or partial: it is being written, or unreadable', async () => {
    // old code read an empty record as pid 0, "dead", and took the lock from its live creator
    for (const [name, record] of [
      ['e.lock', ''],
      ['f.lock', '12'],
      ['g.lock', `${process.ppid}:`],
    ]) {
      const lock = join(dir, name);
      await plantLock(lock, record);
      await expect(withFileLock(lock, async () => 'taken', { timeoutMs: 150 })).rejects.toMatchObject({ code: 'locked' });
    }
  });
});
