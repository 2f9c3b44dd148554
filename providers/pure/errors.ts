import type { RawResponse } from '../sdk/auth.js';
import type { VendorError } from '../sdk/http-client.js';
import type { ProviderErrorKind } from '../sdk/errors.js';

/** Pure REST 2.x error body: `{errors:[{context, message, location_context}]}`. */
export interface PureErrorBody {
  errors?: Array<{ context?: string; message?: string; location_context?: string }>;
}

// The message substrings Cinder's Pure driver keys on (ERR_MSG_*), mapped to portable kinds.
const RULES: Array<[RegExp, ProviderErrorKind]> = [
  [/does not exist|could not be found|no such volume or snapshot|has been destroyed/i, 'not_found'],
  [/already exists|already includes|already allowed on|already belongs to/i, 'already_exists'],
  [/cannot be deleted due to existing connections|already in use/i, 'busy'],
  [/limit reached/i, 'limit_exceeded'],
  // SafeMode forbids eradication and manual destruction of protected snapshots (pure.py `pure_safemode_enabled` help text)
  [/safemode|eradication is disabled/i, 'wrong_state'],
  [/insufficient space|out of space|no space/i, 'no_space'],
];

/** Maps a failed Pure response to a portable kind and the array's own message. */
export function pureError(res: RawResponse): VendorError {
  const first = (res.data as PureErrorBody | undefined)?.errors?.[0];
  const message = first?.message ? `${first.message}${first.context ? ` (${first.context})` : ''}` : undefined;
  if (res.status === 429) return { kind: 'rate_limited', message };
  if (res.status === 401 || res.status === 403) return { kind: 'auth', message };
  const rule = message ? RULES.find(([re]) => re.test(first!.message!)) : undefined;
  return { kind: rule?.[1], message };
}
