import { spawn } from 'node:child_process';
import { constants } from 'node:os';

/** Signals the launcher passes on to the process it started (see {@link relaunch}). */
const PASSED_ON = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;

/**
 * Runs this same command again in a child process with environment `env`, and returns its exit
 * code (128 + the signal's number when a signal ended it); undefined when the child could not be
 * started, and the caller then runs the command itself. The launcher passes SIGINT, SIGTERM and
 * SIGHUP on and otherwise only waits: standard streams are the child's.
 *
 * Why: some settings take effect only when a process starts (glibc's tunables, see
 * core/aligned-memory.ts `hugePageEnv`). A terminal's Ctrl-C or a service manager's stop reaches
 * both processes, and the launcher passes it on as well: the child takes a repeat of a signal it
 * just had as the same one (see main.ts).
 */
export function relaunch(env: NodeJS.ProcessEnv): Promise<number | undefined> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [...process.execArgv, process.argv[1]!, ...process.argv.slice(2)], { stdio: 'inherit', env });
    const handlers = PASSED_ON.map((signal) => {
      const pass = () => child.kill(signal);
      process.on(signal, pass);
      return () => process.off(signal, pass);
    });
    const done = (code: number | undefined) => {
      handlers.forEach((off) => off());
      resolve(code);
    };
    // an error before the child has a pid: it never started, and nothing ran
    child.on('error', () => child.pid === undefined && done(undefined));
    child.once('exit', (code, signal) => done(code ?? 128 + (signal ? constants.signals[signal] : 0)));
  });
}
