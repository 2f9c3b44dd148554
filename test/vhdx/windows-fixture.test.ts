import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeWith, sharedPath } from '../helpers/requirements.js';
import { checkVhdx, openVhdx, vhdxInfo } from '../../src/vhdx/index.js';
import { allBytes, imageSha256, MiB, tempDir } from './helpers.js';

/**
 * The Hyper-V-made sample from qemu's tests (GPL, so it is not copied into this repository): it is
 * read from the shared folder beside the project root, whose fixtures/vhdx/README.md states its
 * exact content. CI lays that folder beside the clone.
 */
const FIXTURE_REL = 'fixtures/vhdx/iotest-dynamic-1G.vhdx.bz2';

describeWith('the Hyper-V-made fixture reads as its README states', { shared: [FIXTURE_REL], tools: ['bunzip2'] }, () => {
  const tmp = tempDir();
  const file = tmp.path('iotest-dynamic-1G.vhdx');
  beforeAll(() => {
    writeFileSync(file, execFileSync('bunzip2', ['-c', sharedPath(FIXTURE_REL)], { maxBuffer: 128 * MiB }));
  });
  afterAll(() => tmp.cleanup());

  it('geometry and identity', async () => {
    const img = await openVhdx(file);
    expect(img.virtualSize).toBe(1073741824);
    expect(img.blockSize).toBe(32 * MiB);
    expect(img.logicalSectorSize).toBe(512);
    expect(img.physicalSectorSize).toBe(4096);
    expect(img.hasParent).toBe(false);
    expect(img.virtualDiskId).toBe('fc7209f1-f6eb-4616-9b77-e994e3017ddd');
    expect(img.dataWriteGuid).toBe('d247cbb2-15b6-404b-9133-790733d694c0');
    expect(img.logState).toBe('clean');
    expect(await img.allocatedRanges()).toEqual([{ offset: 0, length: 96 * MiB }]);
    await img.close();
  });

  it('content: 0xA5 for [0,33M), 0x96 for [33M,66M), zeros after; sha256 of the 1 GiB', async () => {
    const img = await openVhdx(file);
    const head = await img.read(0, 70 * MiB);
    expect(allBytes(head.subarray(0, 33 * MiB), 0xa5)).toBe(true);
    expect(allBytes(head.subarray(33 * MiB, 66 * MiB), 0x96)).toBe(true);
    expect(allBytes(head.subarray(66 * MiB), 0)).toBe(true);
    const before = img.stats.fileBytesRead;
    expect(await imageSha256(img, 32 * MiB)).toBe('d3d112d8dab7fd360609f7d5a7b769904b7a2a7d7b6b8c535f65a23293c05478');
    // only the three FULLY_PRESENT blocks are read from the file (the BAT is cached)
    expect(img.stats.fileBytesRead - before).toBe(96 * MiB);
    await img.close();
  });

  it('structures: headers 14/15 (header 2 current), BAT states, old log entries ignored, check is clean', async () => {
    const info = await vhdxInfo(file);
    expect(info.creator).toBe('Microsoft Windows 6.2.9200.16384');
    expect(info.headers).toEqual([
      { slot: 1, valid: true, sequenceNumber: '14', current: false },
      { slot: 2, valid: true, sequenceNumber: '15', current: true },
    ]);
    expect(info.fileWriteGuid).toBe('8e90ea6d-b636-1c49-b7d4-35109e600c0c');
    expect(info.log).toMatchObject({ state: 'clean', offset: 0x100000, length: 0x100000 });
    expect(info.batStates).toEqual({ FULLY_PRESENT: 3, ZERO: 29 });
    expect(info.regions).toEqual([
      { guid: '2dc27766-f623-4200-9d64-115e9bfd4a08', fileOffset: 0x300000, length: 0x100000, required: true },
      { guid: '8b7ca206-4790-4b9a-b8fe-575f050f886e', fileOffset: 0x200000, length: 0x100000, required: true },
    ]);
    expect(info.chunkRatio).toBe(128);
    expect(await checkVhdx(file)).toMatchObject({ ok: true, findings: [] });
  });
});
