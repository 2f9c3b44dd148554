import { createHash, randomBytes } from 'node:crypto';
import { mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { HvsnapError } from '../core/errors.js';
import { withFileLock } from '../core/file-lock.js';
import { currentOwner, isStale } from '../core/owner.js';

/**
 * Job leases: a run (batch or backup) holds one per (configuration, selection) in the repository,
 * at `<repository>/.leases/<hash of the key>.json`, naming its VMs. A second run whose VMs overlap
 * a live lease's refuses to start and names the first (job, pid, host, started), so two runs never
 * back up the same VM at once. A lease of a process gone from this host is taken over at once; a
 * lease of another host is alive while it is renewed (every {@link LEASE_RENEW_MS}), taken over
 * after {@link LEASE_STALE_MS} without renewal (that host cannot be asked whether its pid runs).
 */
export interface LeaseOwner {
  key: string;
  kind: 'batch' | 'backup';
  jobId: string;
  pid: number;
  host: string;
  /** ISO time the run started */
  startedAt: string;
  /** ISO time of the last renewal */
  renewedAt: string;
  token: string;
  /** the owner process's start time (pid reuse is not taken for the owner) */
  startTicks?: string;
  vmIds: string[];
  vmNames: string[];
}

export interface JobLease {
  readonly owner: LeaseOwner;
  /** Gives the lease up. Idempotent; only removes the file while it is still this lease's. */
  release(): Promise<void>;
}

/** ms between renewals of a held lease */
export const LEASE_RENEW_MS = 15_000;
/** ms without renewal after which another host's lease is taken over */
export const LEASE_STALE_MS = 120_000;

/**
 * Takes the lease of `key` for `vms`, or throws `locked` (retryable) naming the live run that holds
 * an overlapping one. The check and the write happen under one file lock, so of two runs started
 * together exactly one passes.
 */
export async function acquireJobLease(args: {
  repositoryPath: string;
  key: string;
  kind: LeaseOwner['kind'];
  jobId: string;
  vms: Array<{ id: string; name: string }>;
  /** ms; default {@link LEASE_STALE_MS} */
  staleAfterMs?: number;
}): Promise<JobLease> {
  const dir = join(args.repositoryPath, '.leases');
  await mkdir(dir, { recursive: true });
  const file = join(dir, `${createHash('sha256').update(args.key).digest('hex').slice(0, 24)}.json`);
  const now = new Date().toISOString();
  const owner: LeaseOwner = {
    key: args.key,
    kind: args.kind,
    jobId: args.jobId,
    pid: process.pid,
    host: hostname(),
    startedAt: now,
    renewedAt: now,
    token: randomBytes(8).toString('hex'),
    startTicks: (await currentOwner()).startTicks,
    vmIds: args.vms.map((v) => v.id),
    vmNames: args.vms.map((v) => v.name),
  };
  await withFileLock(join(dir, '.lock'), () => takeLease(dir, file, owner, args.key, args.staleAfterMs ?? LEASE_STALE_MS), {
    what: `the job leases in ${dir}`,
  });

  let released = false;
  const timer = setInterval(() => {
    void withFileLock(join(dir, '.lock'), async () => {
      const current = await readLease(file);
      if (released || current?.token !== owner.token) return;
      owner.renewedAt = new Date().toISOString();
      await writeLease(file, owner);
    }).catch(() => undefined); // a missed renewal is retried on the next tick
  }, LEASE_RENEW_MS);
  timer.unref();
  return {
    owner,
    release: async () => {
      if (released) return;
      released = true;
      clearInterval(timer);
      await withFileLock(join(dir, '.lock'), async () => {
        if ((await readLease(file))?.token === owner.token) await rm(file, { force: true });
      });
    },
  };
}

/** Under the leases' file lock: takes over stale leases, refuses when a live one overlaps, else writes `owner`'s. */
async function takeLease(dir: string, file: string, owner: LeaseOwner, key: string, staleAfterMs: number): Promise<void> {
  const mine = new Set(owner.vmIds);
  for (const { file: f, lease } of await readLeases(dir)) {
    if (!(await leaseAlive(lease, staleAfterMs))) {
      await rm(f, { force: true }); // its owner is gone: the lease is taken over
      continue;
    }
    const shared = lease.vmIds.filter((id) => mine.has(id));
    if (lease.key !== key && shared.length === 0) continue;
    const names = lease.vmNames.filter((_, i) => mine.has(lease.vmIds[i]));
    throw new HvsnapError(
      'locked',
      `${lease.kind} ${lease.jobId} is already running on these VMs (pid ${lease.pid} on ${lease.host}, started ${lease.startedAt}): ${names.slice(0, 5).join(', ')}${names.length > 5 ? `, and ${names.length - 5} more` : ''}`,
      {
        retryable: true,
        context: { job: lease.jobId, pid: lease.pid, host: lease.host, startedAt: lease.startedAt },
        hint: `wait for ${lease.kind} ${lease.jobId} to finish; a lease of a process that died is taken over automatically`,
      },
    );
  }
  await writeLease(file, owner);
}

/** Every lease in the folder, readable ones only (a torn file from a crash is removed by the next writer). */
async function readLeases(dir: string): Promise<Array<{ file: string; lease: LeaseOwner }>> {
  const out: Array<{ file: string; lease: LeaseOwner }> = [];
  for (const f of (await readdir(dir)).filter((x) => x.endsWith('.json'))) {
    const lease = await readLease(join(dir, f));
    if (lease) out.push({ file: join(dir, f), lease });
    else await rm(join(dir, f), { force: true });
  }
  return out;
}

async function readLease(file: string): Promise<LeaseOwner | undefined> {
  try {
    return JSON.parse(await readFile(file, 'utf8')) as LeaseOwner;
  } catch {
    return undefined;
  }
}

async function writeLease(file: string, owner: LeaseOwner): Promise<void> {
  const tmp = `${file}.${process.pid}.tmp`;
  await writeFile(tmp, JSON.stringify(owner, null, 2));
  await rename(tmp, file);
}

/** A lease is alive while its process runs on this host, or while another host keeps renewing it. */
async function leaseAlive(lease: LeaseOwner, staleAfterMs: number): Promise<boolean> {
  if (lease.host === hostname()) return !(await isStale({ pid: lease.pid, host: lease.host, startTicks: lease.startTicks }));
  return Date.now() - Date.parse(lease.renewedAt) < staleAfterMs;
}
