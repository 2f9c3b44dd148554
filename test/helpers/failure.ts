import { type HvsnapError, isHvsnapError } from '../../src/core/errors.js';

/** What `p` rejects with, whatever it is; a test failure when `p` resolves. */
export async function failure(p: Promise<unknown>): Promise<any> {
  try {
    await p;
  } catch (e) {
    return e;
  }
  throw new Error('expected a failure');
}

/** The HvsnapError `p` rejects with; a test failure when `p` resolves or rejects with anything else. */
export async function hvsnapFailure(p: Promise<unknown>): Promise<HvsnapError> {
  const e: unknown = await failure(p);
  if (!isHvsnapError(e)) throw new Error(`expected an HvsnapError, got ${String(e)}`);
  return e;
}
