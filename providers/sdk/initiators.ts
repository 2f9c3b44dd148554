import { HvsnapError } from '../../src/core/errors.js';

/**
 * A Fibre Channel WWPN as 16 lower-case hex digits, from any of the forms hosts and arrays print:
 * `10:00:00:00:C9:12:34:56`, `10-00-…`, `0x10000000c9123456`, `10000000C9123456`.
 * Throws `input_invalid` naming the value when it is not 8 bytes.
 */
export function normalizeWwpn(wwpn: string): string {
  const hex = wwpn
    .trim()
    .replace(/^0x/i, '')
    .replace(/[:\-\s]/g, '')
    .toLowerCase();
  if (!/^[0-9a-f]{16}$/.test(hex))
    throw new HvsnapError('input_invalid', `"${wwpn}" is not a Fibre Channel WWPN (8 bytes in hex)`, { context: { field: 'wwns' } });
  return hex;
}

/**
 * A WWPN in a vendor's spelling:
 * - `colon-lower` `10:00:00:00:c9:12:34:56` — ONTAP igroup initiators (ontap-9.7.yaml `igroup_initiator.name`
 *   examples; NetApp/trident utils/fcp/fcp.go), PowerStore FC `port_name` (openstack/cinder
 *   cinder/volume/drivers/dell_emc/powerstore/utils.py builds colon-separated lower case);
 * - `plain-upper` `10000000C9123456` — Pure `hosts.wwns` (openstack/cinder pure.py `_get_host` filters
 *   `wwns='<WWN upper>'`).
 */
export function formatWwpn(wwpn: string, style: 'colon-lower' | 'plain-upper' | 'plain-lower'): string {
  const hex = normalizeWwpn(wwpn);
  if (style === 'plain-upper') return hex.toUpperCase();
  if (style === 'plain-lower') return hex;
  return hex.match(/../g)!.join(':');
}

/** An iSCSI IQN compared the way arrays do: case-insensitively (RFC 3720 §3.2.6.1 names are lower-cased by stringprep). */
export function normalizeIqn(iqn: string): string {
  return iqn.trim().toLowerCase();
}
