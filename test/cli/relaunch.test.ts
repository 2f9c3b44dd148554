import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { movesDiskData } from '../../src/cli/program.js';
import { commandModules } from '../../src/cli/commands/index.js';
import { hugePageEnv } from '../../src/core/aligned-memory.js';
import { buildCli } from '../helpers/build-cli.js';
import { childrenOf, running } from '../helpers/proc.js';
import { skipUnless } from '../helpers/requirements.js';
import { tempDir } from '../vhdx/helpers.js';

describe('which commands move disk data', () => {
  it('backups, restores and repository checks do; their help, listings and the rest do not', () => {
    for (const argv of [['backup', '-c', 'x.yaml'], ['--debug', 'restore', 'rp'], ['--log-file', 'l.json', 'verify', '--deep'], ['worker'], ['migrate']])
      expect(movesDiskData(argv, commandModules), argv.join(' ')).toBe(true);
    for (const argv of [['backup', '--help'], ['help', 'restore'], ['list'], ['--version'], [], ['--log-file', 'backup', 'list'], ['doctor']])
      expect(movesDiskData(argv, commandModules), argv.join(' ')).toBe(false);
  });
});

// The launcher: a data command runs in a child started with glibc's huge-page tunable (HVSNAP_HUGE_PAGES=1
// asks for it whatever the machine's THP setting), and signals reach that child once.
const skip = skipUnless('the data command launcher', {
  check: () =>
    !hugePageEnv(launcherEnv())
      ? 'needs Linux with glibc 2.35 or later'
      : !existsSync(`/proc/${process.pid}/task/${process.pid}/children`)
        ? 'needs /proc/PID/task/TID/children (a kernel with CONFIG_PROC_CHILDREN) to find the command under its launcher'
        : undefined,
});

/** The environment the tests start hvsnap with: huge pages asked for, no tunable or other malloc of the test runner's. */
function launcherEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, HVSNAP_HUGE_PAGES: '1' };
  delete env.GLIBC_TUNABLES;
  delete env.LD_PRELOAD;
  return env;
}

/** Processes a test started, killed after it if still there. */
const started: number[] = [];
afterEach(() => {
  for (const pid of started.splice(0)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // gone
    }
  }
});
const tmp = tempDir('hvsnap-relaunch-');
let build: Awaited<ReturnType<typeof buildCli>>;
let repo: string;

beforeAll(async () => {
  if (skip) return;
  build = await buildCli();
  // a repository whose format file is a FIFO: `verify` blocks opening it, where no abort reaches
  // (a libuv thread waits in open(), as on a hung NFS mount)
  repo = tmp.path('repo');
  await mkdir(repo);
  const made = spawnSync('mkfifo', [tmp.path('repo/hvsnap-repository.json')]);
  if (made.status !== 0) throw new Error(`mkfifo failed: ${made.stderr}`);
}, 120_000);
afterAll(async () => {
  await build?.remove();
  tmp.cleanup();
});

/** True when a thread of `pid` waits in the open of a FIFO for its other end. */
function waitsOnFifo(pid: number): boolean {
  try {
    return readdirSync(`/proc/${pid}/task`).some((t) => readFileSync(`/proc/${pid}/task/${t}/wchan`, 'utf8').includes('wait_for_partner'));
  } catch {
    return false;
  }
}

/**
 * Starts `hvsnap verify` (or `command`) on the blocking repository in a process group of its own;
 * returns once its child waits on the FIFO.
 */
async function blockedVerify(command: string[] = ['verify']) {
  const launcher = spawn(process.execPath, [build.main, ...command, '--repo', repo], { stdio: ['ignore', 'pipe', 'pipe'], env: launcherEnv(), detached: true });
  started.push(launcher.pid!);
  let stderr = '';
  launcher.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  let child = 0;
  for (let i = 0; i < 400 && !(child && waitsOnFifo(child)); i++) {
    await new Promise((r) => setTimeout(r, 50));
    child ||= childrenOf(launcher.pid!)[0] ?? 0;
  }
  if (child) started.push(child);
  return { launcher, child, stderr: () => stderr };
}

/** How the launcher ended, or 'still running' after `ms`. */
async function endedWithin(launcher: ReturnType<typeof spawn>, ms: number): Promise<{ code: number | null; signal: NodeJS.Signals | null } | 'still running'> {
  if (launcher.exitCode !== null || launcher.signalCode !== null) return { code: launcher.exitCode, signal: launcher.signalCode };
  const timer = new Promise<'still running'>((r) => setTimeout(() => r('still running'), ms).unref());
  const exited = once(launcher, 'exit').then(([code, signal]) => ({ code: code as number | null, signal: signal as NodeJS.Signals | null }));
  return Promise.race([exited, timer]);
}

const environOf = (pid: number) => readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0');

describe.skipIf(skip !== undefined)(skip ? `the data command launcher — SKIPPED: ${skip}` : 'the data command launcher', () => {
  it('runs the command in a child started with glibc.malloc.hugetlb=1, and passes a SIGTERM sent to it alone on', async () => {
    const { launcher, child, stderr } = await blockedVerify();
    expect(child).toBeGreaterThan(0);
    expect(environOf(child)).toContain('GLIBC_TUNABLES=glibc.malloc.hugetlb=1');
    expect(environOf(launcher.pid!).some((v) => v.startsWith('GLIBC_TUNABLES='))).toBe(false);
    launcher.kill('SIGTERM');
    // the command cannot see the abort (its thread waits in open()): a second later it says so and
    // ends, killed by the signal, and the launcher ends the same way (before: it said so and hung)
    expect(await endedWithin(launcher, 10_000)).toEqual({ code: null, signal: 'SIGTERM' });
    expect(stderr().match(/stopped by SIGTERM/g)).toHaveLength(1);
  }, 30_000);

  it('takes a Ctrl-C that reaches both processes (and is passed on) as one: the command gets its second to stop', async () => {
    const { launcher, stderr } = await blockedVerify();
    const sent = performance.now();
    process.kill(-launcher.pid!, 'SIGINT'); // the whole group, as a terminal does
    expect(await endedWithin(launcher, 10_000)).toEqual({ code: null, signal: 'SIGINT' });
    // a copy taken as a second Ctrl-C would have ended the child at once, not after its second
    expect(performance.now() - sent).toBeGreaterThanOrEqual(900);
    expect(stderr().match(/stopped by SIGINT/g)).toHaveLength(1);
  }, 30_000);

  it('a command that undoes what it made waits for that after one Ctrl-C (copies and all), and a second Ctrl-C ends it at once', async () => {
    const { launcher, stderr } = await blockedVerify(['prune', '--keep-last', '1']);
    process.kill(-launcher.pid!, 'SIGINT'); // reaches both processes, and the launcher passes it on
    // stuck, it cannot finish its undo: it waits (a copy taken as a second Ctrl-C would end it)
    expect(await endedWithin(launcher, 2000)).toBe('still running');
    expect(stderr().match(/stopping on SIGINT/g)).toHaveLength(1);
    process.kill(-launcher.pid!, 'SIGINT');
    expect(await endedWithin(launcher, 10_000)).toEqual({ code: null, signal: 'SIGINT' });
    expect(stderr().match(/stopped by SIGINT/g)).toHaveLength(1);
  }, 30_000);

  it('a SIGTERM sent to the launcher alone reaches such a command once each time (systemd KillMode=mixed)', async () => {
    const { launcher, stderr } = await blockedVerify(['prune', '--keep-last', '1']);
    launcher.kill('SIGTERM');
    expect(await endedWithin(launcher, 2000)).toBe('still running');
    expect(stderr().match(/stopping on SIGTERM/g)).toHaveLength(1);
    launcher.kill('SIGTERM');
    expect(await endedWithin(launcher, 10_000)).toEqual({ code: null, signal: 'SIGTERM' });
  }, 30_000);

  it('ends the way the command ended: killed by a signal, it is killed by the same one', async () => {
    const { launcher, child } = await blockedVerify();
    const exited = once(launcher, 'exit');
    process.kill(child, 'SIGKILL'); // as the crash tests' hook kills a backup after a step
    const [code, signal] = await exited;
    expect({ code, signal }).toEqual({ code: null, signal: 'SIGKILL' });
  }, 30_000);

  it('killed outright itself, takes the command with it at once', async () => {
    const { launcher, child } = await blockedVerify();
    const exited = once(launcher, 'exit');
    launcher.kill('SIGKILL'); // no signal is passed on: the child learns it from the closed channel
    await exited;
    for (let i = 0; i < 100 && (await running(child)); i++) await new Promise((r) => setTimeout(r, 50));
    expect(await running(child)).toBe(false);
  }, 30_000);
});
