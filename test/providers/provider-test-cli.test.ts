import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/core/logger.js';
import { runCli } from '../../src/cli/program.js';
import type { CliIo } from '../../src/cli/io.js';
import { providerTestCommand } from '../../src/cli/commands/provider-test.js';
import { createLabVolume } from '../../providers/lab/index.js';
import { LabArrayClient } from '../../providers/lab/client.js';
import { conformanceCases } from '../../providers/conformance/cases.js';
import { memoryArray } from '../../examples/provider-skeleton/src/memory-array.js';

const root = mkdtempSync(join(tmpdir(), 'hvsnap-provider-test-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

function io() {
  const out: string[] = [];
  const err: string[] = [];
  const cli: CliIo = { stdout: { write: (c) => out.push(String(c)) }, stderr: { write: (c) => err.push(String(c)) }, env: {}, logger: () => silentLogger };
  return { cli, out, err };
}

describe('hvsnap provider-test', () => {
  it('runs the suite against the lab provider from a YAML config and reports every case', async () => {
    const volumesDir = join(root, 'volumes');
    const ids = [];
    for (const n of ['v1', 'v2']) ids.push((await createLabVolume({ volumesDir, name: n })).identity.id);
    const file = join(root, 'lab.yaml');
    writeFileSync(
      file,
      `provider:\n  name: lab\n  config: { volumesDir: ${volumesDir}, stateDir: ${join(root, 'state')} }\ntest:\n  volumes: [${ids.map((i) => `"naa.${i}"`).join(', ')}]\n  host: { name: proxy1 }\n  idempotentCount: 1\n`,
    );
    const { cli, out } = io();
    const code = await runCli(['provider-test', '--config', file, '--only', 'createSnapshot of one volume'], cli, [providerTestCommand]);
    const text = out.join('');
    expect(text).toMatch(/^ok {3}snapshots: createSnapshot of one volume; the same name again gives the same set$/m);
    expect(text).toMatch(/lab \(live\): 1 passed, 0 failed, 0 skipped/);
    expect(code).toBe(0);
  });

  /** `provider-test` on a lab volume whose snapshots take 400 ms to make and to delete, stopped once a case has one on the array. */
  async function stoppedRun(name: string, ...args: string[]) {
    const volumesDir = join(root, `volumes-${name}`);
    const stateDir = join(root, `state-${name}`);
    const id = (await createLabVolume({ volumesDir, name: 'v1' })).identity.id;
    const file = join(root, `${name}.yaml`);
    writeFileSync(
      file,
      `provider:\n  name: lab\n  config: { volumesDir: ${volumesDir}, stateDir: ${stateDir}, delayMs: { createSnapshot: 400, deleteSnapshot: 400 } }\ntest:\n  volumes: ["naa.${id}"]\n  host: { name: proxy1 }\n  idempotentCount: 1\n`,
    );
    const { cli, out } = io();
    const stop = new AbortController();
    const array = new LabArrayClient({ volumesDir, stateDir });
    // however long the start took
    let finished = false;
    const stopping = (async () => {
      while (!finished && (await array.listSnapshots().catch(() => [])).length === 0) await new Promise((r) => setTimeout(r, 20));
      stop.abort(new Error('interrupted (SIGINT)'));
    })();
    const code = await runCli(['--json', 'provider-test', '--config', file, ...args], cli, [providerTestCommand], stop.signal);
    // stopped while it ran, not after
    expect(stop.signal.aborted).toBe(true);
    finished = true;
    await stopping;
    return { code, report: JSON.parse(out.join('')), snapshots: await array.listSnapshots() };
  }

  it('stopped (Ctrl-C), finishes the case in hand and its cleanup, starts no other, and says so (exit 130)', async () => {
    const { code, report, snapshots } = await stoppedRun('stop');
    expect(code).toBe(130);
    expect(report.stopped).toBe(true);
    // the case in hand passed (the stop did not break it), and the suite ended there
    expect(report.results.filter((r: { status: string }) => r.status === 'failed')).toEqual([]);
    expect(report.results.length).toBeGreaterThan(0);
    expect(report.results.length).toBeLessThan(conformanceCases.length);
    expect(snapshots).toEqual([]);
  });

  it('stopped in its last case, it ran every case: a pass, not a stop', async () => {
    const { code, report } = await stoppedRun('stop-last', '--only', 'createSnapshot of one volume');
    expect(report.stopped).toBeUndefined();
    expect(report).toMatchObject({ passed: 1, failed: 0 });
    expect(code).toBe(0);
  });

  it('loads a third-party provider by module name given with --provider, and prints JSON', async () => {
    const ids = ['a', 'b'].map((n) => memoryArray('cli-test').addVolume(n).naa);
    const file = join(root, 'skeleton.json');
    writeFileSync(file, JSON.stringify({ provider: { config: { array: 'cli-test' } }, test: { volumes: ids, host: { name: 'p' } } }));
    const { cli, out } = io();
    const module = new URL('../../examples/provider-skeleton/src/index.ts', import.meta.url).pathname;
    const code = await runCli(['--json', 'provider-test', '--config', file, '--provider', module], cli, [providerTestCommand]);
    const report = JSON.parse(out.join(''));
    expect(report).toMatchObject({ provider: 'skeleton', failed: 0 });
    expect(report.passed + report.skipped).toBe(report.results.length);
    expect(code).toBe(0);
  });

  it('names the file and field of a bad config, with the config exit code', async () => {
    const file = join(root, 'bad.yaml');
    writeFileSync(file, 'provider: { name: pure, config: {} }\ntest:\n  volumes: ["zz-not-an-id"]\n  host: { name: p }\n');
    const { cli, err } = io();
    const code = await runCli(['provider-test', '--config', file], cli, [providerTestCommand]);
    expect(err.join('')).toContain(`${file}: field "test.volumes.0": disk identity "zz-not-an-id": not hexadecimal`);
    expect(code).toBe(3);
  });
});
