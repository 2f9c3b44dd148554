/**
 * Sequential read throughput of a dynamic VHDX through hvsnap's reader, as a ratio to `cat FILE >
 * /dev/null` and to `qemu-img convert` into qemu's null driver (it refuses /dev/null), medians of
 * `rounds` (default 5) in the same run (page cache warm for all). Not a test: run
 * `node dist/test/vhdx/bench-read.js [sizeMiB] [readKiB] [rounds]` after a build.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, mkdtempSync, openSync, read, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { allocReadBuffer, openVhdx, writeVhdxStream } from '../../src/vhdx/index.js';

const MiB = 1024 * 1024;

export interface ReadBenchResult {
  virtualSize: number;
  fileSize: number;
  readKiB: number;
  rounds: number;
  /** seconds, medians */
  cat: number;
  qemu: number;
  /** `readInto` one reused buffer from `allocReadBuffer` (how a caller that reuses buffers should read) */
  hvsnap: number;
  /** `readInto` one reused `Buffer.allocUnsafe` buffer: what an unlucky placement costs (see allocReadBuffer) */
  hvsnapPlainBuffer: number;
  /** `image.read`, a new buffer per read (what the CLI and restore do) */
  hvsnapRead: number;
  /** as `hvsnap`, opened with `syncReads` (blocking preads: for single-purpose processes only) */
  hvsnapSync: number;
  /** plain Node `fs.read` of the VHDX file into the same buffer as `hvsnap`: what Node's I/O path alone costs */
  nodeRaw: number;
  /** throughput ratios, cat (or qemu) time over ours, in the same run (> 1: hvsnap faster) */
  vsCat: number;
  vsQemu: number;
  readVsCat: number;
  readVsQemu: number;
  plainBufferVsCat: number;
  syncVsCat: number;
  syncVsQemu: number;
  /** CPU seconds (user + system, thread pool included), medians: steadier than wall time on a busy machine */
  cpu: { cat: number; qemu: number; hvsnap: number; hvsnapPlainBuffer: number; hvsnapRead: number; hvsnapSync: number; nodeRaw: number };
}

/** Wall and CPU seconds of a shell command (CPU from the shell's `times` for its children). */
function shellTimes(cmd: string): { wall: number; cpu: number } {
  const t = process.hrtime.bigint();
  const out = execFileSync('sh', ['-c', `${cmd}; times`], { encoding: 'utf8' });
  const wall = Number(process.hrtime.bigint() - t) / 1e9;
  const children = out.trim().split('\n').pop()!.split(/\s+/);
  const secs = (v: string) => {
    const m = /(\d+)m([\d.]+)s/.exec(v);
    return m ? Number(m[1]) * 60 + Number(m[2]) : 0;
  };
  return { wall, cpu: secs(children[0]) + secs(children[1]) };
}

async function timesAsync(fn: () => Promise<unknown>): Promise<{ wall: number; cpu: number }> {
  const t = process.hrtime.bigint();
  const c = process.cpuUsage();
  await fn();
  const d = process.cpuUsage(c);
  return { wall: Number(process.hrtime.bigint() - t) / 1e9, cpu: (d.user + d.system) / 1e6 };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/**
 * Builds a `sizeMiB` dynamic disk full of data (32 MiB blocks) and times the three readers; hvsnap reads
 * sequentially into one `readKiB` buffer (1 MiB: the repository's chunk size).
 */
export async function benchVhdxRead(sizeMiB = 1024, readKiB = 1024, rounds = 5): Promise<ReadBenchResult> {
  const dir = mkdtempSync(join(tmpdir(), 'hvsnap-bench-'));
  try {
    const path = join(dir, 'disk.vhdx');
    const pattern = randomBytes(MiB);
    async function* source() {
      for (let i = 0; i < sizeMiB; i++) {
        pattern[0] = i & 0xff;
        yield { offset: i * MiB, data: pattern };
      }
    }
    await writeVhdxStream(path, { virtualSize: sizeMiB * MiB, source: source() });
    const sh = (cmd: string) => execFileSync('sh', ['-c', cmd], { stdio: 'ignore' });
    sh(`cat '${path}' > /dev/null`);
    const buf = allocReadBuffer(readKiB * 1024);
    const plainBuf = Buffer.allocUnsafe(readKiB * 1024);
    const readIntoAll =
      (into: Buffer, syncReads = false) =>
      async () => {
        const img = await openVhdx(path, { syncReads });
        for (let off = 0; off < img.virtualSize; off += into.length) await img.readInto(into.subarray(0, Math.min(into.length, img.virtualSize - off)), off);
        await img.close();
      };
    const ours = readIntoAll(buf);
    const oursPlain = readIntoAll(plainBuf);
    const oursSync = readIntoAll(buf, true);
    const oursRead = async () => {
      const img = await openVhdx(path);
      for (let off = 0; off < img.virtualSize; off += buf.length) await img.read(off, Math.min(buf.length, img.virtualSize - off));
      await img.close();
    };
    const raw = async () => {
      const fd = openSync(path, 'r');
      const size = statSync(path).size;
      for (let off = 0; off < size; off += buf.length) await new Promise<void>((res, rej) => read(fd, buf, 0, buf.length, off, (e) => (e ? rej(e) : res())));
      closeSync(fd);
    };
    type T = Array<{ wall: number; cpu: number }>;
    const t: { cat: T; qemu: T; hvsnap: T; hvsnapPlainBuffer: T; hvsnapRead: T; hvsnapSync: T; nodeRaw: T } = {
      cat: [],
      qemu: [],
      hvsnap: [],
      hvsnapPlainBuffer: [],
      hvsnapRead: [],
      hvsnapSync: [],
      nodeRaw: [],
    };
    for (let round = 0; round < rounds; round++) {
      t.cat.push(shellTimes(`cat '${path}' > /dev/null`));
      // qemu-img cannot convert into /dev/null ("Cannot grow device files"): its null block driver is the same sink
      t.qemu.push(shellTimes(`qemu-img convert -n -f vhdx --target-image-opts '${path}' driver=null-co,size=${sizeMiB * MiB}`));
      t.hvsnap.push(await timesAsync(ours));
      t.hvsnapPlainBuffer.push(await timesAsync(oursPlain));
      t.hvsnapRead.push(await timesAsync(oursRead));
      t.hvsnapSync.push(await timesAsync(oursSync));
      t.nodeRaw.push(await timesAsync(raw));
    }
    const wall = (k: keyof typeof t) => median(t[k].map((x) => x.wall));
    const cpu = (k: keyof typeof t) => median(t[k].map((x) => x.cpu));
    const [cat, qemu, hvsnap, hvsnapRead] = [wall('cat'), wall('qemu'), wall('hvsnap'), wall('hvsnapRead')];
    return {
      virtualSize: sizeMiB * MiB,
      fileSize: statSync(path).size,
      readKiB,
      rounds,
      cat,
      qemu,
      hvsnap,
      hvsnapPlainBuffer: wall('hvsnapPlainBuffer'),
      hvsnapRead,
      hvsnapSync: wall('hvsnapSync'),
      nodeRaw: wall('nodeRaw'),
      vsCat: cat / hvsnap,
      vsQemu: qemu / hvsnap,
      readVsCat: cat / hvsnapRead,
      readVsQemu: qemu / hvsnapRead,
      plainBufferVsCat: cat / wall('hvsnapPlainBuffer'),
      syncVsCat: cat / wall('hvsnapSync'),
      syncVsQemu: qemu / wall('hvsnapSync'),
      cpu: {
        cat: cpu('cat'),
        qemu: cpu('qemu'),
        hvsnap: cpu('hvsnap'),
        hvsnapPlainBuffer: cpu('hvsnapPlainBuffer'),
        hvsnapRead: cpu('hvsnapRead'),
        hvsnapSync: cpu('hvsnapSync'),
        nodeRaw: cpu('nodeRaw'),
      },
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[1] && import.meta.url.endsWith(process.argv[1].split('/').pop()!)) {
  const r = await benchVhdxRead(Number(process.argv[2] ?? 1024), Number(process.argv[3] ?? 1024), Number(process.argv[4] ?? 5));
  process.stdout.write(JSON.stringify(r, null, 2) + '\n');
}
