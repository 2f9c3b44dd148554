import { z } from 'zod';
import { defineProvider } from '../sdk/define-provider.js';
import { httpConnectionFields, httpOptionsFrom } from '../sdk/http-config.js';
import { PureClient } from './client.js';
import { createPureProvider } from './provider.js';

/** Config of the Pure FlashArray provider (REST 2.x). */
export const pureConfigSchema = z
  .object({
    ...httpConnectionFields,
    /** an API token of an array user allowed to snapshot, copy and connect volumes */
    apiToken: z.string().min(1),
    /** REST version used in paths, `2.x` */
    apiVersion: z
      .string()
      .regex(/^2\.\d+$/, 'must look like 2.26')
      .default('2.26'),
    /**
     * eradicate after destroying: off by default, as Cinder's `pure_eradicate_on_delete`
     * (openstack/cinder cinder/volume/drivers/pure.py); SafeMode forbids it anyway
     */
    eradicate: z.boolean().default(false),
  })
  .strict();

export type PureConfig = z.input<typeof pureConfigSchema>;

/** The Pure FlashArray provider definition (`provider: pure`). */
export const pureProvider = defineProvider({
  name: 'pure',
  configSchema: pureConfigSchema,
  create: (config, ctx) =>
    createPureProvider(
      new PureClient({ endpoint: config.endpoint, apiVersion: config.apiVersion, apiToken: config.apiToken, logger: ctx.logger, ...httpOptionsFrom(config) }),
      { eradicate: config.eradicate },
    ),
});

export { PureClient } from './client.js';
export { createPureProvider } from './provider.js';
export { pureError } from './errors.js';
