import { HvsnapError } from '../core/errors.js';
import { openVhdx } from './open-vhdx.js';
import type { ParentResolver } from './parent.js';
import { isAllZero } from '../core/zero.js';

const STEP = 4 * 1024 * 1024;

/**
 * Merges a differencing disk into its parent (what Hyper-V does when a checkpoint is deleted): every
 * range the child defines (data, or zeros for ZERO/UNMAPPED/UNDEFINED blocks) is written into the
 * parent, which gets a new DataWriteGuid. The child is left as it was (now stale: its parent_linkage no
 * longer matches); the caller deletes it. Returns the parent's path and the bytes written into it.
 */
export async function mergeVhdx(childPath: string, opts: { resolveParent?: ParentResolver } = {}): Promise<{ parentPath: string; bytesMerged: number }> {
  const child = await openVhdx(childPath, opts.resolveParent ? { resolveParent: opts.resolveParent } : {});
  try {
    const parentPath = child.parentPath;
    if (!parentPath)
      throw new HvsnapError('input_invalid', `${childPath} is not a differencing disk: nothing to merge`, {
        context: { file: childPath, structure: 'parent', offset: 0 },
      });
    const parent = await openVhdx(parentPath, { writable: true, ...(opts.resolveParent ? { resolveParent: opts.resolveParent } : {}) });
    let bytesMerged = 0;
    try {
      for await (const r of child.ownRanges()) {
        for (let at = 0; at < r.length; at += STEP) {
          const n = Math.min(STEP, r.length - at);
          const data = r.zero ? Buffer.alloc(n) : await child.read(r.offset + at, n);
          // zero ranges over a parent that already reads zeros need no write (and no allocation)
          if (r.zero && isAllZero(await parent.read(r.offset + at, n))) continue;
          await parent.write(r.offset + at, data);
          bytesMerged += n;
        }
      }
      await parent.flush();
    } finally {
      await parent.close();
    }
    return { parentPath, bytesMerged };
  } finally {
    await child.close();
  }
}
