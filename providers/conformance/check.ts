import { isHvsnapError } from '../../src/core/errors.js';
import { PROVIDER_ERROR_KINDS, providerErrorKind, type ProviderErrorKind } from '../sdk/errors.js';

const KINDS: ReadonlySet<string> = new Set(PROVIDER_ERROR_KINDS);

/** A failed conformance expectation. */
export class ConformanceFailure extends Error {
  override name = 'ConformanceFailure';
}

/** Fails the case with `message` unless `condition` holds. */
export function check(condition: unknown, message: string): asserts condition {
  if (!condition) throw new ConformanceFailure(message);
}

/**
 * Expects `promise` to reject with a provider error of one of `kinds` (code `provider_error`,
 * `context.kind` portable) — or `input_invalid` when `allowInputInvalid`. Returns the error.
 */
export async function expectKind(what: string, promise: Promise<unknown>, kinds: ProviderErrorKind[], allowInputInvalid = false): Promise<unknown> {
  let error: unknown;
  try {
    await promise;
  } catch (e) {
    error = e;
  }
  check(error !== undefined, `${what}: expected an error of kind ${kinds.join(' or ')}, but it succeeded`);
  if (allowInputInvalid && isHvsnapError(error) && error.code === 'input_invalid') return error;
  check(isHvsnapError(error), `${what}: expected an HvsnapError, got ${String(error)}`);
  const kind = providerErrorKind(error);
  check(
    kind !== undefined && KINDS.has(kind),
    `${what}: expected code provider_error with a portable kind, got code ${error.code} kind ${String(kind)}: ${error.message}${error.hint ? ` (${error.hint})` : ''}`,
  );
  check(!(kind === 'invalid' && error.hint?.includes('plain')), `${what}: the driver threw a plain error (${error.message}); ${error.hint}`);
  check(kinds.includes(kind), `${what}: expected kind ${kinds.join(' or ')}, got ${kind}: ${error.message}`);
  return error;
}
