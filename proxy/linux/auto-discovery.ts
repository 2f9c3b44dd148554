import type { DeviceDiscovery } from './device-discovery.js';

/**
 * Discovery chosen by the presentation itself, so the proxy needs no per-array configuration: a LUN
 * the array gives as a local image path (the lab array's `folder` target) is bound to a loop device;
 * any other is found by its identity in /dev/disk/by-id after the rescan logs in to the target the
 * presentation names (iSCSI portals and IQNs; FC and NVMe by rescan). Release goes to whichever
 * made the device.
 */
export function createAutoDiscovery(parts: { byId: DeviceDiscovery; imageFile: DeviceDiscovery }): DeviceDiscovery {
  const { byId, imageFile } = parts;
  return {
    async rescan(args, opts) {
      if (args.target?.transport === 'folder') return imageFile.rescan(args, opts);
      return byId.rescan(args, opts);
    },
    async locate(args, opts) {
      return args.lun.path ? imageFile.locate(args, opts) : byId.locate(args, opts);
    },
    async release(args, opts) {
      return /^\/dev\/loop\d+$/.test(args.device) ? imageFile.release(args, opts) : byId.release(args, opts);
    },
  };
}
