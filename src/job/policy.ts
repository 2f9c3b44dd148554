import type { BackupPolicy } from '../backup/types.js';
import type { JobConfig } from './config.js';

/** The backup policy a configuration asks for (unset fields keep the library's defaults). */
export function policyFromConfig(config: JobConfig, forceFull: boolean): Partial<BackupPolicy> {
  const p = config.policy;
  return {
    ...(p.mode && { mode: p.mode }),
    ...(p.consistency && { consistency: p.consistency }),
    ...(p.allowCrashConsistent !== undefined && { allowCrashConsistent: p.allowCrashConsistent }),
    ...(p.checkpointConcurrency && { checkpointConcurrency: p.checkpointConcurrency }),
    ...(p.copyConcurrency && { copyConcurrency: p.copyConcurrency }),
    ...(p.readConcurrency && { readConcurrency: p.readConcurrency }),
    ...(p.throttleMBps && { throttleBytesPerSec: p.throttleMBps * 1e6 }),
    ...(p.hostFallback !== undefined && { hostFallback: p.hostFallback }),
    ...(p.hostReadMBps && { hostReadBytesPerSec: p.hostReadMBps * 1e6 }),
    ...(config.proxy.keepHost !== undefined && { keepHosts: config.proxy.keepHost }),
    forceFull: forceFull || !!p.forceFull,
  };
}
