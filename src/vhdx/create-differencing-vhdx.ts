import { dirname, relative, resolve } from 'node:path';
import { PARENT_LOCATOR_TYPE_VHDX } from './constants.js';
import { writeNewVhdx } from './create-vhdx.js';
import { planLayout } from './layout.js';
import { openVhdx } from './open-vhdx.js';
import type { ParentResolver } from './parent.js';

/** Options of {@link createDifferencingVhdx}. Sizes in bytes. */
export interface CreateDifferencingVhdxOptions {
  /** the parent as a local path (opened read-only to take its size, sectors and DataWriteGuid) */
  parentPath: string;
  /** the parent's path as the Hyper-V host sees it (e.g. `C:\ClusterStorage\Volume1\vm\disk.vhdx`): stored as absolute_win32_path */
  parentHostPath?: string;
  /** the parent's `\\?\Volume{GUID}\...` path, stored as volume_path */
  parentVolumePath?: string;
  /** payload block size; default the parent's */
  blockSize?: number;
  /** default the parent's virtual disk id (a child is the same disk) */
  virtualDiskId?: string;
  /** resolves the parent's own parent when the parent is itself a differencing disk */
  resolveParent?: ParentResolver;
}

/**
 * Creates a differencing VHDX whose every block reads through to `parentPath`. The locator carries
 * parent_linkage = the parent's current DataWriteGuid and relative_path (from the child's folder, `\`
 * separators), plus absolute_win32_path / volume_path when given, so Hyper-V and 7-Zip find the parent
 * without hvsnap. Replaces any file at `path`; fsyncs it.
 */
export async function createDifferencingVhdx(path: string, opts: CreateDifferencingVhdxOptions): Promise<void> {
  const parent = await openVhdx(opts.parentPath, opts.resolveParent ? { resolveParent: opts.resolveParent } : {});
  let identity: { virtualSize: number; blockSize: number; lss: 512 | 4096; pss: 512 | 4096; id: string; dwg: string };
  try {
    identity = {
      virtualSize: parent.virtualSize,
      blockSize: parent.blockSize,
      lss: parent.logicalSectorSize as 512 | 4096,
      pss: parent.physicalSectorSize as 512 | 4096,
      id: parent.virtualDiskId,
      dwg: parent.dataWriteGuid,
    };
  } finally {
    await parent.close();
  }
  const rel = relative(dirname(resolve(path)), resolve(opts.parentPath))
    .split('/')
    .join('\\');
  const entries: Record<string, string> = { parent_linkage: `{${identity.dwg}}`, relative_path: rel };
  if (opts.parentVolumePath) entries.volume_path = opts.parentVolumePath;
  if (opts.parentHostPath) entries.absolute_win32_path = opts.parentHostPath.startsWith('\\\\') ? opts.parentHostPath : `\\\\?\\${opts.parentHostPath}`;
  const layout = planLayout(
    {
      virtualSize: identity.virtualSize,
      blockSize: opts.blockSize ?? identity.blockSize,
      logicalSectorSize: identity.lss,
      physicalSectorSize: identity.pss,
      virtualDiskId: opts.virtualDiskId ?? identity.id,
    },
    { locatorType: PARENT_LOCATOR_TYPE_VHDX, entries },
  );
  await writeNewVhdx(path, layout);
}
