import type { Logger } from '../core/logger.js';

/** How to reach one Windows host over SSH. Secrets here are never logged nor put in errors. */
export interface SshShellOptions {
  host: string;
  /** default 22 */
  port?: number;
  username: string;
  /** OpenSSH or PEM private key text */
  privateKey?: string | Buffer;
  passphrase?: string;
  password?: string;
  /** the host key pinned as `SHA256:…` (as `ssh-keygen -lf` prints it) */
  hostKeyFingerprint?: string;
  /** accept a host whose key is not pinned (logged with its fingerprint). Never a changed key. */
  acceptUnknownHostKey?: boolean;
  /** the PowerShell to start on the host: `powershell.exe` (default) or `pwsh` */
  executable?: string;
  /** ms to connect and authenticate; default 20 000 */
  connectTimeoutMs?: number;
  /** ms between keepalives, so a dead peer is noticed; default 15 000 */
  keepaliveIntervalMs?: number;
  /** bytes of stdout one run may return; default 256 MiB */
  maxOutputBytes?: number;
  /** scripts at once on the connection (OpenSSH allows 10 sessions; one more is the SFTP session); default 8 */
  maxConcurrent?: number;
  /**
   * how a script reaches PowerShell: `sftp` (default) uploads it once per host as a content-addressed
   * bundle and runs it with `-File`, nothing on stdin (file-delivery.ts); `stdin` sends it on the
   * console's stdin (framing.ts), which Win32-OpenSSH may not deliver to powershell.exe 5.1
   */
  delivery?: 'sftp' | 'stdin';
  /** the per-user folder of the bundles; relative to the SFTP login folder (the profile on Windows); default `.hvsnap/scripts` */
  remoteDir?: string;
  /** ms between renewals of a running script's lease (sftp delivery); the host stops it after 4 missed; default 5 000 */
  leaseIntervalMs?: number;
  logger?: Logger;
}
