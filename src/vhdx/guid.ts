import { randomUUID } from 'node:crypto';

/**
 * GUIDs as VHDX stores them: Microsoft mixed-endian (Data1 u32 LE, Data2 u16 LE, Data3 u16 LE, Data4 raw).
 * In memory they are lowercase `8-4-4-4-12` strings.
 */
export const ZERO_GUID = '00000000-0000-0000-0000-000000000000';

const GUID_RE = /^\{?([0-9a-f]{8})-([0-9a-f]{4})-([0-9a-f]{4})-([0-9a-f]{4})-([0-9a-f]{12})\}?$/i;

/** Reads the 16-byte GUID at `off`. */
export function readGuid(buf: Uint8Array, off: number): string {
  const b = Buffer.from(buf.buffer, buf.byteOffset + off, 16);
  const hex = (from: number, to: number): string => b.subarray(from, to).toString('hex');
  const d1 = b.readUInt32LE(0).toString(16).padStart(8, '0');
  const d2 = b.readUInt16LE(4).toString(16).padStart(4, '0');
  const d3 = b.readUInt16LE(6).toString(16).padStart(4, '0');
  return `${d1}-${d2}-${d3}-${hex(8, 10)}-${hex(10, 16)}`;
}

/** True for a GUID string in `8-4-4-4-12` form, with or without braces, any case. */
export function isGuid(s: string): boolean {
  return GUID_RE.test(s);
}

/** Normalizes a GUID string (braces dropped, lowercase); throws on anything else. */
export function normalizeGuid(s: string): string {
  const m = GUID_RE.exec(s.trim());
  if (!m) throw new Error(`not a GUID: ${JSON.stringify(s)}`);
  return m.slice(1).join('-').toLowerCase();
}

/** Writes a GUID string as 16 bytes at `off`. */
export function writeGuid(guid: string, buf: Buffer, off: number): void {
  const [d1, d2, d3, d4, d5] = normalizeGuid(guid).split('-');
  buf.writeUInt32LE(parseInt(d1, 16), off);
  buf.writeUInt16LE(parseInt(d2, 16), off + 4);
  buf.writeUInt16LE(parseInt(d3, 16), off + 6);
  Buffer.from(d4 + d5, 'hex').copy(buf, off + 8);
}

/** A new random GUID (version 4), lowercase. */
export function newGuid(): string {
  return randomUUID();
}
