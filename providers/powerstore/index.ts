import { z } from 'zod';
import { defineProvider } from '../sdk/define-provider.js';
import { httpConnectionFields, httpOptionsFrom } from '../sdk/http-config.js';
import { PowerstoreClient } from './client.js';
import { createPowerstoreProvider } from './provider.js';

/** Config of the Dell PowerStore provider (REST, session login). */
export const powerstoreConfigSchema = z
  .object({
    ...httpConnectionFields,
    username: z.string().min(1),
    password: z.string().min(1),
    /** `os_type` for hosts this driver creates; default from the host's OS (Windows or Linux) */
    hostOsType: z.enum(['Windows', 'Linux', 'ESXi', 'AIX', 'HP-UX', 'Solaris']).optional(),
    /**
     * iSCSI CHAP for hosts this driver creates, when the cluster's CHAP mode is Single
     * (powerstore-4.1.0.0.json `initiator_create_modify`: username 1–64, password 12–64 characters)
     */
    chap: z
      .object({ username: z.string().min(1).max(64), password: z.string().min(12).max(64) })
      .strict()
      .optional(),
    /** rows per page when listing (the array answers 206 while more remain) */
    pageSize: z.number().int().min(1).max(2000).default(1000),
  })
  .strict();

export type PowerstoreConfig = z.input<typeof powerstoreConfigSchema>;

/** The Dell PowerStore provider definition (`provider: powerstore`). */
export const powerstoreProvider = defineProvider({
  name: 'powerstore',
  configSchema: powerstoreConfigSchema,
  create: (c, ctx) =>
    createPowerstoreProvider(
      new PowerstoreClient({
        endpoint: c.endpoint,
        username: c.username,
        password: c.password,
        pageSize: c.pageSize,
        logger: ctx.logger,
        ...httpOptionsFrom(c),
      }),
      { hostOsType: c.hostOsType, chap: c.chap },
    ),
});

export { PowerstoreClient } from './client.js';
export { createPowerstoreProvider, type PowerstoreProviderOptions } from './provider.js';
export { powerstoreError, PowerstoreCode } from './errors.js';
