import { readFile } from 'node:fs/promises';
import { dirname, isAbsolute, resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { configError } from '../core/config-error.js';
import { HvsnapError } from '../core/errors.js';
import { batchSpecSchema } from '../backup/batch.js';
import { queueConfigSchema, type BullmqQueueConfig } from '../backup/queue-config.js';

/**
 * The job configuration (YAML). Checked without any I/O beyond reading the file: every problem
 * is reported with the file and the field's path. Relative paths are relative to the file.
 */
const proxyHostSchema = z
  .object({
    name: z.string().min(1),
    iqns: z.array(z.string()).optional(),
    wwns: z.array(z.string()).optional(),
    nqns: z.array(z.string()).optional(),
  })
  .strict();

export const jobConfigSchema = z
  .object({
    hypervisor: z.discriminatedUnion('kind', [
      z
        .object({
          kind: z.literal('lab'),
          dir: z.string().min(1),
          /** create the lab on first use when the folder has none */
          init: z
            .object({
              vms: z.number().int().min(1).max(1000).default(6),
              volumes: z.number().int().min(1).max(100).default(2),
              diskSizeMiB: z
                .number()
                .int()
                .min(1)
                .max(16 * 1024 * 1024)
                .default(64),
              dataMiB: z
                .number()
                .int()
                .min(0)
                .max(16 * 1024 * 1024)
                .default(16),
            })
            .strict()
            .optional(),
        })
        .strict(),
      // the WMI driver validates the rest with its own schema
      z.object({ kind: z.literal('wmi') }).loose(),
    ]),
    provider: z
      .object({
        /** a built-in provider (lab, pure, ontap, powerstore) or an npm package name */
        name: z.string().min(1),
        config: z.record(z.string(), z.unknown()).default({}),
      })
      .strict(),
    proxy: z
      .object({
        kind: z.enum(['local', 'linux', 'windows']).default('local'),
        host: proxyHostSchema,
        /**
         * keep the host object (igroup, host) hvsnap made on the array for `host`, for the next run;
         * default false: a host hvsnap made is removed when the last volume set of the process that
         * uses it ends (backup/host-leases.ts), and one it found is never touched
         */
        keepHost: z.boolean().optional(),
        config: z.record(z.string(), z.unknown()).default({}),
      })
      .strict(),
    repository: z
      .object({
        path: z.string().min(1),
        /** create the repository when the folder is empty or missing */
        create: z.boolean().default(true),
        /** bytes; power of two, 64 KiB to 16 MiB; only when creating */
        chunkSize: z.number().int().positive().optional(),
      })
      .strict(),
    policy: z
      .object({
        /**
         * offload (copy through the proxy), snapshot-only (the retained array snapshot is the restore
         * point) or host (no array: the frozen VHDX read over SFTP from the VM's node)
         */
        mode: z.enum(['offload', 'snapshot-only', 'host']).optional(),
        /** VMs whose volumes the provider does not own are backed up in host mode instead of failing */
        hostFallback: z.boolean().optional(),
        /** host mode: MB/s cap on reads from one Hyper-V node, all its disks together */
        hostReadMBps: z.number().positive().optional(),
        consistency: z.enum(['application', 'crash']).optional(),
        allowCrashConsistent: z.boolean().optional(),
        checkpointConcurrency: z.number().int().min(1).max(64).optional(),
        copyConcurrency: z.number().int().min(1).max(64).optional(),
        readConcurrency: z.number().int().min(1).max(64).optional(),
        /** MB/s cap on reads from the snapshot (working hours) */
        throttleMBps: z.number().positive().optional(),
        forceFull: z.boolean().optional(),
      })
      .strict()
      .default({}),
    /** where volume sets wait for workers: in-process (default) or BullMQ on Redis (see src/backup/redis-connection.ts) */
    queue: queueConfigSchema.optional(),
    /** what `hvsnap batch` selects and how hard it may push (see src/backup/batch.ts) */
    batch: batchSpecSchema.optional(),
    /**
     * What `hvsnap prune` keeps (its --keep-* flags replace this when given): per VM, the newest N,
     * and the newest of each of the last N days, ISO weeks, months, years (UTC) that have one.
     * `afterBatch: true`: `hvsnap batch` prunes with it when the batch ends (not when interrupted).
     */
    retention: z
      .object({
        keepLast: z.number().int().min(0).optional(),
        keepDaily: z.number().int().min(0).optional(),
        keepWeekly: z.number().int().min(0).optional(),
        keepMonthly: z.number().int().min(0).optional(),
        keepYearly: z.number().int().min(0).optional(),
        afterBatch: z.boolean().default(false),
      })
      .strict()
      .optional(),
    /** VM names to back up; all VMs of the host when omitted */
    vms: z.array(z.string().min(1)).optional(),
  })
  .strict();

export type JobConfig = z.infer<typeof jobConfigSchema> & { file: string };

/** Reads and checks a job configuration file. */
export async function loadJobConfig(file: string): Promise<JobConfig> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    throw new HvsnapError('config_invalid', `cannot read configuration file ${file}: ${(e as Error).message}`, { cause: e, context: { file } });
  }
  let raw: unknown;
  try {
    raw = parseYaml(text);
  } catch (e) {
    throw new HvsnapError('config_invalid', `${file} is not valid YAML: ${(e as Error).message}`, { cause: e, context: { file } });
  }
  return parseJobConfig(raw, file);
}

export function parseJobConfig(raw: unknown, file: string): JobConfig {
  const result = jobConfigSchema.safeParse(raw ?? {});
  if (!result.success) throw configError(result.error, { file });
  const cfg = result.data;
  const base = dirname(resolve(file));
  const abs = (p: string) => (isAbsolute(p) ? p : resolve(base, p));
  if (cfg.hypervisor.kind === 'lab') cfg.hypervisor.dir = abs(cfg.hypervisor.dir);
  cfg.repository.path = abs(cfg.repository.path);
  cfg.provider.config = fromEnvironment(cfg.provider.config, 'provider.config', file) as Record<string, unknown>;
  if (cfg.queue?.kind === 'bullmq') {
    const queue = fromEnvironment(cfg.queue, 'queue', file) as BullmqQueueConfig;
    if (queue.tls?.ca) queue.tls.ca = abs(queue.tls.ca);
    cfg.queue = queue;
  }
  if (cfg.provider.name === 'lab') {
    for (const k of ['volumesDir', 'stateDir']) {
      const v = cfg.provider.config[k];
      if (typeof v === 'string') cfg.provider.config[k] = abs(v);
    }
  }
  return { ...cfg, file: resolve(file) };
}

/**
 * Secrets stay out of configuration files: a string value `${env:NAME}` is replaced by the
 * environment variable NAME. A missing variable is an error naming the field and the variable,
 * never a value.
 */
export function fromEnvironment(value: unknown, field: string, file: string, env: Record<string, string | undefined> = process.env): unknown {
  if (typeof value === 'string') {
    const m = /^\$\{env:([A-Za-z_][A-Za-z0-9_]*)\}$/.exec(value);
    if (!m) return value;
    const v = env[m[1]];
    if (v === undefined || v === '') {
      throw new HvsnapError('config_invalid', `${file}: ${field} names environment variable ${m[1]}, which is not set`, { context: { file, field } });
    }
    return v;
  }
  if (Array.isArray(value)) return value.map((v, i) => fromEnvironment(v, `${field}.${i}`, file, env));
  if (value && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, fromEnvironment(v, `${field}.${k}`, file, env)]));
  }
  return value;
}
