import { mkdtemp, readFile, rm, stat, writeFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { moveBytes } from './move-bytes.js';

describe('move-bytes (the bench reference for a restore)', () => {
  let dir: string | undefined;
  afterEach(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('reads every file under the folder and writes as many bytes, in whole MiB, to a new file', async () => {
    dir = await mkdtemp(join(tmpdir(), 'hvsnap-move-bytes-'));
    const packs = join(dir, 'packs');
    await mkdir(join(packs, 'ab'), { recursive: true });
    await writeFile(join(packs, 'ab', 'one'), Buffer.alloc(3 * 1024 * 1024 + 5, 1)); // 4 pieces, the last short
    await writeFile(join(packs, 'two'), Buffer.alloc(1024 * 1024, 2)); // 1 piece
    const out = join(dir, 'out.bin');
    expect(await moveBytes(packs, out)).toBe(4 * 1024 * 1024 + 5);
    expect((await stat(out)).size).toBe(5 * 1024 * 1024);
    expect((await readFile(out)).every((b) => b === 0xa5)).toBe(true);
    // it never writes over a file
    await expect(moveBytes(packs, out)).rejects.toMatchObject({ code: 'EEXIST' });
    // the bytes to write given (a compressed repository's restore writes more than it reads)
    const more = join(dir, 'more.bin');
    expect(await moveBytes(packs, more, 7 * 1024 * 1024 + 1)).toBe(4 * 1024 * 1024 + 5);
    expect((await stat(more)).size).toBe(8 * 1024 * 1024);
    // nothing to read: the bytes are only written (the floor of a durable restore)
    await mkdir(join(dir, 'empty'));
    const only = join(dir, 'only.bin');
    expect(await moveBytes(join(dir, 'empty'), only, 2 * 1024 * 1024)).toBe(0);
    expect((await stat(only)).size).toBe(2 * 1024 * 1024);
    expect((await readFile(only)).every((b) => b === 0xa5)).toBe(true);
  });
});
