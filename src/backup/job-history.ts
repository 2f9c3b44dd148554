import { mkdir, readdir, readFile, rename, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { HvsnapError } from '../core/errors.js';
import { isStale } from '../core/owner.js';
import type { BackupReport } from './types.js';

/** How a run ended; `running` while it runs, `died` when its process is gone without a word. */
export type JobStatus = 'running' | 'ok' | 'partial' | 'failed' | 'interrupted' | 'died';

/**
 * One run of `hvsnap backup` or `hvsnap batch`, kept in the repository at `<repository>/.jobs/<id>.json`
 * so an admin can read last night's run without having captured stdout. Written when the run starts
 * (`running`) and again when it ends, with its report.
 */
export interface JobRecord {
  id: string;
  kind: 'backup' | 'batch';
  /** the batch this run belongs to (its own id, or the id it resumes) */
  batchId?: string;
  /** the run this one resumed */
  resumeOf?: string;
  status: JobStatus;
  startedAt: string;
  finishedAt?: string;
  pid: number;
  host: string;
  /** the process's start time, so a reused pid is not taken for a running job */
  startTicks?: string;
  /** the job configuration file, when the CLI ran it */
  configFile?: string;
  /** VM names the run selected */
  vms: string[];
  report?: BackupReport;
  /** why the run could not report (it threw before a report existed) */
  error?: { code: string; message: string };
}

const JOBS = '.jobs';

/** Writes (or overwrites) a job record atomically. */
export async function saveJobRecord(repositoryPath: string, record: JobRecord): Promise<void> {
  const dir = join(repositoryPath, JOBS);
  await mkdir(dir, { recursive: true });
  const file = join(dir, `${safeId(record.id)}.json`);
  const tmp = `${file}.${process.pid}.tmp`;
  await writeFile(tmp, JSON.stringify(record, null, 2) + '\n');
  await rename(tmp, file);
}

/** Every job record, newest first; a `running` record whose process is gone from this host reads as `died`. */
export async function listJobRecords(repositoryPath: string): Promise<JobRecord[]> {
  let files: string[];
  try {
    files = (await readdir(join(repositoryPath, JOBS))).filter((f) => f.endsWith('.json'));
  } catch {
    return [];
  }
  const out: JobRecord[] = [];
  for (const f of files) {
    const r = await readRecord(join(repositoryPath, JOBS, f));
    if (r) out.push(r);
  }
  return out.sort((a, b) => b.startedAt.localeCompare(a.startedAt) || b.id.localeCompare(a.id));
}

/** The record of job `id`; `not_found` names the id and where it looked. */
export async function readJobRecord(repositoryPath: string, id: string): Promise<JobRecord> {
  const r = await readRecord(join(repositoryPath, JOBS, `${safeId(id)}.json`));
  if (!r)
    throw new HvsnapError('not_found', `no job ${id} in ${join(repositoryPath, JOBS)}; "hvsnap jobs" lists them`, {
      context: { field: 'id', path: repositoryPath },
    });
  return r;
}

/** Records of batch `batchId`: the first run and every resume of it, oldest first. */
export async function batchRecords(repositoryPath: string, batchId: string): Promise<JobRecord[]> {
  return (await listJobRecords(repositoryPath)).filter((r) => r.id === batchId || r.batchId === batchId).reverse();
}

/** The status a finished run's report means. */
export function statusOf(report: BackupReport): JobStatus {
  if (report.status === 'interrupted') return 'interrupted';
  if (report.ok) return 'ok';
  return report.totals.ok > 0 ? 'partial' : 'failed';
}

async function readRecord(file: string): Promise<JobRecord | undefined> {
  let r: JobRecord;
  try {
    r = JSON.parse(await readFile(file, 'utf8')) as JobRecord;
  } catch {
    return undefined;
  }
  if (r.status === 'running' && r.host === hostname() && (await isStale({ pid: r.pid, host: r.host, startTicks: r.startTicks }))) r.status = 'died';
  return r;
}

function safeId(id: string): string {
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/.test(id))
    throw new HvsnapError('input_invalid', `${JSON.stringify(id)} is not a job id`, { context: { field: 'id' } });
  return id;
}
