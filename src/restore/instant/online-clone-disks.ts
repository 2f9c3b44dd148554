import { HvsnapError } from '../../core/errors.js';
import type { InstantStepName } from '../../backup/types.js';
import type { InstantHost } from '../../hyperv/instant-host.js';
import type { SnapshotDisk } from '../../repository/types.js';
import type { PresentedClone } from './array-access.js';
import { saveSession, type InstantSession } from './instant-sessions.js';

/**
 * Brings the clone's LUN of every volume of the disks online on the host, journaling each (the session
 * is saved before and after; `reached` runs after each, where a crash test may kill the process), and
 * returns where each disk of the restore point is on the clone.
 */
export async function onlineCloneDisks(
  host: InstantHost,
  clone: PresentedClone,
  disks: SnapshotDisk[],
  snapshotName: string,
  session: InstantSession,
  dir: string,
  reached: (step: InstantStepName) => Promise<void>,
  opts: { signal?: AbortSignal },
): Promise<Record<string, string>> {
  const roots = new Map<string, string>();
  for (const d of disks) {
    const wanted = d.volume.identity.id.toLowerCase();
    if (roots.has(wanted)) continue;
    const presented = clone.luns.find((l) => l.sourceIdentityId === wanted);
    if (!presented)
      throw new HvsnapError('not_found', `the clone of ${snapshotName} has no LUN of volume ${d.volume.volumeRoot} (disk ${d.sourcePath})`, {
        context: { volume: d.volume.volumeRoot, disk: d.diskId },
      });
    session.luns.push({ ...presented.lun });
    await saveSession(dir, session);
    const { volumeRoot } = await host.onlineDisk({ lun: presented.lun }, opts);
    session.luns[session.luns.length - 1].volumeRoot = volumeRoot;
    await saveSession(dir, session);
    await reached('online-disk');
    roots.set(wanted, volumeRoot);
  }
  return Object.fromEntries(disks.map((d) => [d.diskId, `${roots.get(d.volume.identity.id.toLowerCase())}\\${d.relativePath.split('/').join('\\')}`]));
}
