import { spawnSync } from 'node:child_process';
import { mkdir, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { labWrite } from '../../../src/lab/index.js';
import { clearReferencePoints } from '../bench-env.js';
import { createDiskLab, requireFreeSpace, type BenchContext } from '../bench-context.js';
import { runPeer } from '../run-peer.js';
import { runWorker } from '../run-worker.js';
import { unwrittenBytes } from '../unwritten.js';
import { dropCold, filesUnder, settle, settleCold } from '../settle.js';
import { figure, MiB, ratioRuns, sizeText, type Figure, type Goal, type ScenarioResult } from '../stats.js';

const WRITE = 64 * 1024;
const MOVE_BYTES = fileURLToPath(new URL('../move-bytes.js', import.meta.url));
const PASS = 'bench passphrase';
/** The state of the second restore comparison: see settle.ts and {@link dropCold}. */
const BACKED = "started at once after a qemu-img run's page cache was freed (memory still backed by the host)";

/** Whether a peer program runs here; a missing one is skipped and the table says so. */
function available(command: string, args: string[]): string | undefined {
  const r = spawnSync(command, args, { encoding: 'utf8' });
  return r.status === 0 ? (r.stdout || r.stderr).trim().split('\n')[0] : undefined;
}

async function dirBytes(dir: string): Promise<number> {
  let n = 0;
  for (const f of await filesUnder(dir)) n += (await stat(f)).size;
  return n;
}

type Tool = 'hvsnap' | 'hvsnapEnc' | 'restic' | 'borg' | 'borgZstd';
const LABEL: Record<Tool, string> = {
  hvsnap: 'hvsnap (zstd, no encryption)',
  hvsnapEnc: 'hvsnap (zstd, AES-256-GCM)',
  restic: 'restic --compression off (always AES-256)',
  borg: 'borg -C none, -e none',
  borgZstd: 'borg -C zstd,3, -e none',
};

/**
 * 8. hvsnap against restic and borg backing up the same VHDX on the same disk, in one run with
 * interleaved runs: a full backup, an incremental after 1% of the disk was rewritten in scattered
 * 64 KiB writes, a restore of the latest backup, and the repository size after the full backup — on
 * incompressible data and on a mixed disk that zstd shrinks about 2:1. Like is compared with like:
 * hvsnap without encryption against borg `-e none` and restic (which always encrypts, the closest
 * there is), hvsnap encrypted against restic. hvsnap restores a dynamic VHDX from its chunks; the
 * peers restore the VHDX file; `qemu-img convert` raw → VHDX is the disk-speed reference, by
 * default (the image is not flushed; restic and borg do not flush either), then made durable by
 * `sync` (hvsnap's restore fsyncs once, at the end), and with `-t writeback` (qemu's VHDX driver
 * then also flushes twice at every block it adds, vhdx_log_write_and_flush in block/vhdx-log.c, so
 * that mode is slower than its data path), and a plain program that moves the restore's bytes
 * durably and does nothing else (move-bytes.ts) shows what the restore's own work costs; the same
 * program only writing the disk's data durably shows the least any restore that flushes can take
 * here. hvsnap's final fsync is timed on its own (RestoreDiskResult.syncMs), so its restore is also
 * compared unflushed with qemu-img's default. The restore and qemu-img's default (then `sync`) are
 * also timed once more in each run, each started at once after a qemu-img run's page cache was
 * freed. On this VM, memory freed 15 s or more before has gone back to the host and costs a fault
 * to touch, so a tool that writes through the page cache is slower; on a machine without free page
 * reporting no page ever is (see settle.ts). Every tool is timed as a whole process: start to exit,
 * each started from the same state (see settle.ts); every backup and every restore reads its input
 * from the disk, not from the page cache (see {@link settleCold}): a proxy reading a snapshot just
 * presented to it has none of it in memory, and a tool that ran after one that read the disk file
 * would otherwise read it warm (README, "How it measures", has the figures).
 */
export async function peersScenario(ctx: BenchContext): Promise<ScenarioResult> {
  const restic = available('restic', ['version']);
  const borg = available('borg', ['--version']);
  const figures: Figure[] = [];
  const goals: Goal[] = [];
  const notes: string[] = [];
  if (!restic) notes.push('restic not found (Debian package restic): skipped');
  if (!borg) notes.push('borg not found (Debian package borgbackup): skipped');
  for (const n of notes) ctx.progress(n);
  const tools: Tool[] = ['hvsnap', 'hvsnapEnc', ...(restic ? (['restic'] as const) : []), ...(borg ? (['borg', 'borgZstd'] as const) : [])];
  const details: Record<string, unknown> = { restic, borg, tools };
  const size = ctx.sizes.peerDiskBytes;
  // held at once, at most: the lab disk and its raw image (half data each), one repository per tool (borg
  // -C none stores the whole disk, restic a third more than the data), a restore and the moved bytes
  await requireFreeSpace(ctx.dir, 5.5 * size, 'a lab disk, its raw image, five repositories and a restored disk at once');

  for (const fill of ['random', 'mixed'] as const) {
    const base = join(ctx.dir, `peers-${fill}`);
    ctx.progress(`peers (${fill}): building a lab disk of ${sizeText(size)} (half data)`);
    const disk = await createDiskLab({ dir: base, diskBytes: size, dataBytes: size / 2, fill, seed: fill === 'random' ? 11 : 13 });
    const raw = join(base, 'disk.raw');
    await runPeer('qemu-img', ['convert', '-f', 'vhdx', '-O', 'raw', disk.file, raw]);
    const t = Object.fromEntries(
      ['full', 'incremental', 'restore', 'size'].map((k) => [k, Object.fromEntries(tools.map((x) => [x, [] as number[]]))]),
    ) as Record<'full' | 'incremental' | 'restore' | 'size', Record<Tool, number[]>>;
    // qemu-img convert's default cache mode writes the image without flushing it at the end; with
    // -t writeback it flushes, as hvsnap's restore does (fsync): both are reported, like is compared with like
    const qemu: number[] = [];
    const qemuFlushed: number[] = [];
    // why a restore that flushes cannot match qemu-img's default, measured: how much of its output it
    // left unwritten at its exit, and its time once a sync has written that (like with like with hvsnap)
    const qemuUnwritten: number[] = [];
    const qemuThenSync: number[] = [];
    // what moving the restore's bytes durably costs a plain program, with no work besides (move-bytes.ts)
    const moveBytes: number[] = [];
    // the same program writing the disk's data and reading nothing: the least a durable restore of
    // this disk can take here, whatever it reads and however well (a floor qemu-img's default does not meet)
    const writeOnly: number[] = [];
    // of hvsnap's restore, its final fsync: qemu-img's default leaves that work undone at its exit
    const hvSync: number[] = [];
    // qemu-img's default and hvsnap's restore once more, each started at once after memory was freed,
    // while the host still backs it (settle.ts): as every page is on a machine without free page reporting
    const qemuBacked: number[] = [];
    // the same run's output then made durable by sync: both durable, memory in the same state (see above for -t writeback)
    const qemuBackedThenSync: number[] = [];
    const hvBacked: number[] = [];
    for (let r = 0; r < ctx.runs; r++) {
      ctx.progress(`peers (${fill}): run ${r + 1}/${ctx.runs}`);
      const run = join(base, `run-${r}`);
      await mkdir(run, { recursive: true });
      const env = {
        RESTIC_PASSWORD: PASS,
        RESTIC_CACHE_DIR: join(run, 'restic-cache'),
        BORG_BASE_DIR: join(run, 'borg-home'),
        BORG_UNKNOWN_UNENCRYPTED_REPO_ACCESS_IS_OK: 'yes',
        BORG_RELOCATED_REPO_ACCESS_IS_OK: 'yes',
        BORG_PASSPHRASE: '',
      };
      const repo = (x: Tool) => join(run, `repo-${x}`);
      if (restic) await runPeer('restic', ['-r', repo('restic'), 'init', '--repository-version', '2'], { env });
      if (borg) for (const b of ['borg', 'borgZstd'] as const) await runPeer('borg', ['init', '-e', 'none', repo(b)], { env });
      await clearReferencePoints(disk.labDir);
      const hv: Partial<Record<Tool, { restorePointId: string; diskId: string }>> = {};
      /** Restores hvsnap's (or the encrypted hvsnap's) latest backup to `target`, timed as a whole process. */
      const restoreHvsnap = async (x: 'hvsnap' | 'hvsnapEnc', target: string) => {
        const started = performance.now();
        const a = await runWorker({
          kind: 'restore',
          repoDir: repo(x),
          ...hv[x]!,
          target,
          passphrase: x === 'hvsnapEnc' ? PASS : undefined,
          noVerify: true,
        });
        return { ms: performance.now() - started, syncMs: a.syncMs };
      };
      const backup = async (x: Tool, kind: 'full' | 'incremental'): Promise<number> => {
        // hvsnap reads the lab's snapshot of the disk: a hard link to the same file, so the same pages
        await settleCold([disk.file]);
        if (x === 'hvsnap' || x === 'hvsnapEnc') {
          // timed as a whole process, like the peers: start, repository open and the job
          const started = performance.now();
          const a = await runWorker({
            kind: 'backup',
            labDir: disk.labDir,
            repoDir: repo(x),
            forceFull: kind === 'full',
            passphrase: x === 'hvsnapEnc' ? PASS : undefined,
          });
          if (kind === 'incremental' && a.vms[0].modes.some((m) => m !== 'incremental'))
            throw new Error(`peers: the hvsnap incremental ran ${a.vms[0].modes.join(',')}`);
          hv[x] = { restorePointId: a.vms[0].restorePointId, diskId: a.vms[0].diskIds[0] };
          return performance.now() - started;
        }
        if (x === 'restic') return runPeer('restic', ['-r', repo(x), 'backup', '--compression', 'off', disk.file], { env });
        return runPeer('borg', ['create', '-C', x === 'borg' ? 'none' : 'zstd,3', `${repo(x)}::${kind}`, disk.file], { env });
      };
      // the encrypted hvsnap first: the unencrypted one runs last, so its reference point is the lab's
      // current one and its incremental follows it (the encrypted one is not timed incrementally)
      for (const x of ['hvsnapEnc', ...tools.filter((x) => x !== 'hvsnap' && x !== 'hvsnapEnc'), 'hvsnap'] as Tool[]) {
        t.full[x].push(await backup(x, 'full'));
        t.size[x].push((await dirBytes(repo(x))) / MiB);
      }
      await labWrite({ dir: disk.labDir, vm: disk.vm, count: Math.round((0.01 * size) / WRITE), sizeBytes: WRITE, seed: 500 + r });
      for (const x of tools) if (x !== 'hvsnapEnc') t.incremental[x].push(await backup(x, 'incremental'));
      for (const x of tools) {
        const out = join(run, `restore-${x}`);
        await mkdir(out, { recursive: true });
        await settleCold([repo(x), ...(x === 'restic' ? [env.RESTIC_CACHE_DIR] : [])]);
        if (x === 'hvsnap' || x === 'hvsnapEnc') {
          const a = await restoreHvsnap(x, join(out, 'disk.vhdx'));
          t.restore[x].push(a.ms);
          if (x === 'hvsnap') hvSync.push(a.syncMs);
        } else if (x === 'restic') t.restore[x].push(await runPeer('restic', ['-r', repo(x), 'restore', 'latest', '--target', out], { env }));
        else t.restore[x].push(await runPeer('borg', ['extract', `${repo(x)}::incremental`], { env, cwd: out }));
        await rm(out, { recursive: true, force: true });
      }
      await settleCold([repo('hvsnap')]);
      const moved = join(run, 'moved.bin');
      moveBytes.push(await runPeer(process.execPath, [MOVE_BYTES, join(repo('hvsnap'), 'packs'), moved, String(size / 2)]));
      await rm(moved, { force: true });
      const nothing = join(run, 'nothing-to-read');
      await mkdir(nothing);
      await settle();
      writeOnly.push(await runPeer(process.execPath, [MOVE_BYTES, nothing, moved, String(size / 2)]));
      await rm(moved, { force: true });
      const q = join(run, 'qemu.vhdx');
      /** `qemu-img convert` of the raw image to the dynamic VHDX `q`, timed; `cache` its `-t` options, none for its default. */
      const convert = (...cache: string[]) => runPeer('qemu-img', ['convert', ...cache, '-f', 'raw', '-O', 'vhdx', '-o', 'subformat=dynamic', raw, q]);
      await settleCold([raw]);
      const before = await unwrittenBytes();
      const converted = await convert();
      qemu.push(converted);
      const after = await unwrittenBytes();
      if (before !== undefined && after !== undefined) qemuUnwritten.push(Math.max(0, after - before) / MiB);
      // the same image made durable: what it left in the page cache written by sync (the machine is settled, so that is only qemu-img's)
      qemuThenSync.push(converted + (await runPeer('sync', [])));
      await rm(q, { force: true });
      await settleCold([raw]);
      qemuFlushed.push(await convert('-t', 'writeback'));
      // the restore comparison once more with the memory just freed still backed by the host: qemu-img's
      // flushed output and the raw image it read (twice the disk's data, in the page cache) freed, then
      // each tool at once: qemu-img first, whose page cache the state decides, then hvsnap
      await rm(q, { force: true });
      await dropCold([raw]);
      const convertedBacked = await convert();
      qemuBacked.push(convertedBacked);
      qemuBackedThenSync.push(convertedBacked + (await runPeer('sync', [])));
      await rm(q, { force: true });
      await dropCold([raw, repo('hvsnap')]);
      hvBacked.push((await restoreHvsnap('hvsnap', join(run, 'restore-backed.vhdx'))).ms);
      await rm(run, { recursive: true, force: true });
    }
    await clearReferencePoints(disk.labDir);
    await rm(base, { recursive: true, force: true });

    const tag = fill === 'random' ? 'incompressible' : 'mixed ~2:1';
    for (const step of ['full', 'incremental', 'restore'] as const) {
      for (const x of tools)
        if (t[step][x].length)
          figures.push(
            figure(
              `${tag}: ${step}, ${LABEL[x]}`,
              's',
              t[step][x].map((ms) => ms / 1000),
            ),
          );
      if (step === 'restore') {
        figures.push(
          figure(
            `${tag}: restore reference, qemu-img convert raw -> VHDX (default: not flushed)`,
            's',
            qemu.map((ms) => ms / 1000),
          ),
        );
        figures.push(
          figure(
            `${tag}: restore reference, qemu-img convert -t writeback raw -> VHDX (flushed)`,
            's',
            qemuFlushed.map((ms) => ms / 1000),
          ),
        );
        if (qemuUnwritten.length) figures.push(figure(`${tag}: qemu-img convert (default): output not yet on the disk when it exited`, 'MiB', qemuUnwritten));
        figures.push(
          figure(
            `${tag}: of hvsnap's restore, its final fsync (the restored disk made durable once every byte was written)`,
            's',
            hvSync.map((ms) => ms / 1000),
          ),
        );
        figures.push(
          figure(
            `${tag}: restore reference, qemu-img convert raw -> VHDX (default), then sync: until its output is on the disk`,
            's',
            qemuThenSync.map((ms) => ms / 1000),
          ),
        );
        figures.push(
          figure(
            `${tag}: restore reference, the same bytes moved by a plain program (packs read, the disk's data written, direct, fsynced)`,
            's',
            moveBytes.map((ms) => ms / 1000),
          ),
        );
        figures.push(
          figure(
            `${tag}: restore reference, the disk's data written by the same program, nothing read (direct, fsynced): the floor of a durable restore here`,
            's',
            writeOnly.map((ms) => ms / 1000),
          ),
        );
        figures.push(
          figure(
            `${tag}: restore, ${LABEL.hvsnap}, ${BACKED}`,
            's',
            hvBacked.map((ms) => ms / 1000),
          ),
        );
        figures.push(
          figure(
            `${tag}: restore reference, qemu-img convert raw -> VHDX (default), ${BACKED}`,
            's',
            qemuBacked.map((ms) => ms / 1000),
          ),
        );
        figures.push(
          figure(
            `${tag}: restore reference, qemu-img convert raw -> VHDX (default), then sync, ${BACKED}`,
            's',
            qemuBackedThenSync.map((ms) => ms / 1000),
          ),
        );
      }
    }
    for (const x of tools) figures.push(figure(`${tag}: repository size after the full, ${LABEL[x]}`, 'MiB', t.size[x]));
    const speedup = (label: string, peer: number[], ours: number[], want: number, goal: string) => {
      const f = figure(`${tag}: ${label}`, 'x', ratioRuns(peer, ours));
      figures.push(f);
      goals.push({ text: `${tag}: ${goal} >= ${want}x`, measured: f.median, met: f.median >= want });
    };
    if (fill === 'random') {
      if (borg) speedup('full, borg -C none time / hvsnap time', t.full.borg, t.full.hvsnap, 1.5, 'full backup faster than borg -C none');
      if (restic) speedup('full, restic time / hvsnap time', t.full.restic, t.full.hvsnap, 2, 'full backup faster than restic --compression off');
      if (restic) speedup('full, restic time / encrypted hvsnap time', t.full.restic, t.full.hvsnapEnc, 1.5, 'encrypted full backup faster than restic');
      if (restic) speedup('restore, restic time / hvsnap time', t.restore.restic, t.restore.hvsnap, 1.5, 'restore faster than restic');
      if (borg) speedup('restore, borg time / hvsnap time', t.restore.borg, t.restore.hvsnap, 1.5, 'restore faster than borg');
      speedup(
        'restore, qemu-img -t writeback time / hvsnap time',
        qemuFlushed,
        t.restore.hvsnap,
        1,
        'restore vs qemu-img convert -t writeback raw -> VHDX (both flushed)',
      );
      speedup('restore, qemu-img default time / hvsnap time', qemu, t.restore.hvsnap, 1, 'restore vs qemu-img convert raw -> VHDX (qemu not flushed)');
      speedup(
        `restore, qemu-img default time / hvsnap time, ${BACKED}`,
        qemuBacked,
        hvBacked,
        1,
        `restore vs qemu-img convert raw -> VHDX (qemu not flushed), ${BACKED}`,
      );
      // like with like on both counts: both made durable once, at the end, and memory in the same state
      speedup(
        `restore, (qemu-img default, then sync) time / hvsnap time, ${BACKED}`,
        qemuBackedThenSync,
        hvBacked,
        1,
        `restore vs qemu-img convert raw -> VHDX then sync (both durable), ${BACKED}`,
      );
      figures.push(figure(`${tag}: restore, (qemu-img default, then sync) time / hvsnap time`, 'x', ratioRuns(qemuThenSync, t.restore.hvsnap)));
      figures.push(figure(`${tag}: restore, plain program moving the same bytes time / hvsnap time`, 'x', ratioRuns(moveBytes, t.restore.hvsnap)));
      // below 1: qemu-img's default exits before this disk could have taken its output, so no restore that flushes can match it here
      figures.push(figure(`${tag}: restore reference, qemu-img default time / the floor's (the disk's data written only)`, 'x', ratioRuns(qemu, writeOnly)));
      figures.push(
        figure(
          `${tag}: restore reference, qemu-img default time / the floor's (the disk's data written only), ${BACKED}`,
          'x',
          ratioRuns(qemuBacked, writeOnly),
        ),
      );
      figures.push(figure(`${tag}: restore, the floor's time (the disk's data written only) / hvsnap time`, 'x', ratioRuns(writeOnly, t.restore.hvsnap)));
      // like with like the other way: neither made durable (hvsnap's time up to its final fsync)
      figures.push(
        figure(
          `${tag}: restore, qemu-img default time / hvsnap time without its final fsync (neither flushed)`,
          'x',
          ratioRuns(
            qemu,
            t.restore.hvsnap.map((ms, r) => ms - hvSync[r]),
          ),
        ),
      );
      if (restic)
        speedup('incremental, restic time / hvsnap time', t.incremental.restic, t.incremental.hvsnap, 10, 'incremental after 1% writes faster than restic');
      if (borg) speedup('incremental, borg time / hvsnap time', t.incremental.borg, t.incremental.hvsnap, 10, 'incremental after 1% writes faster than borg');
    } else if (borg) {
      const f = figure(`${tag}: repository size, hvsnap / borg -C zstd,3`, 'x', ratioRuns(t.size.hvsnap, t.size.borgZstd));
      figures.push(f);
      goals.push({ text: `${tag}: repository size <= 1.05 x borg -C zstd,3`, measured: f.median, met: f.median <= 1.05 });
    }
    // each fill's medians as soon as it is done (a full-size run takes the best part of an hour)
    for (const f of figures.filter((f) => f.label.startsWith(`${tag}:`))) ctx.progress(`${f.label}: ${f.median.toPrecision(3)} ${f.unit}`);
    details[fill] = t;
    details[`${fill}Qemu`] = qemu;
    details[`${fill}QemuFlushed`] = qemuFlushed;
    details[`${fill}QemuThenSync`] = qemuThenSync;
    details[`${fill}MoveBytes`] = moveBytes;
    details[`${fill}WriteOnly`] = writeOnly;
    details[`${fill}HvsnapSyncMs`] = hvSync;
    details[`${fill}QemuBacked`] = qemuBacked;
    details[`${fill}QemuBackedThenSync`] = qemuBackedThenSync;
    details[`${fill}HvsnapBacked`] = hvBacked;
    if (qemuUnwritten.length) details[`${fill}QemuUnwrittenMiB`] = qemuUnwritten;
  }
  return {
    id: 'peers',
    title: '8. hvsnap, restic and borg',
    setup: `${sizeText(size)} disk, half data in 1 MiB runs (incompressible, and mixed: 448 KiB random + text per MiB); incremental after 1% scattered 64 KiB writes; every backup and restore reads its input from the disk (dropped from the page cache first); seconds${notes.length ? `; ${notes.join('; ')}` : ''}`,
    figures,
    goals,
    details,
  };
}
