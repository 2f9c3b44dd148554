import type { RawResponse } from '../sdk/auth.js';
import type { ProviderErrorKind } from '../sdk/errors.js';
import type { VendorError } from '../sdk/http-client.js';

/** ONTAP error body `{error:{message, code, target, arguments}}`; `code` is a string. */
export interface OntapErrorBody {
  error?: { message?: string; code?: string; target?: string };
}

/** ONTAP error codes seen in the sources (array-apis.md §2.7) and their portable kinds. */
export const OntapCode: Record<string, ProviderErrorKind> = {
  '1': 'already_exists', // duplicate entry
  '2': 'invalid',
  '3': 'unsupported', // API not found
  '4': 'not_found', // entry doesn't exist
  '6': 'auth',
  '655446': 'invalid',
  '5374922': 'not_found', // LUN map does not exist
  '53411921': 'already_exists', // CG snapshot exists
  '524486': 'busy', // volume busy
  '917534': 'invalid', // size too small
  '1638555': 'busy', // snapshot locked / not expired
  '917505': 'already_exists', // duplicate volume name (fake-ontap; code UNCONFIRMED)
};

/** Maps a failed ONTAP response (or a failed job's `{code, message}`) to a portable kind. */
export function ontapError(res: RawResponse): VendorError {
  const e = (res.data as OntapErrorBody | undefined)?.error;
  return fromCode(e?.code, e?.message, res.status);
}

/** Kind from an ONTAP code, falling back to the HTTP status when the code is unknown. */
export function fromCode(code: string | number | undefined, message: string | undefined, status?: number): VendorError {
  const c = code === undefined ? undefined : String(code);
  const kind = (c ? OntapCode[c] : undefined) ?? (status === 404 ? 'not_found' : status === 409 ? 'already_exists' : undefined);
  return { kind, message: message ? `${message}${c ? ` (ONTAP code ${c})` : ''}` : undefined, vendorCode: c };
}
