#!/usr/bin/env node
import type { CliIo } from './io.js';
import { movesDiskData, runCli } from './program.js';
import { commandModules } from './commands/index.js';

/** The entry point: the only place that touches process streams, signals and the exit code. */
const argv = process.argv.slice(2);

/** Runs the command in this process, with the signal handling every command has. */
async function runHere(): Promise<number> {
  if (process.env.HVSNAP_LAUNCHED) {
    // where the I/O buffers come from is decided now, from the environment the launcher set and
    // before any socket is open (glibc's version comes from a process report, which looks sockets up)
    const { alignedMemorySource } = await import('../core/aligned-memory.js');
    (await import('./relaunch.js')).followLauncher(() => alignedMemorySource());
  }
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
  let first: NodeJS.Signals | undefined;
  function stop(signal: 'SIGINT' | 'SIGTERM'): void {
    const code = signal === 'SIGINT' ? 130 : 143;
    if (first) {
      // The same signal again is taken as the same one: a terminal's Ctrl-C and a service manager's
      // stop reach every process of the group, and a launcher (relaunch.ts) passes them on too.
      // The timer below ends the process within a second anyway; another signal ends it at once.
      if (first === signal) return;
      process.exit(code);
    }
    first = signal;
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

  return runCli(argv, io, commandModules, controller.signal);
}

// A command that moves disk data runs in a process started with huge pages for its I/O buffers,
// where that takes a new process (core/aligned-memory.ts hugePageEnv); anything else runs here.
// (not under a debugger, which the child could not share the port of)
const debugging = [...process.execArgv, ...(process.env.NODE_OPTIONS ?? '').split(/\s+/)].some((a) => a.startsWith('--inspect'));
const env =
  movesDiskData(argv, commandModules) && !debugging && !process.env.HVSNAP_LAUNCHED ? (await import('../core/aligned-memory.js')).hugePageEnv() : undefined;
const relaunched = env ? await (await import('./relaunch.js')).relaunch(env) : undefined;
process.exitCode = relaunched ?? (await runHere());
