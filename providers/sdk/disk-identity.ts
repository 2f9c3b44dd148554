import { HvsnapError } from '../../src/core/errors.js';
import type { VolumeIdentity } from '../../src/core/types.js';

/**
 * Disk identity helpers: turn what Windows reports for a disk (the SCSI page-83 designator, as
 * `Get-Disk`'s UniqueId or a `naa.`/`eui.` string) into the canonical {@link VolumeIdentity}, and map
 * between vendor serial numbers and NAA ids.
 */

/** NAA prefixes (the first 8 hex digits of an NAA-6 id) of the arrays we know. */
export const VendorNaaPrefix = {
  /** Pure FlashArray: NAA 6 + OUI 24a937 + `0`, then the 24-hex-digit volume serial */
  pure: '624a9370',
  /** NetApp ONTAP (clustered): NAA 6 + OUI 00a098 + `0`, then hex of the 12-char ASCII LUN serial */
  ontap: '600a0980',
} as const;

const HEX = /^[0-9a-f]+$/;

/**
 * Parses a page-83 designator as Windows or Linux prints it: `60A98000...`, `naa.6...`, `eui.00...`,
 * `3624a9370...` (Linux by-id, designator type 3 first), with optional `0x`, spaces, colons or dashes.
 * NAA ids are 16 (types 2, 3, 5) or 32 (type 6) hex digits; EUI-64 ids are 16, 24 or 32.
 * @throws HvsnapError `input_invalid` naming the text when it is neither.
 */
export function parseDiskIdentity(raw: string): VolumeIdentity {
  let s = raw
    .trim()
    .toLowerCase()
    .replace(/[\s:-]/g, '');
  let kind: 'naa' | 'eui' | undefined;
  if (s.startsWith('naa.')) {
    kind = 'naa';
    s = s.slice(4);
  } else if (s.startsWith('eui.')) {
    kind = 'eui';
    s = s.slice(4);
  } else if (s.startsWith('0x')) s = s.slice(2);
  if (!kind && s.length === 33 && s.startsWith('3')) s = s.slice(1); // Linux by-id "3" + NAA-6
  if (!HEX.test(s)) throw invalid(raw, 'not hexadecimal');
  if (kind === 'eui') {
    if (![16, 24, 32].includes(s.length)) throw invalid(raw, `an EUI-64 id has 16, 24 or 32 hex digits, not ${s.length}`);
    return { kind: 'eui', id: s };
  }
  const naaType = s[0];
  if (s.length === 32 && naaType === '6') return { kind: 'naa', id: s };
  if (s.length === 16 && ['2', '3', '5'].includes(naaType!)) return { kind: 'naa', id: s };
  if (kind === 'naa') throw invalid(raw, `NAA type ${naaType} with ${s.length} hex digits is not a valid NAA id`);
  if (s.length === 16) return { kind: 'eui', id: s };
  throw invalid(raw, `${s.length} hex digits is neither an NAA nor an EUI-64 id`);
}

function invalid(raw: string, why: string): HvsnapError {
  return new HvsnapError('input_invalid', `disk identity "${raw}": ${why}`, { context: { field: 'identity' } });
}

/** True when both identities name the same disk (case-insensitive on the canonical id). */
export function sameIdentity(a: VolumeIdentity, b: VolumeIdentity): boolean {
  return a.kind === b.kind && a.id.toLowerCase() === b.id.toLowerCase();
}

/** The vendor part of an NAA-6 id when it starts with `prefix` (8 hex digits), else undefined. */
export function vendorPart(identity: VolumeIdentity, prefix: string): string | undefined {
  const id = identity.id.toLowerCase();
  return identity.kind === 'naa' && id.length === 32 && id.startsWith(prefix) ? id.slice(prefix.length) : undefined;
}

/** Pure FlashArray: NAA id of a volume from its serial (24 hex digits). */
export function pureIdentityFromSerial(serial: string): VolumeIdentity {
  const s = serial.toLowerCase();
  if (!/^[0-9a-f]{24}$/.test(s)) throw invalid(serial, 'a Pure volume serial has 24 hex digits');
  return { kind: 'naa', id: VendorNaaPrefix.pure + s, serial: serial.toUpperCase() };
}

/** Pure FlashArray: the volume serial (upper-case) inside an NAA id, or undefined when it is not a Pure id. */
export function pureSerialFromIdentity(identity: VolumeIdentity): string | undefined {
  return vendorPart(identity, VendorNaaPrefix.pure)?.toUpperCase();
}

/** ONTAP: NAA id of a LUN from its 12-character ASCII serial number. */
export function ontapIdentityFromSerial(serial: string): VolumeIdentity {
  if (serial.length !== 12 || !/^[\x21-\x7e]+$/.test(serial)) throw invalid(serial, 'an ONTAP LUN serial has 12 printable ASCII characters');
  return { kind: 'naa', id: VendorNaaPrefix.ontap + Buffer.from(serial, 'ascii').toString('hex'), serial };
}

/** ONTAP: the 12-character LUN serial inside an NAA id, or undefined when it is not an ONTAP id. */
export function ontapSerialFromIdentity(identity: VolumeIdentity): string | undefined {
  const hex = vendorPart(identity, VendorNaaPrefix.ontap);
  return hex ? Buffer.from(hex, 'hex').toString('ascii') : undefined;
}

/** PowerStore: NAA id from a volume's `wwn` (`naa.` + 32 hex digits). */
export function powerstoreIdentityFromWwn(wwn: string): VolumeIdentity {
  const identity = parseDiskIdentity(wwn);
  if (identity.kind !== 'naa') throw invalid(wwn, 'a PowerStore wwn is an NAA id');
  return identity;
}

/** PowerStore: the `wwn` value (`naa.` + hex) to filter volumes by. */
export function powerstoreWwnFromIdentity(identity: VolumeIdentity): string | undefined {
  return identity.kind === 'naa' ? `naa.${identity.id.toLowerCase()}` : undefined;
}
