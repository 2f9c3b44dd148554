export type { Hypervisor } from './hypervisor.js';
export { WmiHypervisor, type WmiHypervisorOptions, type WmiNode } from './wmi-hypervisor.js';
export {
  wmiHypervisorConfigSchema,
  wmiNodeSchema,
  createWmiHypervisor,
  createWmiNodes,
  parseWmiHypervisorConfig,
  type WmiHypervisorConfig,
  type WmiDeps,
} from './config.js';
export { checkResult, RUNNING_JOB_STATES, SUCCESS_JOB_STATES } from './wmi-errors.js';
export { asArray } from './wmi-shapes.js';
export type * from './wmi-shapes.js';
export { slotKey, normalizeGuid, supportsRct, toVolumeLocation, normalizeRanges, type WmiFrozenDisk } from './wmi-mapping.js';
export { loadScript, scriptsDir, packageRoot, SCRIPT_NAMES, type ScriptName } from './script-loader.js';
export { checkHyperVHost, type HostCheck } from './check-host.js';
