import { access, constants, mkdir, readlink, rm, stat, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HvsnapError, throwIfAborted } from '../../src/core/errors.js';
import type { Logger } from '../../src/core/logger.js';
import { silentLogger } from '../../src/core/logger.js';
import type { CallOptions } from '../../src/core/types.js';
import type { Presentation } from '../../providers/sdk/provider.js';
import { safeName } from '../mount-map.js';
import { createMount } from '../mount.js';
import type { AttachedVolume, Mount, Proxy, VolumeRoot } from '../proxy.js';

export interface LocalProxyOptions {
  logger?: Logger;
  /** where presented folders are "mounted" (as links): `<mountRoot>/<presentation>/<n>`; default under the temp folder */
  mountRoot?: string;
  /** operations that fail, for tests */
  failOn?: Array<'attach' | 'detach'>;
}

/**
 * The proxy for arrays whose presented images are local folders (the lab array): attach checks
 * each presented folder and links it at `<mountRoot>/<presentation>/<n>`, the volume's mount as
 * the data mover sees it; detach removes the links. Nothing is written to the presented folders.
 */
export function createLocalProxy(opts: LocalProxyOptions = {}): Proxy {
  const logger = opts.logger ?? silentLogger;
  const mountRoot = opts.mountRoot ?? join(tmpdir(), 'hvsnap-local-mounts');
  const fault = (op: 'attach' | 'detach') => {
    if (opts.failOn?.includes(op)) throw new HvsnapError('proxy_failed', `injected local proxy fault in ${op}`, { context: { injected: true } });
  };
  const dirOf = (presentationName: string) => join(mountRoot, safeName(presentationName));

  return {
    kind: 'local',
    async attach(args: { presentation: Presentation; volumes?: readonly VolumeRoot[] }, callOpts?: CallOptions): Promise<Mount> {
      throwIfAborted(callOpts?.signal);
      fault('attach');
      const p = args.presentation;
      if (p.luns.length === 0) throw new HvsnapError('input_invalid', `presentation ${p.name} has no LUNs to attach`, { context: { field: 'luns' } });
      const dir = dirOf(p.name);
      await mkdir(dir, { recursive: true });
      const volumes: AttachedVolume[] = [];
      try {
        for (const [i, lun] of p.luns.entries()) {
          if (!lun.path) {
            throw new HvsnapError(
              'proxy_failed',
              `presentation ${p.name}: LUN ${lun.identity.id} is not a local folder; the local proxy only attaches lab presentations (use the linux or windows proxy)`,
              {
                context: { volume: lun.volumeId },
              },
            );
          }
          try {
            if (!(await stat(lun.path)).isDirectory()) throw new Error('not a folder');
            await access(lun.path, constants.R_OK);
          } catch (e) {
            throw new HvsnapError('proxy_failed', `presented folder ${lun.path} of volume ${lun.volumeId} cannot be read`, {
              cause: e,
              context: { volume: lun.volumeId, path: lun.path },
            });
          }
          const mountPath = join(dir, String(i + 1));
          // idempotent: an existing link to the same folder is this attach already done
          const current = await readlink(mountPath).catch(() => undefined);
          if (current !== lun.path) {
            await rm(mountPath, { force: true });
            await symlink(lun.path, mountPath, 'dir');
          }
          volumes.push({ sourceIdentity: lun.sourceIdentity, mountPath, handle: { lun: lun.lun ?? i + 1 } });
        }
      } catch (e) {
        await rm(dir, { recursive: true, force: true });
        throw e;
      }
      logger.debug({ presentation: p.name, volumes: volumes.length }, 'local proxy: attached');
      return createMount({ presentationName: p.name, volumes }, args.volumes);
    },
    async detach(args, callOpts?: CallOptions): Promise<void> {
      throwIfAborted(callOpts?.signal);
      fault('detach');
      const name = 'attachment' in args ? args.attachment.presentationName : args.presentationName;
      // the links only: rm does not follow them into the presented folders
      await rm(dirOf(name), { recursive: true, force: true });
    },
  };
}
