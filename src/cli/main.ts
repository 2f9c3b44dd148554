#!/usr/bin/env node
import type { CliIo } from './io.js';
import { runCli } from './program.js';
import { commandModules } from './commands/index.js';

/** The entry point: the only place that touches process streams, signals and the exit code. */
const reopeners: Array<() => void> = [];
const io: CliIo = {
  stdout: process.stdout,
  stderr: process.stderr,
  env: process.env,
  logger: async (o) => {
    const { createCliLogger } = await import('./cli-logger.js');
    const made = await createCliLogger({ ...o, level: process.env.HVSNAP_LOG_LEVEL, isTTY: process.stderr.isTTY });
    reopeners.push(made.reopen);
    return made.logger;
  },
};

const controller = new AbortController();
let signalled = false;
function stop(signal: 'SIGINT' | 'SIGTERM'): void {
  const code = signal === 'SIGINT' ? 130 : 143;
  if (signalled) process.exit(code); // a second signal: at once
  signalled = true;
  controller.abort(new Error(signal === 'SIGINT' ? 'interrupted (SIGINT)' : 'terminated (SIGTERM)'));
  // The command gets one second to stop on the abort and undo what it can. A command stuck where it
  // cannot see the signal (a blocked pipe, a hung device) does not keep the process: whatever it made
  // is journaled before it was made, and "hvsnap cleanup" removes it.
  setTimeout(() => {
    process.stderr.write(`hvsnap: stopped by ${signal}; run "hvsnap cleanup" if a backup was running\n`);
    process.exit(code);
  }, 1000).unref();
}
process.on('SIGINT', () => stop('SIGINT'));
process.on('SIGTERM', () => stop('SIGTERM'));
// log rotation: reopen --log-file (logrotate's postrotate: kill -HUP)
process.on('SIGHUP', () => reopeners.forEach((r) => r()));

process.exitCode = await runCli(process.argv.slice(2), io, commandModules, controller.signal);
