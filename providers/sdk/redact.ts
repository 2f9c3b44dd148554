import type { LogFn, Logger } from '../../src/core/logger.js';
import { redactUrlCredentials, urlCredentials } from '../../src/core/redact-url.js';

/** Keys whose values are secrets wherever they appear (headers, bodies, configs). */
export const SECRET_KEY = /pass(word|wd|phrase)?$|secret|token|api[-_]?key|authorization|cookie|credential/i;

/** Replacement text for a redacted value. */
export const REDACTED = '[REDACTED]';

/** Secrets shorter than this are not searched for inside strings (they would match everywhere). */
const MIN_SECRET_LENGTH = 4;

/**
 * A deep copy of `value` in which every property whose key looks secret ({@link SECRET_KEY}) is
 * replaced by {@link REDACTED}, and every occurrence of one of `secrets` inside any string is too.
 * Cycles and depth beyond 8 are cut. Never throws.
 */
export function redact<T>(value: T, secrets: Iterable<string> = []): T {
  const list = [...secrets].filter((s) => typeof s === 'string' && s.length >= MIN_SECRET_LENGTH).sort((a, b) => b.length - a.length);
  return walk(value, list, 0, new WeakSet()) as T;
}

/** Replaces every occurrence of a secret in one string, and the credentials of any URL in it. */
export function redactString(s: string, secrets: Iterable<string>): string {
  let out = redactUrlCredentials(s);
  for (const secret of secrets) if (secret && secret.length >= MIN_SECRET_LENGTH) out = out.split(secret).join(REDACTED);
  return out;
}

function walk(v: unknown, secrets: string[], depth: number, seen: WeakSet<object>): unknown {
  if (typeof v === 'string') return redactString(v, secrets);
  if (v === null || typeof v !== 'object') return v;
  if (seen.has(v) || depth > 8) return '[…]';
  seen.add(v);
  if (v instanceof Error) return { name: v.name, message: redactString(v.message, secrets) };
  if (Array.isArray(v)) return v.map((x) => walk(x, secrets, depth + 1, seen));
  if (Buffer.isBuffer(v) || ArrayBuffer.isView(v)) return `[${(v as Uint8Array).byteLength} bytes]`;
  const out: Record<string, unknown> = {};
  for (const [k, x] of Object.entries(v))
    out[k] = SECRET_KEY.test(k) && x !== undefined && x !== null && x !== '' ? REDACTED : walk(x, secrets, depth + 1, seen);
  return out;
}

/** Values of the secret-looking keys of a config object (deep), for {@link redact} and {@link redactingLogger}. */
export function collectSecrets(config: unknown, out: string[] = [], depth = 0): string[] {
  if (config === null || typeof config !== 'object' || depth > 6) return out;
  for (const [k, v] of Object.entries(config)) {
    if (typeof v === 'string' && SECRET_KEY.test(k)) out.push(v);
    else if (typeof v === 'string')
      out.push(...urlCredentials(v)); // an endpoint written with user:password@
    else collectSecrets(v, out, depth + 1);
  }
  return out;
}

/**
 * A logger that redacts every object and message before passing it on: secret-looking keys, and the
 * current values of `secrets()` (called per line, so session tokens obtained later are covered too).
 */
export function redactingLogger(logger: Logger, secrets: () => Iterable<string>): Logger {
  // pino's methods need their `this`; call them as methods
  const wrap = (level: 'trace' | 'debug' | 'info' | 'warn' | 'error'): LogFn =>
    ((a: unknown, b?: string) => {
      const list = [...secrets()];
      if (typeof a === 'string') logger[level](redactString(a, list));
      else if (b === undefined) logger[level](redact((a ?? {}) as object, list));
      else logger[level](redact((a ?? {}) as object, list), redactString(b, list));
    }) as LogFn;
  return {
    trace: wrap('trace'),
    debug: wrap('debug'),
    info: wrap('info'),
    warn: wrap('warn'),
    error: wrap('error'),
    child: (bindings) => redactingLogger(logger.child(redact(bindings, [...secrets()])), secrets),
  };
}
