import ssh2 from 'ssh2';
import { createLimit, type Limit } from '../core/concurrency.js';
import type { Client as SshClient, ClientChannel, ConnectConfig, SFTPWrapper } from 'ssh2';
import { HvsnapError, isHvsnapError, throwIfAborted } from '../core/errors.js';
import { silentLogger, type Logger } from '../core/logger.js';
import { fileCommandLine } from './file-delivery.js';
import { parseResult, remoteCommandLine, remoteStdin } from './framing.js';
import { RemoteScripts } from './remote-scripts.js';
import { checkHostKey, connectError } from './ssh-connect-checks.js';
import type { SshShellOptions } from './ssh-shell-options.js';
import type { SftpSession, Shell, ShellCallOptions, ShellRunArgs } from './shell.js';

export type { SshShellOptions } from './ssh-shell-options.js';

/**
 * A {@link Shell} on a remote host through its OpenSSH server. One connection per instance, opened
 * on first use, reused by every run, reopened after it drops. Each run is one exec channel. With
 * `sftp` delivery (default) the script is a bundle uploaded once per host and run with `-File` and an
 * argument file that is its lease (file-delivery.ts); with `stdin` delivery a fixed `-EncodedCommand`
 * bootstrap reads runner, script and argument on stdin (framing.ts). A timeout or abort removes the
 * lease or sends KILL, closes the channel, and the remote watchdog stops the script where the server
 * ignores signals (Windows OpenSSH); a killed client stops renewing the lease or closes stdin.
 */
export class SshShell implements Shell {
  readonly target: string;
  private readonly opts: SshShellOptions;
  private readonly logger: Logger;
  private connection: Promise<SshClient> | undefined;
  private readonly live = new Set<(e: HvsnapError) => void>();
  private readonly dropped = new WeakSet<SshClient>();
  private readonly sessions = new WeakMap<SshClient, Promise<{ sftp: SFTPWrapper; scripts: RemoteScripts }>>();
  /** channels open at once on the connection (OpenSSH's MaxSessions is 10) */
  private readonly channels: Limit;
  private closed = false;

  constructor(opts: SshShellOptions) {
    if (!opts.host) throw new HvsnapError('config_invalid', 'ssh: host is required', { context: { field: 'host' } });
    if (!opts.username) throw new HvsnapError('config_invalid', `ssh ${opts.host}: username is required`, { context: { field: 'username' } });
    if (!opts.privateKey && !opts.password) {
      throw new HvsnapError('config_invalid', `ssh ${opts.host}: give a private key or a password`, { context: { field: 'privateKey' } });
    }
    if (!opts.hostKeyFingerprint && !opts.acceptUnknownHostKey) {
      throw new HvsnapError('config_invalid', `ssh ${opts.host}: pin the host key (hostKeyFingerprint) or set acceptUnknownHostKey: true explicitly`, {
        context: { field: 'hostKeyFingerprint' },
        hint: 'on the host: ssh-keygen -lf C:\\ProgramData\\ssh\\ssh_host_ed25519_key.pub',
      });
    }
    this.opts = opts;
    this.target = `ssh://${opts.username}@${opts.host}:${opts.port ?? 22}`;
    this.logger = (opts.logger ?? silentLogger).child({ shell: this.target });
    this.channels = createLimit(opts.maxConcurrent ?? 8);
  }

  async run<T = unknown>(args: ShellRunArgs, opts: ShellCallOptions = {}): Promise<T> {
    throwIfAborted(opts.signal);
    if (this.closed) throw new HvsnapError('transport_failed', `shell ${this.target} is closed`, { context: { host: this.target, step: args.name } });
    return this.channels(async () => this.exec<T>(await this.connect(), args, opts));
  }

  /**
   * An SFTP session on this host's connection (opened with it, one per connection, reopened after a
   * drop), for host-mode reads of frozen VHDX files and for file delivery. MUST NOT be ended by the
   * caller: it belongs to the shell and ends with `close()`.
   */
  async openSftp(opts: ShellCallOptions = {}): Promise<SftpSession> {
    throwIfAborted(opts.signal);
    if (this.closed) throw new HvsnapError('transport_failed', `shell ${this.target} is closed`, { context: { host: this.target } });
    return (await this.session(await this.connect(), 'sftp')).sftp;
  }

  async close(): Promise<void> {
    this.closed = true;
    const c = this.connection;
    this.connection = undefined;
    if (c) (await c.catch(() => undefined))?.end();
  }

  private async exec<T>(client: SshClient, args: ShellRunArgs, opts: ShellCallOptions): Promise<T> {
    const executable = this.opts.executable ?? 'powershell.exe';
    if ((this.opts.delivery ?? 'sftp') === 'stdin') {
      return this.runChannel<T>(client, args, opts, { command: remoteCommandLine(executable), stdin: remoteStdin({ ...args, timeoutMs: opts.timeoutMs }) });
    }
    const { scripts } = await this.session(client, args.name);
    const bundle = await scripts.bundle(args);
    const interval = this.opts.leaseIntervalMs ?? 5000;
    const deadlineMs = opts.timeoutMs === undefined ? -1 : Math.max(1, Math.ceil(opts.timeoutMs));
    const argsFile = await scripts.writeArguments({ input: JSON.stringify(args.input ?? null), deadlineMs, staleMs: 4 * interval }, args.name);
    const endLease = scripts.lease(argsFile, interval);
    try {
      throwIfAborted(opts.signal);
      // stopping = taking the lease away: the host's watchdog exits within its poll (no signals on Windows)
      return await this.runChannel<T>(client, args, opts, {
        command: fileCommandLine(executable, bundle, argsFile),
        onStop: () => void scripts.remove(argsFile),
      });
    } finally {
      endLease();
      // over a dropped connection nothing answers: the host's watchdog removes the file when the lease goes stale
      if (!this.dropped.has(client)) await Promise.race([scripts.remove(argsFile), new Promise((r) => setTimeout(r, 5000).unref())]);
    }
  }

  private session(client: SshClient, step: string): Promise<{ sftp: SFTPWrapper; scripts: RemoteScripts }> {
    let s = this.sessions.get(client);
    if (!s) {
      s = new Promise((resolve, reject) =>
        client.sftp((e, sftp) => {
          if (e) {
            return reject(
              new HvsnapError('transport_failed', `cannot open SFTP on ${this.target}: ${e.message}`, {
                retryable: true,
                context: { host: this.target, step },
                cause: e,
                hint: 'file delivery needs the sftp subsystem (Win32-OpenSSH ships sftp-server); or set transport.delivery: stdin to do without it',
              }),
            );
          }
          resolve({ sftp, scripts: new RemoteScripts(sftp, this.opts.remoteDir ?? '.hvsnap/scripts', this.target) });
        }),
      );
      s.catch(() => this.sessions.delete(client));
      this.sessions.set(client, s);
    }
    return s;
  }

  /** One exec channel: `stdin` is written and left open (stdin delivery), or stdin is closed at once (file delivery). */
  private runChannel<T>(
    client: SshClient,
    args: ShellRunArgs,
    opts: ShellCallOptions,
    how: { command: string; stdin?: string; onStop?: () => void },
  ): Promise<T> {
    const context = { host: this.target, step: args.name };
    const maxBytes = this.opts.maxOutputBytes ?? 256 * 1024 * 1024;
    return new Promise<T>((resolve, reject) => {
      let channel: ClientChannel | undefined;
      let settled = false;
      const out: Buffer[] = [];
      const err: Buffer[] = [];
      let outBytes = 0;
      let exitCode: number | null = null;
      const finish = (e: HvsnapError | undefined, value?: T) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        opts.signal?.removeEventListener('abort', onAbort);
        this.live.delete(onDrop);
        if (e) reject(e);
        else resolve(value as T);
      };
      const stop = (e: HvsnapError) => {
        how.onStop?.();
        if (channel) {
          try {
            channel.signal('KILL');
          } catch {
            // the server may not take signals; closing the channel and the remote watchdog still stop it
          }
          channel.close();
        }
        finish(e);
      };
      const onAbort = () => stop(new HvsnapError('aborted', `${args.name} on ${this.target} was aborted`, { context, cause: opts.signal?.reason }));
      const onDrop = (e: HvsnapError) => finish(e);
      const timer =
        opts.timeoutMs === undefined
          ? undefined
          : setTimeout(
              () => stop(new HvsnapError('timeout', `${args.name} on ${this.target} took longer than ${opts.timeoutMs} ms; stopped`, { context })),
              opts.timeoutMs,
            );
      opts.signal?.addEventListener('abort', onAbort, { once: true });
      this.live.add(onDrop);

      const start = (callback: Parameters<SshClient['exec']>[1]) => {
        try {
          client.exec(how.command, callback);
        } catch (e) {
          // ssh2 throws at once when the connection died before we noticed
          this.connection = undefined;
          finish(new HvsnapError('transport_failed', `connection to ${this.target} is gone: ${(e as Error).message}`, { retryable: true, context, cause: e }));
        }
      };
      start((e, ch) => {
        if (e)
          return finish(new HvsnapError('transport_failed', `cannot start PowerShell on ${this.target}: ${e.message}`, { retryable: true, context, cause: e }));
        channel = ch;
        if (settled) return void ch.close();
        ch.on('data', (chunk: Buffer) => {
          outBytes += chunk.length;
          if (outBytes > maxBytes) stop(new HvsnapError('transport_failed', `${args.name} on ${this.target} wrote more than ${maxBytes} bytes`, { context }));
          else out.push(chunk);
        });
        ch.stderr.on('data', (chunk: Buffer) => {
          if (err.reduce((n, b) => n + b.length, 0) < 1024 * 1024) err.push(chunk);
        });
        ch.on('exit', (code: number | null) => {
          exitCode = code;
        });
        ch.on('close', () => {
          if (settled) return;
          try {
            const stdout = Buffer.concat(out).toString('utf8');
            finish(undefined, parseResult<T>(stdout, { name: args.name, target: this.target, exitCode, stderr: Buffer.concat(err).toString('utf8') }));
          } catch (pe) {
            finish(isHvsnapError(pe) ? pe : new HvsnapError('internal', String(pe), { context, cause: pe }));
          }
        });
        // stdin delivery: stdin stays open, a half-closed channel can no longer carry the KILL signal
        if (how.stdin !== undefined) ch.write(how.stdin);
        else ch.end();
      });
    });
  }

  private connect(): Promise<SshClient> {
    if (this.connection) return this.connection;
    const attempt = new Promise<SshClient>((resolve, reject) => {
      const client = new ssh2.Client();
      let keyProblem: HvsnapError | undefined;
      let ready = false;
      const config: ConnectConfig = {
        host: this.opts.host,
        port: this.opts.port ?? 22,
        username: this.opts.username,
        privateKey: this.opts.privateKey,
        passphrase: this.opts.passphrase,
        password: this.opts.password,
        readyTimeout: this.opts.connectTimeoutMs ?? 20_000,
        keepaliveInterval: this.opts.keepaliveIntervalMs ?? 15_000,
        keepaliveCountMax: 3,
        hostVerifier: (key: Buffer) => {
          keyProblem = checkHostKey(this.opts, this.target, this.logger, key);
          return keyProblem === undefined;
        },
      };
      client.on('ready', () => {
        ready = true;
        this.logger.debug('ssh connected');
        resolve(client);
      });
      client.on('error', (e: Error & { level?: string }) => {
        if (!ready) return reject(keyProblem ?? connectError(this.opts, this.target, e));
        this.logger.warn({ err: e.message }, 'ssh connection error');
      });
      client.on('close', () => {
        this.dropped.add(client);
        if (this.connection === attempt) this.connection = undefined;
        if (!ready)
          return reject(
            keyProblem ??
              new HvsnapError('transport_failed', `connection to ${this.target} closed during the handshake`, {
                retryable: true,
                context: { host: this.target },
              }),
          );
        const drop = new HvsnapError('transport_failed', `connection to ${this.target} dropped while a script was running`, {
          retryable: true,
          context: { host: this.target },
        });
        for (const fail of [...this.live]) fail(drop);
      });
      client.connect(config);
    });
    this.connection = attempt;
    attempt.catch(() => {
      if (this.connection === attempt) this.connection = undefined;
    });
    return attempt;
  }
}
