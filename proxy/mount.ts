import { copyDisk } from './data-mover.js';
import { LOCAL_PATH_STYLE, mapSourcePath, mapVolumePath } from './mount-map.js';
import type { Attachment, Mount, VolumeRoot } from './proxy.js';

/** A Mount's `tryResolve` from its `resolve`: the path, or undefined where `resolve` throws. */
export function tryResolveOf(resolve: (hostPath: string) => string): (hostPath: string) => string | undefined {
  return (hostPath) => {
    try {
      return resolve(hostPath);
    } catch {
      return undefined;
    }
  };
}

/**
 * The {@link Mount} of an attachment: host paths are mapped through the longest matching volume
 * root to the attached volume's mount path, in this machine's path style (the data mover runs
 * here, on the proxy).
 */
export function createMount(attachment: Attachment, volumes: readonly VolumeRoot[] = []): Mount {
  const resolve = (hostPath: string) => mapSourcePath({ attachment, volumes, sourcePath: hostPath, style: LOCAL_PATH_STYLE });
  const tryResolve = tryResolveOf(resolve);
  return {
    ...attachment,
    resolve,
    tryResolve,
    resolveOnVolume: (identity, relativePath) => mapVolumePath({ attachment, identity, relativePath, style: LOCAL_PATH_STYLE }),
    copyDisk: ({ hostPath, ...args }) => copyDisk({ ...args, file: resolve(hostPath), resolveParent: tryResolve }),
  };
}
