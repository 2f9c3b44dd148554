// usage: node prof.tmp.mjs SIZE_MIB [fill] [steps...]
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { createDiskLab } from './dist/test/bench/bench-context.js';
import { runWorker } from './dist/test/bench/run-worker.js';
import { runPeer } from './dist/test/bench/run-peer.js';
import { labWrite } from './dist/src/lab/index.js';
const size = Number(process.argv[2] ?? 1024) * 2**20; const fill = process.argv[3] ?? 'random';
const steps = process.argv.slice(4);
const base = '/tmp/prof-' + size + fill;
const fresh = steps.includes('build');
if (fresh) { await rm(base, { recursive: true, force: true }); }
let disk;
if (fresh) { disk = await createDiskLab({ dir: base, diskBytes: size, dataBytes: size / 2, fill, seed: 11 }); await runPeer('qemu-img', ['convert','-f','vhdx','-O','raw',disk.file, join(base,'disk.raw')]); await import('node:fs').then(f=>f.writeFileSync(join(base,'disk.json'), JSON.stringify(disk))); }
else disk = JSON.parse((await import('node:fs')).readFileSync(join(base,'disk.json'),'utf8'));
const repo = join(base, 'repo'); const env = { RESTIC_PASSWORD: 'x', RESTIC_CACHE_DIR: join(base, 'rc') };
const out = {};
for (const s of steps) {
  if (s === 'full') { await rm(repo,{recursive:true,force:true}); const a = await runWorker({ kind: 'backup', labDir: disk.labDir, repoDir: repo, forceFull: true }); out.full = a.ms; out.rp = a.vms[0].restorePointId; out.disk = a.vms[0].diskIds[0]; (await import('node:fs')).writeFileSync(join(base,'rp.json'), JSON.stringify({rp: out.rp, disk: out.disk})); }
  if (s === 'fullenc') { await rm(repo+'e',{recursive:true,force:true}); const a = await runWorker({ kind: 'backup', labDir: disk.labDir, repoDir: repo+'e', forceFull: true, passphrase: 'x' }); out.fullenc = a.ms; }
  if (s === 'write') { await labWrite({ dir: disk.labDir, vm: disk.vm, count: Math.round(0.01*size/65536), sizeBytes: 65536, seed: Date.now()%1000 }); }
  if (s === 'incr') { const a = await runWorker({ kind: 'backup', labDir: disk.labDir, repoDir: repo, forceFull: false }); out.incr = a.ms; out.rp = a.vms[0].restorePointId; out.disk = a.vms[0].diskIds[0]; out.modes=a.vms[0].modes; (await import('node:fs')).writeFileSync(join(base,'rp.json'), JSON.stringify({rp: out.rp, disk: out.disk}));}
  if (s === 'restore') { const {rp, disk: d} = JSON.parse((await import('node:fs')).readFileSync(join(base,'rp.json'),'utf8')); const t = join(base,'r.vhdx'); await rm(t,{force:true}); const a = await runWorker({ kind: 'restore', repoDir: repo, restorePointId: rp, diskId: d, target: t, noVerify: !steps.includes('verify') }); out.restore = a.restoreMs; out.verify=a.verifyMs; await rm(t,{force:true}); }
  if (s === 'restic') { await rm(repo+'r',{recursive:true,force:true}); await runPeer('restic',['-r',repo+'r','init','--repository-version','2'],{env}); out.restic = await runPeer('restic',['-r',repo+'r','backup','--compression','off',disk.file],{env}); }
  if (s === 'resticrestore') { const o=join(base,'rr'); await rm(o,{recursive:true,force:true}); out.resticrestore = await runPeer('restic',['-r',repo+'r','restore','latest','--target',o],{env}); await rm(o,{recursive:true,force:true}); }
  if (s === 'borg') { const benv={BORG_BASE_DIR: join(base,'bh'), BORG_UNKNOWN_UNENCRYPTED_REPO_ACCESS_IS_OK:'yes', BORG_RELOCATED_REPO_ACCESS_IS_OK:'yes', BORG_PASSPHRASE:''}; await rm(repo+'b',{recursive:true,force:true}); await runPeer('borg',['init','-e','none',repo+'b'],{env:benv}); out.borg = await runPeer('borg',['create','-C','none',repo+'b::full',disk.file],{env:benv}); }
  if (s === 'borgrestore') { const benv={BORG_BASE_DIR: join(base,'bh'), BORG_UNKNOWN_UNENCRYPTED_REPO_ACCESS_IS_OK:'yes', BORG_RELOCATED_REPO_ACCESS_IS_OK:'yes', BORG_PASSPHRASE:''}; const o=join(base,'br'); await rm(o,{recursive:true,force:true}); await mkdir(o,{recursive:true}); out.borgrestore = await runPeer('borg',['extract',repo+'b::full'],{env:benv, cwd:o}); await rm(o,{recursive:true,force:true}); }
  if (s === 'qemu') { const q=join(base,'q.vhdx'); await rm(q,{force:true}); out.qemu = await runPeer('qemu-img',['convert','-f','raw','-O','vhdx','-o','subformat=dynamic',join(base,'disk.raw'),q]); await rm(q,{force:true}); }
}
console.log(JSON.stringify(out));
