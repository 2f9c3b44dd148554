import { writeLabJob } from '../helpers/lab-job-config.js';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, rename, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createLab, loadLabState } from '../../src/lab/index.js';
import { updateState } from '../../src/lab/lab-state.js';
import { selectRetention } from '../../src/repository/index.js';
import type { RestorePointManifest } from '../../src/repository/types.js';
import { cli } from './run-cli.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'hvsnap-unattended-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function writeConfig(over: Record<string, unknown> = {}): Promise<string> {
  return writeLabJob(dir, over);
}

const labOf = async () => {
  const s = await loadLabState(join(dir, 'lab'));
  return {
    checkpoints: s.checkpoints.length,
    referencePoints: s.referencePoints.length,
    snapshots: await readdir(join(dir, 'lab', 'array', 'snapshots')).catch(() => []),
  };
};

describe('--dry-run touches nothing', () => {
  beforeEach(async () => {
    await createLab({ dir: join(dir, 'lab'), vms: 4, volumes: 2, diskSizeBytes: 4 << 20, dataBytes: 1 << 20 });
  });

  it('backup --dry-run: the volume sets and a full copy of each VM; no repository, checkpoint or snapshot made', async () => {
    const file = await writeConfig();
    const before = await labOf();
    const r = await cli('backup', '--config', file, '--dry-run');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('dry run: nothing was touched');
    expect(r.stdout).toContain(`no repository in ${join(dir, 'repo')} yet: the backup creates it`);
    expect(r.stdout).toMatch(/would back up 4 VM\(s\) with 2 array snapshot\(s\)/);
    expect(r.stdout.match(/ full +no earlier restore point/g)).toHaveLength(4);
    expect(existsSync(join(dir, 'repo'))).toBe(false);
    expect(await labOf()).toEqual(before);
  });

  it('after a backup, --dry-run says incremental since that restore point; --full says full', async () => {
    const file = await writeConfig();
    expect((await cli('backup', '--config', file, '--vm', 'vm-01')).code).toBe(0);
    const before = await labOf();
    const plan = JSON.parse((await cli('backup', '--config', file, '--vm', 'vm-01', '--dry-run', '--json')).stdout);
    expect(plan.vms).toEqual([expect.objectContaining({ vm: 'vm-01', mode: 'incremental', reason: expect.stringMatching(/^changes since restore point /) })]);
    const full = JSON.parse((await cli('backup', '--config', file, '--vm', 'vm-01', '--dry-run', '--full', '--json')).stdout);
    expect(full.vms[0]).toMatchObject({ mode: 'full', reason: 'a full backup was asked for' });
    expect(await labOf()).toEqual(before);
  });

  it('--dry-run plans as the run does: policy.mode host makes every VM a host-mode set (no array snapshot), and a lab host has no SSH to read it', async () => {
    const file = await writeConfig({ policy: { mode: 'host' } });
    const r = await cli('backup', '--config', file, '--dry-run');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.match(/set \d: 1 VM\(s\) → host mode: read over SFTP/g)).toHaveLength(4);
    expect(r.stdout).toContain('with 0 array snapshot(s) and 4 host-mode set(s); 4 VM(s) cannot be placed');
    expect(r.stdout).toMatch(/vm-01: would fail: host mode reads .+'s files over SFTP, and this configuration has no SSH transport to it/);
    const plan = JSON.parse((await cli('backup', '--config', file, '--dry-run', '--json')).stdout);
    expect(plan.sets.map((s: { mode: string; volumes: string[] }) => [s.mode, s.volumes.length])).toEqual(Array(4).fill(['host', 0]));
  });

  it('--dry-run with policy.hostFallback asks the array which volumes it owns: the VMs on a volume it does not own fall back to host mode', async () => {
    // Volume2 (vm-02, vm-04) taken off the array: a local disk of the host
    const local = join(dir, 'local-disks', 'Volume2');
    await mkdir(join(dir, 'local-disks'));
    await rename(join(dir, 'lab', 'volumes', 'Volume2'), local);
    await updateState(join(dir, 'lab'), (s) => {
      s.volumes.find((v) => v.name === 'Volume2')!.dir = local;
    });
    const before = await labOf();
    const plan = JSON.parse((await cli('backup', '--config', await writeConfig({ policy: { hostFallback: true } }), '--dry-run', '--json')).stdout);
    expect(plan.notes).toContain(
      'policy.hostFallback: the array was asked (read only) which volumes it owns; sets on volumes it does not own are read in host mode',
    );
    expect(plan.sets.map((s: { mode: string; vms: string[] }) => [s.mode, s.vms])).toEqual([
      ['array', ['vm-01', 'vm-03']],
      ['host', ['vm-02']],
      ['host', ['vm-04']],
    ]);
    expect(await labOf()).toEqual(before);
  });

  it('batch --dry-run plans the configured selection only', async () => {
    const file = await writeConfig({ batch: { select: { names: ['vm-01', 'vm-02'] } } });
    const plan = JSON.parse((await cli('batch', '--config', file, '--dry-run', '--json')).stdout);
    expect(plan.vms.map((v: { vm: string }) => v.vm).sort()).toEqual(['vm-01', 'vm-02']);
    expect(existsSync(join(dir, 'repo'))).toBe(false);
  });
});

describe('retention from the configuration', () => {
  beforeEach(async () => {
    await createLab({ dir: join(dir, 'lab'), vms: 1, volumes: 1, diskSizeBytes: 4 << 20, dataBytes: 1 << 20 });
  });

  it('prune without flags applies retention:, the flags replace it, and --dry-run deletes nothing', async () => {
    const file = await writeConfig({ retention: { keepLast: 2 } });
    for (let i = 0; i < 3; i++) expect((await cli('backup', '--config', file)).code).toBe(0);
    const dry = await cli('prune', '--config', file, '--dry-run');
    expect(dry.code, dry.stderr).toBe(0);
    expect(dry.stdout).toMatch(/^would delete 1 restore point\(s\), kept 2/);
    expect(JSON.parse((await cli('list', '--config', file, '--json')).stdout)).toHaveLength(3);
    const flags = JSON.parse((await cli('prune', '--config', file, '--keep-last', '1', '--dry-run', '--json')).stdout);
    expect(flags.policy).toEqual({ keepLast: 1 });
    expect(flags.retention.deleted).toHaveLength(2);
    const real = await cli('prune', '--config', file);
    expect(real.stdout).toMatch(/^deleted 1 restore point\(s\), kept 2/);
    expect(JSON.parse((await cli('list', '--config', file, '--json')).stdout)).toHaveLength(2);
  });

  it('prune with neither flags nor retention: names the flags and the configuration key, exit 3', async () => {
    const file = await writeConfig();
    const r = await cli('prune', '--config', file);
    expect(r.code).toBe(3);
    expect(r.stderr).toContain('prune needs a retention policy: give --keep-last, --keep-daily, --keep-weekly, --keep-monthly, --keep-yearly');
    expect(r.stderr).toContain('or a retention: section in the configuration');
  });

  it('a bad retention value is named with its file and field', async () => {
    const file = await writeConfig({ retention: { keepMonthly: -1 } });
    const r = await cli('prune', '--config', file);
    expect(r.code).toBe(3);
    expect(r.stderr).toContain('retention.keepMonthly');
  });

  it('batch prunes after itself when retention.afterBatch is set', async () => {
    const file = await writeConfig({ retention: { keepLast: 1, afterBatch: true } });
    expect((await cli('batch', '--config', file)).code).toBe(0);
    const second = await cli('batch', '--config', file, '--json');
    expect(second.code).toBe(0);
    const report = JSON.parse(second.stdout);
    expect(report.prune.retention.deleted).toHaveLength(1);
    expect(JSON.parse((await cli('list', '--config', file, '--json')).stdout)).toHaveLength(1);
  });
});

describe('monthly and yearly rules', () => {
  const vm = { id: 'vm-a', name: 'a' };
  const at = (createdAt: string) => ({ id: `rp-${createdAt}`, vm, createdAt }) as unknown as RestorePointManifest;
  const points = ['2024-06-01', '2025-03-05', '2025-11-20', '2025-12-30', '2026-01-10', '2026-01-31', '2026-02-14'].map((d) => at(`${d}T01:00:00.000Z`));

  it('keep the newest of each of the last N months and years that have one', () => {
    const month = selectRetention(points, { keepMonthly: 3 });
    expect(month.kept.map((k) => `${k.createdAt.slice(0, 10)} ${k.reasons.join('+')}`)).toEqual([
      '2026-02-14 monthly 2026-02',
      '2026-01-31 monthly 2026-01',
      '2025-12-30 monthly 2025-12',
    ]);
    const year = selectRetention(points, { keepYearly: 2 });
    expect(year.kept.map((k) => `${k.createdAt.slice(0, 10)} ${k.reasons.join('+')}`)).toEqual(['2026-02-14 yearly 2026', '2025-12-30 yearly 2025']);
    expect(selectRetention(points, { keepYearly: 10 }).kept).toHaveLength(3);
  });
});

describe('hvsnap demo cleans up after itself', () => {
  const saved = process.env.TMPDIR;
  afterEach(() => {
    if (saved === undefined) delete process.env.TMPDIR;
    else process.env.TMPDIR = saved;
  });

  it('removes its temporary folder and says where it was; --keep keeps it', async () => {
    process.env.TMPDIR = dir; // where os.tmpdir() puts the demo's folder
    const small = ['--vms', '2', '--volumes', '1', '--disk-size', '8MiB', '--data', '2MiB'];
    const r = await cli('demo', ...small);
    expect(r.code, r.stderr).toBe(0);
    const where = /its folder (\S+) was removed \(--keep keeps it\)/.exec(r.stdout);
    expect(where?.[1].startsWith(join(dir, 'hvsnap-demo-'))).toBe(true);
    expect((await readdir(dir)).filter((f) => f.startsWith('hvsnap-demo-'))).toEqual([]); // (the local proxy's mount root stays)
    const kept = await cli('demo', ...small, '--keep');
    expect(kept.code).toBe(0);
    const folder = /are in (\S+) \(remove it when done/.exec(kept.stdout)?.[1];
    expect(folder && existsSync(join(folder, 'repository'))).toBe(true);
  });
});

describe('the log tells a normal teardown from a rollback', () => {
  beforeEach(async () => {
    await createLab({ dir: join(dir, 'lab'), vms: 1, volumes: 1, diskSizeBytes: 4 << 20, dataBytes: 1 << 20 });
  });

  it('a successful backup logs its teardown, never "compensated"; a failed one compensates', async () => {
    const file = await writeConfig();
    const ok = await cli('backup', '--config', file);
    expect(ok.code).toBe(0);
    expect(ok.logs.filter((l) => l.msg?.startsWith('compensated'))).toEqual([]);
    expect(ok.logs.some((l) => l.msg?.startsWith('teardown: ') && l.level === 'debug')).toBe(true);
    // the array fails to present its snapshot: the set fails after its checkpoints and snapshot exist, which are rolled back
    const broken = await writeConfig({ provider: { name: 'lab', config: { volumesDir: './lab/volumes', stateDir: './lab/array', failOn: ['present'] } } });
    const failed = await cli('backup', '--config', broken);
    expect(failed.code).toBe(5);
    expect(failed.logs.some((l) => l.msg?.startsWith('compensated: '))).toBe(true);
  });
});
