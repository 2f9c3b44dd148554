import { labJobConfig } from '../helpers/lab-job-config.js';
import { mkdtemp, rm, writeFile, readdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createLab, openLab } from '../../src/lab/index.js';
import { cli } from './run-cli.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'hvsnap-cli-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const config = (over: Record<string, unknown> = {}) => labJobConfig(over);

async function writeConfig(cfg: unknown): Promise<string> {
  const file = join(dir, 'job.yaml');
  await writeFile(file, stringify(cfg));
  return file;
}

/** Nothing of a backup may stay on the lab host or array after a failed run. */
async function assertNothingLeft() {
  const left = await openLab(join(dir, 'lab')).listLeftovers({ tagPrefix: 'hvsnap:' });
  expect(left.checkpoints).toEqual([]);
  expect(await readdir(join(dir, 'lab', 'array', 'snapshots')).catch(() => [])).toEqual([]);
  expect(await readdir(join(dir, 'lab', 'array', 'presentations')).catch(() => [])).toEqual([]);
}

describe('hvsnap backup', () => {
  beforeEach(async () => {
    await createLab({ dir: join(dir, 'lab'), vms: 2, volumes: 1, diskSizeBytes: 8 << 20, dataBytes: 2 << 20 });
  });

  it('backs up, lists, verifies and restores; --json gives the report', async () => {
    const file = await writeConfig(config());
    const b = await cli('backup', '--config', file, '--json');
    expect(b.stderr).toBe('');
    expect(b.code).toBe(0);
    const report = JSON.parse(b.stdout);
    expect(report.ok).toBe(true);
    expect(report.snapshotSets).toBe(1);
    const list = await cli('list', '--config', file);
    expect(list.code).toBe(0);
    expect(list.stdout).toContain('vm-01');
    const verify = await cli('verify', '--config', file, '--deep');
    expect(verify.code).toBe(0);
    const rp = report.vms[0].restorePointId;
    const restore = await cli('restore', '--config', file, '--restore-point', rp, '--to', join(dir, 'out'), '--verify');
    expect(restore.code).toBe(0);
    expect(restore.stdout).toMatch(/sha256 [0-9a-f]{64} {2}verified/);
  });

  it('an unknown config key names the key and the file', async () => {
    const file = await writeConfig(config({ polciy: { consistency: 'crash' } }));
    const r = await cli('backup', '--config', file);
    expect(r.code).toBe(3);
    expect(r.stderr).toContain('polciy');
    expect(r.stderr).toContain(file);
    expect(r.stderr).not.toMatch(/\n\s+at /); // no stack trace without --debug
    await assertNothingLeft();
  });

  it('a bad value names the field', async () => {
    const file = await writeConfig(config({ policy: { consistency: 'perfect' } }));
    const r = await cli('backup', '--config', file);
    expect(r.code).toBe(3);
    expect(r.stderr).toContain('policy.consistency');
  });

  it('a VM that does not exist is named', async () => {
    const file = await writeConfig(config());
    const r = await cli('backup', '--config', file, '--vm', 'no-such-vm');
    expect(r.code).toBe(4);
    expect(r.stderr).toContain('no-such-vm');
    await assertNothingLeft();
  });

  it('a volume the array does not have fails its set, names the volume, and leaves nothing behind', async () => {
    const host = openLab(join(dir, 'lab'));
    const loc = await host.resolveVolume({ path: (await host.listVms({}))[0].disks[0].path });
    // the array is pointed at a folder without the host's volume
    const file = await writeConfig(config({ provider: { name: 'lab', config: { volumesDir: './empty', stateDir: './lab/array' } } }));
    const r = await cli('backup', '--config', file);
    expect(r.code).toBe(5);
    expect(r.stdout).toContain(loc.identity.id);
    // the array is asked before any checkpoint is made
    expect(r.stdout).toMatch(/FAILED at preconditions/);
    await assertNothingLeft();
  });

  it('an unreadable repository is named and nothing is touched', async () => {
    await writeFile(join(dir, 'repo'), 'not a folder');
    const file = await writeConfig(config());
    const r = await cli('backup', '--config', file);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain(join(dir, 'repo'));
    await assertNothingLeft();
    expect(await openLab(join(dir, 'lab')).listLeftovers({ tagPrefix: 'hvsnap:' })).toEqual({ checkpoints: [], referencePoints: [] });
  });

  it('a missing config file is named', async () => {
    const r = await cli('backup', '--config', join(dir, 'nope.yaml'));
    expect(r.code).toBe(3);
    expect(r.stderr).toContain('nope.yaml');
  });

  it('--debug adds the stack trace', async () => {
    const r = await cli('backup', '--config', join(dir, 'nope.yaml'), '--debug');
    expect(r.stderr).toMatch(/\n\s+at /);
  });
});

describe('hvsnap demo', () => {
  it('runs the whole story on a fresh lab and says OK', async () => {
    const r = await cli('demo', '--dir', join(dir, 'demo'), '--vms', '4', '--volumes', '2', '--disk-size', '16MiB', '--data', '4MiB');
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('demo: OK');
    expect(r.stdout).toMatch(/2 array snapshot set\(s\) for 2 volume set\(s\)/);
    expect(r.stdout).not.toContain('DIFFERS');
  });
});

describe('hvsnap batch', () => {
  it('runs the configured batch and resumes by id', async () => {
    await createLab({ dir: join(dir, 'lab'), vms: 4, volumes: 2, diskSizeBytes: 4 << 20, dataBytes: 1 << 20 });
    const file = await writeConfig(config({ batch: { select: { patterns: ['vm-0*'] }, limits: { sets: 2, perHost: 2, perArray: 1, perProxy: 1 } } }));
    const r = await cli('batch', '--config', file, '--json');
    expect(r.code).toBe(0);
    const report = JSON.parse(r.stdout);
    expect(report.totals.ok).toBe(4);
    expect(report.snapshotSets).toBe(2);
    const again = await cli('batch', '--config', file, '--resume', report.batchId, '--json');
    expect(again.code).toBe(0);
    expect(JSON.parse(again.stdout).skipped).toHaveLength(4);
  });

  it('a bad limit is named', async () => {
    await createLab({ dir: join(dir, 'lab'), vms: 1, volumes: 1, diskSizeBytes: 4 << 20, dataBytes: 1 << 20 });
    const file = await writeConfig(config({ batch: { limits: { perProxy: 0 } } }));
    const r = await cli('batch', '--config', file);
    expect(r.code).toBe(3);
    expect(r.stderr).toContain('batch.limits.perProxy');
  });
});

describe('hvsnap doctor', () => {
  it('checks host, array, disk-to-volume mapping, proxy and repository, each on its own line', async () => {
    await createLab({ dir: join(dir, 'lab'), vms: 2, volumes: 2, diskSizeBytes: 4 << 20, dataBytes: 1 << 20 });
    const good = await cli('doctor', '--config', await writeConfig(config()));
    expect(good.stdout).not.toMatch(/^FAIL/m);
    expect(good.code).toBe(0);
    expect(good.stdout).toMatch(/^ok +array .*hvsnap lab array/m);
    expect(good.stdout).toMatch(/^ok +disk-to-volume mapping .*2 VMs on 2 array volume\(s\)/m);
    expect(good.stdout).toMatch(/^WARN +repository .*the first backup creates it/m);
    // the array is pointed at a folder without the VMs' volumes: the mapping fails, the rest still reports
    const bad = await cli(
      'doctor',
      '--config',
      await writeConfig(config({ provider: { name: 'lab', config: { volumesDir: './empty', stateDir: './lab/array' } } })),
    );
    expect(bad.code).toBe(1);
    expect(bad.stdout).toMatch(/^FAIL +disk-to-volume mapping .*no lab volume has identity/m);
    expect(bad.stdout).toMatch(/^ok +proxy/m);
    expect(bad.stdout).toMatch(/1 check\(s\) failed/);
  });
});
