import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { captureLogger } from '../../src/core/logger.js';
import { HvsnapError } from '../../src/core/errors.js';
import { commandModules } from '../../src/cli/commands/index.js';
import type { CliIo } from '../../src/cli/io.js';
import { runCli, type CommandModule } from '../../src/cli/program.js';
import { Command } from 'commander';
import { cli } from './run-cli.js';
import { writeLabJob } from '../helpers/lab-job-config.js';

const root = join(import.meta.dirname, '..', '..');
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version: string; bin: Record<string, string> };

describe('CLI conventions', () => {
  it('hvsnap --version prints the package version and exits 0', async () => {
    const r = await cli('--version');
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(`${pkg.version}\n`);
  });

  it('hvsnap backup without --config is a usage error: exit 2, the missing option named', async () => {
    const r = await cli('backup');
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("required option '-c, --config <file>' not specified");
    expect(r.stdout).toBe('');
  });

  it('an unknown option and an unknown command exit 2', async () => {
    expect((await cli('backup', '--config', 'x.yaml', '--no-such-flag')).code).toBe(2);
    expect((await cli('lab', 'show', '--dir', 'x', '--bogus')).code).toBe(2); // a nested command too
    expect((await cli('frobnicate')).code).toBe(2);
  });

  it('backup --config missing.yaml --json: one JSON error document on stdout, nothing on stderr, exit 3', async () => {
    const r = await cli('backup', '--config', 'missing.yaml', '--json');
    expect(r.code).toBe(3);
    expect(r.stderr).toBe('');
    const doc = JSON.parse(r.stdout); // throws unless stdout is exactly one JSON document
    expect(doc).toMatchObject({ ok: false, error: { code: 'config_invalid', context: { file: expect.stringContaining('missing.yaml') } } });
  });

  it('a usage error under --json is a JSON document too', async () => {
    const r = await cli('--json', 'backup');
    expect(r.code).toBe(2);
    expect(r.stderr).toBe('');
    expect(JSON.parse(r.stdout)).toEqual({ ok: false, error: { code: 'usage', message: "required option '-c, --config <file>' not specified" } });
  });

  it('a failure for a person names the next step', async () => {
    const r = await cli('backup', '--config', 'missing.yaml');
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(/^error \[config_invalid\]: .*missing\.yaml/);
    expect(r.stderr).toContain('  next: ');
    expect(r.stdout).toBe('');
  });

  it('a command that fails after SIGINT/SIGTERM exits 130, whatever its error', async () => {
    const controller = new AbortController();
    const stalls: CommandModule = (kit) =>
      new Command('stall').action(
        kit.action(async ({ signal }) => {
          controller.abort(new Error('interrupted (SIGINT)'));
          throw new HvsnapError('transport_failed', `connection closed${signal.aborted ? '' : ' (not aborted?)'}`);
        }),
      );
    const out: string[] = [];
    const io: CliIo = { stdout: { write: (s) => out.push(String(s)) }, stderr: { write: (s) => out.push(String(s)) }, env: {}, logger: () => captureLogger() };
    expect(await runCli(['stall'], io, [stalls], controller.signal)).toBe(130);
    expect(await runCli(['stall'], io, [stalls])).toBe(1); // the same failure, not interrupted
  });

  it('hvsnap --help lists every command without loading any command module', async () => {
    const r = await cli('--help');
    expect(r.code).toBe(0);
    for (const entry of commandModules) expect(r.stdout).toContain(`  ${'name' in entry ? entry.name : ''}`);
  });
});

/** A lab of one VM in `dir` and a job file (`dir`/job.yaml) that backs it up into `dir`/repo; returns the job file. */
async function labJob(dir: string, disk: { diskSizeBytes: number; dataBytes: number }, ...extra: string[]): Promise<string> {
  const { createLab } = await import('../../src/lab/index.js');
  await createLab({ dir: join(dir, 'lab'), vms: 1, volumes: 1, ...disk });
  const file = join(dir, 'job.yaml');
  writeFileSync(
    file,
    [
      'hypervisor: { kind: lab, dir: ./lab }',
      'provider: { name: lab, config: { volumesDir: ./lab/volumes, stateDir: ./lab/array } }',
      'proxy: { kind: local, host: { name: p1 } }',
      'repository: { path: ./repo }',
      ...extra,
    ].join('\n'),
  );
  return file;
}

/**
 * The built CLI, with a module hook that records every module it resolves: `--version` and `--help`
 * load none of the heavy libraries, which only the commands that use them import.
 */
describe('the built CLI starts light', () => {
  const dir = mkdtempSync(join(tmpdir(), 'hvsnap-start-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const log = join(dir, 'loaded.txt');
  writeFileSync(
    join(dir, 'hooks.mjs'),
    `import { appendFileSync } from 'node:fs';\nexport async function resolve(s, c, next) { const r = await next(s, c); appendFileSync(${JSON.stringify(log)}, r.url + '\\n'); return r; }\n`,
  );
  writeFileSync(join(dir, 'register.mjs'), `import { register } from 'node:module';\nregister('./hooks.mjs', import.meta.url);\n`);
  const bin = join(root, pkg.bin.hvsnap);
  const loaded = async (...args: string[]) => {
    rmSync(log, { force: true });
    const r = await promisify(execFile)(process.execPath, ['--import', join(dir, 'register.mjs'), bin, ...args]);
    return { stdout: r.stdout, modules: readFileSync(log, 'utf8').split('\n').filter(Boolean) };
  };
  const heavy = /node_modules\/(axios|ssh2|node-powershell|pino|zod|yaml|p-retry)\/|\/(providers|proxy|backup|repository|hyperv|transport|lab|vhdx|job)\//;

  it.each([['--version'], ['--help']])('hvsnap %s loads no driver, transport, logger or schema library', async (flag) => {
    expect(existsSync(bin), `${bin} is missing: npm run build`).toBe(true);
    const r = await loaded(flag);
    expect(r.stdout.length).toBeGreaterThan(0);
    expect(r.modules.some((m) => m.endsWith('/cli/main.js'))).toBe(true); // the hook saw the CLI's own modules
    expect(r.modules.filter((m) => heavy.test(m))).toEqual([]);
  });

  it('a command loads what it needs (the check above can see a heavy module)', async () => {
    const r = await loaded('vhdx', 'info', '--help');
    expect(r.stdout).toContain('Usage: hvsnap vhdx info');
    expect(r.modules.filter((m) => heavy.test(m)).length).toBeGreaterThan(0);
  });

  it("a backup loads its own provider's driver only: on the lab, no array driver and no HTTP client", async () => {
    const file = await labJob(dir, { diskSizeBytes: 8 << 20, dataBytes: 2 << 20 });
    const r = await loaded('backup', '--config', file);
    expect(r.modules.some((m) => m.includes('/providers/lab/'))).toBe(true); // the backup ran on its provider
    expect(r.modules.filter((m) => /node_modules\/axios\/|\/providers\/(pure|ontap|powerstore)\//.test(m))).toEqual([]);
  });
});

describe('the built CLI interrupted', () => {
  /**
   * Starts a lab backup through the built CLI (its launcher too, where the machine has one), copying
   * at 1 MB/s (8 MiB take seconds), sends `sigints` SIGINTs to it 2.5 s apart once the copy is under
   * way (far more than COPY_WINDOW_MS, however late a loaded machine handles them: each is a request
   * of its own), and returns how it ended, its output, the lab's leftovers and its array.
   * @param delayMs the lab array's delays per operation
   */
  async function interruptedBackup(dir: string, sigints: number, delayMs: Record<string, number> = {}) {
    const { createLab, openLab } = await import('../../src/lab/index.js');
    const { LabArrayClient } = await import('../../providers/lab/client.js');
    await createLab({ dir: join(dir, 'lab'), vms: 1, volumes: 1, diskSizeBytes: 16 << 20, dataBytes: 8 << 20 });
    const file = await writeLabJob(dir, {
      provider: { name: 'lab', config: { volumesDir: './lab/volumes', stateDir: './lab/array', delayMs } },
      policy: { throttleMBps: 1 },
    });
    const { spawn } = await import('node:child_process');
    const child = spawn(process.execPath, [join(root, pkg.bin.hvsnap), 'backup', '--config', file], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, HVSNAP_LOG_LEVEL: 'info' },
    });
    let stderr = '';
    let stdout = '';
    let sent = 0;
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
      child.on('exit', (code, signal) => resolve({ code, signal })),
    );
    await new Promise<void>((resolve) =>
      child.stderr.on('data', (d: Buffer) => {
        stderr += d.toString();
        if (stderr.includes('"msg":"progress"')) resolve();
      }),
    );
    let since = 0;
    for (; sent < sigints && child.exitCode === null; sent++) {
      if (sent) await new Promise((r) => setTimeout(r, 2500));
      since = performance.now();
      child.kill('SIGINT');
    }
    const end = await exited;
    const array = new LabArrayClient({ volumesDir: join(dir, 'lab', 'volumes'), stateDir: join(dir, 'lab', 'array') });
    return {
      ...end,
      sent,
      /** ms from the last SIGINT to the end */
      afterLast: performance.now() - since,
      out: stderr + stdout,
      leftovers: await openLab(join(dir, 'lab')).listLeftovers({ tagPrefix: 'hvsnap:' }),
      snapshots: (await array.listSnapshots()).map((x) => x.name),
      array,
      file,
    };
  }

  it('SIGINT during a backup: the job undoes what it made and the process exits 130', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'hvsnap-sigint-'));
    try {
      const r = await interruptedBackup(dir, 1);
      expect(r.sent, r.out).toBe(1);
      expect(r.code, r.out).toBe(130);
      // thrown (error [aborted] on stderr), or the report of a job whose VMs failed as aborted (stdout)
      expect(r.out).toMatch(/error \[aborted\]|\[aborted\]/);
      expect(r.leftovers).toEqual({ checkpoints: [], referencePoints: [] });
      expect(r.snapshots).toEqual([]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('an undo that takes seconds (an array deletes its snapshot in 3 s) is waited for: exit 130, nothing left', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'hvsnap-sigint-slow-'));
    try {
      const r = await interruptedBackup(dir, 1, { deleteSnapshot: 3000 });
      expect(r.code, r.out).toBe(130); // before: killed a second after the signal, the snapshot left
      expect(r.afterLast).toBeGreaterThanOrEqual(3000);
      expect(r.out).toContain('hvsnap: stopping on SIGINT: undoing what this run made (Ctrl-C again stops at once)');
      expect(r.out).not.toContain('stopped by SIGINT');
      expect(r.leftovers).toEqual({ checkpoints: [], referencePoints: [] });
      expect(r.snapshots).toEqual([]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);

  it('a second SIGINT during such an undo stops the process at once; "hvsnap cleanup" then removes what it left', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'hvsnap-sigint-twice-'));
    try {
      const r = await interruptedBackup(dir, 2, { deleteSnapshot: 8000 });
      expect(r.sent, r.out).toBe(2);
      expect({ code: r.code, signal: r.signal }, r.out).toEqual({ code: null, signal: 'SIGINT' });
      expect(r.out).toContain('hvsnap: stopped by SIGINT; run "hvsnap cleanup" if a backup was running');
      expect(r.snapshots).toHaveLength(1);
      const c = await cli('cleanup', '--config', r.file);
      expect(c.code, c.stderr).toBe(0);
      expect(c.stdout).toContain(`delete array snapshot ${r.snapshots[0]}`);
      expect(await r.array.listSnapshots()).toEqual([]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);
});
