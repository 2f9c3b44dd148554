import { isAbsolute, resolve } from 'node:path';
import { z } from 'zod';
import { HvsnapError } from '../core/errors.js';
import { configError } from '../core/config-error.js';
import { silentLogger, type Logger } from '../core/logger.js';
import { createShell, transportConfigSchema } from '../transport/config.js';
import { withRecording, type TranscriptRecorder } from '../transport/recording-shell.js';
import type { Shell } from '../transport/shell.js';
import { WmiHypervisor, type WmiNode } from './wmi-hypervisor.js';

/**
 * `hypervisor: { kind: wmi, ... }` of a job config. Validated without I/O; messages name the field.
 */
export const wmiNodeSchema = z
  .object({
    /** the host's computer name ($env:COMPUTERNAME), as VMs report their owner */
    name: z.string().min(1),
    /** DNS name or address to connect to; default `name` */
    address: z.string().min(1).optional(),
    /** the host's SSH key, `SHA256:…` as `ssh-keygen -lf` prints it */
    hostKeyFingerprint: z
      .string()
      .regex(/^SHA256:[A-Za-z0-9+/]{43}=?$/, 'expected SHA256: followed by 43 base64 characters')
      .optional(),
  })
  .strict();

export const wmiHypervisorConfigSchema = z
  .object({
    kind: z.literal('wmi'),
    /** every Hyper-V host (cluster node) whose VMs may be backed up */
    nodes: z.array(wmiNodeSchema).min(1),
    transport: transportConfigSchema,
    checkpoint: z
      .object({
        ignoreNonSnapshottableDisks: z.boolean().default(false),
        guestBackupType: z.enum(['full', 'copy']).default('copy'),
      })
      .strict()
      .default({ ignoreNonSnapshottableDisks: false, guestBackupType: 'copy' }),
    /** CopyVmRuntimeInformation: the .vmgs (vTPM keys, UEFI variables) and .vmrs; see WmiHypervisorOptions for why it is on */
    export: z
      .object({ copyRuntimeInformation: z.boolean().default(true) })
      .strict()
      .default({ copyRuntimeInformation: true }),
    /** ms a script waits for one WMI job before handing it back */
    jobWaitMs: z.number().int().positive().default(120_000),
    /** ms a script may run in all */
    scriptTimeoutMs: z.number().int().min(60_000).default(900_000),
    /** folder on the host where imported VMs are placed */
    importDirectory: z.string().min(1).optional(),
  })
  .strict();

export type WmiHypervisorConfig = z.infer<typeof wmiHypervisorConfigSchema>;

type ShellFor = (node: { name: string; address: string; hostKeyFingerprint?: string }) => Shell;

/** What the factories take besides the config. */
export interface WmiDeps {
  logger?: Logger;
  /** where secrets named by `…Env` fields are read; default process.env */
  env?: Record<string, string | undefined>;
  /** replaces the transport (tests, or a caller with its own connections) */
  shellFor?: ShellFor;
  /** writes every script call of every node to this transcript (`--record`) */
  record?: TranscriptRecorder;
  /** the config file, for messages */
  file?: string;
  /** folder relative key paths are resolved against (the config file's folder) */
  baseDir?: string;
}

/**
 * Checks a `hypervisor: { kind: wmi }` section without I/O; errors name the field under `hypervisor.`
 * (and the file when given). A relative `transport.privateKeyPath` is resolved against `baseDir`.
 */
export function parseWmiHypervisorConfig(config: unknown, where: { file?: string; baseDir?: string } = {}): WmiHypervisorConfig {
  const parsed = wmiHypervisorConfigSchema.safeParse(config);
  const prefix = where.file ? `${where.file}: ` : '';
  if (!parsed.success) throw configError(parsed.error, { file: where.file, prefix: 'hypervisor' });
  const cfg = parsed.data;
  if (cfg.transport.kind === 'ssh' && !cfg.transport.acceptUnknownHostKey) {
    const unpinned = cfg.nodes.filter((n) => !n.hostKeyFingerprint).map((n) => n.name);
    if (unpinned.length) {
      throw new HvsnapError(
        'config_invalid',
        `${prefix}hypervisor.nodes: no hostKeyFingerprint for ${unpinned.join(', ')} (or set transport.acceptUnknownHostKey: true)`,
        {
          context: { field: 'hypervisor.nodes.hostKeyFingerprint', file: where.file },
          hint: 'on each host: ssh-keygen -lf C:\\ProgramData\\ssh\\ssh_host_ed25519_key.pub',
        },
      );
    }
  }
  if (cfg.transport.kind === 'ssh' && cfg.transport.privateKeyPath && where.baseDir && !isAbsolute(cfg.transport.privateKeyPath)) {
    cfg.transport.privateKeyPath = resolve(where.baseDir, cfg.transport.privateKeyPath);
  }
  return cfg;
}

/** One shell per configured node (SSH connections open on first use). `shellFor` replaces the transport. */
export function createWmiNodes(config: WmiHypervisorConfig | z.input<typeof wmiHypervisorConfigSchema>, deps: WmiDeps = {}): WmiNode[] {
  const cfg = parseWmiHypervisorConfig(config, deps);
  const logger = deps.logger ?? silentLogger;
  return cfg.nodes.map((n) => {
    const target = { name: n.name, address: n.address ?? n.name, hostKeyFingerprint: n.hostKeyFingerprint };
    const shell = deps.shellFor ? deps.shellFor(target) : createShell(cfg.transport, target, { logger: logger.child({ node: n.name }), env: deps.env });
    return { name: n.name, shell: deps.record ? withRecording(shell, deps.record) : shell };
  });
}

/**
 * The WMI hypervisor from a config section (validated here, no I/O until the first call).
 * `shellFor` replaces the transport (tests, or a caller with its own connections).
 */
export function createWmiHypervisor(config: WmiHypervisorConfig | z.input<typeof wmiHypervisorConfigSchema>, deps: WmiDeps = {}): WmiHypervisor {
  const cfg = parseWmiHypervisorConfig(config, deps);
  const logger = deps.logger ?? silentLogger;
  return new WmiHypervisor({
    nodes: createWmiNodes(cfg, deps),
    logger,
    ignoreNonSnapshottableDisks: cfg.checkpoint.ignoreNonSnapshottableDisks,
    guestBackupType: cfg.checkpoint.guestBackupType,
    copyRuntimeInformation: cfg.export.copyRuntimeInformation,
    jobWaitMs: cfg.jobWaitMs,
    scriptTimeoutMs: cfg.scriptTimeoutMs,
    importDirectory: cfg.importDirectory,
  });
}
