import { HvsnapError } from '../core/errors.js';
import type { HostMounts } from '../backup/types.js';
import type { Shell } from '../transport/shell.js';
import { createSftpMount, type SftpRoot } from '../../proxy/sftp/index.js';

/** Whether host mode can read `host`'s files: its shell is SSH (it can open SFTP). The dry run asks the same. */
export function readsOverSftp(shell: Shell | undefined): shell is Shell & { openSftp: NonNullable<Shell['openSftp']> } {
  return !!shell?.openSftp;
}

/**
 * Host mode's mounts for a job: each node's files over SFTP on the SSH connection its PowerShell
 * scripts already use (Win32-OpenSSH ships sftp-server; `hvsnap doctor` checks it answers). A node
 * reached without SSH (the local transport) cannot be read this way, and says so.
 */
export function sftpHostMounts(shellOf: (host: string) => Shell | undefined, opts: { roots?: readonly SftpRoot[] } = {}): HostMounts {
  return {
    async mount({ host, bytesPerSec, stats }, callOpts = {}) {
      const shell = shellOf(host);
      if (!readsOverSftp(shell)) {
        throw new HvsnapError(
          'unsupported',
          `host mode reads ${host}'s files over SFTP, but ${shell ? 'its transport is not SSH' : 'it is not a configured node'}`,
          {
            context: { host, field: 'hypervisor.transport' },
            hint: 'use hypervisor.transport.kind ssh for host mode (OpenSSH on the host, with its sftp subsystem)',
          },
        );
      }
      const sftp = await shell.openSftp({ signal: callOpts.signal });
      return createSftpMount({ host, sftp, roots: opts.roots, bytesPerSec, stats, signal: callOpts.signal });
    },
  };
}
