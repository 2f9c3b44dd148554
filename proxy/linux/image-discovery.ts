import { HvsnapError } from '../../src/core/errors.js';
import type { CommandRunner } from './command-runner.js';
import type { DeviceDiscovery } from './device-discovery.js';

/**
 * Discovery for arrays whose presented LUN is a disk image file on this machine (the lab array's
 * `ntfs-image` presentations): the LUN's `path` is bound read-only to a loop device. Release
 * detaches only a loop device still backed by a presented image, never someone else's.
 */
export function createImageFileDiscovery(deps: { runner: CommandRunner }): DeviceDiscovery {
  const { runner } = deps;
  const backingFile = async (device: string): Promise<string | undefined> => {
    try {
      return (await runner.run({ command: 'losetup', args: ['-n', '-O', 'BACK-FILE', device] })).stdout.trim() || undefined;
    } catch {
      return undefined; // not bound (any more)
    }
  };
  return {
    async rescan() {},
    async locate({ lun }, opts) {
      if (!lun.path) {
        throw new HvsnapError(
          'proxy_failed',
          `presented LUN ${lun.identity.id} has no image path; the image-file discovery serves image presentations only (use discovery.mode "by-id")`,
          {
            context: { volume: lun.identity.id, step: 'locate' },
          },
        );
      }
      return (await runner.run({ command: 'losetup', args: ['-r', '-f', '--show', '-P', lun.path] }, opts)).stdout.trim();
    },
    async release({ device }) {
      if (!/^\/dev\/loop\d+$/.test(device)) return;
      const file = await backingFile(device);
      if (file && /\/presentations\/.+\.img( \(deleted\))?$/.test(file)) await runner.run({ command: 'losetup', args: ['-d', device] });
    },
  };
}
