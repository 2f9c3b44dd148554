import type { Logger } from '../core/logger.js';

/** Keys whose values never reach a log line. */
const REDACT = ['password', '*.password', 'token', '*.token', 'apiToken', '*.apiToken', 'authorization', '*.authorization', 'cookie', '*.cookie'];

export interface CliLoggerOptions {
  json: boolean;
  debug: boolean;
  /** append JSON lines to this file instead of stderr */
  logFile?: string;
  /** HVSNAP_LOG_LEVEL: trace, debug, info, warn, error, silent */
  level?: string;
  /** stderr is a terminal (then the default level is warn: the progress line and the result are enough) */
  isTTY?: boolean;
}

/**
 * The CLI's logger: pino, imported only when a command runs (so `--version` and `--help` never load
 * it). Level: `--debug`, else HVSNAP_LOG_LEVEL, else info (warn on a terminal without --json).
 * With `logFile`, lines are appended to the file, each written through at once, and `reopen()`
 * (the entry point calls it on SIGHUP) opens the path again: logrotate's default move-and-create
 * and `copytruncate` both work.
 */
export async function createCliLogger(o: CliLoggerOptions): Promise<{ logger: Logger; reopen(): void; flush(): void }> {
  const { pino } = await import('pino');
  const level = o.debug ? 'debug' : o.level || (o.json || !o.isTTY ? 'info' : 'warn');
  const dest = o.logFile ? pino.destination({ dest: o.logFile, append: true, mkdir: true, sync: true }) : pino.destination({ fd: 2, sync: true });
  const logger = pino(
    { level, base: o.logFile ? { pid: process.pid } : undefined, redact: { paths: REDACT, censor: '[redacted]' } },
    dest,
  ) as unknown as Logger;
  return {
    logger,
    reopen: () => (o.logFile ? dest.reopen() : undefined),
    flush: () => dest.flushSync(),
  };
}
