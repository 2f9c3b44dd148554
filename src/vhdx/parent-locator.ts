import { PARENT_LOCATOR_TYPE_VHDX } from './constants.js';
import { vhdxInvalid, vhdxUnsupported } from './errors.js';
import { readGuid, writeGuid } from './guid.js';

/** A decoded parent locator (MS-VHDX §2.6.2.6): its type and its key/value pairs. */
export interface ParentLocator {
  locatorType: string;
  /** keys as stored (case-sensitive): parent_linkage, relative_path, volume_path, absolute_win32_path, ... */
  entries: Record<string, string>;
}

/** Parses the parent locator item found at file offset `at`. */
export function parseParentLocator(buf: Buffer, file: string, at: number): ParentLocator {
  const where = (offset: number) => ({ file, structure: 'parent_locator' as const, offset: at + offset });
  if (buf.length < 20) throw vhdxInvalid(where(0), `parent locator is ${buf.length} bytes, shorter than its 20-byte header`);
  const locatorType = readGuid(buf, 0);
  if (locatorType !== PARENT_LOCATOR_TYPE_VHDX) throw vhdxUnsupported(where(0), `parent locator type ${locatorType} is not the VHDX type`);
  const count = buf.readUInt16LE(18);
  if (20 + 12 * count > buf.length) throw vhdxInvalid(where(18), `KeyValueCount ${count} does not fit in a ${buf.length}-byte locator`);
  const entries: Record<string, string> = {};
  for (let i = 0; i < count; i++) {
    const e = 20 + 12 * i;
    const ko = buf.readUInt32LE(e);
    const vo = buf.readUInt32LE(e + 4);
    const kl = buf.readUInt16LE(e + 8);
    const vl = buf.readUInt16LE(e + 10);
    if (kl === 0 || vl === 0 || ko + kl > buf.length || vo + vl > buf.length || ko < 20 || vo < 20) {
      throw vhdxInvalid(where(e), `entry ${i} (key ${ko}+${kl}, value ${vo}+${vl}) lies outside the ${buf.length}-byte locator`);
    }
    const key = buf.toString('utf16le', ko, ko + kl);
    if (key in entries) throw vhdxInvalid(where(e), `key ${JSON.stringify(key)} appears twice`);
    entries[key] = buf.toString('utf16le', vo, vo + vl);
  }
  if (!entries.parent_linkage) throw vhdxInvalid(where(0), 'parent_linkage is missing');
  if (!entries.relative_path && !entries.volume_path && !entries.absolute_win32_path) {
    throw vhdxInvalid(where(0), 'none of relative_path, volume_path, absolute_win32_path is present');
  }
  return { locatorType, entries };
}

/** Encodes a VHDX parent locator item. */
export function encodeParentLocator(pl: ParentLocator): Buffer {
  const pairs = Object.entries(pl.entries).map(([k, v]) => [Buffer.from(k, 'utf16le'), Buffer.from(v, 'utf16le')] as const);
  const head = 20 + 12 * pairs.length;
  const total = head + pairs.reduce((n, [k, v]) => n + k.length + v.length, 0);
  const buf = Buffer.alloc(total);
  writeGuid(pl.locatorType, buf, 0);
  buf.writeUInt16LE(pairs.length, 18);
  let off = head;
  pairs.forEach(([k, v], i) => {
    const e = 20 + 12 * i;
    buf.writeUInt32LE(off, e);
    k.copy(buf, off);
    off += k.length;
    buf.writeUInt32LE(off, e + 4);
    v.copy(buf, off);
    off += v.length;
    buf.writeUInt16LE(k.length, e + 8);
    buf.writeUInt16LE(v.length, e + 10);
  });
  return buf;
}

/** The VHDX locator type GUID, for writers. */
export { PARENT_LOCATOR_TYPE_VHDX };
