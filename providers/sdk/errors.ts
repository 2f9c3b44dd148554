import { HvsnapError, type ErrorContext } from '../../src/core/errors.js';

/** The portable kinds every provider maps its vendor errors to. */
export type ProviderErrorKind =
  | 'not_found'
  | 'already_exists'
  | 'busy'
  | 'auth'
  | 'rate_limited'
  | 'unsupported'
  | 'invalid'
  | 'transient';

const RETRYABLE: ReadonlySet<ProviderErrorKind> = new Set(['busy', 'rate_limited', 'transient']);

/** A provider failure: code `provider_error`, the portable kind in `context.kind`. */
export function providerError(
  kind: ProviderErrorKind,
  message: string,
  options: { provider?: string; context?: ErrorContext; cause?: unknown; retryable?: boolean } = {},
): HvsnapError {
  return new HvsnapError('provider_error', message, {
    retryable: options.retryable ?? RETRYABLE.has(kind),
    cause: options.cause,
    context: { ...options.context, kind, provider: options.provider ?? options.context?.provider },
  });
}

/** The portable kind of an error thrown by a provider, or undefined when it is not a provider error. */
export function providerErrorKind(e: unknown): ProviderErrorKind | undefined {
  const ctx = (e as { code?: string; context?: ErrorContext } | undefined);
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
