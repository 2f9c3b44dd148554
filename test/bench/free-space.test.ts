import { statfs } from 'node:fs/promises';
import { afterAll, describe, expect, it } from 'vitest';
import { tempDir } from '../vhdx/helpers.js';
import { requireFreeSpace } from './bench-context.js';

const tmp = tempDir('hvsnap-bench-space-');
afterAll(() => tmp.cleanup());

describe('the bench before a scenario that fills the disk', () => {
  it('refuses, naming the folder, the space needed and the space free, when the file system lacks room; passes when it has it', async () => {
    const dir = tmp.dir;
    const fs = await statfs(dir);
    const free = fs.bavail * fs.bsize;
    const needed = free + 2 ** 40;
    // the free figure is the file system's at the time (other tests write meanwhile): only its form is checked
    const err = await requireFreeSpace(dir, needed, 'five repositories').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(Error);
    const message = (err as Error).message;
    expect(message.startsWith(`${dir} has `)).toBe(true);
    expect(message).toMatch(/ has \d+\.\d GiB free; /);
    expect(message.endsWith(`needs about ${(needed / 2 ** 30).toFixed(1)} GiB there (five repositories): free some space, or run with --quick`)).toBe(true);
    await expect(requireFreeSpace(dir, Math.floor(free / 2), 'half of what is free')).resolves.toBeUndefined();
  });
});
