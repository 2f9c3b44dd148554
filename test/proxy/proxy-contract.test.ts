import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect } from 'vitest';
import { HvsnapError } from '../../src/core/errors.js';
import type { Presentation } from '../../providers/sdk/provider.js';
import { createExecRunner, createLinuxProxy, type DeviceDiscovery } from '../../proxy/linux/index.js';
import { listMountPoints } from '../../proxy/linux/mounts.js';
import { createLocalProxy } from '../../proxy/local/index.js';
import { createWindowsProxy } from '../../proxy/windows/index.js';
import { csvSnapshotDisk, fakeWindowsHost } from './fake-windows-host.js';
import { describeWith } from '../helpers/requirements.js';
import { loopsBoundTo, makeNtfsDiskImage, ntfsNeeds } from './ntfs-image.js';
import { proxyContract } from './proxy-contract.js';

const lun = (id: string) => ({ volumeId: `vol-${id}`, sourceIdentity: { kind: 'naa' as const, id: `${id}00` }, identity: { kind: 'naa' as const, id } });
const presentation: Presentation = {
  name: 'contract-1',
  snapshotName: 's1',
  host: 'proxy',
  target: { transport: 'iscsi' },
  luns: [lun('624a9370abcdef0123456789000113f2')],
};
const missing: Presentation = { ...presentation, name: 'contract-missing', luns: [lun('624a9370ffffffffffffffffffffffff')] };

describe('Proxy contract: windows proxy on a simulated host', () => {
  proxyContract(async () => {
    const host = fakeWindowsHost([csvSnapshotDisk()]);
    const proxy = createWindowsProxy({ discoveryTimeoutMs: 0 }, { shell: host.shell });
    return {
      proxy,
      presentation,
      missing,
      isAttached: async (a) =>
        a.volumes.every((v) => host.disks.some((d) => !d.IsOffline && d.partitions.some((p) => (p.AccessPaths ?? []).includes(v.mountPath)))),
    };
  });
});

describeWith('Proxy contract: linux proxy on loop devices', ntfsNeeds, () => {
  let dir: string;
  let image: string;
  beforeAll(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'hvsnap-proxy-contract-'));
    image = path.join(dir, 'lun.img');
    await makeNtfsDiskImage(image, { 'a.txt': Buffer.from('contract') });
  });
  afterAll(async () => {
    for (const loop of loopsBoundTo(image)) {
      for (const inner of loopsBoundTo(loop)) await createExecRunner().run({ command: 'losetup', args: ['-d', inner] });
      await createExecRunner().run({ command: 'losetup', args: ['-d', loop] });
    }
    await fs.rm(dir, { recursive: true, force: true });
  });

  proxyContract(async () => {
    const runner = createExecRunner();
    const discovery: DeviceDiscovery = {
      rescan: async () => {},
      locate: async ({ lun: l }) => {
        if (l.identity.id !== presentation.luns[0].identity.id) {
          throw new HvsnapError('not_found', `presented LUN ${l.identity.id} did not appear`, { context: { volume: l.identity.id } });
        }
        return (await runner.run({ command: 'losetup', args: ['-r', '-f', '--show', image] })).stdout.trim();
      },
      release: async ({ device }) => {
        if (loopsBoundTo(image).includes(device)) await runner.run({ command: 'losetup', args: ['-d', device] });
      },
    };
    const proxy = createLinuxProxy({ mountRoot: path.join(dir, 'mnt') }, { runner, discovery });
    return {
      proxy,
      presentation,
      missing,
      isAttached: async (a) => {
        const mounts = await listMountPoints();
        return a.volumes.every((v) => mounts.includes(v.mountPath));
      },
    };
  });
});

describe('Proxy contract: local proxy on lab presentations (folders)', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'hvsnap-local-contract-'));
    await fs.mkdir(path.join(dir, 'snap', 'Volume1', 'VMs'), { recursive: true });
    await fs.writeFile(path.join(dir, 'snap', 'Volume1', 'VMs', 'a.txt'), 'snapshot data');
  });
  afterAll(async () => {
    // detach removed the links, never what they pointed at
    expect(await fs.readFile(path.join(dir, 'snap', 'Volume1', 'VMs', 'a.txt'), 'utf8')).toBe('snapshot data');
    await fs.rm(dir, { recursive: true, force: true });
  });

  proxyContract(async () => {
    const folderLun = { ...lun('6001405aaaabbbbccccddddeeeeffff0'), path: path.join(dir, 'snap', 'Volume1') };
    return {
      proxy: createLocalProxy({ mountRoot: path.join(dir, 'mnt') }),
      presentation: { ...presentation, name: 'local-contract', luns: [folderLun] },
      missing: { ...presentation, name: 'local-missing', luns: [{ ...folderLun, path: path.join(dir, 'no-such-folder') }] },
      isAttached: async (a) => {
        const seen = await Promise.all(a.volumes.map((v) => fs.readFile(path.join(v.mountPath, 'VMs', 'a.txt'), 'utf8').catch(() => undefined)));
        return seen.every((s) => s === 'snapshot data');
      },
    };
  });
});
