import { describe, expect, it } from 'vitest';
import { HvsnapError } from '../../src/core/errors.js';
import { sftpHostMounts } from '../../src/job/host-mounts.js';
import { checkSftp } from '../../src/job/sftp-check.js';
import type { Shell } from '../../src/transport/shell.js';
import { sftpFiles, sftpPathOf, type SftpClient } from '../../proxy/sftp/index.js';
import { SimulatedHost } from '../hyperv/simulated-host.js';

describe('SFTP paths of a Windows host', () => {
  it('names a drive path as Win32-OpenSSH does, and honours mapped roots (longest first, any case)', () => {
    expect(sftpPathOf('C:\\ClusterStorage\\Volume1\\VMs\\a.vhdx')).toBe('/C:/ClusterStorage/Volume1/VMs/a.vhdx');
    expect(sftpPathOf('d:/Hyper-V/b.vhdx')).toBe('/D:/Hyper-V/b.vhdx');
    const roots = [
      { hostRoot: 'C:\\ClusterStorage', sftpRoot: '/srv/csv' },
      { hostRoot: 'c:\\clusterstorage\\volume2', sftpRoot: '/srv/v2/' },
    ];
    expect(sftpPathOf('C:\\ClusterStorage\\Volume1\\a.vhdx', roots)).toBe('/srv/csv/Volume1/a.vhdx');
    expect(sftpPathOf('C:\\ClusterStorage\\Volume2\\x\\b.vhdx', roots)).toBe('/srv/v2/x/b.vhdx');
  });

  it('refuses SMB shares, relative paths and paths that climb', () => {
    const code = (p: string) => {
      try {
        sftpPathOf(p);
        return 'ok';
      } catch (e) {
        return (e as HvsnapError).code;
      }
    };
    expect(code('\\\\fs01\\vms\\a.vhdx')).toBe('unsupported');
    expect(code('VMs\\a.vhdx')).toBe('input_invalid');
    expect(code('C:\\VMs\\..\\Windows\\a.vhdx')).toBe('input_invalid');
  });
});

/** An SFTP server in memory: one file, answering every read in full (or as asked to). */
function memorySftp(data: Buffer, log: Array<{ pos: number; length: number; at: number }> = []): SftpClient {
  const stats = { size: data.length, isFile: () => true };
  return {
    open: (_p, _f, cb) => cb(undefined, Buffer.from('h')),
    stat: (p, cb) => (p === '/C:/a' ? cb(undefined, stats) : cb(Object.assign(new Error('No such file'), { code: 2 }), stats)),
    fstat: (_h, cb) => cb(undefined, stats),
    close: (_h, cb) => cb(undefined),
    read: (_h, buf, off, len, pos, cb) => {
      log.push({ pos, length: len, at: Date.now() });
      const n = data.copy(buf, off, pos, Math.min(pos + len, data.length));
      setImmediate(() => cb(undefined, n));
    },
  };
}

describe('reads over SFTP', () => {
  it('split a large read into requests of the configured size, all answered, and count the bytes', async () => {
    const data = Buffer.alloc(1 << 20, 7);
    data.write('end', data.length - 3);
    const log: Array<{ pos: number; length: number; at: number }> = [];
    const stats = { bytesRead: 0 };
    const files = sftpFiles(memorySftp(data, log), { requestBytes: 64 << 10, stats });
    expect(await files.exists('/C:/a')).toBe(true);
    expect(await files.exists('/C:/missing')).toBe(false);
    const f = await files.open('/C:/a');
    const buf = Buffer.alloc(data.length);
    expect(await f.read(buf, 0, buf.length, 0)).toBe(data.length);
    expect(buf.equals(data)).toBe(true);
    expect(log).toHaveLength(16);
    expect(stats.bytesRead).toBe(data.length);
    // past the end: nothing
    expect(await f.read(buf, 0, 10, data.length)).toBe(0);
  });

  it('cap the bytes per second of a host across all its files (policy.hostReadMBps)', async () => {
    const data = Buffer.alloc(256 << 10);
    const files = sftpFiles(memorySftp(data), { requestBytes: 64 << 10, bytesPerSec: 1 << 20 });
    const [a, b] = await Promise.all([files.open('/C:/a'), files.open('/C:/a')]);
    const started = Date.now();
    // 512 KiB in all at 1 MiB/s: the last request may start only ~0.44 s after the first
    await Promise.all([a.read(Buffer.alloc(data.length), 0, data.length, 0), b.read(Buffer.alloc(data.length), 0, data.length, 0)]);
    expect(Date.now() - started).toBeGreaterThanOrEqual(400);
  });
});

describe('host mounts of a job', () => {
  const shell = (openSftp?: Shell['openSftp']): Shell =>
    ({ target: 'ssh://hv01', run: async () => undefined as never, close: async () => undefined, ...(openSftp && { openSftp }) }) as Shell;

  it('read a node over the SFTP session of its own SSH shell', async () => {
    const data = Buffer.alloc(4096, 1);
    let opened = 0;
    const mounts = sftpHostMounts((host) => (host === 'HV01' ? shell(async () => (opened++, memorySftp(data) as never)) : undefined));
    const mount = await mounts.mount({ host: 'HV01' });
    expect(opened).toBe(1);
    expect(mount.resolve('C:\\a')).toBe('/C:/a');
  });

  it('refuse a node without SSH, and a node that is not configured, naming the setting to change', async () => {
    const mounts = sftpHostMounts((host) => (host === 'HV01' ? shell() : undefined));
    await expect(mounts.mount({ host: 'HV01' })).rejects.toMatchObject({
      code: 'unsupported',
      message: expect.stringMatching(/not SSH/),
      context: { field: 'hypervisor.transport' },
    });
    await expect(mounts.mount({ host: 'HV09' })).rejects.toMatchObject({ code: 'unsupported', message: expect.stringMatching(/not a configured node/) });
  });
});

describe('doctor: SFTP on each node', () => {
  it('lists the folder of a VM disk through the node own connection, and reports a node without the subsystem', async () => {
    const a = new SimulatedHost('HV01').addVolume({ root: 'C:\\ClusterStorage\\Volume1' });
    a.addVm('sql01', { disks: 1 });
    const b = new SimulatedHost('HV02').addVolume({ root: 'C:\\ClusterStorage\\Volume2' });
    b.addVm('web01', { disks: 1 });
    const listed: string[] = [];
    const withSftp = (s: Shell, sftp: () => Promise<unknown>): Shell => Object.assign(Object.create(s) as Shell, { openSftp: sftp });
    const checks = await checkSftp([
      {
        name: 'HV01',
        shell: withSftp(a.shell, async () => ({
          readdir: (p: string, cb: (e: Error | undefined, l: unknown[]) => void) => (listed.push(p), cb(undefined, [{ filename: 'sql01-0.vhdx' }])),
        })),
      },
      { name: 'HV02', shell: withSftp(b.shell, async () => Promise.reject(new HvsnapError('transport_failed', 'subsystem request failed on channel 1'))) },
    ]);
    expect(checks.find((c) => c.name === 'HV01: sftp (host mode)')).toMatchObject({ ok: true, detail: expect.stringMatching(/1 entries/) });
    expect(listed[0]).toMatch(/^\/C:\/ClusterStorage\/Volume1\/.*sql01/);
    expect(checks.find((c) => c.name === 'HV02: sftp (host mode)')).toMatchObject({ ok: false, detail: expect.stringMatching(/sftp subsystem/) });
  });
});
