#!/usr/bin/env node
import type { CliIo } from './io.js';
import { movesDiskData, runCli, undoesOnStop } from './program.js';
import { StopRequests, type SignalRoute } from './stop.js';
import { commandModules } from './commands/index.js';

/** The entry point: the only place that touches process streams, signals and the exit code. */
const argv = process.argv.slice(2);

/** Runs the command in this process, with the signal handling every command has. */
async function runHere(): Promise<number> {
  const launched = process.env.HVSNAP_LAUNCHED !== undefined;
  if (launched) {
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
  const requests = new StopRequests();
  const undoes = undoesOnStop(argv, commandModules);
  function stop(signal: 'SIGINT' | 'SIGTERM', route: SignalRoute): void {
    const n = requests.add(signal, route);
    if (n > 1) {
      // a second request (a second Ctrl-C, or another signal): at once, whatever the command was doing
      stopped(signal);
      endBy(signal);
    }
    if (controller.signal.aborted) return; // a copy of the first
    controller.abort(new Error(signal === 'SIGINT' ? 'interrupted (SIGINT)' : 'terminated (SIGTERM)'));
    if (undoes) {
      // The command undoes what it made (a checkpoint, an array snapshot and its presentation, a
      // half-written restore point; a worker first finishes the set in hand): on real hosts and
      // arrays that takes seconds to minutes, and the process waits for it. A service manager's
      // stop timeout (systemd's TimeoutStopSec) bounds the wait.
      process.stderr.write(
        `hvsnap: stopping on ${signal}: undoing what this run made (${signal === 'SIGINT' ? 'Ctrl-C again' : 'a second signal'} stops at once)\n`,
      );
      return;
    }
    // Anything else gets one second to stop on the abort. A command stuck where it cannot see the
    // signal (a blocked pipe, a hung device or mount) does not keep the process.
    setTimeout(() => {
      stopped(signal);
      endBy(signal);
    }, 1000).unref();
  }
  process.on('SIGINT', () => stop('SIGINT', 'direct'));
  process.on('SIGTERM', () => stop('SIGTERM', 'direct'));
  if (launched) (await import('./relaunch.js')).relayedSignals((signal) => stop(signal, 'relayed'));
  // log rotation: reopen --log-file (logrotate's postrotate: kill -HUP)
  process.on('SIGHUP', () => reopeners.forEach((r) => r()));

  return runCli(argv, io, commandModules, controller.signal);
}

/** Says the command was stopped before it was done; whatever it made is journaled before it was made. */
function stopped(signal: 'SIGINT' | 'SIGTERM'): void {
  process.stderr.write(`hvsnap: stopped by ${signal}; run "hvsnap cleanup" if a backup was running\n`);
}

/**
 * Ends this process at once, killed by `signal` as if it had no handler for it (the shell's code:
 * 128 + its number). Not process.exit: exit waits for libuv's threads, and one stuck in a system call
 * (an open() of a hung NFS file or of a FIFO nobody opens) kept the process forever after it said
 * it stopped. Where signals are not POSIX (Windows), process.exit with that code.
 */
function endBy(signal: 'SIGINT' | 'SIGTERM'): never {
  if (process.platform !== 'win32') {
    process.removeAllListeners(signal); // the signal's default action again (libuv restores SIG_DFL)
    process.kill(process.pid, signal);
  }
  process.exit(signal === 'SIGINT' ? 130 : 143);
}

// A command that moves disk data runs in a process started with huge pages for its I/O buffers,
// where that takes a new process (core/aligned-memory.ts hugePageEnv); anything else runs here.
// (not under a debugger, which the child could not share the port of)
const debugging = [...process.execArgv, ...(process.env.NODE_OPTIONS ?? '').split(/\s+/)].some((a) => a.startsWith('--inspect'));
const env =
  movesDiskData(argv, commandModules) && !debugging && !process.env.HVSNAP_LAUNCHED ? (await import('../core/aligned-memory.js')).hugePageEnv() : undefined;
const relaunched = env ? await (await import('./relaunch.js')).relaunch(env) : undefined;
process.exitCode = relaunched ?? (await runHere());
