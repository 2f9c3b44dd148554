import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DEFAULT_CHUNK_SIZE, openRepository, REPOSITORY_FILE } from '../../src/repository/index.js';
import { CHUNK, tempDir, failure } from './helpers.js';

describe('openRepository', () => {
  it('creates a repository with 256 KiB chunks by default and opens it again', async () => {
    const path = join(await tempDir(), 'repo');
    const repo = await openRepository({ path, create: true });
    expect(repo.chunkSize).toBe(256 * 1024);
    expect(DEFAULT_CHUNK_SIZE).toBe(256 * 1024);
    expect(repo.path).toBe(path);
    const config = JSON.parse(await readFile(join(path, REPOSITORY_FILE), 'utf8'));
    expect(config).toMatchObject({ format: 'hvsnap-repository', formatVersion: 3, chunkSize: 262144, compression: 'zstd', encryption: 'none' });
    expect(config.id).toMatch(/^[0-9a-f]{32}$/);
    const again = await openRepository({ path });
    expect(again.chunkSize).toBe(DEFAULT_CHUNK_SIZE);
    // create on an existing repository opens it
    expect((await openRepository({ path, create: true })).chunkSize).toBe(DEFAULT_CHUNK_SIZE);
  });

  it('keeps the chunk size chosen at creation and refuses another one later', async () => {
    const path = join(await tempDir(), 'repo');
    await openRepository({ path, create: true, chunkSize: CHUNK });
    expect((await openRepository({ path })).chunkSize).toBe(CHUNK);
    const e = await failure(openRepository({ path, chunkSize: 2 * CHUNK }));
    expect(e.code).toBe('input_invalid');
    expect(e.context.field).toBe('chunkSize');
  });

  it.each([1000, 32 * 1024, 32 * 1024 * 1024, 3 * 65536, 1.5, -65536])('rejects chunk size %s naming the option', async (chunkSize) => {
    const e = await failure(openRepository({ path: join(await tempDir(), 'r'), create: true, chunkSize }));
    expect(e.code).toBe('input_invalid');
    expect(e.message).toContain('chunkSize');
  });

  it('calls a folder without a repository invalid, naming the path', async () => {
    const path = await tempDir();
    const e = await failure(openRepository({ path }));
    expect(e.code).toBe('repository_invalid');
    expect(e.message).toContain(path);
    expect(e.context.path).toBe(path);
  });

  it('calls a missing folder invalid unless asked to create it', async () => {
    const path = join(await tempDir(), 'no', 'such');
    expect((await failure(openRepository({ path }))).code).toBe('repository_invalid');
    expect((await openRepository({ path, create: true })).path).toBe(path);
  });

  it('refuses a file, and a path below a file', async () => {
    const file = join(await tempDir(), 'file');
    await writeFile(file, 'x');
    for (const path of [file, join(file, 'repo')]) {
      for (const create of [false, true]) {
        const e = await failure(openRepository({ path, create }));
        expect(e.code).toBe('repository_invalid');
        expect(e.message).toContain(path);
      }
    }
  });

  it('will not create a repository in a folder that holds other files', async () => {
    const path = await tempDir();
    await writeFile(join(path, 'important.txt'), 'keep me');
    const e = await failure(openRepository({ path, create: true }));
    expect(e.code).toBe('repository_invalid');
    expect(e.message).toContain('important.txt');
  });

  it('names the file and field of a damaged repository file', async () => {
    const path = join(await tempDir(), 'repo');
    await openRepository({ path, create: true });
    const file = join(path, REPOSITORY_FILE);
    await writeFile(file, '{not json');
    let e = await failure(openRepository({ path }));
    expect(e.code).toBe('repository_invalid');
    expect(e.message).toContain(file);
    const good = { format: 'hvsnap-repository', formatVersion: 3, id: 'ab'.repeat(16), compression: 'zstd', encryption: 'none', chunkSize: CHUNK };
    await writeFile(file, JSON.stringify({ ...good, chunkSize: 12345 }));
    e = await failure(openRepository({ path }));
    expect(e.context).toMatchObject({ file, field: 'chunkSize' });
    await writeFile(file, JSON.stringify({ ...good, encryption: 'rot13' }));
    expect((await failure(openRepository({ path }))).context.field).toBe('encryption');
    await writeFile(file, JSON.stringify({ ...good, formatVersion: 4 }));
    e = await failure(openRepository({ path }));
    expect(e.context.field).toBe('formatVersion');
    expect(e.hint).toMatch(/newer hvsnap/);
  });

  it('calls an unreadable repository file invalid', async () => {
    const path = await tempDir();
    await mkdir(join(path, REPOSITORY_FILE));
    const e = await failure(openRepository({ path }));
    expect(e.code).toBe('repository_invalid');
    expect(e.message).toContain(path);
  });

  it.skipIf(process.getuid?.() === 0)('calls a folder without read permission invalid', async () => {
    const path = join(await tempDir(), 'repo');
    await openRepository({ path, create: true });
    await chmod(path, 0o000);
    try {
      const e = await failure(openRepository({ path }));
      expect(e.code).toBe('repository_invalid');
      expect(e.message).toContain(path);
    } finally {
      await chmod(path, 0o755);
    }
  });
});
