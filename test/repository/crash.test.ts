import { spawn } from 'node:child_process';
import { readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openRepository } from '../../src/repository/index.js';
import { buildForChild } from '../helpers/child-build.js';
import { backup, CHUNK, diskData, newRepo } from './helpers.js';

/**
 * A real crash: a child process (the repository compiled to JavaScript with the project's tsc)
 * writes a restore point and is killed with SIGKILL before it commits.
 */
let build: string;
let built: Awaited<ReturnType<typeof buildForChild>> | undefined;

const CHILD = `
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { openRepository } from './src/repository/index.js';
const [path, shared] = process.argv.slice(2);
const repo = await openRepository({ path });
const w = await repo.beginRestorePoint({ jobId: 'crash-job', vmId: 'vm-crash', vmName: 'crash' });
const chunks = [];
for (let i = 0; i < 6; i++) chunks.push((await repo.putChunk(randomBytes(repo.chunkSize))).id);
chunks.push((await repo.putChunk(await readFile(shared))).id);
await w.writeIndex('disk0', { chunkSize: repo.chunkSize, virtualSize: chunks.length * repo.chunkSize, chunks });
await w.writeConfigFile('Virtual Machines/crash.vmcx', Buffer.from('cfg'));
process.stdout.write('ready ' + w.id + '\\n');
setInterval(() => {}, 1000);
`;

beforeAll(async () => {
  built = await buildForChild(['src/repository/index.ts'], { 'child.mjs': CHILD });
  build = built.dir;
}, 60_000);

afterAll(async () => {
  await built?.remove();
});

async function runAndKill(repoPath: string, sharedFile: string): Promise<string> {
  const child = spawn(process.execPath, [join(build, 'child.mjs'), repoPath, sharedFile], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stderr.on('data', (d: Buffer) => (err += d));
  const id = await new Promise<string>((ok, fail) => {
    child.stdout.on('data', (d: Buffer) => {
      out += d;
      const m = /ready (\S+)\n/.exec(out);
      if (m) ok(m[1]);
    });
    child.on('exit', (code) => fail(new Error(`child exited with ${code} before it was ready: ${err}`)));
  });
  const exited = new Promise((r) => child.on('exit', r));
  child.kill('SIGKILL');
  await exited;
  return id;
}

describe('a writer killed before commit', () => {
  it('leaves no restore point, and gc removes its lock, temp folder and chunks but keeps shared ones', async () => {
    const repo = await newRepo();
    const data = diskData(3);
    const before = await backup(repo, { id: 'vm-ok', name: 'ok' }, data);
    await repo.close();
    const sharedChunk = join(build, 'shared.bin');
    await writeFile(sharedChunk, data.subarray(CHUNK, 2 * CHUNK));

    const id = await runAndKill(repo.path, sharedChunk);
    expect(await readdir(join(repo.path, 'tmp'))).toEqual([id]);
    expect((await readdir(join(repo.path, 'locks'))).filter((f) => f.startsWith('shared-'))).toHaveLength(1);

    const after = await openRepository({ path: repo.path });
    expect((await after.listRestorePoints()).map((m) => m.id)).toEqual([before.manifest.id]);
    await expect(after.getRestorePoint(id)).rejects.toMatchObject({ code: 'not_found' });
    const gc = await after.gc();
    // the killed writer's pack was never sealed nor indexed: gc removes it whole
    expect(gc).toMatchObject({ chunksKept: 3, tempRemoved: 1, packsDeleted: 1 });
    expect((await readdir(join(after.path, 'packs'), { recursive: true })).filter((n) => n.includes('/'))).toHaveLength(1);
    expect(await readdir(join(after.path, 'tmp'))).toEqual([]);
    expect(await readdir(join(after.path, 'locks'))).toEqual([]);
    const report = await after.verify({ deep: true });
    expect(report).toMatchObject({ ok: true, restorePoints: 1, chunksChecked: 3 });
  });
});
