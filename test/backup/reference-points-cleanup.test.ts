import { spawnSync } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { runBackup } from '../../src/backup/backup-job.js';
import { cleanupLeftovers } from '../../src/backup/cleanup.js';
import { journalDir } from '../../src/core/names.js';
import type { Hypervisor } from '../../src/hyperv/hypervisor.js';
import { makeLabEnv, type LabEnv } from '../helpers/lab-env.js';

let env: LabEnv | undefined;
afterEach(async () => {
  await env?.cleanup();
  env = undefined;
});

const tagged = async (e: LabEnv) => (await e.hypervisor.listLeftovers({ tagPrefix: 'hvsnap:' })).referencePoints;

describe('cleanup and reference points', () => {
  it('never deletes the reference point of a committed restore point, even when a kill left its undo pending', async () => {
    env = await makeLabEnv({ vms: 1, volumes: 1, diskSizeBytes: 8 << 20, dataBytes: 2 << 20 });
    const first = await runBackup(env);
    const manifest = await env.repository.getRestorePoint(first.vms[0].restorePointId!);
    // the journal a kill between the commit and its "done" entries leaves behind
    const dead = spawnSync('true').pid!;
    await mkdir(journalDir(env.repository.path), { recursive: true });
    await writeFile(
      join(journalDir(env.repository.path), `${first.jobId}.jsonl`),
      [
        { t: 'start', jobId: first.jobId, at: new Date().toISOString(), pid: dead, host: hostname() },
        {
          t: 'undo',
          id: 1,
          record: { kind: 'deleteReferencePoint', vmId: manifest.vm.id, vmName: manifest.vm.name, referencePointId: manifest.referencePointId },
        },
      ]
        .map((l) => JSON.stringify(l) + '\n')
        .join(''),
    );
    const report = await cleanupLeftovers(env);
    expect(report.skipped).toEqual([`${first.jobId}: reference point ${manifest.referencePointId} of VM vm-01 is the base of the latest restore point`]);
    expect((await tagged(env)).map((r) => r.id)).toEqual([manifest.referencePointId]);
    const next = await runBackup(env);
    expect(next.vms[0].disks[0].mode).toBe('incremental');
  });

  it('removes a superseded reference point the backup could not delete, and only that one', async () => {
    env = await makeLabEnv({ vms: 2, volumes: 1, diskSizeBytes: 8 << 20, dataBytes: 2 << 20 });
    const first = await runBackup(env);
    const old = await Promise.all(first.vms.map(async (v) => (await env!.repository.getRestorePoint(v.restorePointId!)).referencePointId!));
    // the superseded reference points survive the second backup (as after a kill before their deletion)
    const host = env.hypervisor;
    const failing: Hypervisor = Object.create(host);
    failing.deleteReferencePoint = async () => {
      throw new Error('injected: the host is gone');
    };
    const second = await runBackup({ ...env, hypervisor: failing });
    // the restore points stand; the report says what the backup left behind for cleanup
    expect(second.vms.map((v) => v.status)).toEqual(['ok', 'ok']);
    expect([...(second.leftBehind ?? [])].sort()).toEqual(old.map((id, i) => `delete reference point ${id} of VM ${first.vms[i].vm}`).sort());
    expect((await tagged(env)).length).toBe(4);
    // a reference point that is not ours (no tag) and one of another repository stay
    const [vm] = await host.listVms({ names: ['vm-01'] });
    const stranger = await host.createCheckpoint({ vmId: vm.id, name: 'admin-made', consistency: 'crash' });
    const strangerRp = await host.convertToReferencePoint({ checkpoint: stranger });
    const other = await host.createCheckpoint({ vmId: vm.id, name: 'hvsnap:20200101-000000-beef', consistency: 'crash' });
    const otherRp = await host.convertToReferencePoint({ checkpoint: other });
    const report = await cleanupLeftovers(env);
    expect(report.referencePoints.map((r) => r.split('(')[1].slice(0, -1)).sort()).toEqual([...old].sort());
    const left = (await host.listLeftovers({ tagPrefix: '' })).referencePoints.map((r) => r.id).sort();
    const latest = await Promise.all(second.vms.map(async (v) => (await env!.repository.getRestorePoint(v.restorePointId!)).referencePointId!));
    expect(left).toEqual([...latest, strangerRp.id, otherRp.id].sort());
    // the reference point the latest restore point needs stayed: the next backup is incremental
    const third = await runBackup(env, { vms: ['vm-02'] });
    expect(third.vms[0].disks[0].mode).toBe('incremental');
  });
});
