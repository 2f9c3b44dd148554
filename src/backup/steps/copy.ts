import { rangesBytes } from '../../core/ranges.js';
import type { DiskReport } from '../types.js';
import type { VmStep } from './step.js';

/**
 * Step 7: every disk of the VM read by the proxy's data mover out of the mounted snapshot (the
 * checkpoint's frozen base VHDX): in full, or only the chunks the changed ranges touch, with the
 * rest of the index taken from the previous restore point.
 */
export const copyStep: VmStep = {
  name: 'copy',
  scope: 'vm',
  slots: 'copy',
  async run(set, vm) {
    const { env, policy, options } = set;
    const hooks = options.hooks;
    for (const disk of vm.checkpoint!.disks) {
      const change = vm.changes[disk.diskId] ?? {};
      const previousIndex = change.ranges && vm.previous ? await env.repository.readIndex(vm.previous.id, disk.diskId) : undefined;
      const share = set.throttle?.enter();
      const diskName = disk.path.split(/[\\/]/).pop() ?? disk.diskId;
      const result = await (vm.mount ?? set.mount)!
        .copyDisk({
          hostPath: disk.path,
          repository: env.repository,
          changedRanges: previousIndex ? change.ranges : undefined,
          previous: previousIndex,
          expectedVirtualDiskId: disk.virtualDiskId,
          concurrency: policy.readConcurrency,
          throttleBytesPerSec: share ? share.rate : policy.throttleBytesPerSec,
          signal: set.signal,
          onProgress: (doneBytes, totalBytes) => options.onProgress?.({ vm: vm.vm.name, disk: disk.diskId, diskName, doneBytes, totalBytes }),
          afterChunk: hooks?.onChunk ? (index) => hooks.onChunk!({ vm: vm.vm.name, disk: disk.diskId, index }) : undefined,
        })
        .finally(() => share?.leave());
      const idx = await vm.writer!.writeIndex(disk.diskId, result.index);
      const rct = vm.referencePoint?.disks.find((d) => d.diskId === disk.diskId);
      const counts = { bytesRead: result.bytesRead, bytesWritten: result.bytesWritten, chunksNew: result.chunksNew, chunksReused: result.chunksReused };
      vm.disks.push({
        diskId: disk.diskId,
        virtualDiskId: result.virtualDiskId,
        sourcePath: disk.path,
        virtualSize: result.index.virtualSize,
        // the reference point's RCT id belongs to this disk only when it is the same VHDX
        rctId: rct?.virtualDiskId.toLowerCase() === disk.virtualDiskId.toLowerCase() ? rct.rctId : undefined,
        mode: result.mode,
        ...counts,
        indexSha256: idx.sha256,
      });
      const report: DiskReport = {
        diskId: disk.diskId,
        mode: result.mode,
        fullReason: result.mode === 'full' ? change.fullReason : undefined,
        virtualSize: result.index.virtualSize,
        changedBytes: change.ranges ? rangesBytes(change.ranges) : undefined,
        ...counts,
      };
      vm.report.disks.push(report);
      for (const k of ['bytesRead', 'bytesWritten', 'chunksNew', 'chunksReused'] as const) vm.report[k] += report[k];
    }
  },
};
