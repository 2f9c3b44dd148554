import { copyFileSync, readFileSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { openVhdx } from '../../src/vhdx/index.js';
import { buildVhdxWithPendingLog, encodeLogEntry } from '../helpers/vhdx-fixtures.js';
import { encodeHeader, readHeaders } from '../../src/vhdx/headers.js';
import { VhdxFile } from '../../src/vhdx/vhdx-file.js';
import { createVhdx } from '../../src/vhdx/index.js';
import { closeSync, openSync, writeSync } from 'node:fs';
import { allBytes, MiB, run, sha256, tempDir, tryRun } from './helpers.js';

const tmp = tempDir();
afterAll(() => tmp.cleanup());

describe('log replay in memory', () => {
  it('reads a file with a pending log as the spec replay rules say, without writing to it', async () => {
    const f = await buildVhdxWithPendingLog(tmp.path('dirty.vhdx'));
    const before = sha256(readFileSync(f.path));
    const img = await openVhdx(f.path);
    expect(img.logState).toBe('replayed');
    const got = await img.read(0, img.virtualSize);
    await img.close();
    expect(sha256(readFileSync(f.path))).toBe(before);
    // block 1 became ZERO; block 5 mapped, 8 KiB zeroed by a zero descriptor; block 6 mapped by the
    // second entry; the torn entry (block 7), the older sequence (block 2) and the foreign log are not applied
    expect(allBytes(got.subarray(MiB, 2 * MiB), 0)).toBe(true);
    expect(allBytes(got.subarray(5 * MiB + 64 * 1024, 5 * MiB + 72 * 1024), 0)).toBe(true);
    expect(allBytes(got.subarray(7 * MiB, 8 * MiB), 0)).toBe(true);
    expect(got.subarray(2 * MiB, 3 * MiB).equals(f.stale.subarray(2 * MiB, 3 * MiB))).toBe(true);
    expect(sha256(got)).toBe(sha256(f.expected));
    expect(sha256(got)).not.toBe(sha256(f.stale));
  });

  it('agrees byte for byte with qemu-img check -r all on a writable copy', async () => {
    const f = await buildVhdxWithPendingLog(tmp.path('dirty2.vhdx'), { seed: 9 });
    const copy = tmp.path('dirty2-copy.vhdx');
    copyFileSync(f.path, copy);
    // qemu refuses the dirty file read-only, then replays it on a writable copy
    expect(tryRun('qemu-img', ['convert', '-f', 'vhdx', '-O', 'raw', f.path, tmp.path('refused.raw')]).status).not.toBe(0);
    const repair = tryRun('qemu-img', ['check', '-r', 'all', copy]);
    expect(repair.out).toMatch(/repaired/);
    run('qemu-img', ['convert', '-f', 'vhdx', '-O', 'raw', copy, tmp.path('qemu.raw')]);
    const qemu = readFileSync(tmp.path('qemu.raw'));
    const img = await openVhdx(f.path);
    const ours = await img.read(0, img.virtualSize);
    await img.close();
    expect(sha256(ours)).toBe(sha256(qemu));
    expect(sha256(ours)).toBe(sha256(f.expected));
  });

  it('a writable open replays the log into the file and clears LogGuid; qemu then opens it read-only', async () => {
    const f = await buildVhdxWithPendingLog(tmp.path('dirty3.vhdx'), { seed: 3 });
    const img = await openVhdx(f.path, { writable: true });
    await img.close();
    const again = await openVhdx(f.path);
    expect(again.logState).toBe('clean');
    expect(sha256(await again.read(0, again.virtualSize))).toBe(sha256(f.expected));
    await again.close();
    expect(tryRun('qemu-img', ['check', f.path]).status).toBe(0);
    run('qemu-img', ['convert', '-f', 'vhdx', '-O', 'raw', f.path, tmp.path('q3.raw')]);
    expect(sha256(readFileSync(tmp.path('q3.raw')))).toBe(sha256(f.expected));
  });

  it('an entry with 130 data descriptors (two descriptor sectors) replays per the spec layout', async () => {
    const path = tmp.path('many.vhdx');
    await createVhdx(path, { virtualSize: 4 * MiB, blockSize: MiB });
    const img = await openVhdx(path, { writable: true });
    await img.write(0, Buffer.alloc(MiB, 0x33));
    await img.close();
    const file = await VhdxFile.open(path, false, { fileBytesRead: 0 });
    const { current: h } = await readHeaders(file);
    const size = file.physicalSize;
    await file.close();
    const blockAt = size - MiB; // the only block, appended last
    const logGuid = '11111111-2222-4333-8444-555555555555';
    const descriptors = Array.from({ length: 130 }, (_, i) => ({ kind: 'data' as const, fileOffset: blockAt + i * 4096, sector: Buffer.alloc(4096, i + 1) }));
    const entry = encodeLogEntry({ seq: 7n, tail: 0, logGuid, flushedFileOffset: size, lastFileOffset: size, descriptors });
    const fd = openSync(path, 'r+');
    writeSync(fd, entry, 0, entry.length, h.logOffset);
    const hdr = encodeHeader({ ...h, sequenceNumber: h.sequenceNumber + 1n, logGuid });
    writeSync(fd, hdr, 0, hdr.length, h.slot === 0 ? 128 * 1024 : 64 * 1024);
    closeSync(fd);
    const r = await openVhdx(path);
    const got = await r.read(0, r.virtualSize);
    await r.close();
    for (const i of [0, 125, 126, 129]) expect(allBytes(got.subarray(i * 4096, (i + 1) * 4096), i + 1)).toBe(true);
    expect(allBytes(got.subarray(130 * 4096, MiB), 0x33)).toBe(true);
    // qemu 7.2 refuses any entry with a second descriptor sector ("Invalid argument"), so the spec's
    // layout (126 descriptors after the header, 128 per later sector) is the oracle here
    expect(r.logState).toBe('replayed');
  });
});
