import { HvsnapError, type ErrorCode } from '../core/errors.js';
import type { Shell, ShellCallOptions, ShellRunArgs } from './shell.js';
import type { Transcript, TranscriptEntry } from './transcript.js';

/** A call the replay did not expect: which entry, and what differed. */
export class ReplayMismatch extends Error {
  constructor(
    message: string,
    readonly expected: TranscriptEntry | undefined,
    readonly actual: { script: string; input: unknown },
  ) {
    super(message);
    this.name = 'ReplayMismatch';
  }
}

/**
 * Shells that answer from a transcript, one per target, each strictly in the recorded order: a call
 * must name the recorded script and send the recorded input (compared as JSON), and gets the recorded
 * output or error. Anything else throws {@link ReplayMismatch}. Part of the test kit, like FakeShell:
 * a transcript from a real host replays as a contract test of the code that made the calls.
 */
export class TranscriptReplay {
  private readonly queues = new Map<string, TranscriptEntry[]>();
  /** every call made, in order, by target */
  readonly calls: Array<{ target: string; script: string; input: unknown }> = [];

  /**
   * `ignoreKeys`: input members left out of the comparison, at any depth — tuning that a recording
   * host's configuration may have set differently (e.g. `waitMs`), never what the call is about.
   */
  constructor(
    readonly transcript: Transcript,
    private readonly opts: { ignoreKeys?: string[] } = {},
  ) {
    for (const e of transcript.entries) {
      const q = this.queues.get(e.target) ?? [];
      q.push(e);
      this.queues.set(e.target, q);
    }
  }

  /** The recorded targets, in order of first appearance. */
  targets(): string[] {
    return [...this.queues.keys()];
  }

  /** Entries not replayed yet, all targets. */
  remaining(): TranscriptEntry[] {
    return [...this.queues.values()].flat().sort((a, b) => a.seq - b.seq);
  }

  /** A shell answering the entries recorded for `target`. */
  shell(target: string): Shell {
    const queue = this.queues.get(target) ?? [];
    return {
      target,
      run: async <T>(args: ShellRunArgs, _opts?: ShellCallOptions): Promise<T> => {
        const input = JSON.parse(JSON.stringify(args.input ?? null)) as unknown;
        this.calls.push({ target, script: args.name, input });
        const next = queue[0];
        const same = (a: unknown, b: unknown) => JSON.stringify(this.strip(a)) === JSON.stringify(this.strip(b));
        if (!next || next.script !== args.name || !same(next.input, input)) {
          throw new ReplayMismatch(
            `replay of ${target}: expected ${next ? `${next.script} (entry ${next.seq}) with ${JSON.stringify(next.input)}` : 'no more calls'}, got ${args.name} with ${JSON.stringify(input)}`,
            next,
            { script: args.name, input },
          );
        }
        queue.shift();
        if (next.ok) return (next.output ?? null) as T;
        const e = next.error!;
        throw new HvsnapError(e.code as ErrorCode, e.message, { retryable: e.retryable, context: e.context as Record<string, string> });
      },
      close: async () => undefined,
    };
  }

  private strip(v: unknown): unknown {
    const ignore = this.opts.ignoreKeys ?? [];
    if (!ignore.length || v === null || typeof v !== 'object') return v;
    if (Array.isArray(v)) return v.map((x) => this.strip(x));
    return Object.fromEntries(
      Object.entries(v)
        .filter(([k]) => !ignore.includes(k))
        .map(([k, x]) => [k, this.strip(x)]),
    );
  }
}
