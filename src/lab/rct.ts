import { HvsnapError } from '../core/errors.js';
import { mergeRanges } from '../core/ranges.js';
import type { ByteRange } from '../core/types.js';
import type { LabRct } from './lab-state.js';

/** `rctX:<guid with ':' separators>:<8 hex digit sequence>`, the form Hyper-V uses. */
export function formatRctId(epoch: string, generation: number): string {
  return `rctX:${epoch.replace(/-/g, ':')}:${generation.toString(16).padStart(8, '0')}`;
}

export function parseRctId(id: string): { epoch: string; generation: number } | undefined {
  const m = /^rctX:([0-9a-f]{8}):([0-9a-f]{4}):([0-9a-f]{4}):([0-9a-f]{4}):([0-9a-f]{12}):([0-9a-f]{8})$/i.exec(id);
  if (!m) return undefined;
  return { epoch: [m[1], m[2], m[3], m[4], m[5]].join('-').toLowerCase(), generation: parseInt(m[6], 16) };
}

/** Records a write at the disk's current generation. */
export function recordChange(rct: LabRct, range: ByteRange): void {
  let bucket = rct.changes.find((c) => c.generation === rct.generation);
  if (!bucket) rct.changes.push((bucket = { generation: rct.generation, ranges: [] }));
  bucket.ranges.push(range);
  if (bucket.ranges.length > 256) bucket.ranges = mergeRanges(bucket.ranges);
}

/**
 * Ranges changed after the reference point `sinceId` up to the frozen generation. An id of another
 * epoch, or one the tracking never issued, is `rct_invalid`: never an empty answer.
 */
export function changesSince(rct: LabRct, sinceId: string, frozenGeneration: number, where: { vm: string; disk: string }): ByteRange[] {
  const parsed = parseRctId(sinceId);
  if (!parsed || parsed.epoch !== rct.epoch || parsed.generation > frozenGeneration || parsed.generation < 1) {
    throw new HvsnapError('rct_invalid', `RCT id ${sinceId} is not valid for disk ${where.disk} of VM ${where.vm} (unknown id, or change tracking was reset)`, {
      context: { vm: where.vm, disk: where.disk },
      hint: 'the next backup of this disk must be a full one',
    });
  }
  return mergeRanges(rct.changes.filter((c) => c.generation > parsed.generation && c.generation <= frozenGeneration).flatMap((c) => c.ranges));
}

/** Forgets changes no reference point can ask for any more (all older than the oldest live one). */
export function compactChanges(rct: LabRct, oldestLiveGeneration: number | undefined): void {
  const floor = oldestLiveGeneration ?? rct.generation - 1;
  rct.changes = rct.changes.filter((c) => c.generation > floor);
}
