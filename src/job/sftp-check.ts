import { errorSummary } from '../core/errors.js';
import type { CallOptions } from '../core/types.js';
import type { HostCheck } from '../hyperv/check-host.js';
import { WmiHypervisor, type WmiNode } from '../hyperv/wmi-hypervisor.js';
import { sftpPathOf, type SftpRoot } from '../../proxy/sftp/index.js';

/** The SFTP calls the check makes (ssh2's SFTPWrapper has it). */
interface SftpLister {
  readdir(path: string, cb: (err: Error | null | undefined, list: Array<{ filename: string }>) => void): unknown;
}

/**
 * Host mode's part of `hvsnap doctor`: on every node reached over SSH, the sftp subsystem answers
 * on the scripts' own connection, and the folder of one of the node's VMs' disks can be listed
 * through it (what host mode will read). Nodes on the local transport are not checked: host mode
 * needs SSH.
 */
export async function checkSftp(nodes: WmiNode[], opts: CallOptions & { roots?: readonly SftpRoot[] } = {}): Promise<HostCheck[]> {
  const checks: HostCheck[] = [];
  const ssh = nodes.filter((n) => n.shell.openSftp);
  if (ssh.length === 0) return checks;
  const vms = await new WmiHypervisor({ nodes: ssh }).listVms({}, opts).catch(() => []);
  for (const node of ssh) {
    const name = `${node.name}: sftp (host mode)`;
    let sftp: SftpLister;
    try {
      sftp = (await node.shell.openSftp!({ signal: opts.signal })) as unknown as SftpLister;
    } catch (e) {
      checks.push({
        name,
        ok: false,
        detail: `no SFTP on this connection (${errorSummary(e).message}); host mode needs the sshd sftp subsystem (Win32-OpenSSH: "Subsystem sftp sftp-server.exe")`,
      });
      continue;
    }
    const disk = vms.find((v) => v.host.toLowerCase() === node.name.toLowerCase())?.disks[0];
    if (!disk) {
      checks.push({ name, ok: true, warning: true, detail: 'the sftp subsystem answers; the node has no VM disk to try a read on' });
      continue;
    }
    const folder = disk.path.replace(/[\\/][^\\/]*$/, '');
    const path = sftpPathOf(folder, opts.roots);
    try {
      const list = await new Promise<Array<{ filename: string }>>((resolve, reject) => sftp.readdir(path, (err, l) => (err ? reject(err) : resolve(l))));
      checks.push({ name, ok: true, detail: `read ${folder} as ${path} (${list.length} entries)` });
    } catch (e) {
      checks.push({ name, ok: false, detail: `cannot list ${folder} as ${path}: ${(e as Error).message}` });
    }
  }
  return checks;
}
