import { HvsnapError, isHvsnapError, throwIfAborted } from '../core/errors.js';
import type { Shell, ShellCallOptions, ShellRunArgs } from './shell.js';

/**
 * Answers one script. `input` is the argument after a JSON round trip (what a real shell transmits);
 * the return value is sent back through JSON too. Throwing makes `run()` reject with that error
 * (an HvsnapError is passed through unchanged; anything else is wrapped).
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type FakeHandler = (input: any, call: { name: string; script: string }) => unknown | Promise<unknown>;

/** One recorded `run()`: the script name, the input as the handler saw it, and the script text. */
export interface FakeShellCall {
  name: string;
  input: unknown;
  script: string;
}

/**
 * A recording {@link Shell} for tests: each script name is answered by a handler. Part of the public
 * test kit. The input is checked to survive a JSON round trip unchanged (a real shell sends JSON),
 * so `undefined` members, `NaN`, Dates, Maps or class instances in an input are caught here.
 */
export class FakeShell implements Shell {
  readonly target: string;
  /** every call, in order, including the ones that failed */
  readonly calls: FakeShellCall[] = [];
  private readonly handlers = new Map<string, FakeHandler>();
  private closed = false;

  constructor(handlers: Record<string, FakeHandler> = {}, target = 'fake') {
    this.target = target;
    for (const [name, handler] of Object.entries(handlers)) this.handlers.set(name, handler);
  }

  /** Sets (or replaces) the handler of a script name. */
  on(scriptName: string, handler: FakeHandler): this {
    this.handlers.set(scriptName, handler);
    return this;
  }

  /** The calls made to one script name. */
  callsTo(scriptName: string): FakeShellCall[] {
    return this.calls.filter((c) => c.name === scriptName);
  }

  async run<T = unknown>(args: ShellRunArgs, opts: ShellCallOptions = {}): Promise<T> {
    throwIfAborted(opts.signal);
    if (this.closed) {
      throw new HvsnapError('transport_failed', `shell ${this.target} is closed; cannot run ${args.name}`, {
        context: { host: this.target, step: args.name },
      });
    }
    const input = jsonRoundTrip(args.input, args.name);
    this.calls.push({ name: args.name, input, script: args.script });
    const handler = this.handlers.get(args.name);
    if (!handler) {
      throw new HvsnapError('internal', `fake shell ${this.target} has no handler for script ${args.name}`, {
        context: { host: this.target, step: args.name },
        hint: `register one with shell.on('${args.name}', handler)`,
      });
    }
    let output: unknown;
    try {
      output = await handler(input, { name: args.name, script: args.script });
    } catch (e) {
      if (isHvsnapError(e)) throw e;
      throw new HvsnapError('internal', `script ${args.name} failed on ${this.target}: ${e instanceof Error ? e.message : String(e)}`, {
        cause: e,
        context: { host: this.target, step: args.name },
      });
    }
    throwIfAborted(opts.signal);
    // a script that writes nothing is read as null, like the real shells do
    return (output === undefined ? null : JSON.parse(JSON.stringify(output))) as T;
  }

  async close(): Promise<void> {
    this.closed = true;
  }
}

/** Serialises and parses `value`, and refuses it when the result is not deeply equal to it. */
function jsonRoundTrip(value: unknown, scriptName: string): unknown {
  let text: string | undefined;
  try {
    text = JSON.stringify(value);
  } catch (e) {
    throw new HvsnapError('input_invalid', `input of ${scriptName} is not JSON-serialisable: ${(e as Error).message}`, {
      cause: e,
      context: { step: scriptName },
    });
  }
  if (text === undefined) {
    throw new HvsnapError('input_invalid', `input of ${scriptName} is not JSON-serialisable (undefined or a function)`, {
      context: { step: scriptName },
    });
  }
  const back: unknown = JSON.parse(text);
  const where = firstDifference(value, back, '$');
  if (where) {
    throw new HvsnapError('input_invalid', `input of ${scriptName} does not survive a JSON round trip at ${where}`, {
      context: { step: scriptName, field: where },
    });
  }
  return back;
}

/** The JSON path of the first place where `a` (original) and `b` (round-tripped) differ, or undefined. */
function firstDifference(a: unknown, b: unknown, path: string): string | undefined {
  if (a === null || typeof a !== 'object') {
    if (typeof a === 'number' && !Number.isFinite(a)) return path;
    return Object.is(a, b) || (a === 0 && b === 0) ? undefined : path;
  }
  if (Array.isArray(a)) {
    if (!Array.isArray(b) || a.length !== b.length) return path;
    for (let i = 0; i < a.length; i++) {
      const d = firstDifference(a[i], b[i], `${path}[${i}]`);
      if (d) return d;
    }
    return undefined;
  }
  const proto = Object.getPrototypeOf(a);
  if (proto !== Object.prototype && proto !== null) return path;
  if (b === null || typeof b !== 'object' || Array.isArray(b)) return path;
  const bo = b as Record<string, unknown>;
  for (const [k, v] of Object.entries(a as Record<string, unknown>)) {
    if (!(k in bo)) return `${path}.${k}`;
    const d = firstDifference(v, bo[k], `${path}.${k}`);
    if (d) return d;
  }
  return undefined;
}
