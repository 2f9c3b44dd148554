export { createWindowsProxy, type WindowsProxyDeps } from './windows-proxy.js';
export { windowsProxyConfigSchema, ALLOWABLE_OFFLINE_REASONS, type WindowsProxyConfig, type WindowsProxyConfigInput } from './config.js';
export {
  checkDiskOnTarget,
  checkDiskUsable,
  diskMatches,
  offlineReason,
  partitionStyle,
  pickWindowsPartition,
  type OfflineReason,
  type WindowsDisk,
  type WindowsPartition,
} from './disk-policy.js';
export { loadWindowsScript, windowsScriptsDir, type WindowsProxyScript } from './scripts.js';
