import { spawn } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { KILL_AFTER_ENV } from '../../src/backup/run-steps.js';
import type { LabEnv } from './lab-env.js';

/** Runs the built CLI (`main`) with the runner's kill hook set to `killAfter`; resolves when the process is gone. */
export function runKilled(main: string, args: string[], killAfter: string): Promise<{ signal: NodeJS.Signals | null; code: number | null; stderr: string }> {
  return runKilledScript(main, args, killAfter);
}

/** Runs a built script with node and the runner's kill hook set to `killAfter`; resolves when the process is gone. */
export function runKilledScript(
  script: string,
  args: string[],
  killAfter: string,
): Promise<{ signal: NodeJS.Signals | null; code: number | null; stderr: string }> {
  const child = spawn(process.execPath, [script, ...args], { env: { ...process.env, [KILL_AFTER_ENV]: killAfter }, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d));
  return new Promise((ok) => child.on('exit', (code, signal) => ok({ code, signal, stderr })));
}

/** Writes `<env.dir>/job.yaml`, a job configuration for the lab environment (plus `extra` YAML lines); returns its path. */
export async function writeLabJobConfig(env: LabEnv, extra: string[] = []): Promise<string> {
  const config = join(env.dir, 'job.yaml');
  await writeFile(
    config,
    [
      `hypervisor: { kind: lab, dir: ${env.labDir} }`,
      `provider: { name: lab, config: { volumesDir: ${join(env.labDir, 'volumes')}, stateDir: ${join(env.labDir, 'array')} } }`,
      'proxy: { kind: local, host: { name: proxy-1 } }',
      `repository: { path: ${env.repository.path} }`,
      ...extra,
    ].join('\n'),
  );
  return config;
}
