import { describe, expect, it } from 'vitest';
import { isHvsnapError } from '../../src/core/errors.js';
import type { Attachment } from '../../proxy/proxy.js';
import { mapSourcePath, mapVolumePath, normalizeIdentityId, relativeToVolumeRoot, sameIdentity } from '../../proxy/mount-map.js';

const v1 = { kind: 'naa' as const, id: '600a0980383030523424457a4a695a00' };
const v2 = { kind: 'naa' as const, id: '600a0980383030523424457a4a695a01', serial: 'PURE123' };
const attachment: Attachment = {
  presentationName: 'p1',
  volumes: [
    { sourceIdentity: v1, mountPath: '/run/hvsnap/mounts/p1/naa-1' },
    { sourceIdentity: v2, mountPath: 'C:\\ProgramData\\hvsnap\\mounts\\p1\\2' },
  ],
};

describe('mount-map', () => {
  it('normalises identity ids and compares identities', () => {
    expect(normalizeIdentityId('naa.600A0980-3830-3052')).toBe('600a098038303052');
    expect(normalizeIdentityId('wwn-0x600A09')).toBe('600a09');
    expect(sameIdentity(v1, { kind: 'naa', id: 'NAA.600A0980383030523424457A4A695A00' })).toBe(true);
    expect(sameIdentity(v1, v2)).toBe(false);
    expect(sameIdentity(v2, { kind: 'serial', id: 'pure123' })).toBe(true);
  });

  it('finds the relative path below a volume root, Windows-style', () => {
    expect(relativeToVolumeRoot('C:\\ClusterStorage\\Volume1\\VMs\\a.vhdx', 'c:\\clusterstorage\\volume1\\')).toBe('VMs/a.vhdx');
    expect(relativeToVolumeRoot('C:\\ClusterStorage\\Volume10\\a.vhdx', 'C:\\ClusterStorage\\Volume1')).toBeUndefined();
    expect(() => relativeToVolumeRoot('C:\\ClusterStorage\\Volume1\\..\\Volume2\\a.vhdx', 'C:\\ClusterStorage\\Volume1')).toThrow(/climbs out/);
  });

  it('maps a source path through the longest root to the mount of its volume', () => {
    const volumes = [
      { identity: v1, volumeRoot: 'C:\\ClusterStorage\\Volume1' },
      { identity: v2, volumeRoot: 'C:\\ClusterStorage\\Volume1\\Nested' },
    ];
    expect(mapSourcePath({ attachment, volumes, sourcePath: 'C:\\ClusterStorage\\Volume1\\VMs\\vm1\\d.vhdx' })).toBe(
      '/run/hvsnap/mounts/p1/naa-1/VMs/vm1/d.vhdx',
    );
    expect(mapSourcePath({ attachment, volumes, sourcePath: 'C:\\ClusterStorage\\Volume1\\Nested\\d.vhdx', style: 'win32' })).toBe(
      'C:\\ProgramData\\hvsnap\\mounts\\p1\\2\\d.vhdx',
    );
    const err = (() => {
      try {
        mapSourcePath({ attachment, volumes, sourcePath: 'D:\\VMs\\d.vhdx' });
      } catch (e) {
        return e;
      }
    })();
    expect(isHvsnapError(err) && err.code).toBe('not_found');
    expect((err as Error).message).toMatch(/D:\\VMs\\d\.vhdx is on none of the volumes/);
  });

  it('refuses a volume that is not attached, naming it', () => {
    expect(() => mapVolumePath({ attachment, identity: { kind: 'naa', id: 'ffff' }, relativePath: 'a' })).toThrow(/naa:ffff is not part of attachment p1/);
    expect(mapVolumePath({ attachment, identity: v1, relativePath: 'VMs/x.vhdx' })).toBe('/run/hvsnap/mounts/p1/naa-1/VMs/x.vhdx');
  });
});
