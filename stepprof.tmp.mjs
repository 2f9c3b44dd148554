// usage: node stepprof.tmp.mjs BASE full|incr
import { join } from 'node:path';
import { readFileSync, writeFileSync } from 'node:fs';
import { runBackup } from './dist/src/backup/backup-job.js';
import { openBenchEnv } from './dist/test/bench/bench-env.js';
const t0 = performance.now();
const [base, kind] = process.argv.slice(2);
const disk = JSON.parse(readFileSync(join(base, 'disk.json'), 'utf8'));
const env = await openBenchEnv(disk.labDir, join(base, 'repo'));
const t1 = performance.now();
const marks = [];
let last = performance.now(), lastName = 'start';
const report = await runBackup(env, { policy: { forceFull: kind === 'full' }, hooks: { beforeStep: (step, where) => { const now = performance.now(); marks.push([lastName, (now - last).toFixed(0)]); last = now; lastName = step + (where.vm ? '@vm' : ''); } } });
marks.push([lastName, (performance.now() - last).toFixed(0)]);
const t2 = performance.now();
await env.repository.close();
const t3 = performance.now();
console.log(JSON.stringify({ imports_open: (t1 - t0).toFixed(0), run: (t2 - t1).toFixed(0), close: (t3 - t2).toFixed(0), ok: report.ok, modes: report.vms[0].disks.map(d => d.mode), read: report.totals.bytesRead, changed: report.vms[0].disks.map(d => d.changedBytes), newc: report.vms[0].disks.map(d => d.chunksNew), written: report.totals.bytesWritten, marks }));
if (report.ok) writeFileSync(join(base,'rp.json'), JSON.stringify({rp: report.vms[0].restorePointId, disk: report.vms[0].disks[0].diskId}));
