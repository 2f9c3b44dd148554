import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { runBackup } from '../../src/backup/backup-job.js';
import type { Checkpoint } from '../../src/core/types.js';
import { labPinFrozen } from '../../src/lab/index.js';
import { verifyDiskAgainstIndex } from '../../src/restore/restore-disk.js';
import { buildForChild } from '../helpers/child-build.js';
import { makeLabEnv, type LabEnv } from '../helpers/lab-env.js';

/**
 * Guests writing while backups run: writer processes (separate processes, like `hvsnap lab write`)
 * write into every VM's disks in a loop, while backups follow one another. Every restore point
 * must hold exactly the base VHDX its checkpoint froze (pinned by hard link when the checkpoint
 * was taken): a write the change tracking loses makes an incremental silently wrong.
 */
const WRITER = `
import { labWrite } from './src/lab/index.js';
const [dir, vm, seed] = process.argv.slice(2);
for (let i = 0; ; i++) {
  await labWrite({ dir, vm, count: 1 + (i % 3), sizeBytes: 4096 * (1 + (i % 5)), seed: Number(seed) * 100000 + i });
  await new Promise((r) => setTimeout(r, i % 4));
}
`;

let build: Awaited<ReturnType<typeof buildForChild>>;
let env: LabEnv | undefined;
const writers: ChildProcess[] = [];
beforeAll(async () => {
  build = await buildForChild(['src/lab/index.ts'], { 'writer.mjs': WRITER });
}, 120_000);
afterEach(async () => {
  for (const w of writers.splice(0)) w.kill('SIGKILL');
  await env?.cleanup();
  env = undefined;
});
afterAll(async () => build?.remove());

describe('the lab change tracking under concurrent writer processes', () => {
  it('50 restore points taken while writers run are each byte-identical to the base pinned at their checkpoint', async () => {
    env = await makeLabEnv({ vms: 2, volumes: 1, diskSizeBytes: 4 << 20, dataBytes: 1 << 20 });
    const labDir = env.labDir;
    const frozen = new Map<string, Record<string, string>>();
    const pin = async (cps: Checkpoint[]) => {
      for (const cp of cps) frozen.set(`${cp.vmName}@${cp.name}`, await labPinFrozen(labDir, cp, join(env!.dir, 'frozen')));
    };
    for (const [i, vm] of ['vm-01', 'vm-02', 'vm-01', 'vm-02'].entries()) {
      const w = spawn(process.execPath, [join(build.dir, 'writer.mjs'), labDir, vm, String(i + 1)], { stdio: ['ignore', 'ignore', 'pipe'] });
      w.stderr!.setEncoding('utf8').on('data', (d: string) => (writerErrors += d));
      writers.push(w);
    }
    let writerErrors = '';
    const points: Array<{ id: string; key: string; incremental: boolean }> = [];
    while (points.length < 50) {
      const r = await runBackup(env, { hooks: { onCheckpoints: pin } });
      expect(r.ok, JSON.stringify(r.vms.map((v) => v.error))).toBe(true);
      for (const v of r.vms)
        points.push({ id: v.restorePointId!, key: `${v.vm}@hvsnap:${r.jobId}`, incremental: v.disks.every((d) => d.mode === 'incremental') });
    }
    for (const w of writers) w.kill('SIGKILL');
    expect(writerErrors).toBe('');
    // the writers were busy (every incremental after the first backup read something)
    expect(points.filter((p) => p.incremental).length).toBeGreaterThanOrEqual(48);
    const wrong: string[] = [];
    for (const p of points) {
      const manifest = await env.repository.getRestorePoint(p.id);
      for (const d of manifest.disks) {
        const check = await verifyDiskAgainstIndex(frozen.get(p.key)![d.diskId], await env.repository.readIndex(p.id, d.diskId));
        if (check.mismatches.length) wrong.push(`${p.key} ${d.diskId}: chunks ${check.mismatches.join(',')}`);
      }
    }
    expect(wrong).toEqual([]);
  }, 300_000);
});
