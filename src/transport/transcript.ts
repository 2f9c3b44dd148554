import { createHash } from 'node:crypto';
import { appendFileSync, mkdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { HvsnapError } from '../core/errors.js';

/**
 * Transcripts of script calls: what hvsnap sent a host and what the host answered, one JSON object
 * per line. The first line is a {@link TranscriptHeader}; every other line a {@link TranscriptEntry}.
 * Written by `withRecording` (`--record DIR`), replayed by `ReplayShell` as contract tests of the
 * WMI hypervisor. Secrets never reach a transcript; with `anonymize`, names and paths are replaced
 * consistently (the same original always gives the same stand-in, within one transcript).
 */
export interface TranscriptHeader {
  hvsnapTranscript: 1;
  /** ISO 8601 */
  createdAt: string;
  /** `recorded` from a host, or `documented`: written from the documented shapes (the simulated host) */
  source: 'recorded' | 'documented';
  anonymized: boolean;
  note?: string;
}

export interface TranscriptEntry {
  seq: number;
  /** the shell's target (`ssh://user@host:22`; anonymized: `node-1`) */
  target: string;
  script: string;
  /** first 16 hex digits of the SHA-256 of the script text: which version of the script answered */
  scriptSha256: string;
  input: unknown;
  ok: boolean;
  output?: unknown;
  error?: { code: string; message: string; retryable: boolean; context: Record<string, unknown> };
  durationMs: number;
}

export interface Transcript {
  header: TranscriptHeader;
  entries: TranscriptEntry[];
}

/** The version hash of a script text as transcripts carry it. */
export function scriptVersion(script: string): string {
  return createHash('sha256').update(script, 'utf8').digest('hex').slice(0, 16);
}

/** Reads a transcript file; a malformed one is an error naming the file and line. */
export function readTranscript(file: string): Transcript {
  const lines = readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l.trim());
  const parsed = lines.map((l, i) => {
    try {
      return JSON.parse(l) as unknown;
    } catch (e) {
      throw new HvsnapError('input_invalid', `${file}:${i + 1}: not JSON: ${(e as Error).message}`, { context: { file } });
    }
  });
  const header = parsed[0] as TranscriptHeader | undefined;
  if (!header || header.hvsnapTranscript !== 1)
    throw new HvsnapError('input_invalid', `${file}: not an hvsnap transcript (no header line)`, { context: { file } });
  return { header, entries: parsed.slice(1) as TranscriptEntry[] };
}

/**
 * Appends entries to one transcript file in `dir` (created), named after the command and the time.
 * Synchronous appends: an entry is on disk before the next call starts, so a killed run keeps its
 * transcript up to the call it died in.
 */
export class TranscriptWriter {
  readonly file: string;
  private seq = 0;

  constructor(opts: { dir: string; command: string; anonymized: boolean; source?: TranscriptHeader['source']; note?: string; now?: Date }) {
    const now = opts.now ?? new Date();
    mkdirSync(opts.dir, { recursive: true });
    this.file = path.join(opts.dir, `hvsnap-${opts.command}-${now.toISOString().replace(/[:.]/g, '-')}-${process.pid}.jsonl`);
    const header: TranscriptHeader = {
      hvsnapTranscript: 1,
      createdAt: now.toISOString(),
      source: opts.source ?? 'recorded',
      anonymized: opts.anonymized,
      ...(opts.note ? { note: opts.note } : {}),
    };
    appendFileSync(this.file, JSON.stringify(header) + '\n', { mode: 0o600 });
  }

  append(entry: Omit<TranscriptEntry, 'seq'>): void {
    appendFileSync(this.file, JSON.stringify({ seq: ++this.seq, ...entry }) + '\n');
  }
}
