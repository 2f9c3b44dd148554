#!/usr/bin/env node
import { pino } from 'pino';
import type { Logger } from '../core/logger.js';
import type { CliIo } from './io.js';
import { runCli } from './program.js';
import { commandModules } from './commands/index.js';

/** The entry point: the only place that touches process streams and exits. */
const io: CliIo = {
  stdout: process.stdout,
  stderr: process.stderr,
  env: process.env,
  logger: ({ json, debug }) => {
    const level = debug ? 'debug' : process.env.HVSNAP_LOG_LEVEL ?? (json || !process.stderr.isTTY ? 'info' : 'warn');
    return pino({ level, base: undefined, redact: { paths: ['password', '*.password', 'token', '*.token', 'apiToken', '*.apiToken', 'authorization', '*.authorization', 'cookie', '*.cookie'], censor: '[redacted]' } }, pino.destination(2)) as unknown as Logger;
  },
};

const controller = new AbortController();
process.once('SIGINT', () => controller.abort(new Error('interrupted (SIGINT)')));
process.once('SIGTERM', () => controller.abort(new Error('terminated (SIGTERM)')));

const code = await runCli(process.argv.slice(2), io, commandModules, controller.signal);
process.exitCode = code;
