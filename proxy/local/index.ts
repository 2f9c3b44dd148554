import { access, constants, stat } from 'node:fs/promises';
import { HvsnapError, throwIfAborted } from '../../src/core/errors.js';
import type { Logger } from '../../src/core/logger.js';
import { silentLogger } from '../../src/core/logger.js';
import type { CallOptions } from '../../src/core/types.js';
import type { Presentation } from '../../providers/sdk/provider.js';
import type { Attachment, Proxy } from '../proxy.js';

/**
 * The proxy for arrays whose presented images are local folders (the lab array): attach checks
 * each presented folder and hands it out as the volume's read-only mount. Nothing is mounted, so
 * detach has nothing to undo but is still idempotent.
 */
export function createLocalProxy(opts: { logger?: Logger; failOn?: Array<'attach' | 'detach'> } = {}): Proxy {
  const logger = opts.logger ?? silentLogger;
  const fault = (op: 'attach' | 'detach') => {
    if (opts.failOn?.includes(op)) throw new HvsnapError('proxy_failed', `injected local proxy fault in ${op}`, { context: { injected: true } });
  };
  return {
    kind: 'local',
    async attach(args: { presentation: Presentation }, callOpts?: CallOptions): Promise<Attachment> {
      throwIfAborted(callOpts?.signal);
      fault('attach');
      const volumes = [];
      for (const lun of args.presentation.luns) {
        if (!lun.path) {
          throw new HvsnapError('proxy_failed', `presentation ${args.presentation.name}: LUN ${lun.identity.id} is not a local folder; the local proxy only attaches lab presentations (use the linux or windows proxy)`, {
            context: { volume: lun.volumeId },
          });
        }
        try {
          if (!(await stat(lun.path)).isDirectory()) throw new Error('not a folder');
          await access(lun.path, constants.R_OK);
        } catch (e) {
          throw new HvsnapError('proxy_failed', `presented folder ${lun.path} of volume ${lun.volumeId} cannot be read`, { cause: e, context: { volume: lun.volumeId, path: lun.path } });
        }
        volumes.push({ sourceIdentity: lun.sourceIdentity, mountPath: lun.path, handle: { lun: lun.lun ?? 0 } });
      }
      logger.debug({ presentation: args.presentation.name, volumes: volumes.length }, 'local proxy: attached');
      return { presentationName: args.presentation.name, volumes };
    },
    async detach(_args, callOpts?: CallOptions): Promise<void> {
      throwIfAborted(callOpts?.signal);
      fault('detach');
    },
  };
}
