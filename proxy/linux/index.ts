export { createLinuxProxy, type LinuxProxyDeps } from './linux-proxy.js';
export { linuxProxyConfigSchema, type LinuxProxyConfig, type LinuxProxyConfigInput } from './config.js';
export { createExecRunner, type CommandRunner, type CommandOutput } from './command-runner.js';
export { createByIdDiscovery, byIdCandidates, type DeviceDiscovery } from './device-discovery.js';
export { pickDataPartition, GPT_BASIC_DATA, type DataPartition } from './partition-table.js';
export type { AttachState, VolumeState } from './attach-state.js';
export { createImageFileDiscovery } from './image-discovery.js';
