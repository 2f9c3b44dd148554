#!/usr/bin/env node
import type { CliIo } from './io.js';
import { ExitCode } from './io.js';
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
const interrupt = (name: string) => () => {
  // the first signal asks the job to stop and undo what it did; a second one stops at once
  if (controller.signal.aborted) process.exit(ExitCode.interrupted);
  controller.abort(new Error(`interrupted (${name})`));
};
process.on('SIGINT', interrupt('SIGINT'));
process.on('SIGTERM', interrupt('SIGTERM'));
// log rotation: reopen --log-file (logrotate's postrotate: kill -HUP)
process.on('SIGHUP', () => reopeners.forEach((r) => r()));

process.exitCode = await runCli(process.argv.slice(2), io, commandModules, controller.signal);
