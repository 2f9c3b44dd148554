import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { HvsnapError } from '../core/errors.js';
import { silentLogger, type Logger } from '../core/logger.js';
import { LocalShell } from './local-shell.js';
import type { Shell } from './shell.js';
import { SshShell } from './ssh-shell.js';
import { withLogging, withRedaction, withRetry } from './wrappers.js';

/**
 * How hvsnap reaches Hyper-V hosts. Secrets are never in the file: a key file path, and the names of
 * environment variables holding a passphrase or password.
 */
export const sshTransportSchema = z
  .object({
    kind: z.literal('ssh'),
    username: z.string().min(1),
    port: z.number().int().min(1).max(65535).default(22),
    /** path of an OpenSSH private key file */
    privateKeyPath: z.string().min(1).optional(),
    /** environment variable holding the key's passphrase */
    passphraseEnv: z.string().min(1).optional(),
    /** environment variable holding the password (when no key is used) */
    passwordEnv: z.string().min(1).optional(),
    /** accept hosts whose key is not pinned (node.hostKeyFingerprint); a changed key is always refused */
    acceptUnknownHostKey: z.boolean().default(false),
    /** PowerShell on the host: powershell.exe (5.1) or pwsh */
    executable: z.string().min(1).default('powershell.exe'),
    connectTimeoutMs: z.number().int().positive().default(20_000),
    /** sftp: scripts uploaded once per host and run with -File (default); stdin: sent on the console's stdin */
    delivery: z.enum(['sftp', 'stdin']).default('sftp'),
    /** per-user folder of the uploaded scripts, relative to the SFTP login folder (the profile on Windows) */
    remoteDir: z.string().min(1).optional(),
    /** attempts after a retryable failure (dropped connection) */
    retries: z.number().int().min(0).max(10).default(2),
  })
  .strict()
  .refine((t) => t.privateKeyPath || t.passwordEnv, { message: 'give privateKeyPath or passwordEnv', path: ['privateKeyPath'] });

export const localTransportSchema = z
  .object({
    kind: z.literal('local'),
    /** powershell (5.1) or pwsh */
    executable: z.string().min(1).optional(),
  })
  .strict();

export const transportConfigSchema = z.discriminatedUnion('kind', [sshTransportSchema, localTransportSchema]);
export type TransportConfig = z.infer<typeof transportConfigSchema>;

/** One host as the transport needs it. */
export interface ShellTarget {
  /** DNS name or address; for `local`, ignored */
  address: string;
  hostKeyFingerprint?: string;
}

/**
 * A Shell for one host from the config, wrapped with redaction, logging and retry. Reads the key
 * file and the secret environment variables here, so errors name the field, never the secret.
 */
export function createShell(config: TransportConfig, target: ShellTarget, deps: { logger?: Logger; env?: Record<string, string | undefined> } = {}): Shell {
  const logger = deps.logger ?? silentLogger;
  const env = deps.env ?? process.env;
  if (config.kind === 'local') return withLogging(new LocalShell({ executable: config.executable }), logger);
  const secret = (name: string | undefined, field: string) => {
    if (!name) return undefined;
    const v = env[name];
    if (!v)
      throw new HvsnapError('config_invalid', `environment variable ${name} (named by transport.${field}) is not set`, {
        context: { field: `transport.${field}` },
      });
    return v;
  };
  let privateKey: string | undefined;
  if (config.privateKeyPath) {
    try {
      privateKey = readFileSync(config.privateKeyPath, 'utf8');
    } catch (e) {
      throw new HvsnapError('config_invalid', `cannot read the SSH key ${config.privateKeyPath}: ${(e as Error).message}`, {
        context: { field: 'transport.privateKeyPath', file: config.privateKeyPath },
      });
    }
  }
  const passphrase = secret(config.passphraseEnv, 'passphraseEnv');
  const password = secret(config.passwordEnv, 'passwordEnv');
  const ssh = new SshShell({
    host: target.address,
    port: config.port,
    username: config.username,
    privateKey,
    passphrase,
    password,
    hostKeyFingerprint: target.hostKeyFingerprint,
    acceptUnknownHostKey: config.acceptUnknownHostKey,
    executable: config.executable,
    connectTimeoutMs: config.connectTimeoutMs,
    delivery: config.delivery,
    remoteDir: config.remoteDir,
    logger,
  });
  return withRetry(withLogging(withRedaction(ssh, [password, passphrase]), logger), { retries: config.retries, logger });
}
