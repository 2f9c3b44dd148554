import { spawn } from 'node:child_process';
import { constants } from 'node:os';

/** Signals the launcher passes on to the process it started (see {@link relaunch}). */
const PASSED_ON = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;

/** Set in the environment of a command {@link relaunch} started (and taken out of it by {@link followLauncher}). */
const LAUNCHED = 'HVSNAP_LAUNCHED';

/**
 * Runs this same command again in a child process with environment `env` and ends the way it
 * ended: with its exit code, or killed by the signal that killed it. Returns undefined when the
 * child could not be started, and the caller then runs the command itself. The launcher passes
 * SIGINT, SIGTERM and SIGHUP on and otherwise only waits: standard streams are the child's.
 *
 * Why: some settings take effect only when a process starts (glibc's tunables, see
 * core/aligned-memory.ts `hugePageEnv`). A terminal's Ctrl-C or a service manager's stop reaches
 * both processes, and the launcher passes it on as well: the child takes a repeat of a signal it
 * just had as the same one (see main.ts). A launcher killed outright (SIGKILL) takes the child with
 * it ({@link followLauncher}): nothing goes on running that its caller believes stopped.
 */
export function relaunch(env: NodeJS.ProcessEnv): Promise<number | undefined> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [...process.execArgv, process.argv[1]!, ...process.argv.slice(2)], {
      // the IPC channel tells the child when the launcher is gone
      stdio: ['inherit', 'inherit', 'inherit', 'ipc'],
      env: { ...env, [LAUNCHED]: '1' },
    });
    const handlers = PASSED_ON.map((signal) => {
      const pass = () => child.kill(signal);
      process.on(signal, pass);
      return () => process.off(signal, pass);
    });
    // an error before the child has a pid: it never started, and nothing ran
    child.on('error', () => {
      if (child.pid === undefined) {
        handlers.forEach((off) => off());
        resolve(undefined);
      }
    });
    child.once('exit', (code, signal) => {
      handlers.forEach((off) => off());
      if (signal) {
        process.kill(process.pid, signal); // end as the child ended (a signal Node ignores, SIGPIPE: the shell's code below)
        setImmediate(() => resolve(128 + constants.signals[signal]));
      } else resolve(code ?? 1);
    });
  });
}

/**
 * In a command {@link relaunch} started: ends this process at once (SIGKILL, as its launcher was)
 * when the launcher is gone without passing a signal on. Elsewhere it does nothing.
 */
export function followLauncher(): void {
  if (process.env[LAUNCHED] !== '1') return;
  delete process.env[LAUNCHED]; // not for processes this one starts
  if (!process.channel) return;
  process.channel.unref(); // the channel alone does not keep this process running
  process.once('disconnect', () => process.kill(process.pid, 'SIGKILL'));
}
