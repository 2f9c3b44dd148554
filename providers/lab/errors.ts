import { providerError, type ProviderErrorKind } from '../sdk/errors.js';

/** Errors of the lab array, in the portable kinds every provider uses. */
export function labError(kind: ProviderErrorKind, message: string, context: Record<string, string> = {}, cause?: unknown) {
  return providerError(kind, message, { provider: 'lab', context, cause });
}

/** An injected failure (config `faults`), so tests can fail any array step. */
export function injectedFault(op: string) {
  return labError('transient', `injected lab array fault in ${op}`, { op }, undefined);
}
