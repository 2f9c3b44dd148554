import { createHash, randomBytes } from 'node:crypto';
import { readdir, readFile, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { isHvsnapError } from '../../src/core/errors.js';
import { hashChunk, isAllZero } from '../../src/repository/index.js';
import { CHUNK, newRepo, reopen } from './helpers.js';

async function filesUnder(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true, recursive: true })) if (e.isFile()) out.push(join(e.parentPath, e.name));
  return out;
}

async function codeOf(p: Promise<unknown>): Promise<string | undefined> {
  return p.then(
    () => undefined,
    (e: unknown) => (isHvsnapError(e) ? e.code : String(e)),
  );
}

describe('hashChunk and isAllZero', () => {
  it('hashChunk is the lowercase hex SHA-256', () => {
    const data = randomBytes(1000);
    expect(hashChunk(data)).toBe(createHash('sha256').update(data).digest('hex'));
    expect(hashChunk(new Uint8Array(0))).toBe('e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
  });

  it('isAllZero finds a single set bit anywhere, in views at any offset and of any length', () => {
    for (const len of [1, 7, 4096, 1024 * 1024, 3 * 1024 * 1024 + 5]) {
      const buf = Buffer.alloc(len);
      expect(isAllZero(buf)).toBe(true);
      for (const at of [0, len >> 1, len - 1]) {
        buf[at] = 0x10;
        expect(isAllZero(buf)).toBe(false);
        buf[at] = 0;
      }
    }
    const big = Buffer.alloc(8192);
    big[10] = 1;
    expect(isAllZero(big.subarray(11))).toBe(true);
    expect(isAllZero(new Uint8Array(big.buffer, 8, 4))).toBe(false);
  });
});

describe('chunk store', () => {
  it('round-trips chunks, including a short last chunk, under chunks/ab/cd/<sha256>', async () => {
    const repo = await newRepo();
    const full = randomBytes(CHUNK);
    const short = randomBytes(1000);
    const a = await repo.putChunk(full);
    const b = await repo.putChunk(short);
    expect(a).toEqual({ id: hashChunk(full), written: true, bytesWritten: CHUNK });
    expect(b.bytesWritten).toBe(1000);
    expect((await repo.getChunk(a.id!)).equals(full)).toBe(true);
    expect((await repo.getChunk(b.id!, { verify: true })).equals(short)).toBe(true);
    expect(await repo.hasChunk(a.id!)).toBe(true);
    const id = a.id!;
    expect((await readFile(join(repo.path, 'chunks', id.slice(0, 2), id.slice(2, 4), id))).equals(full)).toBe(true);
  });

  it('stores a chunk once, however often it is put', async () => {
    const repo = await newRepo();
    const data = randomBytes(CHUNK);
    const first = await repo.putChunk(data);
    const second = await repo.putChunk(Buffer.from(data));
    expect(first.written).toBe(true);
    expect(second).toEqual({ id: first.id, written: false, bytesWritten: 0 });
    expect(await filesUnder(join(repo.path, 'chunks'))).toHaveLength(1);
  });

  it('does not store all-zero chunks', async () => {
    const repo = await newRepo();
    expect(await repo.putChunk(Buffer.alloc(CHUNK))).toEqual({ id: null, written: false, bytesWritten: 0 });
    expect(await repo.putChunk(new Uint8Array(17))).toEqual({ id: null, written: false, bytesWritten: 0 });
    expect(await filesUnder(join(repo.path, 'chunks'))).toHaveLength(0);
  });

  it('writes a chunk exactly once when many put it at the same time, from two repository objects', async () => {
    const repo = await newRepo();
    const other = await reopen(repo.path);
    const data = randomBytes(CHUNK);
    const results = await Promise.all(Array.from({ length: 24 }, (_, i) => (i % 2 ? repo : other).putChunk(Buffer.from(data))));
    expect(new Set(results.map((r) => r.id))).toEqual(new Set([hashChunk(data)]));
    expect(results.filter((r) => r.written)).toHaveLength(1);
    const files = await filesUnder(join(repo.path, 'chunks'));
    expect(files.map((f) => f.split('/').pop())).toEqual([hashChunk(data)]); // no temp file left
    expect((await repo.getChunk(hashChunk(data), { verify: true })).equals(data)).toBe(true);
  });

  it('stores many different chunks put concurrently', async () => {
    const repo = await newRepo();
    const datas = Array.from({ length: 40 }, () => randomBytes(CHUNK));
    const results = await Promise.all(datas.map((d) => repo.putChunk(d)));
    expect(results.every((r) => r.written)).toBe(true);
    await repo.flush();
    for (const [i, d] of datas.entries()) expect((await repo.getChunk(results[i].id!)).equals(d)).toBe(true);
  });

  it('accepts a precomputed id and rejects a malformed one', async () => {
    const repo = await newRepo();
    const data = randomBytes(CHUNK);
    expect((await repo.putChunk(data, hashChunk(data))).id).toBe(hashChunk(data));
    expect(await codeOf(repo.putChunk(data, 'ABC'))).toBe('input_invalid');
    expect(await codeOf(repo.putChunk(data, hashChunk(data).toUpperCase()))).toBe('input_invalid');
  });

  it('rejects empty and oversized chunks', async () => {
    const repo = await newRepo();
    expect(await codeOf(repo.putChunk(new Uint8Array(0)))).toBe('input_invalid');
    expect(await codeOf(repo.putChunk(randomBytes(CHUNK + 1)))).toBe('input_invalid');
  });

  it('reports a missing or corrupt chunk as integrity_failed naming the file', async () => {
    const repo = await newRepo();
    const { id } = await repo.putChunk(randomBytes(CHUNK));
    const file = join(repo.path, 'chunks', id!.slice(0, 2), id!.slice(2, 4), id!);
    await writeFile(file, randomBytes(CHUNK));
    expect((await repo.getChunk(id!)).length).toBe(CHUNK); // no check unless asked
    const corrupt = await repo.getChunk(id!, { verify: true }).catch((e: unknown) => e);
    expect(isHvsnapError(corrupt) && corrupt.code === 'integrity_failed' && corrupt.context.file === file).toBe(true);
    await unlink(file);
    expect(await repo.hasChunk(id!)).toBe(false);
    const missing = await repo.getChunk(id!).catch((e: unknown) => e);
    expect(isHvsnapError(missing) && missing.code === 'integrity_failed' && missing.message.includes(file)).toBe(true);
    expect(await codeOf(repo.getChunk('../../etc/passwd'))).toBe('input_invalid');
  });
});
