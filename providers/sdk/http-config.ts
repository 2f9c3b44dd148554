import { z } from 'zod';
import type { HttpClientOptions } from './http-client.js';

/**
 * The connection fields every HTTP driver's config shares; spread `httpConnectionFields` into a
 * driver's zod object. `endpoint` is the array's management URL (https://host[:port]).
 */
export const httpConnectionFields = {
  /** management URL, e.g. `https://array1.example.com` */
  endpoint: z
    .string()
    .url()
    .refine((u) => /^https?:\/\//.test(u), 'must be an http(s) URL'),
  /** PEM text of the CA that signed the array's certificate */
  ca: z.string().optional(),
  /** path of a PEM file of the CA */
  caFile: z.string().optional(),
  /** turn TLS certificate verification off (labs only; logs a warning) */
  insecure: z.boolean().default(false),
  /** per HTTP attempt, ms */
  timeoutMs: z.number().int().positive().default(30_000),
  retry: z
    .object({
      retries: z.number().int().min(0).max(10),
      minDelayMs: z.number().int().min(0),
      maxDelayMs: z.number().int().min(0),
      maxRetryAfterMs: z.number().int().min(0),
    })
    .partial()
    .strict()
    .default({}),
};

/** The HttpClient options those fields give. */
export function httpOptionsFrom(c: {
  ca?: string;
  caFile?: string;
  insecure: boolean;
  timeoutMs: number;
  retry: HttpClientOptions['retry'];
}): Pick<HttpClientOptions, 'tls' | 'timeoutMs' | 'retry'> {
  return { tls: { ca: c.ca, caFile: c.caFile, insecure: c.insecure }, timeoutMs: c.timeoutMs, retry: c.retry };
}
