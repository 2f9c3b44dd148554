import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/core/logger.js';
import type { PresentationTarget, PresentedLun } from '../../providers/sdk/provider.js';
import { createAutoDiscovery } from '../../proxy/linux/auto-discovery.js';
import { createByIdDiscovery } from '../../proxy/linux/device-discovery.js';
import { createImageFileDiscovery } from '../../proxy/linux/image-discovery.js';
import type { CommandRunner } from '../../proxy/linux/command-runner.js';
import { linuxProxyConfigSchema } from '../../proxy/linux/config.js';

/**
 * The Linux proxy finds a presented LUN from the presentation's target alone: a fake iSCSI target
 * description (portals + IQN, as ONTAP's or PowerStore's driver gives it) drives the iSCSI login,
 * and the LUN is then found by its own NAA in a by-id folder — with no iSCSI or discovery settings
 * in the proxy's configuration.
 */
const dir = mkdtempSync(join(tmpdir(), 'hvsnap-target-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const naa = '600a098038303053453f463045727a31';
const other = '600a098038303053453f463045727a32';
const byIdDir = join(dir, 'by-id');

function setup(extra: Record<string, unknown> = {}) {
  const calls: string[] = [];
  const runner: CommandRunner = {
    run: async ({ command, args }) => {
      calls.push([command, ...args].join(' '));
      return { stdout: '', stderr: '' };
    },
  };
  const config = linuxProxyConfigSchema.parse({ discovery: { byIdDir, scsiRescan: false, timeoutMs: 200, pollMs: 10 }, ...extra });
  expect(config.discovery.mode).toBe('auto');
  const discovery = createAutoDiscovery({
    byId: createByIdDiscovery({ config, runner, logger: silentLogger, sleep: async () => undefined }),
    imageFile: createImageFileDiscovery({ runner }),
  });
  return { calls, discovery };
}

const lun = (id: string): PresentedLun => ({
  volumeId: 'v1',
  sourceIdentity: { kind: 'naa', id: '600a098038303053453f463045727a00' },
  identity: { kind: 'naa', id },
  lun: 3,
});
const iscsiTarget: PresentationTarget = { transport: 'iscsi', portals: ['192.0.2.10:3260'], iqns: ['iqn.1992-08.com.netapp:sn.fake:vs.3'] };

// the device the array's LUN shows up as, and its udev by-id link (what the kernel and udev make after the login)
mkdirSync(byIdDir, { recursive: true });
writeFileSync(join(dir, 'sdq'), '');
symlinkSync(join(dir, 'sdq'), join(byIdDir, `wwn-0x${naa}`));

describe('Linux proxy discovery from the presentation target', () => {
  it('logs in to the portals and IQN the target names, then finds exactly the LUN with the presented NAA', async () => {
    const { calls, discovery } = setup();
    await discovery.rescan({ luns: [lun(naa)], target: iscsiTarget });
    expect(calls).toEqual([
      'iscsiadm -m discovery -t sendtargets -p 192.0.2.10:3260',
      'iscsiadm -m node -p 192.0.2.10:3260 -T iqn.1992-08.com.netapp:sn.fake:vs.3 --login',
      'iscsiadm -m session --rescan',
    ]);
    expect(await discovery.locate({ lun: lun(naa) })).toBe(join(dir, 'sdq'));
    await expect(discovery.locate({ lun: lun(other) })).rejects.toMatchObject({ code: 'not_found' });
  });

  it('prefers the target to a static iSCSI setting, and logs in to nothing for an FC target', async () => {
    const { calls, discovery } = setup({ iscsi: { portals: ['198.51.100.1:3260'] } });
    await discovery.rescan({ luns: [lun(naa)], target: iscsiTarget });
    expect(calls.some((c) => c.includes('198.51.100.1'))).toBe(false);
    calls.length = 0;
    await discovery.rescan({ luns: [lun(naa)], target: { transport: 'fc', wwpns: ['2000005056b40001'] } });
    expect(calls).toEqual([]);
  });

  it('binds a lab image (a folder target with a path) to a loop device instead of looking in by-id', async () => {
    const { calls, discovery } = setup();
    const image = join(dir, 'presentations', 'p1', 'v1.img');
    await discovery.rescan({ luns: [{ ...lun(naa), path: image }], target: { transport: 'folder' } });
    await discovery.locate({ lun: { ...lun(naa), path: image } });
    expect(calls).toEqual([`losetup -r -f --show -P ${image}`]);
  });
});
