import { appendFile, mkdir, readdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { errorSummary } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import { currentOwner, isStale } from '../core/owner.js';
import type { UndoRecord } from './undo.js';

/**
 * An append-only journal per job (JSON lines): each undo is written *before* the side effect it
 * undoes, so a job that dies (crash, kill) leaves a record of what to clean up. `hvsnap cleanup`
 * replays the journals whose owner process is gone. Undo ids are unique within a journal, whatever
 * number of volume sets (sagas) share it.
 */
export type JournalEntry =
  | { t: 'start'; jobId: string; at: string; pid: number; host: string; startTicks?: string; set?: number }
  | { t: 'undo'; id: number; record: UndoRecord }
  | { t: 'done'; id: number }
  | { t: 'end'; at: string };

export class Journal {
  private nextId = 1;

  private constructor(readonly file: string) {}

  /**
   * A new journal of job `jobId`, in `<dir>/<jobId>.jsonl`; `set` gives a journal of one volume set
   * of its own (`<jobId>.s<set>.jsonl`), as a worker of a distributed batch keeps it.
   */
  static async open(dir: string, jobId: string, opts: { set?: number } = {}): Promise<Journal> {
    await mkdir(dir, { recursive: true });
    const j = new Journal(join(dir, opts.set === undefined ? `${jobId}.jsonl` : `${jobId}.s${opts.set}.jsonl`));
    const { pid, host, startTicks } = await currentOwner();
    await j.append({ t: 'start', jobId, at: new Date().toISOString(), pid, host, startTicks, set: opts.set });
    return j;
  }

  /** A journal that writes nothing (for library callers that keep no repository-side state). */
  static none(): Journal {
    return new Journal('');
  }

  /** A fresh undo id of this journal. */
  allocateId(): number {
    return this.nextId++;
  }

  async append(entry: JournalEntry): Promise<void> {
    if (!this.file) return;
    await appendFile(this.file, JSON.stringify(entry) + '\n');
  }

  /**
   * Writes the job's end entry. It cannot fail the job: a reader of the journal needs no end entry
   * ({@link readOpenJournals} does not read it), while a job whose result an `ENOSPC` here replaced
   * would report nothing of what it did, and a journal left open because of it would keep undos its
   * "done" entries were to close. A failure is logged with the journal's file.
   */
  async end(log: Logger): Promise<void> {
    try {
      await this.append({ t: 'end', at: new Date().toISOString() });
    } catch (e) {
      log.warn({ journal: this.file, error: errorSummary(e) }, 'the job journal could not record the end of the job');
    }
  }

  /** The job ended and everything it owed is undone or committed: the journal goes. */
  async close(): Promise<void> {
    if (!this.file) return;
    await rm(this.file, { force: true });
  }
}

export interface OpenJournal {
  jobId: string;
  /** the volume set, for a journal of one set (a distributed batch's worker) */
  set?: number;
  file: string;
  /** the process that wrote it, and whether it still runs (on this host; another host's counts as alive) */
  owner: { pid: number; host: string; alive: boolean };
  pending: Array<{ id: number; record: UndoRecord }>;
}

/** Unfinished journals in `dir`: per job, its owner and the undos not yet marked done, newest first. */
export async function readOpenJournals(dir: string): Promise<OpenJournal[]> {
  let files: string[];
  try {
    files = (await readdir(dir)).filter((f) => f.endsWith('.jsonl'));
  } catch {
    return [];
  }
  const out: OpenJournal[] = [];
  for (const f of files.sort()) {
    const file = join(dir, f);
    const undos = new Map<number, UndoRecord>();
    let owner = { pid: 0, host: '', alive: false };
    let jobId = f.slice(0, -'.jsonl'.length);
    let set: number | undefined;
    for (const line of (await readFile(file, 'utf8')).split('\n')) {
      if (!line.trim()) continue;
      let e: JournalEntry;
      try {
        e = JSON.parse(line) as JournalEntry;
      } catch {
        continue; // a torn last line from a crash
      }
      if (e.t === 'start') {
        owner = { pid: e.pid ?? 0, host: e.host ?? '', alive: !(await isStale({ pid: e.pid ?? 0, host: e.host ?? '', startTicks: e.startTicks })) };
        jobId = e.jobId ?? jobId;
        set = e.set;
      } else if (e.t === 'undo') undos.set(e.id, e.record);
      else if (e.t === 'done') undos.delete(e.id);
    }
    out.push({ jobId, set, file, owner, pending: [...undos].map(([id, record]) => ({ id, record })).reverse() });
  }
  return out;
}
