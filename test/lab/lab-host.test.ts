import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createLab, labDiskDigest, labDiskFile, labSettle, labWrite, openLab, parseRctId } from '../../src/lab/index.js';
import { qemuRawDigest } from '../helpers/digests.js';
import { skipUnless } from '../helpers/requirements.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'hvsnap-lab-'));
  await createLab({ dir: join(dir, 'lab'), vms: 2, volumes: 1, diskSizeBytes: 8 << 20, dataBytes: 2 << 20 });
});
afterEach(async () => rm(dir, { recursive: true, force: true }));

const noQemu = skipUnless('the lab host read by qemu-img', { tools: ['qemu-img'] });

describe('the lab host keeps the Hyper-V semantics that matter', () => {
  it.skipIf(noQemu)('a recovery checkpoint freezes the base VHDX; writes land in the AVHDX until the merge', async () => {
    const lab = join(dir, 'lab');
    const host = openLab(lab);
    const [vm] = await host.listVms({ names: ['vm-01'] });
    const base = await labDiskFile(lab, 'vm-01', vm.disks[0].id);
    const before = await qemuRawDigest(base);
    const cp = await host.createCheckpoint({ vmId: vm.id, name: 'hvsnap:t1', consistency: 'application' });
    expect((await host.listVms({ names: ['vm-01'] }))[0].disks[0].path).toMatch(/\.avhdx$/);
    await labWrite({ dir: lab, vm: 'vm-01', count: 8, seed: 1 });
    expect(await qemuRawDigest(base)).toBe(before); // frozen, read by qemu-img
    const viewDuring = await labDiskDigest(lab, 'vm-01', vm.disks[0].id);
    const rp = await host.convertToReferencePoint({ checkpoint: cp });
    expect((await host.listLeftovers({ tagPrefix: 'hvsnap:' })).checkpoints).toEqual([]);
    expect(rp.disks[0].rctId).toMatch(/^rctX:[0-9a-f]{8}(:[0-9a-f]{4}){3}:[0-9a-f]{12}:[0-9a-f]{8}$/);
    await labSettle(lab);
    expect(await labDiskDigest(lab, 'vm-01', vm.disks[0].id)).toBe(viewDuring); // the merge lost nothing
    expect(await qemuRawDigest(base)).not.toBe(before);
  });

  it('changed ranges since a reference point; unknown or reset ids are errors, never empty answers', async () => {
    const lab = join(dir, 'lab');
    const host = openLab(lab);
    const [vm] = await host.listVms({ names: ['vm-02'] });
    const cp1 = await host.createCheckpoint({ vmId: vm.id, name: 'hvsnap:a', consistency: 'crash' });
    const rp1 = await host.convertToReferencePoint({ checkpoint: cp1 });
    const w = await labWrite({ dir: lab, vm: 'vm-02', count: 3, sizeBytes: 4096, seed: 5 });
    const cp2 = await host.createCheckpoint({ vmId: vm.id, name: 'hvsnap:b', consistency: 'crash' });
    const ranges = await host.changedRanges({ checkpoint: cp2, diskId: vm.disks[0].id, sinceRctId: rp1.disks[0].rctId });
    const covered = (o: number) => ranges.some((r) => o >= r.offset && o < r.offset + r.length);
    for (const x of w.writes) expect(covered(x.offset) && covered(x.offset + x.length - 1)).toBe(true);
    expect(ranges.reduce((n, r) => n + r.length, 0)).toBeLessThanOrEqual(3 * 4096);
    const bogus = rp1.disks[0].rctId.replace(/:[0-9a-f]{8}$/, ':00000063');
    await expect(host.changedRanges({ checkpoint: cp2, diskId: vm.disks[0].id, sinceRctId: bogus })).rejects.toMatchObject({ code: 'rct_invalid' });
    await host.deleteReferencePoint({ vmId: vm.id, referencePointId: rp1.id });
    await expect(host.changedRanges({ checkpoint: cp2, diskId: vm.disks[0].id, sinceRctId: rp1.disks[0].rctId })).rejects.toMatchObject({
      code: 'rct_invalid',
    });
    expect(parseRctId(rp1.disks[0].rctId)?.generation).toBeGreaterThan(0);
    await host.deleteCheckpoint({ vmId: vm.id, checkpointId: cp2.id });
    await host.deleteCheckpoint({ vmId: vm.id, checkpointId: cp2.id }); // gone already: still fine
  });

  it.skipIf(noQemu)('an array snapshot shares files; the host breaks the sharing before it writes', async () => {
    const lab = join(dir, 'lab');
    const host = openLab(lab);
    const [vm] = await host.listVms({ names: ['vm-01'] });
    const base = await labDiskFile(lab, 'vm-01', vm.disks[0].id);
    const { labProvider } = await import('../../providers/lab/index.js');
    const { silentLogger } = await import('../../src/core/logger.js');
    const p = await labProvider.create(labProvider.configSchema.parse({ volumesDir: join(lab, 'volumes'), stateDir: join(lab, 'array') }), {
      logger: silentLogger,
    });
    const [v] = await p.resolveVolumes({ identities: [(await host.resolveVolume({ path: vm.disks[0].path })).identity] });
    await p.createSnapshot({ name: 'snap-1', volumeIds: [v.id], consistencyGroup: false });
    expect((await stat(base)).nlink).toBe(2);
    const snapFile = join(lab, 'array', 'snapshots', 'snap-1', v.id, 'VMs', 'vm-01', 'Virtual Hard Disks', 'vm-01-disk0.vhdx');
    const frozen = await qemuRawDigest(snapFile);
    await labWrite({ dir: lab, vm: 'vm-01', count: 4, seed: 2 });
    expect((await stat(base)).nlink).toBe(1);
    expect(await qemuRawDigest(snapFile)).toBe(frozen);
  });
});
