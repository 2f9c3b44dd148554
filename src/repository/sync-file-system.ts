import { spawn, type ChildProcessByStdio } from 'node:child_process';
import { release } from 'node:os';
import type { Readable, Writable } from 'node:stream';

/**
 * syncfs(2) of the file system holding a path, for making many new files durable at once.
 *
 * Node has no syncfs binding; GNU coreutils' `sync -f PATH` (8.24+) opens PATH and calls syncfs
 * on it: one call instead of one fsync per file and folder. syncfs writes back every dirty page
 * and inode of that file system and commits its journal before it returns, so it makes durable
 * everything an fsync of each file and folder would (device cache flush included). Since Linux 5.8
 * it also reports a write-back error of the file system as a failure, as fsync does; before 5.8
 * it did not, so it is not used there.
 *
 * `sync` runs from a small shell started on first use and kept for the next calls: forking the
 * backup process itself costs tens of ms of its main thread (page tables of its whole heap) per
 * call, forking the shell well under one. Linux 5.8 or later only: elsewhere (and where `sync`
 * lacks `-f`, or anything fails) the caller fsyncs file by file.
 */
export interface FileSystemSync {
  /** true while syncfs can be tried (Linux 5.8 or later, and no call has failed yet) */
  readonly available: boolean;
  /**
   * Resolves true when the file system holding `path` was synced; false when syncfs could not be
   * run or failed (the caller MUST then fsync what it needs itself; after a failure every later
   * call resolves false at once). Never rejects.
   */
  sync(path: string): Promise<boolean>;
  /** Starts the helper ahead of the first sync (optional; sync starts it too). */
  prepare(): void;
  /** Ends the helper; a later sync starts a new one. Idempotent. */
  close(): void;
}

// reads one path per line, answers one line per path: 0 when `sync -f` succeeded
const HELPER = 'while IFS= read -r p; do if sync -f -- "$p" 2>/dev/null; then echo 0; else echo 1; fi; done';

/** True on Linux 5.8 or later, whose syncfs reports write-back errors. `kernel` is os.release(). */
export function syncfsReportsErrors(platform: string = process.platform, kernel: string = release()): boolean {
  const [major, minor] = kernel.split('.').map((n) => parseInt(n, 10));
  return platform === 'linux' && (major > 5 || (major === 5 && minor >= 8));
}

/** The `sync -f` file-system sync; `available` is false off Linux 5.8+. `command` replaces `sync` (tests). */
export function fileSystemSync(options: { command?: string } = {}): FileSystemSync {
  let available = syncfsReportsErrors();
  const script = options.command ? HELPER.replace('sync -f', `${options.command} -f`) : HELPER;
  let helper: ChildProcessByStdio<Writable, Readable, null> | undefined;
  const waiting: Array<(ok: boolean) => void> = [];

  const fail = () => {
    available = false;
    helper = undefined;
    for (const w of waiting.splice(0)) w(false);
  };

  const start = (): ChildProcessByStdio<Writable, Readable, null> => {
    if (helper) return helper;
    const child = spawn('sh', ['-c', script], { stdio: ['pipe', 'pipe', 'ignore'], windowsHide: true });
    let buffered = '';
    child.stdout.setEncoding('utf8').on('data', (text: string) => {
      buffered += text;
      for (let nl = buffered.indexOf('\n'); nl >= 0; nl = buffered.indexOf('\n')) {
        const ok = buffered.slice(0, nl) === '0';
        buffered = buffered.slice(nl + 1);
        if (!ok) available = false;
        waiting.shift()?.(ok);
        if (waiting.length === 0) hold(false);
      }
    });
    child.on('error', () => helper === child && fail());
    child.on('exit', () => helper === child && fail());
    child.stdin.on('error', () => helper === child && fail());
    helper = child;
    hold(false);
    return child;
  };

  /** An idle helper never keeps the process alive (it ends when its stdin closes with us); a busy one does. */
  const hold = (busy: boolean) => {
    const handles = helper ? [helper, helper.stdin, helper.stdout] : [];
    for (const h of handles as Array<{ ref?: () => void; unref?: () => void }>) (busy ? h.ref : h.unref)?.call(h);
  };

  return {
    get available() {
      return available;
    },
    prepare() {
      if (available) start();
    },
    sync(path) {
      if (!available || path.includes('\n')) return Promise.resolve(false);
      const child = start();
      return new Promise((resolve) => {
        waiting.push(resolve);
        hold(true);
        child.stdin.write(`${path}\n`);
      });
    },
    close() {
      const child = helper;
      helper = undefined;
      for (const w of waiting.splice(0)) w(false);
      child?.stdin.end();
    },
  };
}
