import { pathToFileURL } from 'node:url';
import { isAbsolute, resolve } from 'node:path';
import { HvsnapError, isHvsnapError } from '../src/core/errors.js';
import { configError } from '../src/core/config-error.js';
import type { Logger } from '../src/core/logger.js';
import type { ProviderDefinition } from './sdk/define-provider.js';
import { guardProvider, type GuardOptions } from './sdk/guard-provider.js';
import type { Provider } from './sdk/provider.js';
import { collectSecrets, redactingLogger } from './sdk/redact.js';

/**
 * The providers shipped with hvsnap, by name, each imported when it is asked for: a job loads its
 * own provider's driver only (the array drivers' HTTP client alone, axios, took 178 ms to import on
 * the bench machine). `builtinProviders` (builtin-providers.ts) holds them all, loaded.
 */
export const builtinProviderLoaders: Readonly<Record<string, () => Promise<ProviderDefinition<unknown>>>> = Object.freeze({
  lab: async () => (await import('./lab/index.js')).labProvider,
  pure: async () => (await import('./pure/index.js')).pureProvider,
  ontap: async () => (await import('./ontap/index.js')).ontapProvider,
  powerstore: async () => (await import('./powerstore/index.js')).powerstoreProvider,
});

/**
 * Finds a provider definition: a built-in by name, else a module — an npm package name (resolved
 * from hvsnap's own node_modules), a relative or absolute path, or a `file:` URL — whose default
 * export or `provider` export is a ProviderDefinition.
 * @throws HvsnapError `config_invalid` naming the provider (and the config file) when it cannot be loaded.
 */
export async function findProviderDefinition(provider: string, configFile?: string): Promise<ProviderDefinition<unknown>> {
  const builtin = Object.hasOwn(builtinProviderLoaders, provider) ? builtinProviderLoaders[provider] : undefined;
  if (builtin) return builtin();
  const where = configFile ? ` (config file ${configFile})` : '';
  let specifier = provider;
  if (provider.startsWith('.') || isAbsolute(provider)) {
    const base = configFile ? resolve(configFile, '..') : process.cwd();
    specifier = pathToFileURL(resolve(base, provider)).href;
  }
  let mod: Record<string, unknown>;
  try {
    mod = (await import(specifier)) as Record<string, unknown>;
  } catch (e) {
    throw new HvsnapError(
      'config_invalid',
      `provider "${provider}" is neither built in (${Object.keys(builtinProviderLoaders).join(', ')}) nor a module that can be imported${where}: ${(e as Error).message}`,
      {
        context: { field: 'provider', file: configFile, provider },
        cause: e,
        hint: `install it next to hvsnap (npm install ${provider}) or give a path to its module`,
      },
    );
  }
  const def = [mod.default, mod.provider].find(isDefinition);
  if (!def) {
    throw new HvsnapError(
      'config_invalid',
      `module "${provider}"${where} has no default or "provider" export that is a ProviderDefinition (name, configSchema, create)`,
      {
        context: { field: 'provider', file: configFile, provider },
      },
    );
  }
  return def;
}

function isDefinition(x: unknown): x is ProviderDefinition<unknown> {
  const d = x as ProviderDefinition<unknown> | undefined;
  return !!d && typeof d.name === 'string' && typeof d.create === 'function' && typeof (d.configSchema as { safeParse?: unknown })?.safeParse === 'function';
}

/**
 * Loads a provider: finds its definition ({@link findProviderDefinition}), validates `config` with
 * the definition's zod schema without any I/O (errors name the field and the config file), creates
 * it, and wraps it in the runtime guard ({@link guardProvider}). Call `probe()` next to check the
 * live array, and `close()` when done.
 */
export async function loadProvider(args: {
  provider: string;
  config: unknown;
  logger: Logger;
  configFile?: string;
  /** guard settings (per-call timeouts) */
  guard?: Omit<GuardOptions, 'logger' | 'secrets'>;
}): Promise<Provider> {
  const def = await findProviderDefinition(args.provider, args.configFile);
  const parsed = def.configSchema.safeParse(args.config ?? {});
  const where = args.configFile ? ` in ${args.configFile}` : '';
  if (!parsed.success) throw configError(parsed.error, { what: `provider "${def.name}" config`, file: args.configFile, context: { provider: def.name } });
  const secrets = collectSecrets(args.config);
  let inner: Provider;
  try {
    // the provider's own log lines pass through redaction of its config secrets too
    inner = await def.create(parsed.data, { logger: redactingLogger(args.logger.child({ provider: def.name }), () => secrets) });
  } catch (e) {
    if (isHvsnapError(e)) throw e.withContext({ provider: def.name, file: args.configFile });
    throw new HvsnapError('config_invalid', `provider "${def.name}" could not be created${where}: ${(e as Error).message}`, {
      context: { provider: def.name, file: args.configFile },
    });
  }
  return guardProvider(inner, { ...args.guard, logger: args.logger, secrets });
}
