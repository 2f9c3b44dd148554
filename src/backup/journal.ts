import { appendFile, mkdir, readdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { UndoRecord } from './undo.js';

/**
 * An append-only journal per job (JSON lines): each undo is written *before* the job goes on, so a
 * job that dies (crash, kill) leaves a record of what to clean up. `hvsnap cleanup` replays it.
 */
export type JournalEntry =
  | { t: 'start'; jobId: string; at: string }
  | { t: 'undo'; id: number; record: UndoRecord }
  | { t: 'done'; id: number }
  | { t: 'end'; at: string };

export class Journal {
  private constructor(readonly file: string) {}

  static async open(dir: string, jobId: string): Promise<Journal> {
    await mkdir(dir, { recursive: true });
    const j = new Journal(join(dir, `${jobId}.jsonl`));
    await j.append({ t: 'start', jobId, at: new Date().toISOString() });
    return j;
  }

  /** A journal that writes nothing (for library callers that keep no repository-side state). */
  static none(): Journal {
    return new Journal('');
  }

  async append(entry: JournalEntry): Promise<void> {
    if (!this.file) return;
    await appendFile(this.file, JSON.stringify(entry) + '\n');
  }

  /** The job ended and everything it owed is undone or committed: the journal goes. */
  async close(): Promise<void> {
    if (!this.file) return;
    await rm(this.file, { force: true });
  }
}

/** Unfinished journals in `dir`: per job, the undos not yet marked done, newest first. */
export async function readOpenJournals(dir: string): Promise<Array<{ jobId: string; file: string; pending: Array<{ id: number; record: UndoRecord }> }>> {
  let files: string[];
  try {
    files = (await readdir(dir)).filter((f) => f.endsWith('.jsonl'));
  } catch {
    return [];
  }
  const out = [];
  for (const f of files.sort()) {
    const file = join(dir, f);
    const undos = new Map<number, UndoRecord>();
    for (const line of (await readFile(file, 'utf8')).split('\n')) {
      if (!line.trim()) continue;
      let e: JournalEntry;
      try {
        e = JSON.parse(line) as JournalEntry;
      } catch {
        continue; // a torn last line from a crash
      }
      if (e.t === 'undo') undos.set(e.id, e.record);
      else if (e.t === 'done') undos.delete(e.id);
    }
    out.push({ jobId: f.slice(0, -'.jsonl'.length), file, pending: [...undos].map(([id, record]) => ({ id, record })).reverse() });
  }
  return out;
}
