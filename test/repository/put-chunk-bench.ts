import { createHash, randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, open, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openRepository, type Repository } from '../../src/repository/index.js';

/**
 * putChunk throughput against plain fs.writeFile of the same data, in one process. Not a test:
 * run by the bench harness (or `node dist/test/repository/put-chunk-bench.js`). Every figure
 * is the median of `runs` runs over `chunks` distinct random chunks of 1 MiB, in MB/s (10^6 bytes/s).
 */
export interface PutChunkBench {
  chunks: number;
  chunkBytes: number;
  /** fs.writeFile of each chunk to its own file, no fsync */
  writeFileMBps: number;
  /** the same, then fsync of every file (32 in parallel) */
  writeFileFsyncMBps: number;
  /** putChunk one at a time into a new repository (every chunk creates its chunks/ab/cd folder) */
  putFreshMBps: number;
  /** the same, then flush (what a commit does) */
  putFreshFlushMBps: number;
  /** putChunk into a repository whose chunk folders exist (all 65,536 do once it holds ~0.5 TB or more) */
  putWarmMBps: number;
  /** the same, then flush */
  putWarmFlushMBps: number;
  /** the same with the id precomputed by the caller, as the data mover does, then flush */
  putWarmIdFlushMBps: number;
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

export async function benchPutChunk(options: { chunks?: number; runs?: number } = {}): Promise<PutChunkBench> {
  const n = options.chunks ?? 128;
  const runs = options.runs ?? 3;
  const size = 1024 * 1024;
  const data = Array.from({ length: n }, () => randomBytes(size));
  const ids = data.map((d) => createHash('sha256').update(d).digest('hex'));
  const base = await mkdtemp(join(tmpdir(), 'hvsnap-bench-'));
  const mbps = (ms: number): number => Math.round(((n * size) / 1e6 / (ms / 1000)) * 10) / 10;
  const r: Record<string, number[]> = { wf: [], wfs: [], fresh: [], freshFlush: [], warm: [], warmFlush: [], warmId: [] };
  const timePuts = async (repo: Repository, withId: boolean, plain: number[], flushed: number[]): Promise<void> => {
    const t = performance.now();
    for (let i = 0; i < n; i++) await repo.putChunk(data[i], withId ? ids[i] : undefined);
    plain.push(mbps(performance.now() - t));
    await repo.flush();
    flushed.push(mbps(performance.now() - t));
    await repo.close();
    // remove the chunk files only: the warm repository keeps its folders
    for (const id of ids) await rm(join(repo.path, 'chunks', id.slice(0, 2), id.slice(2, 4), id), { force: true });
  };
  try {
    // the warm repository: the chunks/ab/cd folders exist, as in a repository holding ~0.5 TB or more
    const warmPath = join(base, 'warm');
    await openRepository({ path: warmPath, create: true });
    for (const id of ids) await mkdir(join(warmPath, 'chunks', id.slice(0, 2), id.slice(2, 4)), { recursive: true });
    for (let run = 0; run < runs; run++) {
      const dir = await mkdtemp(join(base, 'plain-'));
      const t = performance.now();
      for (let i = 0; i < n; i++) await writeFile(join(dir, String(i)), data[i]);
      const wrote = performance.now() - t;
      const queue = [...data.keys()];
      await Promise.all(
        Array.from({ length: 32 }, async () => {
          for (let i = queue.pop(); i !== undefined; i = queue.pop()) {
            const fh = await open(join(dir, String(i)), 'r');
            await fh.sync();
            await fh.close();
          }
        }),
      );
      r.wf.push(mbps(wrote));
      r.wfs.push(mbps(performance.now() - t));
      await rm(dir, { recursive: true, force: true });

      await timePuts(await openRepository({ path: join(base, `fresh-${run}`), create: true }), false, r.fresh, r.freshFlush);
      await rm(join(base, `fresh-${run}`), { recursive: true, force: true });
      await timePuts(await openRepository({ path: warmPath }), false, r.warm, r.warmFlush);
      await timePuts(await openRepository({ path: warmPath }), true, [], r.warmId);
    }
  } finally {
    await rm(base, { recursive: true, force: true });
  }
  return {
    chunks: n,
    chunkBytes: size,
    writeFileMBps: median(r.wf),
    writeFileFsyncMBps: median(r.wfs),
    putFreshMBps: median(r.fresh),
    putFreshFlushMBps: median(r.freshFlush),
    putWarmMBps: median(r.warm),
    putWarmFlushMBps: median(r.warmFlush),
    putWarmIdFlushMBps: median(r.warmId),
  };
}

if (process.argv[1]?.endsWith('put-chunk-bench.js')) {
  const r = await benchPutChunk();
  process.stdout.write(JSON.stringify(r, null, 2) + '\n');
  const ratio = (a: number, b: number): string => (a / b).toFixed(2);
  process.stdout.write(
    `putChunk / writeFile, no sync: fresh ${ratio(r.putFreshMBps, r.writeFileMBps)}, warm ${ratio(r.putWarmMBps, r.writeFileMBps)}\n` +
      `putChunk+flush / writeFile+fsync: fresh ${ratio(r.putFreshFlushMBps, r.writeFileFsyncMBps)}, warm ${ratio(r.putWarmFlushMBps, r.writeFileFsyncMBps)}, warm with id ${ratio(r.putWarmIdFlushMBps, r.writeFileFsyncMBps)}\n`,
  );
}
