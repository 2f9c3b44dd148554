import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { VhdxImage } from '../../src/vhdx/index.js';

export const MiB = 1024 * 1024;

/** A temporary folder removed by `cleanup`. */
export function tempDir(prefix = 'hvsnap-vhdx-'): { dir: string; path: (name: string) => string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, path: (name) => join(dir, name), cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** Runs a program, returns stdout; throws with stderr on a non-zero exit. */
export function run(cmd: string, args: string[], opts: { input?: Buffer } = {}): string {
  return execFileSync(cmd, args, { encoding: 'utf8', maxBuffer: 64 * MiB, input: opts.input, stdio: ['pipe', 'pipe', 'pipe'] });
}

/** Exit status and output of a program that may fail. */
export function tryRun(cmd: string, args: string[]): { status: number; out: string } {
  try {
    return { status: 0, out: run(cmd, args) };
  } catch (e) {
    const err = e as { status?: number; stdout?: string; stderr?: string };
    return { status: err.status ?? 1, out: `${err.stdout ?? ''}${err.stderr ?? ''}` };
  }
}

/** The virtual disk as qemu sees it, as a Buffer (small disks only). */
export function qemuRaw(vhdx: string, raw: string): Buffer {
  run('qemu-img', ['convert', '-f', 'vhdx', '-O', 'raw', vhdx, raw]);
  return readFileSync(raw);
}

/** sha256 of the whole virtual disk read through our reader in `step`-byte reads. */
export async function imageSha256(img: VhdxImage, step = 4 * MiB): Promise<string> {
  const h = createHash('sha256');
  const buf = Buffer.allocUnsafe(step);
  for (let off = 0; off < img.virtualSize; off += step) {
    const n = Math.min(step, img.virtualSize - off);
    const b = n === step ? buf : Buffer.allocUnsafe(n);
    await img.readInto(b, off);
    h.update(b);
  }
  return h.digest('hex');
}

export function sha256(b: Uint8Array): string {
  return createHash('sha256').update(b).digest('hex');
}

/** A small seeded PRNG (mulberry32), so random tests replay exactly. */
export { seededRandom as prng } from '../../src/core/random.js';

/** Bytes from the PRNG. */
export function randomBytes(rand: () => number, n: number): Buffer {
  const b = Buffer.allocUnsafe(Math.ceil(n / 4) * 4);
  for (let i = 0; i < b.length; i += 4) b.writeUInt32LE((rand() * 0x100000000) >>> 0, i);
  return b.subarray(0, n);
}

/** True when every byte of `b` is `v` (memcmp, not a JS loop). */
export function allBytes(b: Uint8Array, v: number): boolean {
  return Buffer.from(b.buffer, b.byteOffset, b.length).equals(Buffer.alloc(b.length, v));
}
