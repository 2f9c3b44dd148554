import { spawn } from 'node:child_process';
import { readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runBackup } from '../../src/backup/backup-job.js';
import { KILL_AFTER_ENV } from '../../src/backup/run-steps.js';
import { buildCli } from '../helpers/build-cli.js';
import { makeLabEnv, type LabEnv } from '../helpers/lab-env.js';
import { cli } from '../cli/run-cli.js';

/**
 * A real crash of `hvsnap restore`: the CLI runs as its own process and is killed with SIGKILL by
 * the runner's test hook right after a step's side effect. `hvsnap cleanup` must then find, in
 * the restore's journal, everything it left on the array and the proxy.
 */
let build: Awaited<ReturnType<typeof buildCli>>;
beforeAll(async () => (build = await buildCli()), 180_000);
afterAll(async () => build?.remove());

function runKilled(args: string[], killAfter: string): Promise<{ signal: NodeJS.Signals | null; stderr: string }> {
  const child = spawn(process.execPath, [build.main, ...args], { env: { ...process.env, [KILL_AFTER_ENV]: killAfter }, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d));
  return new Promise((ok) => child.on('exit', (_code, signal) => ok({ signal, stderr })));
}

describe('a snapshot-only restore killed mid-way, then hvsnap cleanup', () => {
  let env: LabEnv;
  afterAll(async () => env?.cleanup());

  it.each(['present', 'attach'])(
    'killed after %s: cleanup leaves no presentation and keeps the snapshot',
    async (step) => {
      env ??= await makeLabEnv({ vms: 1, volumes: 1, diskSizeBytes: 8 << 20, dataBytes: 1 << 20, lockTimeoutMs: 1000 });
      const config = join(env.dir, 'job.yaml');
      await writeFile(
        config,
        [
          `hypervisor: { kind: lab, dir: ${env.labDir} }`,
          `provider: { name: lab, config: { volumesDir: ${join(env.labDir, 'volumes')}, stateDir: ${join(env.labDir, 'array')} } }`,
          'proxy: { kind: local, host: { name: proxy-1 } }',
          `repository: { path: ${env.repository.path} }`,
        ].join('\n'),
      );
      const backup = await runBackup(env, { policy: { mode: 'snapshot-only' } });
      expect(backup.ok).toBe(true);
      const restorePoint = backup.vms[0].restorePointId!;
      const presentations = () => readdir(join(env.labDir, 'array', 'presentations')).catch(() => [] as string[]);

      const run = await runKilled(['restore', '-c', config, '--restore-point', restorePoint, '--to', join(env.dir, `restored-${step}`)], step);
      expect(run.signal, run.stderr).toBe('SIGKILL');
      // the kill came after the presentation was made: it is there, and only the journal knows it
      expect(await presentations()).toHaveLength(1);
      expect((await readdir(join(env.repository.path, '.journal'))).filter((f) => f.startsWith('restore-'))).toHaveLength(1);

      const cleanup = await cli('--json', 'cleanup', '-c', config);
      expect(cleanup.code, cleanup.stderr).toBe(0);
      const report = JSON.parse(cleanup.stdout) as { replayed: string[] };
      expect(report.replayed.some((r) => r.includes('unpresent'))).toBe(true);
      expect(await presentations()).toEqual([]);
      expect(await readdir(join(env.repository.path, '.journal'))).toEqual([]);
      // the restore point's own snapshot is kept: a restore never deletes it
      expect((await env.provider.listSnapshots({})).map((s) => s.name)).toContain(backup.sets[0].snapshot);
    },
    120_000,
  );
});
