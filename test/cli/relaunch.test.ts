import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { closeSync, constants, existsSync, openSync, readdirSync, readFileSync } from 'node:fs';
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
  // (the open holds a libuv thread, which exit waits for: see released())
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

/** Starts `hvsnap verify` on the blocking repository in a process group of its own; returns once its child waits on the FIFO. */
async function blockedVerify() {
  const launcher = spawn(process.execPath, [build.main, 'verify', '--repo', repo], { stdio: ['ignore', 'pipe', 'pipe'], env: launcherEnv(), detached: true });
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

/**
 * Waits for `text` on the command's stderr, then lets the stuck open of the FIFO finish (a writer
 * opens and closes it, if anyone still waits there): the process cannot exit while a thread of it
 * waits in open().
 */
async function released(stderr: () => string, text: string): Promise<void> {
  for (let i = 0; i < 200 && !stderr().includes(text); i++) await new Promise((r) => setTimeout(r, 50));
  try {
    closeSync(openSync(tmp.path('repo/hvsnap-repository.json'), constants.O_WRONLY | constants.O_NONBLOCK));
  } catch {
    // ENXIO: nobody reads it
  }
}

const environOf = (pid: number) => readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0');

describe.skipIf(skip !== undefined)(skip ? `the data command launcher — SKIPPED: ${skip}` : 'the data command launcher', () => {
  it('runs the command in a child started with glibc.malloc.hugetlb=1, and passes a SIGTERM sent to it alone on', async () => {
    const { launcher, child, stderr } = await blockedVerify();
    expect(child).toBeGreaterThan(0);
    expect(environOf(child)).toContain('GLIBC_TUNABLES=glibc.malloc.hugetlb=1');
    expect(environOf(launcher.pid!).some((v) => v.startsWith('GLIBC_TUNABLES='))).toBe(false);
    const exited = once(launcher, 'exit');
    launcher.kill('SIGTERM');
    await released(stderr, 'stopped by SIGTERM');
    const [code] = await exited;
    expect(code).toBe(143);
    expect(stderr().match(/stopped by SIGTERM/g)).toHaveLength(1);
  }, 30_000);

  it('takes a Ctrl-C that reaches both processes (and is passed on) as one: the command gets its second to stop', async () => {
    const { launcher, stderr } = await blockedVerify();
    const exited = once(launcher, 'exit');
    process.kill(-launcher.pid!, 'SIGINT'); // the whole group, as a terminal does
    await released(stderr, 'stopped by SIGINT');
    const [code] = await exited;
    expect(code).toBe(130);
    // a second SIGINT taken as a second Ctrl-C would end the child at once, without this line
    expect(stderr().match(/stopped by SIGINT/g)).toHaveLength(1);
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
