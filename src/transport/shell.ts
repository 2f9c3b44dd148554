import type { SFTPWrapper } from 'ssh2';
import type { CallOptions } from '../core/types.js';

/** An SFTP session (ssh2's SFTPWrapper) on a shell's own SSH connection. */
export type SftpSession = SFTPWrapper;

/**
 * Runs one PowerShell script with one JSON argument and returns the one JSON document it wrote.
 * The argument is data: implementations pass it so that the script decodes it (never by
 * interpolating values into code). Errors are HvsnapErrors: `transport_failed` (retryable when the
 * connection dropped), `timeout`, `aborted`, `host_key_mismatch`, or the script's own error.
 */
export interface Shell {
  /** where scripts run, for messages: `local`, `ssh://user@host:22` (never a secret) */
  readonly target: string;
  run<T = unknown>(args: ShellRunArgs, opts?: ShellCallOptions): Promise<T>;
  /**
   * SSH shells only: an SFTP session on the same connection (one per connection, reopened after a
   * drop; owned by the shell, never ended by the caller). Wrappers pass it through.
   */
  openSftp?(opts?: ShellCallOptions): Promise<SftpSession>;
  close(): Promise<void>;
}

export interface ShellRunArgs {
  /** script name, for logs and errors, e.g. `create-checkpoint.ps1` */
  name: string;
  /** the script's source text */
  script: string;
  /** the one argument, JSON-serialisable */
  input: unknown;
  /** false when running the script twice could do its work twice (e.g. an import); retry wrappers then never repeat it. Default true. */
  idempotent?: boolean;
}

export interface ShellCallOptions extends CallOptions {
  /** ms; the remote process is stopped too when it passes */
  timeoutMs?: number;
}
