import { PowerShell } from 'node-powershell';
import { HvsnapError, throwIfAborted } from '../core/errors.js';
import { localCommand, parseResult } from './framing.js';
import type { Shell, ShellCallOptions, ShellRunArgs } from './shell.js';

/** The few methods of a node-powershell session we use; tests inject a fake. */
export interface PowerShellSession {
  invoke(command: string): Promise<{ raw: string; stderr?: Buffer }>;
  dispose(signal?: NodeJS.Signals): Promise<void>;
}

export interface LocalShellOptions {
  /** `powershell` (Windows PowerShell 5.1, the default on Windows) or `pwsh` */
  executable?: string;
  /** makes the session; default: node-powershell */
  createSession?: () => PowerShellSession;
}

/**
 * A {@link Shell} on this machine through one long-lived PowerShell process (node-powershell), for
 * hvsnap running on the Hyper-V host itself. The payload goes in as a base64 literal, decoded by the
 * runner (see framing.ts); nothing of the input is ever code. A timeout or abort kills the process;
 * the next run starts a new one.
 */
export class LocalShell implements Shell {
  readonly target = 'local';
  private session: PowerShellSession | undefined;
  private readonly opts: LocalShellOptions;
  private queue: Promise<unknown> = Promise.resolve();

  constructor(opts: LocalShellOptions = {}) {
    this.opts = opts;
  }

  run<T = unknown>(args: ShellRunArgs, opts: ShellCallOptions = {}): Promise<T> {
    // one process runs one script at a time; queue the rest in order
    const next = this.queue.then(() => this.runOne<T>(args, opts));
    this.queue = next.catch(() => undefined);
    return next;
  }

  async close(): Promise<void> {
    const s = this.session;
    this.session = undefined;
    await s?.dispose().catch(() => undefined);
  }

  private async runOne<T>(args: ShellRunArgs, opts: ShellCallOptions): Promise<T> {
    throwIfAborted(opts.signal);
    const context = { host: this.target, step: args.name };
    const session = (this.session ??= this.createSession());
    let timer: NodeJS.Timeout | undefined;
    let onAbort: (() => void) | undefined;
    const stopped = new Promise<never>((_, reject) => {
      const kill = (e: HvsnapError) => {
        if (this.session === session) this.session = undefined;
        void session.dispose('SIGKILL').catch(() => undefined);
        reject(e);
      };
      if (opts.timeoutMs !== undefined) {
        timer = setTimeout(
          () => kill(new HvsnapError('timeout', `${args.name} took longer than ${opts.timeoutMs} ms; PowerShell was stopped`, { context })),
          opts.timeoutMs,
        );
      }
      onAbort = () => kill(new HvsnapError('aborted', `${args.name} was aborted; PowerShell was stopped`, { context }));
      opts.signal?.addEventListener('abort', onAbort, { once: true });
    });
    try {
      const result = await Promise.race([session.invoke(localCommand(args)), stopped]);
      return parseResult<T>(result.raw, { name: args.name, target: this.target, stderr: result.stderr?.toString('utf8') });
    } catch (e) {
      if (e instanceof HvsnapError) throw e;
      if (this.session === session) this.session = undefined;
      throw new HvsnapError('transport_failed', `local PowerShell failed running ${args.name}: ${(e as Error).message}`, {
        retryable: true,
        context,
        cause: e,
      });
    } finally {
      clearTimeout(timer);
      if (onAbort) opts.signal?.removeEventListener('abort', onAbort);
    }
  }

  private createSession(): PowerShellSession {
    if (this.opts.createSession) return this.opts.createSession();
    const ps = new PowerShell({
      executable: this.opts.executable ?? (process.platform === 'win32' ? 'powershell' : 'pwsh'),
      throwOnInvocationError: false,
      executableOptions: { '-NoProfile': true, '-NonInteractive': true, '-ExecutionPolicy': 'Bypass' },
    });
    return ps as unknown as PowerShellSession;
  }
}
