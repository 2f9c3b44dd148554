import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';

/**
 * SHA-256 of what a program writes to stdout, read asynchronously: safe where the program reads a
 * FUSE file system this very process serves (a synchronous exec would block the process that has
 * to answer the reads).
 */
export function stdoutDigest(command: string, args: string[]): Promise<{ sha256: string; bytes: number }> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    const h = createHash('sha256');
    let bytes = 0;
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => {
      h.update(d);
      bytes += d.length;
    });
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) =>
      code === 0 ? resolve({ sha256: h.digest('hex'), bytes }) : reject(new Error(`${command} ${args.join(' ')} exited with ${code}: ${stderr.trim()}`)),
    );
  });
}
