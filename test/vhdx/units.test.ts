import { describe, expect, it } from 'vitest';
import { crc32c } from '../../src/vhdx/crc32c.js';
import { geometry, payloadIndex, sectorBitmapIndex } from '../../src/vhdx/geometry.js';
import { readGuid, writeGuid } from '../../src/vhdx/guid.js';
import { prefixResolver } from '../../src/vhdx/index.js';

describe('format primitives', () => {
  it('CRC-32C check value', () => {
    expect(crc32c(Buffer.from('123456789'))).toBe(0xe3069283);
    // chaining equals one pass; long input exercises the 8-byte loop
    const big = Buffer.from(Array.from({ length: 1000 }, (_, i) => (i * 7) & 0xff));
    expect(crc32c(big.subarray(300), crc32c(big.subarray(0, 300)))).toBe(crc32c(big));
  });

  it('GUIDs are mixed-endian on disk (the BAT region GUID example of the reference)', () => {
    const b = Buffer.from('6677c22d23f600429d64115e9bfd4a08', 'hex');
    expect(readGuid(b, 0)).toBe('2dc27766-f623-4200-9d64-115e9bfd4a08');
    const out = Buffer.alloc(16);
    writeGuid('{2DC27766-F623-4200-9D64-115E9BFD4A08}', out, 0);
    expect(out.equals(b)).toBe(true);
  });

  it('BAT geometry for 512 and 4096-byte sectors', () => {
    const g = geometry(1024 ** 3, 32 * 1024 ** 2, 512, false);
    expect(g.chunkRatio).toBe(128);
    expect(g.payloadBlocks).toBe(32);
    expect(payloadIndex(g, 128)).toBe(129);
    expect(sectorBitmapIndex(g, 0)).toBe(128);
    const g4 = geometry(64 * 1024 ** 3, 1024 ** 2, 4096, true);
    expect(g4.chunkRatio).toBe(32768);
    expect(g4.bitmapBytesPerBlock).toBe(32);
    expect(g4.neededEntries).toBe(2 * 32769);
  });

  it('prefixResolver maps host paths case-insensitively, with or without \\\\?\\', () => {
    const r = prefixResolver([{ from: 'C:\\ClusterStorage\\Volume1', to: '/mnt/snap' }]);
    expect(r('\\\\?\\c:\\clusterstorage\\volume1\\VMs\\a.vhdx', {})).toBe('/mnt/snap/VMs/a.vhdx');
    expect(r('C:\\ClusterStorage\\Volume10\\a.vhdx', {})).toBeUndefined();
  });
});
