import { spawn } from 'node:child_process';
import { track } from './children.js';

/**
 * Runs a peer program (cp, qemu-img) as a child of the bench, and returns its wall time in ms.
 * A non-zero exit is an error naming the command and its stderr: the bench then fails the run.
 */
export function runPeer(command: string, args: string[], options: { env?: NodeJS.ProcessEnv; cwd?: string } = {}): Promise<number> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const child = track(
      spawn(command, args, { stdio: ['ignore', 'ignore', 'pipe'], env: options.env ? { ...process.env, ...options.env } : undefined, cwd: options.cwd }),
    );
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => {
      if (stderr.length < 4000) stderr += d.toString();
    });
    child.on('error', (e) => reject(new Error(`cannot start ${command}: ${e.message}`, { cause: e })));
    child.on('close', (code, sig) => {
      const ms = performance.now() - started;
      if (code === 0) resolve(ms);
      else reject(new Error(`${command} ${args.join(' ')} exited with ${code ?? sig}: ${stderr.trim()}`));
    });
  });
}
