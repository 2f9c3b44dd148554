import { HvsnapError, type ErrorContext } from '../../src/core/errors.js';

/** Every portable kind, for checks. */
export const PROVIDER_ERROR_KINDS: readonly ProviderErrorKind[] = [
  'not_found',
  'already_exists',
  'busy',
  'auth',
  'rate_limited',
  'unsupported',
  'invalid',
  'transient',
  'no_space',
  'limit_exceeded',
  'wrong_state',
];

/** The portable kinds every provider maps its vendor errors to. */
export type ProviderErrorKind =
  | 'not_found'
  | 'already_exists'
  | 'busy'
  | 'auth'
  | 'rate_limited'
  | 'unsupported'
  | 'invalid'
  | 'transient'
  /** the array (or its pool) is out of space */
  | 'no_space'
  /** an array limit: snapshots per volume, volumes per group, hosts, name length */
  | 'limit_exceeded'
  /** the object exists but is in a state that forbids the call (in a foreign group, SafeMode, mapped) */
  | 'wrong_state';

const RETRYABLE: ReadonlySet<ProviderErrorKind> = new Set(['busy', 'rate_limited', 'transient']);

/** A provider failure: code `provider_error`, the portable kind in `context.kind`. */
export function providerError(
  kind: ProviderErrorKind,
  message: string,
  options: { provider?: string; context?: ErrorContext; cause?: unknown; retryable?: boolean; hint?: string } = {},
): HvsnapError {
  return new HvsnapError('provider_error', message, {
    retryable: options.retryable ?? RETRYABLE.has(kind),
    cause: options.cause,
    hint: options.hint,
    context: { ...options.context, kind, provider: options.provider ?? options.context?.provider },
  });
}

/** The portable kind of an error thrown by a provider, or undefined when it is not a provider error. */
export function providerErrorKind(e: unknown): ProviderErrorKind | undefined {
  const ctx = e as { code?: string; context?: ErrorContext } | undefined;
  return ctx?.code === 'provider_error' ? (ctx.context?.kind as ProviderErrorKind) : undefined;
}

/**
 * Awaits `work`; an error of portable kind `kind` means the goal is already reached (creating what
 * exists, deleting what is gone) and gives undefined. Any other error is rethrown.
 */
export async function tolerating<T>(kind: ProviderErrorKind, work: Promise<T>): Promise<T | undefined> {
  try {
    return await work;
  } catch (e) {
    if (providerErrorKind(e) === kind) return undefined;
    throw e;
  }
}
