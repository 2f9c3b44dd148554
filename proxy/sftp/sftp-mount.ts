import { HvsnapError } from '../../src/core/errors.js';
import { copyDisk } from '../data-mover.js';
import { tryResolveOf } from '../mount.js';
import type { Mount } from '../proxy.js';
import { sftpFiles, type SftpClient, type SftpFilesOptions } from './sftp-files.js';
import { sftpPathOf, type SftpRoot } from './sftp-path.js';

export interface SftpMountArgs extends SftpFilesOptions {
  /** the Hyper-V node the files are read from (names the mount in reports and errors) */
  host: string;
  sftp: SftpClient;
  /** host folders the SFTP server names differently from `/C:/…` */
  roots?: readonly SftpRoot[];
}

/**
 * Host mode's {@link Mount}: the VM's files read where they are, on its owner node, over SFTP —
 * read-only by construction (files are opened with flags `r` only). Host paths resolve to SFTP
 * paths; a differencing disk's parents are found the same way; the data mover copies through it
 * unchanged. Nothing is attached, so there is nothing to detach: the SSH connection belongs to the
 * host's shell.
 */
export function createSftpMount(args: SftpMountArgs): Mount {
  const { host, sftp, roots, ...readOpts } = args;
  const files = sftpFiles(sftp, readOpts);
  const resolve = (hostPath: string) => sftpPathOf(hostPath, roots);
  const tryResolve = tryResolveOf(resolve);
  return {
    presentationName: `sftp:${host}`,
    volumes: [],
    resolve,
    tryResolve,
    resolveOnVolume: () => {
      throw new HvsnapError('unsupported', `host mode reads files by their host path; ${host} has no attached array volume`, { context: { host } });
    },
    copyDisk: ({ hostPath, ...copy }) => copyDisk({ ...copy, file: resolve(hostPath), resolveParent: tryResolve, files }),
  };
}
