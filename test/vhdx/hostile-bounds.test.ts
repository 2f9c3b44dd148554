import { execFileSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { createVhdx, openVhdx } from '../../src/vhdx/index.js';
import { activateLog, buildDifferencingChain, type LogDescriptorSpec } from '../helpers/vhdx-fixtures.js';
import { describeWith } from '../helpers/requirements.js';
import { MiB, tempDir } from './helpers.js';

const tmp = tempDir();
afterAll(() => tmp.cleanup());

/** A clean 4 MiB VHDX whose log is made active with one entry of `descriptors`. */
async function withLog(name: string, descriptors: LogDescriptorSpec[]): Promise<string> {
  const path = tmp.path(name);
  await createVhdx(path, { virtualSize: 4 * MiB, blockSize: MiB });
  await activateLog(path, () => descriptors);
  return path;
}

describe('hostile VHDX input is bounded before any work', () => {
  it('a log zero descriptor of 2^40 bytes is refused before anything is allocated', async () => {
    // before: 14.5 s and 794 MB, then a RangeError "Map maximum size exceeded"
    const path = await withLog('zero-2-40.vhdx', [{ kind: 'zero', fileOffset: 0, length: 2 ** 40 }]);
    const rss = process.memoryUsage().rss;
    const error = await openVhdx(path).then(
      (img) => img.close().then(() => undefined),
      (e: unknown) => e,
    );
    expect(error).toMatchObject({ code: 'vhdx_unsupported', context: { file: path, structure: 'log' } });
    expect((error as Error).message).toContain(`${2 ** 40} bytes`);
    // nothing near the 2^28 sectors was expanded (a loose bound: other tests share the process)
    expect(process.memoryUsage().rss - rss).toBeLessThan(200 * MiB);
  });

  it('a zero descriptor within the bound still replays', async () => {
    const path = await withLog('zero-ok.vhdx', [{ kind: 'zero', fileOffset: 0, length: 64 * 1024 }]);
    const img = await openVhdx(path);
    expect(img.logState).toBe('replayed');
    await img.close();
  });
});

describeWith('non-regular files where a VHDX is expected', { tools: ['mkfifo'] }, () => {
  it('a FIFO given as a disk is refused at once, not waited on', async () => {
    const fifo = tmp.path('disk.vhdx');
    execFileSync('mkfifo', [fifo]);
    await expect(openVhdx(fifo)).rejects.toMatchObject({ code: 'vhdx_invalid', message: `${fifo} is a FIFO, not a VHDX file` });
    await expect(openVhdx(fifo, { writable: true })).rejects.toMatchObject({ code: 'vhdx_invalid' });
  });

  it('a differencing parent that is a FIFO is refused, naming the parent', async () => {
    const chain = await buildDifferencingChain(tmp.path(''), { virtualSize: 4 * MiB, depth: 1 });
    rmSync(chain.base);
    execFileSync('mkfifo', [chain.base]);
    await expect(openVhdx(chain.top)).rejects.toMatchObject({ code: 'vhdx_invalid', message: expect.stringContaining(`${chain.base} is a FIFO`) });
  });

  it('a character device is refused', async () => {
    await expect(openVhdx('/dev/zero')).rejects.toMatchObject({ code: 'vhdx_invalid', message: '/dev/zero is a character device, not a VHDX file' });
  });
});
