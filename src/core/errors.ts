/**
 * The one error class of hvsnap. Every failure that crosses a room boundary is an {@link HvsnapError}
 * with a stable {@link ErrorCode}, a `retryable` flag, context fields naming where it happened, and
 * the original `cause`. Context MUST NOT carry secrets (passwords, tokens, cookies).
 */

/** Stable, documented error codes. Never renamed once released; new ones may be added. */
export const ErrorCodes = [
  // configuration and input
  'config_invalid',
  'input_invalid',
  'not_found',
  'already_exists',
  // host side
  'vm_not_found',
  'vm_ambiguous',
  'vm_invalid_state',
  'vm_in_use',
  'checkpoint_failed',
  'app_consistency_failed',
  'export_failed',
  'rct_invalid',
  'rct_unsupported',
  'reference_point_failed',
  'access_denied',
  // transport
  'transport_failed',
  'timeout',
  'aborted',
  'host_key_mismatch',
  // array side (portable provider kinds are in ProviderErrorKind)
  'provider_error',
  'unsupported',
  // proxy and data
  'proxy_failed',
  'vhdx_invalid',
  'vhdx_unsupported',
  'repository_invalid',
  'repository_locked',
  'locked',
  'integrity_failed',
  // orchestration
  'step_failed',
  'internal',
] as const;

export type ErrorCode = (typeof ErrorCodes)[number];

/** Where an error happened. Every field optional; none may contain a secret. */
export interface ErrorContext {
  step?: string;
  vm?: string;
  volume?: string;
  disk?: string;
  provider?: string;
  host?: string;
  field?: string;
  file?: string;
  path?: string;
  offset?: number;
  status?: number;
  /** A portable provider error kind (`not_found`, `busy`, ...), when the error came from an array. */
  kind?: string;
  [key: string]: string | number | boolean | undefined;
}

export interface HvsnapErrorOptions {
  retryable?: boolean;
  context?: ErrorContext;
  cause?: unknown;
  /** What the user can do about it; shown by the CLI under the message. */
  hint?: string;
}

const BRAND = Symbol.for('hvsnap.error');

export class HvsnapError extends Error {
  readonly code: ErrorCode;
  readonly retryable: boolean;
  readonly context: ErrorContext;
  readonly hint: string | undefined;
  /** Errors raised while compensating after this one (undo failures), attached by the step runner. */
  readonly suppressed: unknown[] = [];

  constructor(code: ErrorCode, message: string, options: HvsnapErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'HvsnapError';
    this.code = code;
    this.retryable = options.retryable ?? false;
    this.context = { ...(options.context ?? {}) };
    this.hint = options.hint;
    Object.defineProperty(this, BRAND, { value: true });
  }

  /** Adds the defined fields of `context` to this error's context (in place) and returns this error. */
  withContext(context: ErrorContext): HvsnapError {
    Object.assign(this.context, Object.fromEntries(Object.entries(context).filter(([, v]) => v !== undefined)));
    return this;
  }

  toJSON(): Record<string, unknown> {
    return {
      name: this.name,
      code: this.code,
      message: this.message,
      retryable: this.retryable,
      context: this.context,
      ...(this.hint ? { hint: this.hint } : {}),
      ...(this.suppressed.length ? { suppressed: this.suppressed.map(errorSummary) } : {}),
    };
  }
}

/** True for an HvsnapError from any copy of this package (no `instanceof` needed). */
export function isHvsnapError(e: unknown): e is HvsnapError {
  return typeof e === 'object' && e !== null && (e as Record<symbol, unknown>)[BRAND] === true;
}

/** Wraps anything thrown into an HvsnapError, keeping it as `cause`; an HvsnapError gains context only. */
export function toHvsnapError(e: unknown, code: ErrorCode = 'internal', context: ErrorContext = {}): HvsnapError {
  if (isHvsnapError(e)) return e.withContext(context);
  if (isAbortError(e)) return new HvsnapError('aborted', 'the operation was aborted', { cause: e, context });
  const message = e instanceof Error ? e.message : String(e);
  return new HvsnapError(code, message, { cause: e, context });
}

export function isAbortError(e: unknown): boolean {
  return typeof e === 'object' && e !== null && ((e as Error).name === 'AbortError' || (isHvsnapError(e) && e.code === 'aborted'));
}

/** A short JSON-safe summary of any thrown value. */
export function errorSummary(e: unknown): Record<string, unknown> {
  if (isHvsnapError(e)) return { code: e.code, message: e.message, context: e.context };
  if (e instanceof Error) return { name: e.name, message: e.message };
  return { message: String(e) };
}

/** Throws `aborted` if the signal has fired. Call at the top of every long loop. */
export function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw new HvsnapError('aborted', 'the operation was aborted', { cause: signal.reason });
}
