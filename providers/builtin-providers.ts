import type { ProviderDefinition } from './sdk/define-provider.js';
import { labProvider } from './lab/index.js';
import { pureProvider } from './pure/index.js';
import { ontapProvider } from './ontap/index.js';
import { powerstoreProvider } from './powerstore/index.js';

/**
 * The providers shipped with hvsnap, by name, all loaded (for the library's users). hvsnap itself
 * finds a job's provider through providers/index.ts `builtinProviderLoaders`, which imports one.
 */
export const builtinProviders: Readonly<Record<string, ProviderDefinition<unknown>>> = Object.freeze({
  lab: labProvider,
  pure: pureProvider,
  ontap: ontapProvider,
  powerstore: powerstoreProvider,
});
