import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { BenchContext } from '../bench-context.js';
import { figure, ratioRuns, type ScenarioResult } from '../stats.js';

/** The built CLI: this file runs from dist/test/bench/scenarios/. */
const CLI = resolve(fileURLToPath(new URL('../../../src/cli/main.js', import.meta.url)));

/** Wall time of one child, in ms; throws when it exits non-zero. */
function timeChild(args: string[]): number {
  const t0 = process.hrtime.bigint();
  const r = spawnSync(process.execPath, args, { stdio: ['ignore', 'ignore', 'pipe'], encoding: 'utf8' });
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  if (r.status !== 0) throw new Error(`node ${args.join(' ')} exited ${r.status}: ${r.stderr.trim()}`);
  return ms;
}

/**
 * 7. Start time: `hvsnap --version` and `hvsnap --help` against `node -e 0` (the floor: Node
 * itself), interleaved run by run (each round starting with the next one), at least 5 runs. The goal (issue 17) is a ratio of medians ≤ 2:
 * the CLI loads no command module, driver, ssh2, PowerShell, pino or zod for these.
 */
export async function startupScenario(ctx: BenchContext): Promise<ScenarioResult> {
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: npm run build`);
  const runs = Math.max(ctx.runs, 5);
  const node: number[] = [];
  const version: number[] = [];
  const help: number[] = [];
  timeChild(['-e', '0']); // a first run warms the file cache for all three
  timeChild([CLI, '--version']);
  for (let r = 0; r < runs; r++) {
    ctx.progress(`start time: run ${r + 1}/${runs}`);
    const children: Array<[number[], string[]]> = [
      [node, ['-e', '0']],
      [version, [CLI, '--version']],
      [help, [CLI, '--help']],
    ];
    // each round starts with another of the three, so the machine's noise falls on all alike
    for (let k = 0; k < children.length; k++) {
      const [into, args] = children[(k + r) % children.length];
      into.push(timeChild(args));
    }
  }
  const [n, v, h] = [figure('node -e 0', 'ms', node), figure('hvsnap --version', 'ms', version), figure('hvsnap --help', 'ms', help)];
  const versionRatio = v.median / n.median;
  const helpRatio = h.median / n.median;
  return {
    id: 'startup',
    title: '7. Start time',
    setup: `${runs} runs each, interleaved; ${join('dist', 'src', 'cli', 'main.js')}`,
    figures: [
      n,
      v,
      h,
      figure('--version / node -e 0, per run', 'x', ratioRuns(version, node)),
      figure('--help / node -e 0, per run', 'x', ratioRuns(help, node)),
    ],
    goals: [
      { text: 'hvsnap --version start time / node -e 0 <= 2 (ratio of the medians)', measured: versionRatio, met: versionRatio <= 2 },
      { text: 'hvsnap --help start time / node -e 0 <= 2 (ratio of the medians)', measured: helpRatio, met: helpRatio <= 2 },
    ],
    details: { versionRatio, helpRatio },
  };
}
