import { isHvsnapError } from '../core/errors.js';
import { Anonymizer } from './anonymizer.js';
import type { Shell, ShellCallOptions, ShellRunArgs } from './shell.js';
import { scriptVersion, TranscriptWriter } from './transcript.js';
import { passThrough, redactInput } from './wrappers.js';

/** Where and how `withRecording` writes. One recorder is shared by every shell of a run (one file). */
export interface TranscriptRecorder {
  writer: TranscriptWriter;
  /** set to replace names and paths consistently (`--anonymize`) */
  anonymizer?: Anonymizer;
  /** secret strings (passwords, tokens) that must not appear anywhere in the transcript */
  secrets?: ReadonlyArray<string | undefined>;
}

/** A recorder writing `DIR/hvsnap-<command>-<time>-<pid>.jsonl`: what `--record DIR [--anonymize]` builds. */
export function openRecorder(opts: { dir: string; command: string; anonymize?: boolean; secrets?: ReadonlyArray<string | undefined> }): TranscriptRecorder {
  return {
    writer: new TranscriptWriter({ dir: opts.dir, command: opts.command, anonymized: opts.anonymize === true }),
    anonymizer: opts.anonymize ? new Anonymizer() : undefined,
    secrets: opts.secrets,
  };
}

/**
 * Writes every run of `inner` to the recorder's transcript: script name and version hash, input,
 * output or error, duration. Secret-looking members (as the logging wrapper redacts them) and the
 * given secret strings are replaced by `[redacted]`; with an anonymizer, names and paths too. The run
 * itself is passed through unchanged; a transcript that cannot be written fails the run (a record the
 * user asked for must not silently miss calls).
 */
export function withRecording(inner: Shell, recorder: TranscriptRecorder): Shell {
  const secrets = (recorder.secrets ?? []).filter((s): s is string => typeof s === 'string' && s.length >= 4);
  const scrub = (v: unknown): unknown => {
    const text = secrets.reduce((acc, s) => acc.split(JSON.stringify(s).slice(1, -1)).join('[redacted]'), JSON.stringify(redactInput(v) ?? null));
    const clean = JSON.parse(text) as unknown;
    return recorder.anonymizer ? recorder.anonymizer.value(clean) : clean;
  };
  const target = () => (recorder.anonymizer ? recorder.anonymizer.name('node', inner.target) : inner.target);
  return {
    target: inner.target,
    async run<T>(args: ShellRunArgs, opts?: ShellCallOptions): Promise<T> {
      const started = Date.now();
      const base = { target: target(), script: args.name, scriptSha256: scriptVersion(args.script), input: scrub(args.input) };
      try {
        const output = await inner.run<T>(args, opts);
        recorder.writer.append({ ...base, ok: true, output: scrub(output), durationMs: Date.now() - started });
        return output;
      } catch (e) {
        const error = isHvsnapError(e)
          ? { code: e.code, message: e.message, retryable: e.retryable, context: e.context as Record<string, unknown> }
          : { code: 'internal', message: e instanceof Error ? e.message : String(e), retryable: false, context: {} };
        recorder.writer.append({ ...base, ok: false, error: scrub(error) as typeof error, durationMs: Date.now() - started });
        throw e;
      }
    },
    close: () => inner.close(),
    ...passThrough(inner),
  };
}
