/**
 * The proxy room's public entry (DESIGN.md, "Proxy"): the contract, the mount every
 * implementation returns, and the implementations, for the composition root (src/job) and
 * library users. Backup and restore use the contract types in `proxy.ts` only.
 */
export type { Proxy, Attachment, AttachedVolume, Mount, VolumeRoot, CopyDiskArgs, CopyDiskResult } from './proxy.js';
export { createMount } from './mount.js';
export { copyDisk } from './data-mover.js';
export { createLocalProxy, type LocalProxyOptions } from './local/index.js';
export { createLinuxProxy, linuxProxyConfigSchema } from './linux/index.js';
export { createWindowsProxy, windowsProxyConfigSchema } from './windows/index.js';
