import type { RawResponse } from '../sdk/auth.js';
import type { ProviderErrorKind } from '../sdk/errors.js';
import type { VendorError } from '../sdk/http-client.js';

/** PowerStore error body `{messages:[{code, severity, message_l10n, arguments}]}`. */
export interface PowerstoreErrorBody {
  messages?: Array<{ code?: string; severity?: string; message_l10n?: string }>;
}

/** PowerStore codes seen in the sources (array-apis.md §3.5). */
export const PowerstoreCode: Record<string, ProviderErrorKind> = {
  '0xE0A07001000C': 'not_found', // volume not found
  '0xE0A08001000F': 'not_found', // volume not mapped (detach): the goal is reached
  '0xE0A040010003': 'limit_exceeded', // too many snapshots in the volume family
  '0xE0A0B0010010': 'wrong_state', // the volume is already in a volume group (one group per volume)
};

/** Maps a failed PowerStore response to a portable kind. */
export function powerstoreError(res: RawResponse): VendorError {
  const first = (res.data as PowerstoreErrorBody | undefined)?.messages?.[0];
  const code = first?.code;
  const text = first?.message_l10n;
  let kind = code ? Object.entries(PowerstoreCode).find(([c]) => c.toLowerCase() === code.toLowerCase())?.[1] : undefined;
  if (!kind && text && /already (exists|in use)|is not unique|name .* exists/i.test(text)) kind = 'already_exists';
  return { kind, message: text ? `${text}${code ? ` (${code})` : ''}` : undefined, vendorCode: code };
}
