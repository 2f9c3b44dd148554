import { isHvsnapError, errorSummary } from '../core/errors.js';
import type { Logger } from '../core/logger.js';

/** What a command's action returns: data for `--json`, and its text rendering. */
export interface CommandResult {
  data: unknown;
  text: string;
  /** 0 unless the command found problems it reports as data (e.g. `vhdx check`) */
  exitCode?: number;
}

/** Where the CLI writes. Tests pass buffers; the entry point passes the process streams. */
export interface CliIo {
  stdout: { write(chunk: string | Uint8Array): unknown; isTTY?: boolean };
  stderr: { write(chunk: string | Uint8Array): unknown; isTTY?: boolean };
  env: Record<string, string | undefined>;
  /** the logger library calls get (pino to stderr in the real CLI) */
  logger(opts: { json: boolean; debug: boolean }): Logger;
}

/** Process exit codes. */
export const ExitCode = {
  ok: 0,
  failed: 1,
  usage: 2,
  config: 3,
  notFound: 4,
  partial: 5,
  /** cancelled by Ctrl-C or SIGTERM (128 + SIGINT, as shells report it) */
  interrupted: 130,
} as const;

export function exitCodeFor(e: unknown): number {
  if (!isHvsnapError(e)) return ExitCode.failed;
  switch (e.code) {
    case 'config_invalid':
    case 'input_invalid':
      return ExitCode.config;
    case 'vm_not_found':
    case 'not_found':
      return ExitCode.notFound;
    default:
      return ExitCode.failed;
  }
}

/** Renders an error for a person: message, where, hint; the stack only with --debug. */
export function renderError(e: unknown, debug: boolean): string {
  const lines: string[] = [];
  if (isHvsnapError(e)) {
    lines.push(`error [${e.code}]: ${e.message}`);
    const where = Object.entries(e.context)
      .filter(([, v]) => v !== undefined)
      .map(([k, v]) => `${k}=${v}`)
      .join(' ');
    if (where) lines.push(`  at: ${where}`);
    for (const s of e.suppressed) {
      const sum = errorSummary(s);
      lines.push(`  also, while cleaning up: ${String(sum.message)}`);
    }
    if (e.hint) lines.push(`  hint: ${e.hint}`);
  } else {
    lines.push(`error: ${e instanceof Error ? e.message : String(e)}`);
  }
  if (debug && e instanceof Error && e.stack) lines.push(e.stack);
  return lines.join('\n') + '\n';
}

export function renderErrorJson(e: unknown): string {
  const body = isHvsnapError(e) ? e.toJSON() : errorSummary(e);
  return JSON.stringify({ ok: false, error: body }, null, 2) + '\n';
}
