import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isHvsnapError } from '../../src/core/errors.js';
import { silentLogger } from '../../src/core/logger.js';
import type { PresentedLun } from '../../providers/sdk/provider.js';
import { createByIdDiscovery, createLinuxProxy, linuxProxyConfigSchema, pickDataPartition } from '../../proxy/linux/index.js';
import type { CommandRunner } from '../../proxy/linux/index.js';

describe('pickDataPartition', () => {
  const table = (partitions: unknown[], label = 'gpt') => JSON.stringify({ partitiontable: { label, sectorsize: 512, partitions } });
  it('takes the largest basic-data partition', () => {
    const out = pickDataPartition(
      table([
        { node: '/dev/sdc1', start: 34, size: 32734, type: 'E3C9E316-0B5C-4DB8-817D-F92DF00215AE' },
        { node: '/dev/sdc2', start: 32768, size: 2048, type: 'EBD0A0A2-B9E5-4433-87C0-68B6B72699C7' },
        { node: '/dev/sdc3', start: 34816, size: 9000000, type: 'ebd0a0a2-b9e5-4433-87c0-68b6b72699c7' },
      ]),
      '/dev/sdc',
    );
    expect(out).toEqual({ number: 3, node: '/dev/sdc3', startBytes: 34816 * 512, sizeBytes: 9000000 * 512, label: 'gpt' });
  });
  it('reads MBR NTFS partitions and names what it found otherwise', () => {
    expect(pickDataPartition(table([{ node: '/dev/sdd1', start: 2048, size: 100, type: '7' }], 'dos'), '/dev/sdd').startBytes).toBe(2048 * 512);
    expect(() => pickDataPartition(table([{ node: '/dev/sdd1', start: 2048, size: 100, type: '83' }], 'dos'), '/dev/sdd')).toThrow(
      '/dev/sdd has no basic-data partition (dos; found 83)',
    );
    expect(() => pickDataPartition('sfdisk: cannot open', '/dev/sde')).toThrow(/sfdisk --json \/dev\/sde printed no JSON/);
  });
});

describe('linuxProxyConfigSchema', () => {
  it('fills defaults, including nested ones', () => {
    const c = linuxProxyConfigSchema.parse({});
    expect(c.mountRoot).toBe('/run/hvsnap/mounts');
    expect(c.discovery).toMatchObject({ byIdDir: '/dev/disk/by-id', scsiRescan: true, timeoutMs: 30_000 });
    expect(c.ntfsOptions).toEqual([]);
  });
  it('refuses writable mount options and relative paths, naming the field', () => {
    expect(() => createLinuxProxy({ ntfsOptions: ['rw'] })).toThrow(/linux proxy config: ntfsOptions: must not contain rw/);
    const err = (() => {
      try {
        createLinuxProxy({ mountRoot: 'mnt' });
      } catch (e) {
        return e;
      }
    })();
    expect(isHvsnapError(err) && err.code).toBe('config_invalid');
    expect(isHvsnapError(err) && err.context.field).toBe('mountRoot');
    expect(() => createLinuxProxy({ iscsi: { portals: [] } })).toThrow(/iscsi\.portals/);
  });
});

describe('createByIdDiscovery (fake /dev/disk/by-id and /sys)', () => {
  let dir: string;
  const lun: PresentedLun = {
    volumeId: 'v',
    sourceIdentity: { kind: 'naa', id: '624a93701111' },
    identity: { kind: 'naa', id: '624A9370ABCD', serial: 'ABCD0001' },
  };
  beforeEach(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'hvsnap-byid-'));
    for (const d of ['by-id', 'dev', 'sys/class/scsi_host/host0', 'sys/class/scsi_host/host1', 'sys/block/sdq/device']) {
      await fs.mkdir(path.join(dir, d), { recursive: true });
    }
    await fs.writeFile(path.join(dir, 'dev/sdq'), '');
  });
  afterEach(() => fs.rm(dir, { recursive: true, force: true }));

  function discovery(extra: Record<string, unknown> = {}, runner?: CommandRunner) {
    const config = linuxProxyConfigSchema.parse({ discovery: { byIdDir: path.join(dir, 'by-id'), timeoutMs: 50, pollMs: 10 }, ...extra });
    const ran: string[][] = [];
    const r: CommandRunner = runner ?? { run: async ({ command, args }) => (ran.push([command, ...args]), { stdout: '', stderr: '' }) };
    return { d: createByIdDiscovery({ config, runner: r, logger: silentLogger, sysRoot: path.join(dir, 'sys'), sleep: async () => {} }), ran };
  }

  it('rescans every SCSI host, logs in to iSCSI, finds wwn-0x<naa> and removes the device on release', async () => {
    const { d, ran } = discovery({ iscsi: { portals: ['10.0.0.5:3260'], targets: ['iqn.2010-06.com.purestorage:flasharray.1'] } });
    await d.rescan({ luns: [lun] });
    expect(await fs.readFile(path.join(dir, 'sys/class/scsi_host/host1/scan'), 'utf8')).toBe('- - -');
    expect(ran).toEqual([
      ['iscsiadm', '-m', 'discovery', '-t', 'sendtargets', '-p', '10.0.0.5:3260'],
      ['iscsiadm', '-m', 'node', '-p', '10.0.0.5:3260', '-T', 'iqn.2010-06.com.purestorage:flasharray.1', '--login'],
      ['iscsiadm', '-m', 'session', '--rescan'],
    ]);
    await fs.symlink(path.join(dir, 'dev/sdq'), path.join(dir, 'by-id/wwn-0x624a9370abcd'));
    const device = await d.locate({ lun });
    expect(device).toBe(await fs.realpath(path.join(dir, 'dev/sdq')));
    await d.release({ identity: lun.identity, device });
    expect(await fs.readFile(path.join(dir, 'sys/block/sdq/device/delete'), 'utf8')).toBe('1');
  });

  it('finds a LUN by serial, and never deletes a device that is no longer this LUN', async () => {
    const { d } = discovery();
    await fs.symlink(path.join(dir, 'dev/sdq'), path.join(dir, 'by-id/scsi-SPURE_FlashArray_ABCD0001'));
    const device = await d.locate({ lun: { ...lun, identity: { kind: 'serial', id: 'ABCD0001' } } });
    await fs.rm(path.join(dir, 'by-id/scsi-SPURE_FlashArray_ABCD0001'));
    await d.release({ identity: { kind: 'serial', id: 'ABCD0001' }, device });
    await expect(fs.readFile(path.join(dir, 'sys/block/sdq/device/delete'), 'utf8')).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('says which names it looked for when the LUN does not appear', async () => {
    const { d } = discovery();
    const err = await d.locate({ lun }).catch((e: unknown) => e);
    expect(isHvsnapError(err) && err.code).toBe('not_found');
    expect((err as Error).message).toMatch(/naa:624A9370ABCD did not appear in .*by-id within 50 ms/);
    expect(isHvsnapError(err) && err.hint).toMatch(/wwn-0x624a9370abcd.*\*_ABCD0001/);
  });

  it('accepts an iSCSI login that is already there (exit 15)', async () => {
    const { d } = discovery(
      { iscsi: { portals: ['p'] } },
      {
        run: async ({ args }) => {
          if (args.includes('--login')) throw Object.assign(new Error('already present'), { context: { exitCode: 15 } });
          return { stdout: '', stderr: '' };
        },
      },
    );
    await expect(d.rescan({ luns: [lun] })).resolves.toBeUndefined();
  });
});
