import { readFile } from 'node:fs/promises';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { HvsnapError } from '../../src/core/errors.js';
import { configError } from '../../src/core/config-error.js';
import type { Logger } from '../../src/core/logger.js';
import { parseDiskIdentity } from '../sdk/disk-identity.js';
import { loadProvider } from '../index.js';
import { runConformance, type ConformanceReport } from './run-conformance.js';

/**
 * The file `hvsnap provider-test --config FILE` reads (YAML or JSON). A job config works too: its
 * `provider` section is the same, and `proxy.host` is used when `test.host` is missing.
 *
 * ```yaml
 * provider: { name: pure, config: { endpoint: https://fa1, apiToken: ... } }
 * test:
 *   volumes: [ "624A93701C0D5F2E6E7C4A5B00011234", "naa.624a9370..." ]   # page-83 ids of scratch LUNs
 *   host: { name: proxy1, iqns: [ iqn.1991-05.com.microsoft:proxy1 ] }
 *   idempotentCount: 2
 * ```
 */
const hostSchema = z
  .object({ name: z.string().min(1), iqns: z.array(z.string()).optional(), wwns: z.array(z.string()).optional(), nqns: z.array(z.string()).optional() })
  .strict();
export const providerTestFileSchema = z
  .object({
    provider: z.object({ name: z.string().min(1).optional(), config: z.record(z.string(), z.unknown()).default({}) }).loose(),
    test: z
      .object({
        /** page-83 identities of volumes the suite may snapshot and present (their data is only read) */
        volumes: z.array(z.string().min(1)).min(1),
        host: hostSchema.optional(),
        idempotentCount: z.number().int().min(0).max(20).optional(),
      })
      .strict(),
    proxy: z.object({ host: hostSchema.optional() }).loose().optional(),
  })
  .loose();

/**
 * Runs the conformance suite against a live array as a config file describes it; `provider`
 * overrides the file's provider name. Returns the report; throws `config_invalid` naming the file
 * and field when the file is wrong.
 */
export async function runProviderTest(args: {
  file: string;
  provider?: string;
  logger: Logger;
  only?: string;
  idempotentCount?: number;
  /** stops the run between cases (see ConformanceArgs.signal) */
  signal?: AbortSignal;
}): Promise<ConformanceReport> {
  let raw: unknown;
  try {
    const text = await readFile(args.file, 'utf8');
    raw = args.file.endsWith('.json') ? JSON.parse(text) : parseYaml(text);
  } catch (e) {
    throw new HvsnapError('config_invalid', `cannot read provider-test config ${args.file}: ${(e as Error).message}`, { context: { file: args.file } });
  }
  const parsed = providerTestFileSchema.safeParse(raw);
  if (!parsed.success) throw configError(parsed.error, { file: args.file });
  const cfg = parsed.data;
  const name = args.provider ?? cfg.provider.name;
  if (!name)
    throw new HvsnapError('config_invalid', `${args.file}: no provider name: set provider.name or pass --provider`, {
      context: { file: args.file, field: 'provider.name' },
    });
  const host = cfg.test.host ?? cfg.proxy?.host;
  if (!host)
    throw new HvsnapError('config_invalid', `${args.file}: field "test.host": the host to present snapshots to is required (or proxy.host)`, {
      context: { file: args.file, field: 'test.host' },
    });
  const identities = cfg.test.volumes.map((v, i) => {
    try {
      return parseDiskIdentity(v);
    } catch (e) {
      throw new HvsnapError('config_invalid', `${args.file}: field "test.volumes.${i}": ${(e as Error).message}`, {
        context: { file: args.file, field: `test.volumes.${i}` },
      });
    }
  });
  return runConformance({
    name: `${name} (live)`,
    create: () => loadProvider({ provider: name, config: cfg.provider.config, logger: args.logger, configFile: args.file }),
    volumes: async () => identities,
    host,
    logger: args.logger,
    only: args.only,
    idempotentCount: args.idempotentCount ?? cfg.test.idempotentCount,
    signal: args.signal,
  });
}
