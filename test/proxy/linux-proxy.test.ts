import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { promises as fs, existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { captureLogger } from '../../src/core/logger.js';
import { isHvsnapError } from '../../src/core/errors.js';
import type { Presentation } from '../../providers/sdk/provider.js';
import { createLinuxProxy, createExecRunner, type CommandRunner, type DeviceDiscovery } from '../../proxy/linux/index.js';
import { listMountPoints } from '../../proxy/linux/mounts.js';
import { mapSourcePath } from '../../proxy/mount-map.js';
import { readRangesParallel } from '../../proxy/data-mover-io.js';
import { describeWith } from '../helpers/requirements.js';
import { loopsBoundTo, makeNtfsDiskImage, ntfsNeeds } from './ntfs-image.js';

const title = 'linux proxy on a real GPT/NTFS image through loop devices and ntfs-3g';

/** The test's stand-in for a SAN: each LUN identity is an image file, "presented" as `losetup -r -P`. */
function loopDiscovery(images: Record<string, string>, runner: CommandRunner, mode: 'ro' | 'rw' = 'ro'): DeviceDiscovery & { rescans: number } {
  const d = {
    rescans: 0,
    async rescan() {
      d.rescans++;
    },
    async locate({ lun }: { lun: Presentation['luns'][number] }) {
      const image = images[lun.identity.id];
      if (!image) throw new Error(`no image for ${lun.identity.id}`);
      return (await runner.run({ command: 'losetup', args: [...(mode === 'ro' ? ['-r'] : []), '-f', '--show', '-P', image] })).stdout.trim();
    },
    async release({ device, identity }: { device: string; identity: { id: string } }) {
      // only our binding of our image: a freed loop may already be someone else's
      if (loopsBoundTo(images[identity.id]).includes(device)) await runner.run({ command: 'losetup', args: ['-d', device] });
    },
  };
  return d;
}

describeWith(title, { ...ntfsNeeds, tools: [...ntfsNeeds.tools!, 'qemu-img'] }, () => {
  const naa = '600a0980383030523424457a4a695a71';
  const rawDisk = randomBytes(4 * 1024 * 1024);
  let vhdx: Buffer;
  const config = randomBytes(4096);
  let dir: string;
  let image: string;
  let presentation: Presentation;

  beforeAll(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'hvsnap-linux-proxy-'));
    image = path.join(dir, 'lun.img');
    // a real VHDX (qemu-img) of a random 4 MiB disk, as a lab VM disk on the CSV
    await fs.writeFile(path.join(dir, 'disk.raw'), rawDisk);
    execFileSync('qemu-img', [
      'convert',
      '-f',
      'raw',
      '-O',
      'vhdx',
      '-o',
      'subformat=dynamic,block_size=1M',
      path.join(dir, 'disk.raw'),
      path.join(dir, 'disk.vhdx'),
    ]);
    vhdx = await fs.readFile(path.join(dir, 'disk.vhdx'));
    await makeNtfsDiskImage(image, {
      'VMs/vm1/Virtual Hard Disks/disk0.vhdx': vhdx,
      'VMs/vm1/Virtual Machines/ABC.vmcx': config,
    });
    presentation = {
      name: 'job-42-vol1',
      snapshotName: 'job-42',
      host: 'proxy1',
      target: { transport: 'iscsi' },
      luns: [{ volumeId: 'vol1', sourceIdentity: { kind: 'naa', id: '600a0980383030523424457a4a695a00' }, identity: { kind: 'naa', id: naa } }],
    };
  });

  afterAll(async () => {
    // belt and braces: whatever a failed assertion left behind
    for (const m of (await listMountPoints()).filter((p) => p.startsWith(dir))) execFileSync('umount', [m]);
    for (const loop of loopsBoundTo(image)) {
      for (const inner of loopsBoundTo(loop)) execFileSync('losetup', ['-d', inner]);
      execFileSync('losetup', ['-d', loop]);
    }
    await fs.rm(dir, { recursive: true, force: true });
  });

  function makeProxy(runner: CommandRunner = createExecRunner(), mode: 'ro' | 'rw' = 'ro') {
    const logger = captureLogger();
    const discovery = loopDiscovery({ [naa]: image }, runner, mode);
    const proxy = createLinuxProxy({ mountRoot: path.join(dir, 'mnt'), stateDir: path.join(dir, 'state') }, { logger, runner, discovery });
    return { proxy, logger, discovery };
  }

  async function expectNothingLeft(device: string | undefined) {
    expect(loopsBoundTo(image)).toEqual([]);
    if (device) expect(loopsBoundTo(device)).toEqual([]);
    expect((await listMountPoints()).filter((p) => p.startsWith(dir))).toEqual([]);
    expect(existsSync(path.join(dir, 'mnt', presentation.name))).toBe(false);
    expect(await fs.readdir(path.join(dir, 'state')).catch(() => [])).toEqual([]);
  }

  it('attaches read-only, serves the files byte-identical, refuses writes, detaches cleanly and idempotently', async () => {
    const { proxy, discovery } = makeProxy();
    const attachment = await proxy.attach({ presentation });
    const [vol] = attachment.volumes;
    const device = String(vol.handle?.device);
    try {
      expect(discovery.rescans).toBe(1);
      expect(vol.sourceIdentity).toEqual(presentation.luns[0].sourceIdentity);
      expect(execFileSync('blockdev', ['--getro', device], { encoding: 'utf8' }).trim()).toBe('1');
      // the largest basic-data partition (40 MiB), not the reserved one nor the 2 MiB one
      if (vol.handle?.partitionLoop) expect(vol.handle.partitionOffset).toBe(4096 * 512);
      else expect(vol.handle?.partitionDevice).toBe(`${device}p2`);

      const local = mapSourcePath({
        attachment,
        volumes: [{ identity: presentation.luns[0].sourceIdentity, volumeRoot: 'C:\\ClusterStorage\\Volume1' }],
        sourcePath: 'c:\\clusterstorage\\volume1\\VMs\\vm1\\Virtual Hard Disks\\disk0.vhdx',
      });
      expect(local).toBe(path.join(vol.mountPath, 'VMs/vm1/Virtual Hard Disks/disk0.vhdx'));
      const back = await fs.readFile(local);
      expect(createHash('sha256').update(back).digest('hex')).toBe(createHash('sha256').update(vhdx).digest('hex'));
      expect(await fs.readFile(path.join(vol.mountPath, 'VMs/vm1/Virtual Machines/ABC.vmcx'))).toEqual(config);

      // the data mover's parallel reader over the read-only mount: every chunk's checksum matches the source file
      const handle = await fs.open(local, 'r');
      const hashes: string[] = [];
      try {
        const res = await readRangesParallel({
          read: async (offset, length) => {
            const buf = Buffer.alloc(length);
            const { bytesRead } = await handle.read(buf, 0, length, offset);
            return buf.subarray(0, bytesRead);
          },
          ranges: [{ offset: 0, length: vhdx.length }],
          chunkSize: 256 * 1024,
          concurrency: 4,
          maxBytesInFlight: 1024 * 1024,
          checksum: 'sha256',
          onChunk: async (c) => {
            expect(c.sha256).toBe(
              createHash('sha256')
                .update(vhdx.subarray(c.offset, c.offset + c.data.length))
                .digest('hex'),
            );
            hashes.push(c.sha256!);
          },
        });
        expect(res.bytes).toBe(vhdx.length);
      } finally {
        await handle.close();
      }
      expect(hashes.length).toBe(Math.ceil(vhdx.length / (256 * 1024)));
      // and a third-party VHDX reader sees the same virtual disk through the mount
      execFileSync('qemu-img', ['compare', '-f', 'vhdx', '-F', 'raw', local, path.join(dir, 'disk.raw')]);

      await expect(fs.writeFile(path.join(vol.mountPath, 'new.txt'), 'x')).rejects.toMatchObject({ code: 'EROFS' });
      await expect(fs.appendFile(local, 'x')).rejects.toMatchObject({ code: 'EROFS' });

      // attach is idempotent by name: the same mount, no second loop
      const again = await proxy.attach({ presentation });
      expect(again.volumes[0].mountPath).toBe(vol.mountPath);
      expect(loopsBoundTo(image)).toHaveLength(1);
    } finally {
      await proxy.detach({ attachment });
    }
    await expectNothingLeft(device);
    await proxy.detach({ attachment });
    await proxy.detach({ presentationName: presentation.name });
  });

  it('makes a writable LUN read-only while attached and gives the device back writable', async () => {
    const { proxy } = makeProxy(createExecRunner(), 'rw');
    const attachment = await proxy.attach({ presentation });
    const device = String(attachment.volumes[0].handle?.device);
    try {
      expect(attachment.volumes[0].handle?.madeReadOnly).toBe(1);
      expect(execFileSync('blockdev', ['--getro', device], { encoding: 'utf8' }).trim()).toBe('1');
      await expect(fs.writeFile(path.join(attachment.volumes[0].mountPath, 'x'), 'x')).rejects.toMatchObject({ code: 'EROFS' });
    } finally {
      await proxy.detach({ attachment });
    }
    await expectNothingLeft(device);
    // the kernel keeps a read-only flag on a released loop device: the next user must get it writable
    expect(execFileSync('blockdev', ['--getro', device], { encoding: 'utf8' }).trim()).toBe('0');
  });

  it('keeps a busy volume mounted (and its devices) when a reader still holds a file, and finishes on the next detach', async () => {
    const { proxy } = makeProxy();
    const attachment = await proxy.attach({ presentation });
    const device = String(attachment.volumes[0].handle?.device);
    const reader = await fs.open(path.join(attachment.volumes[0].mountPath, 'VMs/vm1/Virtual Machines/ABC.vmcx'), 'r');
    let err: unknown;
    try {
      err = await proxy.detach({ attachment }).catch((e: unknown) => e);
      expect(isHvsnapError(err) && err.context).toMatchObject({ step: 'unmount', volume: naa });
      expect((err as Error).message).toMatch(/busy/);
      expect(loopsBoundTo(image)).toEqual([device]); // the LUN was not pulled from under the mount
      expect((await listMountPoints()).includes(attachment.volumes[0].mountPath)).toBe(true);
    } finally {
      await reader.close();
    }
    await proxy.detach({ presentationName: presentation.name });
    await expectNothingLeft(device);
  });

  it('detaches by name from a new proxy instance (after a crash), from the state file alone', async () => {
    const first = makeProxy();
    const attachment = await first.proxy.attach({ presentation });
    const device = String(attachment.volumes[0].handle?.device);
    const second = makeProxy();
    await second.proxy.detach({ presentationName: presentation.name });
    await expectNothingLeft(device);
  });

  it('leaves no loop device, mount or folder behind when the mount fails after the LUN was attached', async () => {
    const real = createExecRunner();
    const seen: string[] = [];
    const failing: CommandRunner = {
      run: async (args, opts) => {
        seen.push(args.command);
        if (args.command === 'ntfs-3g') throw new Error('injected failure before mounting');
        return real.run(args, opts);
      },
    };
    const { proxy, logger } = makeProxy(failing);
    const err = await proxy.attach({ presentation }).catch((e: unknown) => e);
    expect(isHvsnapError(err) && err.code).toBe('proxy_failed');
    expect((err as Error).message).toMatch(/injected failure/);
    expect(isHvsnapError(err) && err.suppressed).toEqual([]);
    expect(seen).toEqual(expect.arrayContaining(['losetup', 'blockdev', 'sfdisk', 'ntfs-3g']));
    await expectNothingLeft(undefined);
    expect(logger.lines.some((l) => l.level === 'warn')).toBe(false);
    await proxy.detach({ presentationName: presentation.name });
  });

  it('cleans up when the attach is aborted half-way (cleanup does not inherit the signal)', async () => {
    const real = createExecRunner();
    const ac = new AbortController();
    const aborting: CommandRunner = {
      run: async (args, opts) => {
        const out = await real.run(args, opts);
        if (args.command === 'sfdisk') ac.abort(); // the next command sees the signal
        return out;
      },
    };
    const { proxy } = makeProxy(aborting);
    const err = await proxy.attach({ presentation }, { signal: ac.signal }).catch((e: unknown) => e);
    expect(isHvsnapError(err) && err.code).toBe('aborted');
    await expectNothingLeft(undefined);
  });

  it('attaches a two-volume presentation (a consistency group), and undoes the first volume when the second fails', async () => {
    const naa2 = '600a0980383030523424457a4a695a72';
    const image2 = path.join(dir, 'lun2.img');
    await makeNtfsDiskImage(image2, { 'VMs/vm2/disk.vhdx': config });
    const two: Presentation = {
      ...presentation,
      name: 'job-43-cg',
      luns: [
        presentation.luns[0],
        { volumeId: 'vol2', sourceIdentity: { kind: 'naa', id: '600a0980383030523424457a4a695a01' }, identity: { kind: 'naa', id: naa2 } },
      ],
    };
    const runner = createExecRunner();
    const mountRoot = path.join(dir, 'mnt');
    const make = (r: CommandRunner) =>
      createLinuxProxy({ mountRoot, stateDir: path.join(dir, 'state') }, { runner: r, discovery: loopDiscovery({ [naa]: image, [naa2]: image2 }, r) });
    try {
      const proxy = make(runner);
      const attachment = await proxy.attach({ presentation: two });
      expect(attachment.volumes.map((v) => v.sourceIdentity.id)).toEqual(two.luns.map((l) => l.sourceIdentity.id));
      expect(new Set(attachment.volumes.map((v) => v.mountPath)).size).toBe(2);
      expect(await fs.readFile(path.join(attachment.volumes[1].mountPath, 'VMs/vm2/disk.vhdx'))).toEqual(config);
      await proxy.detach({ attachment });
      expect(loopsBoundTo(image2)).toEqual([]);

      let mounts = 0;
      const failSecond = make({
        run: async (args, opts) => {
          if (args.command === 'ntfs-3g' && ++mounts === 2) throw new Error('injected failure on the second volume');
          return runner.run(args, opts);
        },
      });
      await expect(failSecond.attach({ presentation: two })).rejects.toThrow(/second volume/);
      expect(loopsBoundTo(image2)).toEqual([]);
      expect(loopsBoundTo(image)).toEqual([]);
      expect((await listMountPoints()).filter((p) => p.startsWith(dir))).toEqual([]);
      expect(existsSync(path.join(mountRoot, two.name))).toBe(false);
    } finally {
      for (const loop of loopsBoundTo(image2)) execFileSync('losetup', ['-d', loop]);
    }
  });

  it('refuses a LUN whose disk has no basic-data partition, and cleans up', async () => {
    const blank = path.join(dir, 'blank.img');
    await fs.writeFile(blank, '');
    await fs.truncate(blank, 4 * 1024 * 1024);
    execFileSync('sfdisk', ['-q', blank], { input: 'label: gpt\nstart=2048, size=4096, type=E3C9E316-0B5C-4DB8-817D-F92DF00215AE\n' });
    const runner = createExecRunner();
    const proxy = createLinuxProxy(
      { mountRoot: path.join(dir, 'mnt'), stateDir: path.join(dir, 'state') },
      { runner, discovery: loopDiscovery({ [naa]: blank }, runner) },
    );
    await expect(proxy.attach({ presentation })).rejects.toThrow(/has no basic-data partition \(gpt; found E3C9E316/);
    expect(loopsBoundTo(blank)).toEqual([]);
  });
});
