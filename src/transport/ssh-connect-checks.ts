import { HvsnapError } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import { hostKeyFingerprint, sameFingerprint } from './host-key.js';
import type { SshShellOptions } from './ssh-shell-options.js';

/** The host key's check of an SshShell's connection (ssh-shell.ts): undefined when accepted, else the error to give. */
export function checkHostKey(opts: SshShellOptions, target: string, logger: Logger, key: Buffer): HvsnapError | undefined {
  const seen = hostKeyFingerprint(key);
  const pinned = opts.hostKeyFingerprint;
  if (pinned) {
    if (sameFingerprint(pinned, seen)) return undefined;
    return new HvsnapError('host_key_mismatch', `host key of ${target} is ${seen}, not the pinned ${pinned}: refusing to connect`, {
      context: { host: target, field: 'hostKeyFingerprint' },
      hint: 'if the host was reinstalled, verify the new key on the host (ssh-keygen -lf) and update hostKeyFingerprint',
    });
  }
  if (opts.acceptUnknownHostKey) {
    logger.warn({ fingerprint: seen }, 'accepting an unpinned host key (acceptUnknownHostKey); pin it with hostKeyFingerprint');
    return undefined;
  }
  return new HvsnapError('host_key_mismatch', `host key of ${target} (${seen}) is not pinned: refusing to connect`, {
    context: { host: target, field: 'hostKeyFingerprint' },
  });
}

/** The error an SshShell's failed connect gives: authentication, timeout or transport. */
export function connectError(opts: SshShellOptions, target: string, e: Error & { level?: string; code?: string }): HvsnapError {
  const context = { host: target };
  if (e.level === 'client-authentication') {
    return new HvsnapError('access_denied', `ssh authentication as ${opts.username} to ${target} failed`, {
      context,
      hint: 'check the key or password, and that the account may log on over SSH',
    });
  }
  if (/timed out/i.test(e.message)) {
    return new HvsnapError('timeout', `ssh connect to ${target} timed out`, { retryable: true, context, cause: e });
  }
  return new HvsnapError('transport_failed', `ssh connect to ${target} failed: ${e.message}`, { retryable: true, context, cause: e });
}
