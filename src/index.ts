/**
 * hvsnap as a library: the seams, the backup and restore functions, the lab, the repository.
 * Vendors writing a provider import `hvsnap/sdk` and `hvsnap/conformance` instead.
 */
export * from './core/index.js';
export type { Hypervisor } from './hyperv/hypervisor.js';
export type { Shell, ShellRunArgs, ShellCallOptions } from './transport/shell.js';
export { runBackup, newJobId, HVSNAP_TAG } from './backup/backup-job.js';
export { runBatch, batchSpecSchema, selectVms, type BatchSpec, type BatchReport } from './backup/batch.js';
export { cleanupLeftovers, type CleanupReport } from './backup/cleanup.js';
export { planBackup, type BackupPlan, type VolumeSet } from './backup/plan.js';
export { InProcessQueue, type WorkQueue } from './backup/work-queue.js';
export type * from './backup/types.js';
export { restoreVm, type RestoreVmArgs, type RestoreVmResult } from './restore/restore-vm.js';
export { restoreDisk, verifyDiskAgainstIndex, type RestoreDiskArgs, type RestoreDiskResult } from './restore/restore-disk.js';
export { openRepository, Repository } from './repository/index.js';
export * as vhdx from './vhdx/index.js';
export * as lab from './lab/index.js';
export { runDemo, type DemoArgs, type DemoResult } from './demo/run-demo.js';
export * from './job/index.js';
export type { Provider, ProviderCapabilities, SnapshotSet, Presentation, PresentedLun, ProxyHost } from '../providers/sdk/provider.js';
export { loadProvider, builtinProviderLoaders } from '../providers/index.js';
export { builtinProviders } from '../providers/builtin-providers.js';
export {
  createLocalProxy,
  createLinuxProxy,
  createWindowsProxy,
  createMount,
  copyDisk,
  type Proxy,
  type Attachment,
  type AttachedVolume,
  type Mount,
  type VolumeRoot,
  type CopyDiskArgs,
  type CopyDiskResult,
} from '../proxy/index.js';
