import { join } from 'node:path';
import { HvsnapError } from '../core/errors.js';
import type { VolumeLocation } from '../core/types.js';
import type { Attachment } from '../../proxy/proxy.js';

/** Where a host file of a snapshotted volume is on the proxy: the volume's mount plus the same relative path. */
export function mapToMount(attachment: Attachment, loc: VolumeLocation, hostPath: string): string {
  const vol = attachment.volumes.find((v) => v.sourceIdentity.id.toLowerCase() === loc.identity.id.toLowerCase());
  if (!vol) {
    throw new HvsnapError('proxy_failed', `the proxy has no mount of volume ${loc.volumeRoot} (${loc.identity.kind}.${loc.identity.id}) needed for ${hostPath}`, {
      context: { volume: loc.volumeRoot, path: hostPath },
    });
  }
  return join(vol.mountPath, ...loc.relativePath.split('/'));
}
