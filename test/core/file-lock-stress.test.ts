import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildForChild } from '../helpers/child-build.js';

/**
 * Many processes take one lock in a loop while the test SIGKILLs them at random (inside the lock,
 * while placing it, while waiting). Whoever holds the lock leaves a marker with its pid; finding a
 * marker of a process that is still alive means two holders at once.
 */
const CHILD = `
import { open, readFile, unlink, appendFile } from 'node:fs/promises';
import { withFileLock } from './src/core/file-lock.js';
const [lock, inside, log] = process.argv.slice(2);
const alive = (pid) => { try { process.kill(pid, 0); return true; } catch (e) { return e.code === 'EPERM'; } };
for (;;) {
  await withFileLock(lock, async () => {
    let h;
    try {
      h = await open(inside, 'wx');
    } catch (e) {
      if (e.code !== 'EEXIST') throw e;
      const other = Number(await readFile(inside, 'utf8').catch(() => '0'));
      await appendFile(log, (other && other !== process.pid && alive(other) ? 'TWO ' + other + ' ' + process.pid : 'dead-holder ' + other) + '\\n');
      await unlink(inside).catch(() => {});
      h = await open(inside, 'wx');
    }
    await h.writeFile(String(process.pid));
    await h.close();
    await new Promise((r) => setTimeout(r, Math.random() * 3));
    await unlink(inside);
    await appendFile(log, 'held ' + process.pid + '\\n');
  }, { timeoutMs: 60_000 });
}
`;

let build: Awaited<ReturnType<typeof buildForChild>>;
beforeAll(async () => {
  build = await buildForChild(['src/core/file-lock.ts'], { 'lock-child.mjs': CHILD });
}, 120_000);
afterAll(async () => build?.remove());

describe('the file lock under many processes and random SIGKILLs', () => {
  it('has one holder at a time, and locks of killed holders are taken over', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'hvsnap-lock-stress-'));
    const [lock, inside, log] = [join(dir, 'x.lock'), join(dir, 'inside'), join(dir, 'log')];
    const children = new Set<ChildProcess>();
    const start = () => {
      const c = spawn(process.execPath, [join(build.dir, 'lock-child.mjs'), lock, inside, log], { stdio: 'ignore' });
      children.add(c);
      c.on('exit', () => children.delete(c));
    };
    for (let i = 0; i < 6; i++) start();
    await new Promise((r) => setTimeout(r, 400)); // let the children start up
    let kills = 0;
    const logged = async (kind: string) => (await readFile(log, 'utf8').catch(() => '')).split('\n').filter((l) => l.startsWith(kind)).length;
    // on a busy machine the children get fewer turns: go on until every count is reached
    const until = Date.now() + 100_000;
    while ((kills < 60 || (await logged('held')) < 60 || (await logged('dead-holder')) < 1) && Date.now() < until) {
      await new Promise((r) => setTimeout(r, 30 + Math.random() * 60));
      const list = [...children];
      // every other kill goes to whoever holds the lock now (its pid is in the marker), so that
      // killed holders are certain to occur, not left to the chance of a random kill landing there
      const holder = kills % 2 ? Number(await readFile(inside, 'utf8').catch(() => '0')) : 0;
      const victim = (holder > 0 && list.find((c) => c.pid === holder)) || list[Math.floor(Math.random() * list.length)];
      victim?.kill('SIGKILL');
      kills++;
      start();
    }
    for (const c of children) c.kill('SIGKILL');
    const text = await readFile(log, 'utf8').catch(() => '');
    await rm(dir, { recursive: true, force: true });
    const lines = text.split('\n').filter(Boolean);
    expect(lines.filter((l) => l.startsWith('TWO'))).toEqual([]);
    console.log(
      `lock stress: ${kills} kills, ${lines.filter((l) => l.startsWith('held')).length} holds, ${lines.filter((l) => l.startsWith('dead-holder')).length} taken from killed holders`,
    );
    // the lock went round (and past holders killed inside it)
    expect(lines.filter((l) => l.startsWith('held')).length).toBeGreaterThan(50);
    expect(lines.filter((l) => l.startsWith('dead-holder')).length).toBeGreaterThan(0);
  }, 150_000);
});
