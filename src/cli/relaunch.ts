import { spawn, type ChildProcess } from 'node:child_process';
import { constants } from 'node:os';

/** Signals the launcher passes on to the process it started (see {@link relaunch}). */
const PASSED_ON = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;

/** Signals whose default action dumps core: the launcher does not raise these on itself (see {@link relaunch}). */
const CORE_DUMPING = new Set(['SIGABRT', 'SIGBUS', 'SIGFPE', 'SIGILL', 'SIGQUIT', 'SIGSEGV', 'SIGSYS', 'SIGTRAP', 'SIGXCPU', 'SIGXFSZ']);

/**
 * Set in the environment of a command {@link relaunch} started, to the launcher's pid and the
 * GLIBC_TUNABLES it had (`<pid>:<tunables>`); {@link followLauncher} takes it out again.
 */
const LAUNCHED = 'HVSNAP_LAUNCHED';

/** The child's message: it listens for relayed signals now ({@link relayedSignals}). */
const READY = 'listening for signals';
/** The launcher's message: a signal it got, passed on. */
const RELAYED = 'signal';

/**
 * Runs this same command again in a child process with environment `env` and ends the way it
 * ended: with its exit code, or killed by the signal that killed it (128 + its number for one that
 * dumps core, so the idle launcher dumps none). Returns undefined when the child could not be
 * started, and the caller then runs the command itself. The launcher passes SIGINT, SIGTERM and
 * SIGHUP on and otherwise only waits: standard streams are the child's.
 *
 * Why: some settings take effect only when a process starts (glibc's tunables, see
 * core/aligned-memory.ts `hugePageEnv`). A terminal's Ctrl-C or a service manager's stop reaches
 * both processes, and the launcher passes it on as well: SIGINT and SIGTERM as messages once the
 * child listens for them, so that it counts the two copies of one Ctrl-C as one (cli/stop.ts) and a
 * second Ctrl-C as a second. A launcher killed outright (SIGKILL) takes the child with it
 * ({@link followLauncher}): nothing goes on running that its caller believes stopped.
 */
export function relaunch(env: NodeJS.ProcessEnv): Promise<number | undefined> {
  return new Promise((resolve) => {
    let child: ChildProcess;
    try {
      child = spawn(process.execPath, [...process.execArgv, process.argv[1]!, ...process.argv.slice(2)], {
        // the IPC channel tells the child when the launcher is gone
        stdio: ['inherit', 'inherit', 'inherit', 'ipc'],
        env: { ...env, [LAUNCHED]: `${process.pid}:${process.env.GLIBC_TUNABLES ?? ''}` },
      });
    } catch {
      resolve(undefined); // not started (E2BIG, ENOMEM): nothing ran
      return;
    }
    // SIGINT and SIGTERM go as messages once the child listens for them (relayedSignals): it can
    // then tell a copy of a signal it got itself from a second one (cli/stop.ts); SIGHUP as a signal
    let listening = false;
    child.on('message', (m) => (listening ||= (m as { hvsnap?: string } | null)?.hvsnap === READY));
    const handlers = PASSED_ON.map((signal) => {
      const pass = () => {
        if (signal !== 'SIGHUP' && listening && child.connected) child.send({ hvsnap: RELAYED, signal }, (e) => e && child.kill(signal));
        else child.kill(signal);
      };
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
      if (signal && !CORE_DUMPING.has(signal)) {
        process.kill(process.pid, signal); // end as the child ended (a signal Node ignores, SIGPIPE: the shell's code below)
        setImmediate(() => resolve(128 + constants.signals[signal]));
      } else resolve(signal ? 128 + constants.signals[signal] : (code ?? 1));
    });
  });
}

/**
 * In a command {@link relaunch} started: ends this process at once (SIGKILL, as its launcher was)
 * when the launcher is gone without passing a signal on, already or later, and gives processes
 * this one starts the GLIBC_TUNABLES the launcher had; elsewhere it does nothing. Call it first:
 * `settle` runs before the environment changes (it reads the environment as the launcher set it).
 */
export function followLauncher(settle: () => void): void {
  const launched = process.env[LAUNCHED];
  if (!launched) return;
  delete process.env[LAUNCHED];
  const [pid, ...tunables] = launched.split(':');
  settle();
  const before = tunables.join(':');
  if (before) process.env.GLIBC_TUNABLES = before;
  else delete process.env.GLIBC_TUNABLES;
  const gone = () => process.kill(process.pid, 'SIGKILL');
  // gone before this ran: no channel left, or a new parent
  if (!process.channel || !process.connected || String(process.ppid) !== pid) gone();
  process.channel?.unref(); // the channel alone does not keep this process running
  process.once('disconnect', gone);
}

/**
 * In a command {@link relaunch} started: calls `onSignal` for each SIGINT or SIGTERM the launcher
 * passes on, from now on (before, it sends them as signals); elsewhere it does nothing. Call it
 * once this process handles those signals itself.
 */
export function relayedSignals(onSignal: (signal: 'SIGINT' | 'SIGTERM') => void): void {
  if (!process.send || !process.connected) return;
  process.on('message', (m) => {
    const msg = m as { hvsnap?: string; signal?: string } | null;
    if (msg?.hvsnap === RELAYED && (msg.signal === 'SIGINT' || msg.signal === 'SIGTERM')) onSignal(msg.signal);
  });
  process.send({ hvsnap: READY }, () => undefined);
  process.channel?.unref(); // listening does not keep this process running
}
