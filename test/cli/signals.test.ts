import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createVhdx, openVhdx } from '../../src/vhdx/index.js';
import { buildCli } from '../helpers/build-cli.js';
import { tempDir } from '../vhdx/helpers.js';

const MiB = 1 << 20;
const tmp = tempDir('hvsnap-signals-');
let build: Awaited<ReturnType<typeof buildCli>>;
let disk: string;

beforeAll(async () => {
  build = await buildCli();
  disk = tmp.path('big.vhdx');
  await createVhdx(disk, { virtualSize: 64 * MiB, blockSize: MiB });
  const img = await openVhdx(disk, { writable: true });
  for (let o = 0; o < 64 * MiB; o += 4 * MiB) await img.write(o, Buffer.alloc(4 * MiB, 7));
  await img.close();
}, 120_000);
afterAll(async () => {
  await build?.remove();
  tmp.cleanup();
});

/** Starts `hvsnap vhdx read` whose stdout nobody reads: it blocks on the full pipe, where no abort reaches it. */
async function blockedRead() {
  const child = spawn(process.execPath, [build.main, 'vhdx', 'read', disk], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  child.stdout.pause();
  // the pipe is full once the first bytes arrived and the command keeps waiting for a drain
  await once(child.stdout, 'readable');
  await new Promise((r) => setTimeout(r, 300));
  return { child, stderr: () => stderr };
}

describe('SIGINT and SIGTERM stop any command', () => {
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    it(`${signal} stops a command stuck on a blocked pipe: it says so and ends killed by ${signal}`, async () => {
      const { child, stderr } = await blockedRead();
      expect(child.exitCode).toBeNull();
      const exited = once(child, 'exit');
      child.kill(signal);
      // the first signal is enough (before: the process waited on the pipe forever); a shell shows
      // 128 + the signal's number (130, 143), and systemd counts a SIGTERM stop as a clean one
      const [exitCode, signalCode] = await exited;
      expect({ exitCode, signalCode }).toEqual({ exitCode: null, signalCode: signal });
      expect(stderr()).toContain(`stopped by ${signal}`);
    }, 20_000);
  }
});
