import type { z } from 'zod';
import { HvsnapError, type ErrorContext } from './errors.js';

/** Where a configuration came from, for {@link configError}'s message and context. */
export interface ConfigSource {
  /** the file the configuration was read from */
  file?: string;
  /** what the configuration is, when it is a part of a file (`provider "pure" config`) */
  what?: string;
  /** the path of the checked object inside the file (`proxy.config`); field names start with it */
  prefix?: string;
  /** more context for the error (e.g. `provider`) */
  context?: ErrorContext;
}

/**
 * The one formatter of zod errors: an `config_invalid` HvsnapError whose message names where the
 * configuration came from and every problem as `field.path: message` (`a, b: unknown key(s)` for
 * keys the schema does not allow), and whose context names the file and the first bad field.
 */
export function configError(error: z.ZodError, source: ConfigSource = {}): HvsnapError {
  const path = (p: readonly PropertyKey[]) => [source.prefix, ...p.map(String)].filter((x) => x !== undefined && x !== '').join('.');
  const problems = error.issues.map((i) => {
    const at = path(i.path);
    if (i.code === 'unrecognized_keys') return `${i.keys.map((k) => (at ? `${at}.${k}` : k)).join(', ')}: unknown key(s)`;
    return `${at || '(top level)'}: ${i.message}`;
  });
  const first = error.issues[0];
  const field = first ? path([...first.path, ...(first.code === 'unrecognized_keys' ? [first.keys[0]] : [])]) || undefined : undefined;
  const heading = source.what ? `${source.what}${source.file ? ` in ${source.file}` : ''}` : (source.file ?? 'configuration');
  return new HvsnapError('config_invalid', `${heading}: ${problems.join('; ')}`, { context: { ...source.context, file: source.file, field } });
}
