import { execFile } from 'node:child_process';
import { HvsnapError, throwIfAborted } from '../../src/core/errors.js';
import type { CallOptions } from '../../src/core/types.js';

/**
 * The few system commands the Linux proxy runs (losetup, blockdev, sfdisk, ntfs-3g, umount,
 * iscsiadm), as a narrow interface so tests can wrap the real runner to inject failures.
 */
export interface CommandRunner {
  /**
   * Runs `command` with `args` (no shell: arguments are never interpreted). Resolves with the
   * output when the exit code is 0; rejects with `proxy_failed` naming the command, the exit code
   * and the start of stderr otherwise, or `aborted` when `signal` fires.
   */
  run(args: { command: string; args: readonly string[] }, opts?: CallOptions): Promise<CommandOutput>;
}

export interface CommandOutput {
  stdout: string;
  stderr: string;
}

/** How much stderr an error message quotes, in characters. */
const STDERR_QUOTE = 400;

/** The real runner: `execFile`, 64 MiB output limit, 5 minute timeout per command. */
export function createExecRunner(options: { timeoutMs?: number } = {}): CommandRunner {
  return {
    run: ({ command, args }, opts = {}) => {
      throwIfAborted(opts.signal);
      return new Promise((resolve, reject) => {
        execFile(
          command,
          [...args],
          { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024, timeout: options.timeoutMs ?? 300_000, signal: opts.signal },
          (error, stdout, stderr) => {
            if (!error) return resolve({ stdout, stderr });
            if (error.name === 'AbortError') {
              return reject(new HvsnapError('aborted', `${command} was aborted`, { cause: error, context: { command } }));
            }
            const code = (error as NodeJS.ErrnoException).code;
            const exit = typeof code === 'number' ? code : undefined;
            const detail = (stderr || stdout || error.message).trim().slice(0, STDERR_QUOTE);
            const why = code === 'ENOENT' ? 'is not installed (not found on PATH)' : `exited with ${exit ?? code ?? 'a signal'}`;
            reject(
              new HvsnapError('proxy_failed', `${command} ${args.join(' ')} ${why}: ${detail}`, {
                cause: error,
                context: { command, ...(exit === undefined ? {} : { exitCode: exit }) },
              }),
            );
          },
        );
      });
    },
  };
}
