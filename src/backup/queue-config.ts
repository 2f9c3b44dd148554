import { z } from 'zod';

/**
 * Where volume sets wait for workers: `in-process` (the default, one proxy) or BullMQ on Redis
 * (`hvsnap worker` on each proxy). The password comes from `${env:NAME}`, never the file itself.
 */
export const queueConfigSchema = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('in-process') }).strict(),
  z
    .object({
      kind: z.literal('bullmq'),
      /** redis://host:port[/db] or rediss:// for TLS; no password in the URL (use `password`) */
      url: z.string().regex(/^rediss?:\/\/[^@\s]+$/, 'must be redis://host:port[/db] or rediss://…, without credentials (use password: ${env:NAME})'),
      username: z.string().min(1).optional(),
      password: z.string().min(1).optional(),
      /** TLS (also implied by rediss://); the server certificate is verified unless `insecure` */
      tls: z
        .object({ ca: z.string().min(1).optional(), servername: z.string().min(1).optional(), insecure: z.boolean().default(false) })
        .strict()
        .optional(),
      /** BullMQ queue name; one per site or per batch configuration */
      name: z
        .string()
        .regex(/^[A-Za-z0-9_-]{1,64}$/)
        .default('hvsnap'),
      /** ms a worker's lock on a set lasts without renewal; a worker silent this long loses its set (default 30 000) */
      lockDurationMs: z.number().int().min(1000).max(600_000).default(30_000),
      /** ms between checks for sets whose worker lost its lock (default 30 000) */
      stalledIntervalMs: z.number().int().min(500).max(600_000).default(30_000),
      /** ms a limit slot (host, array, proxy) of a silent worker is held before others may take it (default 30 000) */
      slotTtlMs: z.number().int().min(1000).max(600_000).default(30_000),
    })
    .strict(),
]);

export type QueueConfig = z.infer<typeof queueConfigSchema>;
export type BullmqQueueConfig = Extract<QueueConfig, { kind: 'bullmq' }>;
