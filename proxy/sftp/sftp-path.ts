import { HvsnapError } from '../../src/core/errors.js';

/**
 * Where a Hyper-V host's file is for its SFTP server. Win32-OpenSSH's sftp-server names a local
 * path by its drive: `C:\ClusterStorage\Volume1\a.vhdx` is `/C:/ClusterStorage/Volume1/a.vhdx`
 * (Win32-OpenSSH wiki, "SFTP and SCP": paths are given as `/<drive>:/…`; the default root is the
 * drive list). `roots` maps host folders elsewhere (a test server, a chrooted account): the
 * longest matching `hostRoot` (case-insensitive, as Windows paths are) wins.
 */
export interface SftpRoot {
  /** a folder on the host, e.g. `C:\ClusterStorage\Volume1` */
  hostRoot: string;
  /** the same folder as the SFTP server names it, `/`-separated, absolute */
  sftpRoot: string;
}

const split = (p: string) => p.split(/[\\/]+/).filter((s) => s.length > 0 && s !== '.');

/** The SFTP path of `hostPath`; throws `input_invalid` for a relative path, a UNC path or `..`. */
export function sftpPathOf(hostPath: string, roots: readonly SftpRoot[] = []): string {
  const where = { context: { path: hostPath, field: 'hostPath' } };
  if (/^[\\/]{2}/.test(hostPath)) {
    throw new HvsnapError('unsupported', `${hostPath} is on an SMB share: host mode reads local and CSV paths of the host only`, where);
  }
  const parts = split(hostPath);
  if (parts.includes('..')) throw new HvsnapError('input_invalid', `path ${hostPath} climbs with '..'`, where);
  const root = [...roots]
    .map((r) => ({ ...r, parts: split(r.hostRoot) }))
    .filter((r) => r.parts.length <= parts.length && r.parts.every((p, i) => p.toLowerCase() === parts[i].toLowerCase()))
    .sort((a, b) => b.parts.length - a.parts.length)[0];
  if (root) return [root.sftpRoot.replace(/\/+$/, ''), ...parts.slice(root.parts.length)].join('/') || '/';
  if (!/^[a-z]:$/i.test(parts[0] ?? '')) throw new HvsnapError('input_invalid', `${hostPath} is not an absolute Windows path (drive letter first)`, where);
  return `/${parts[0].toUpperCase()}/${parts.slice(1).join('/')}`;
}
