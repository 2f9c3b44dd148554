import type { z } from 'zod';
import { HvsnapError } from '../../src/core/errors.js';
import type { Provider, ProviderContext } from './provider.js';

/**
 * What a provider package exports (as its default export, or as `provider`): a name, a zod schema
 * of its configuration, and a factory. No global registry, no import side effects.
 */
export interface ProviderDefinition<C = unknown> {
  readonly name: string;
  readonly configSchema: z.ZodType<C>;
  create(config: C, ctx: ProviderContext): Provider | Promise<Provider>;
}

const NAME = /^[a-z][a-z0-9-]{1,40}$/;

/** Checks a provider definition at once, with a message naming what is wrong. */
export function defineProvider<C>(def: ProviderDefinition<C>): ProviderDefinition<C> {
  if (!NAME.test(def.name)) {
    throw new HvsnapError('input_invalid', `provider name "${def.name}" must match ${NAME}`, { context: { field: 'name' } });
  }
  if (typeof def.create !== 'function') {
    throw new HvsnapError('input_invalid', `provider "${def.name}": create must be a function`, { context: { field: 'create' } });
  }
  if (!def.configSchema || typeof (def.configSchema as { safeParse?: unknown }).safeParse !== 'function') {
    throw new HvsnapError('input_invalid', `provider "${def.name}": configSchema must be a zod schema`, { context: { field: 'configSchema' } });
  }
  return Object.freeze({ ...def });
}
