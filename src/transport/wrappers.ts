import pRetry from 'p-retry';
import { HvsnapError, isHvsnapError } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import type { Shell, ShellCallOptions, ShellRunArgs } from './shell.js';

/**
 * Small wrappers composed around any {@link Shell} (the transports stay unaware of them):
 * `withRetry(withLogging(withRedaction(ssh, secrets), logger))`.
 */

/** The optional members of a shell a wrapper forwards unchanged (today: `openSftp`). */
export function passThrough(inner: Shell): Pick<Shell, 'openSftp'> {
  return inner.openSftp ? { openSftp: (opts) => inner.openSftp!(opts) } : {};
}

const SECRET_KEY = /pass(word|phrase)?|secret|token|credential|private.?key|api.?key/i;

/** A copy of a JSON-like value with the members whose names look secret replaced by `[redacted]`. */
export function redactInput(value: unknown, depth = 0): unknown {
  if (depth > 8 || value === null || typeof value !== 'object') return value;
  if (Array.isArray(value)) return value.map((v) => redactInput(v, depth + 1));
  return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, SECRET_KEY.test(k) ? '[redacted]' : redactInput(v, depth + 1)]));
}

/** Logs each run at debug (script, target, ms) and each failure at warn (code), with secret-looking input members redacted. */
export function withLogging(inner: Shell, logger: Logger): Shell {
  return {
    target: inner.target,
    async run<T>(args: ShellRunArgs, opts?: ShellCallOptions): Promise<T> {
      const started = Date.now();
      logger.trace({ script: args.name, target: inner.target, input: redactInput(args.input) }, 'script input');
      try {
        const out = await inner.run<T>(args, opts);
        logger.debug({ script: args.name, target: inner.target, ms: Date.now() - started }, 'script done');
        return out;
      } catch (e) {
        const code = isHvsnapError(e) ? e.code : 'internal';
        logger.warn({ script: args.name, target: inner.target, ms: Date.now() - started, code, retryable: isHvsnapError(e) && e.retryable }, 'script failed');
        throw e;
      }
    },
    close: () => inner.close(),
    ...passThrough(inner),
  };
}

export interface RetryOptions {
  /** further attempts after the first; default 2 */
  retries?: number;
  /** ms before the first retry; default 1000, doubling */
  minTimeoutMs?: number;
  logger?: Logger;
}

/**
 * Retries a run whose error is an HvsnapError with `retryable` (a dropped connection, a busy VM);
 * anything else, an abort, and a run marked `idempotent: false` fail at once. Our scripts are
 * idempotent (every create takes a caller-chosen name and returns the existing object) except the import.
 */
export function withRetry(inner: Shell, options: RetryOptions = {}): Shell {
  const retries = options.retries ?? 2;
  if (!Number.isInteger(retries) || retries < 0)
    throw new HvsnapError('config_invalid', `retries must be an integer >= 0, got ${retries}`, { context: { field: 'retries' } });
  return {
    target: inner.target,
    run<T>(args: ShellRunArgs, opts: ShellCallOptions = {}): Promise<T> {
      return pRetry(() => inner.run<T>(args, opts), {
        retries,
        minTimeout: options.minTimeoutMs ?? 1000,
        factor: 2,
        signal: opts.signal,
        shouldRetry: ({ error }) => args.idempotent !== false && isHvsnapError(error) && error.retryable && !opts.signal?.aborted,
        onFailedAttempt: ({ error, attemptNumber, retriesLeft }) => {
          options.logger?.info({ script: args.name, target: inner.target, attempt: attemptNumber, retriesLeft, err: error.message }, 'retrying script');
        },
      });
    },
    close: () => inner.close(),
    ...passThrough(inner),
  };
}

/**
 * Removes the given secret strings from every error the shell throws (message, hint, context), so a
 * password echoed back by a remote tool never reaches a log or the CLI. The code, `retryable` and
 * context keys are kept; the cause is kept only when it does not contain a secret.
 */
export function withRedaction(inner: Shell, secrets: ReadonlyArray<string | undefined>): Shell {
  const list = secrets.filter((s): s is string => typeof s === 'string' && s.length >= 4);
  const scrub = (s: string) => list.reduce((acc, secret) => acc.split(secret).join('[redacted]'), s);
  const dirty = (s: string) => list.some((secret) => s.includes(secret));
  return {
    target: inner.target,
    async run<T>(args: ShellRunArgs, opts?: ShellCallOptions): Promise<T> {
      try {
        return await inner.run<T>(args, opts);
      } catch (e) {
        if (!list.length) throw e;
        const he = isHvsnapError(e) ? e : new HvsnapError('internal', e instanceof Error ? e.message : String(e), { cause: e });
        const context = Object.fromEntries(Object.entries(he.context).map(([k, v]) => [k, typeof v === 'string' ? scrub(v) : v]));
        const cause = he.cause;
        const causeText =
          cause instanceof Error
            ? `${cause.message} ${cause.stack ?? ''} ${JSON.stringify((cause as { failure?: unknown }).failure ?? '')}`
            : String(cause ?? '');
        throw new HvsnapError(he.code, scrub(he.message), {
          retryable: he.retryable,
          context,
          hint: he.hint === undefined ? undefined : scrub(he.hint),
          cause: dirty(causeText) ? undefined : cause,
        });
      }
    },
    close: () => inner.close(),
    ...passThrough(inner),
  };
}
