import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { captureLogger } from '../../src/core/logger.js';
import { createCliLogger } from '../../src/cli/cli-logger.js';
import { commandModules } from '../../src/cli/commands/index.js';
import type { CliIo } from '../../src/cli/io.js';
import { runCli } from '../../src/cli/program.js';

const root = join(import.meta.dirname, '..', '..');
const readme = readFileSync(join(root, 'README.md'), 'utf8');

/** The README section's code blocks of one language, line by line (comments and blank lines dropped). */
function sectionLines(title: string, lang: string): string[] {
  const start = readme.indexOf(`## ${title}\n`);
  expect(start, `README has no section "${title}"`).toBeGreaterThanOrEqual(0);
  const end = readme.indexOf('\n## ', start + 4);
  const text = readme.slice(start, end < 0 ? undefined : end);
  const blocks = [...text.matchAll(new RegExp('```' + lang + '\\n([\\s\\S]*?)```', 'g'))].map((m) => m[1]);
  return blocks.flatMap((b) =>
    b
      .split('\n')
      .map((l) => l.replace(/^\s+/, ''))
      .filter((l) => l && !l.startsWith('#')),
  );
}

describe('README "Running it every night" works as written on the lab (except systemctl)', () => {
  const tmp = mkdtempSync(join(tmpdir(), 'hvsnap-nightly-'));
  afterAll(() => rmSync(tmp, { recursive: true, force: true }));
  // the three folders the section uses, moved under the temporary one
  const moved: Array<[string, string]> = [
    ['/etc/hvsnap', join(tmp, 'etc')],
    ['/var/lib/hvsnap', join(tmp, 'lib')],
    ['/var/log/hvsnap', join(tmp, 'log')],
    ['/etc/systemd/system/', join(tmp, 'systemd') + '/'],
  ];
  const relocate = (s: string) => moved.reduce((t, [from, to]) => t.split(from).join(to), s);
  const jobFile = join(tmp, 'etc', 'job.yaml');
  mkdirSync(join(tmp, 'systemd')); // /etc/systemd/system exists on a systemd machine

  /** `hvsnap ARGS`, in-process, with the real logger when --log-file is given. */
  async function hvsnap(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
    let stdout = '';
    let stderr = '';
    const io: CliIo = {
      stdout: { write: (s) => ((stdout += String(s)), true) },
      stderr: { write: (s) => ((stderr += String(s)), true) },
      env: {},
      logger: async (o) => (o.logFile ? (await createCliLogger({ ...o, level: 'info' })).logger : captureLogger()),
    };
    const code = await runCli(args, io, commandModules);
    return { code, stdout, stderr };
  }

  it('every command of the section runs and succeeds, in order', async () => {
    const lines = sectionLines('Running it every night', 'sh');
    expect(lines.length).toBeGreaterThan(8);
    const ran: string[] = [];
    for (const line of lines) {
      const words = relocate(line).split(/\s+/);
      if (words[0] === 'systemctl') continue; // not on a test machine
      if (words[0] === 'npm' && words[1] === 'install') {
        expect(words.at(-1)).toBe(JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')).name); // the package it installs is this one
        continue;
      }
      if (words[0] === 'hvsnap') {
        const r = await hvsnap(words.slice(1));
        expect(r.code, `${line}\n${r.stdout}${r.stderr}`).toBe(0);
        ran.push(`${line}\n${r.stdout}`);
      } else {
        ran.push(`${line}\n${execFileSync(words[0], words.slice(1), { cwd: root, encoding: 'utf8' })}`);
      }
      // after the copy the job file is the example's, with its folders moved the same way
      if (words[0] === 'cp' && words.at(-1) === jobFile) writeFileSync(jobFile, relocate(readFileSync(jobFile, 'utf8')));
    }
    const out = ran.join('\n');
    expect(out).toMatch(/lab .* will be created|created on the first/); // doctor before the first backup
    expect(out).toContain('dry run: nothing was touched');
    expect(out).toMatch(/the lab .* does not exist yet: the backup creates it/); // the dry run before the first batch
    expect(out).toContain('prune (retention.afterBatch):');
    expect(out).toMatch(/verify: OK/);
    expect(readFileSync(join(tmp, 'log', 'batch.log'), 'utf8')).toMatch(/"msg":"backup planned"/);
    expect(existsSync(join(tmp, 'systemd', 'hvsnap-batch.timer'))).toBe(true);
  });

  it('the units and the cron line run commands that exist, with options they accept', async () => {
    for (const unit of readdirSync(join(root, 'examples', 'systemd')).filter((f) => f.endsWith('.service'))) {
      const exec = /^ExecStart=\/usr\/bin\/env (hvsnap .*)$/m.exec(readFileSync(join(root, 'examples', 'systemd', unit), 'utf8'));
      expect(exec, unit).not.toBeNull();
      const [, command, ...rest] = relocate(exec![1]).split(/\s+/);
      if (!commandModules.some((m) => 'name' in m && m.name === command)) {
        expect(command, `${unit} runs a command this build lacks`).toBe('worker'); // the scale-out branch brings it
        continue;
      }
      const r = await hvsnap([command, ...rest]);
      if (command === 'worker') {
        // the nightly job runs its batch in-process: its configuration has no shared queue, and the worker says exactly that
        expect(r.code, `${unit}: ${r.stdout}${r.stderr}`).toBe(3);
        expect(r.stdout + r.stderr).toContain('queue.kind bullmq');
        continue;
      }
      expect(r.code, `${unit}: ${r.stdout}${r.stderr}`).toBe(0);
    }
    const cron = readFileSync(join(root, 'examples', 'cron', 'hvsnap'), 'utf8')
      .split('\n')
      .filter((l) => /^\d/.test(l));
    expect(cron).toEqual([sectionLines('Running it every night', 'cron')[0]]); // the README shows the shipped line
    const [min, hour, dom, mon, dow, user, ...command] = relocate(cron[0]).split(/\s+/);
    expect([min, hour, dom, mon, dow, user]).toEqual(['0', '1', '*', '*', '*', 'root']);
    const redirect = command.indexOf('>');
    const r = await hvsnap(command.slice(1, redirect));
    writeFileSync(command[redirect + 1], r.stdout);
    expect(r.code).toBe(0);
    const doc = JSON.parse(readFileSync(join(tmp, 'log', 'last-batch.json'), 'utf8'));
    expect(doc).toMatchObject({ ok: true, prune: { retention: { kept: expect.any(Array) } } });
  });
});

describe('--log-file is rotation-friendly', () => {
  it('appends, and after a rename reopen() writes to a new file at the same path', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'hvsnap-logfile-'));
    try {
      const file = join(dir, 'sub', 'hvsnap.log');
      const { logger, reopen } = await createCliLogger({ json: false, debug: false, logFile: file, level: 'info' });
      logger.info({ token: 's3cret' }, 'before rotation');
      renameSync(file, `${file}.1`);
      logger.info('still the old file');
      reopen();
      logger.info('after rotation');
      expect(readFileSync(`${file}.1`, 'utf8')).toMatch(/before rotation[\s\S]*still the old file/);
      expect(readFileSync(`${file}.1`, 'utf8')).not.toContain('s3cret');
      expect(readFileSync(file, 'utf8')).toContain('after rotation');
      expect(readFileSync(file, 'utf8')).not.toContain('before rotation');
      const again = await createCliLogger({ json: false, debug: false, logFile: file, level: 'info' });
      again.logger.info('a second run');
      expect(readFileSync(file, 'utf8').trim().split('\n')).toHaveLength(2); // appended, not truncated
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
