import { randomUUID } from 'node:crypto';
import { HvsnapError } from '../core/errors.js';
import { bundleHash, bundleText, type ArgumentFile } from './file-delivery.js';

/**
 * The few SFTP calls file delivery uses (ssh2's SFTPWrapper has them; a local interface so tests and
 * other transports can pass their own). Callback style, as ssh2 has it.
 */
export interface SftpLike {
  realpath(path: string, cb: (err: Error | undefined | null, absPath: string) => void): void;
  stat(path: string, cb: (err: Error | undefined | null, stats: { isDirectory(): boolean; size: number }) => void): void;
  mkdir(path: string, cb: (err: Error | undefined | null) => void): void;
  readFile(path: string, cb: (err: Error | undefined | null, data: Buffer) => void): void;
  writeFile(path: string, data: string | Buffer, options: { mode?: number }, cb: (err: Error | undefined | null) => void): void;
  rename(from: string, to: string, cb: (err: Error | undefined | null) => void): void;
  unlink(path: string, cb: (err: Error | undefined | null) => void): void;
  utimes(path: string, atime: number | Date, mtime: number | Date, cb: (err: Error | undefined | null) => void): void;
}

const call = <T = void>(fn: (cb: (err: Error | undefined | null, v: T) => void) => void): Promise<T> =>
  new Promise((resolve, reject) => fn((err, v) => (err ? reject(err) : resolve(v))));

/**
 * The script bundles of one host in one per-user folder (relative paths are under the SFTP login
 * folder: the user's profile on Win32-OpenSSH). Each bundle is uploaded once per host: its file name is
 * its SHA-256, a present file with the same bytes is used as is (checked once per connection, so a
 * damaged or tampered copy is replaced), and a new one is written under a private name and renamed into
 * place, so a concurrent run never sees half a bundle.
 */
export class RemoteScripts {
  private folder: Promise<string> | undefined;
  private readonly bundles = new Map<string, Promise<string>>();

  constructor(
    private readonly sftp: SftpLike,
    private readonly remoteDir: string,
    private readonly target: string,
  ) {}

  /** The remote path of the bundle of this script, uploaded if this connection has not checked it yet. */
  bundle(args: { name: string; script: string }): Promise<string> {
    const text = bundleText(args);
    const hash = bundleHash(text);
    let upload = this.bundles.get(hash);
    if (!upload) {
      upload = this.place(`${hash}.ps1`, text, args.name);
      upload.catch(() => this.bundles.delete(hash));
      this.bundles.set(hash, upload);
    }
    return upload;
  }

  /** Writes a run's argument file beside the bundles (owner-only where the server applies modes); returns its path. */
  async writeArguments(content: ArgumentFile, name: string): Promise<string> {
    const dir = await this.dir(name);
    const file = `${dir}/run-${randomUUID()}.json`;
    await this.io(name, `write ${file}`, () => call((cb) => this.sftp.writeFile(file, JSON.stringify(content), { mode: 0o600 }, cb)));
    return file;
  }

  /**
   * Renews a run's lease on its argument file every `intervalMs` until the returned function is
   * called. Each renewal sets the file's times one second past the last: SFTP (version 3) carries
   * times in whole seconds, so touching with the clock changes nothing within a second, and a
   * watchdog whose staleMs is under a second plus the interval stopped a healthy run (exit 125).
   * The watchdog looks only for a change, so the times need not be the clock's.
   */
  lease(file: string, intervalMs: number): () => void {
    let seconds = Math.floor(Date.now() / 1000);
    const timer = setInterval(() => {
      seconds += 1;
      void call((cb) => this.sftp.utimes(file, seconds, seconds, cb)).catch(() => undefined);
    }, intervalMs);
    return () => clearInterval(timer);
  }

  /** Removes an argument file; a missing one is fine (the script removes it itself when it exits). */
  async remove(file: string): Promise<void> {
    await call((cb) => this.sftp.unlink(file, cb)).catch(() => undefined);
  }

  private dir(step: string): Promise<string> {
    if (!this.folder) {
      this.folder = this.makeDir(step);
      this.folder.catch(() => (this.folder = undefined));
    }
    return this.folder;
  }

  private async makeDir(step: string): Promise<string> {
    const base = this.remoteDir.startsWith('/') ? '' : await this.io(step, 'find the login folder', () => call<string>((cb) => this.sftp.realpath('.', cb)));
    let at = base.replace(/\/+$/, '');
    for (const part of this.remoteDir.split('/').filter(Boolean)) {
      at = `${at}/${part}`;
      const here = at;
      await call((cb) => this.sftp.mkdir(here, cb)).catch(() => undefined);
    }
    const stats = await this.io(step, `create ${at}`, () => call<{ isDirectory(): boolean }>((cb) => this.sftp.stat(at, cb)));
    if (!stats.isDirectory())
      throw new HvsnapError('transport_failed', `${at} on ${this.target} is not a folder`, { context: { host: this.target, path: at, step } });
    return at;
  }

  private async place(fileName: string, text: string, step: string): Promise<string> {
    const dir = await this.dir(step);
    const file = `${dir}/${fileName}`;
    const want = Buffer.from(text, 'utf8');
    const same = async () => (await call<Buffer>((cb) => this.sftp.readFile(file, cb)).catch(() => undefined))?.equals(want) ?? false;
    if (await same()) return file;
    const temp = `${dir}/${fileName}.${randomUUID()}.tmp`;
    await this.io(step, `upload ${file}`, () => call((cb) => this.sftp.writeFile(temp, want, {}, cb)));
    try {
      await call((cb) => this.sftp.rename(temp, file, cb));
    } catch {
      // SFTP rename does not replace: another run placed it first (same bytes), or a bad copy is there
      if (!(await same())) {
        await call((cb) => this.sftp.unlink(file, cb)).catch(() => undefined);
        await this.io(step, `upload ${file}`, () => call((cb) => this.sftp.rename(temp, file, cb)));
      }
    } finally {
      await call((cb) => this.sftp.unlink(temp, cb)).catch(() => undefined);
    }
    return file;
  }

  private async io<T>(step: string, what: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (e) {
      throw new HvsnapError('transport_failed', `cannot ${what} on ${this.target} over SFTP: ${(e as Error).message}`, {
        retryable: true,
        context: { host: this.target, step },
        cause: e,
        hint: 'file delivery needs the sftp subsystem (Win32-OpenSSH ships sftp-server); or set transport.delivery: stdin to do without it',
      });
    }
  }
}
