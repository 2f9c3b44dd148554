import type { VolumeIdentity } from '../../src/core/types.js';
import { sameIdentity } from '../sdk/disk-identity.js';
import type { ArrayVolume, HostSpec, Provider, ProviderCapabilities, SnapshotSet } from '../sdk/provider.js';
import { check, expectKind } from './check.js';
import type { ResourceTracker } from './tracker.js';

/** What each case gets. */
export interface CaseContext {
  provider: Provider;
  /** the identities under test, resolved once before the cases */
  volumes: ArrayVolume[];
  host: HostSpec;
  /** a Fibre Channel host (WWPNs only), when the run has one */
  fcHost?: HostSpec;
  /** puts these volumes into a group the array's user made (not hvsnap), when the array has such groups */
  foreignGroup?: (volumeIds: string[]) => Promise<() => Promise<void>>;
  tracker: ResourceTracker;
  /** a unique, array-safe name for this case: prefix + short tag */
  name(tag: string): string;
  /** the prefix every name of this run starts with */
  prefix: string;
  /** how many times idempotent calls are repeated */
  repeat: number;
  /** an identity no array knows */
  unknownIdentity: VolumeIdentity;
}

export interface ConformanceCase {
  /** groups cases like csi-sanity's DescribeSanity blocks */
  group: 'identity' | 'snapshots' | 'consistency groups' | 'presentation' | 'concurrency';
  title: string;
  /** a reason to skip, from declared capabilities (never by catching errors) */
  skip?(caps: ProviderCapabilities, ctx: { volumeCount: number; fcHost: boolean; foreignGroup: boolean; findHost: boolean }): string | undefined;
  run(ctx: CaseContext): Promise<void>;
}

const needCg = (caps: ProviderCapabilities, ctx: { volumeCount: number }) =>
  !caps.consistencyGroups ? 'consistencyGroups not declared' : ctx.volumeCount < 2 ? 'needs at least 2 volumes' : undefined;

async function snap(ctx: CaseContext, tag: string, volumeIds: string[], consistencyGroup = volumeIds.length > 1): Promise<SnapshotSet> {
  const name = ctx.tracker.snapshot(ctx.name(tag));
  return ctx.tracker.handle(await ctx.provider.createSnapshot({ name, volumeIds, consistencyGroup }));
}

/** No presented LUN may carry the identity of any volume the run knows (a source volume exposed to the proxy). */
function neverASource(ctx: CaseContext, p: { luns: Array<{ identity: VolumeIdentity; volumeId: string }> }, what: string): void {
  for (const l of p.luns) {
    const source = ctx.volumes.find((v) => sameIdentity(v.identity, l.identity));
    check(
      !source,
      `${what}: the LUN presented for ${l.volumeId} has the identity ${l.identity.id} of source volume ${source?.id}: a presentation exposed a production volume`,
    );
  }
}

function coversExactly(set: SnapshotSet, volumeIds: string[], what: string): void {
  const got = set.volumes.map((v) => v.volumeId).sort();
  check(
    JSON.stringify(got) === JSON.stringify([...volumeIds].sort()),
    `${what}: snapshot set covers [${got.join(', ')}], expected [${[...volumeIds].sort().join(', ')}]`,
  );
}

async function listed(ctx: CaseContext, name: string, prefix = ctx.prefix): Promise<SnapshotSet | undefined> {
  return (await ctx.provider.listSnapshots({ prefix })).find((s) => s.name === name);
}

/** The cases, in the order they run. */
export const conformanceCases: ConformanceCase[] = [
  {
    group: 'identity',
    title: 'probe reports the vendor',
    async run(ctx) {
      const r = await ctx.provider.probe({});
      check(r.vendor.length > 0, 'probe: vendor is empty');
    },
  },
  {
    group: 'identity',
    title: 'resolveVolumes resolves every identity, in order, with the same identity',
    async run(ctx) {
      const again = await ctx.provider.resolveVolumes({ identities: ctx.volumes.map((v) => v.identity) });
      again.forEach((v, i) => {
        check(sameIdentity(v.identity, ctx.volumes[i]!.identity), `resolveVolumes[${i}]: identity ${v.identity.id} is not ${ctx.volumes[i]!.identity.id}`);
        check(v.id === ctx.volumes[i]!.id, `resolveVolumes[${i}]: id ${v.id} changed from ${ctx.volumes[i]!.id} (ids must be stable)`);
      });
    },
  },
  {
    group: 'identity',
    title: 'resolveVolumes of an unknown identity is not_found',
    async run(ctx) {
      await expectKind('resolveVolumes(unknown)', ctx.provider.resolveVolumes({ identities: [ctx.unknownIdentity] }), ['not_found']);
    },
  },
  {
    group: 'snapshots',
    title: 'createSnapshot of one volume; the same name again gives the same set',
    async run(ctx) {
      const vol = ctx.volumes[0]!.id;
      const first = await snap(ctx, 'one', [vol], false);
      coversExactly(first, [vol], 'createSnapshot');
      for (let i = 0; i < ctx.repeat; i++) {
        const again = await ctx.provider.createSnapshot({ name: first.name, volumeIds: [vol], consistencyGroup: false });
        check(again.id === first.id, `createSnapshot repeat ${i + 1}: id ${again.id} differs from ${first.id}`);
        check(JSON.stringify(again.volumes) === JSON.stringify(first.volumes), `createSnapshot repeat ${i + 1}: volumes differ`);
      }
    },
  },
  {
    group: 'snapshots',
    title: 'createSnapshot of an existing name with other volumes is already_exists',
    skip: (_caps, ctx) => (ctx.volumeCount < 2 ? 'needs at least 2 volumes' : undefined),
    async run(ctx) {
      const set = await snap(ctx, 'oth', [ctx.volumes[0]!.id], false);
      // CSI: the same name with different arguments must not silently return the old object
      await expectKind(
        'createSnapshot(same name, other volume)',
        ctx.provider.createSnapshot({ name: set.name, volumeIds: [ctx.volumes[1]!.id], consistencyGroup: false }),
        ['already_exists'],
      );
    },
  },
  {
    group: 'snapshots',
    title: 'a new snapshot is listed under its prefix and not under another',
    async run(ctx) {
      const set = await snap(ctx, 'lst', [ctx.volumes[0]!.id], false);
      const found = await listed(ctx, set.name);
      check(found, `listSnapshots({prefix: ${ctx.prefix}}) does not list ${set.name}`);
      check(found.id === set.id, `listSnapshots: id ${found.id} is not ${set.id}`);
      coversExactly(found, [ctx.volumes[0]!.id], 'listSnapshots');
      const other = await ctx.provider.listSnapshots({ prefix: `${ctx.prefix}zz` });
      check(!other.some((s) => s.name === set.name), `listSnapshots({prefix: ${ctx.prefix}zz}) lists ${set.name}`);
    },
  },
  {
    group: 'snapshots',
    title: 'deleteSnapshot removes the set; deleting it again succeeds',
    async run(ctx) {
      const set = await snap(ctx, 'del', [ctx.volumes[0]!.id], false);
      await ctx.provider.deleteSnapshot({ name: set.name, handle: set });
      check(!(await listed(ctx, set.name)), `${set.name} is still listed after deleteSnapshot`);
      for (let i = 0; i < ctx.repeat; i++) await ctx.provider.deleteSnapshot({ name: set.name, handle: set });
    },
  },
  {
    group: 'snapshots',
    title: 'deleteSnapshot of a name that never existed succeeds',
    async run(ctx) {
      await ctx.provider.deleteSnapshot({ name: ctx.name('never') });
    },
  },
  {
    group: 'snapshots',
    title: 'createSnapshot of an invalid volume id fails with not_found or invalid',
    async run(ctx) {
      const name = ctx.tracker.snapshot(ctx.name('bad'));
      await expectKind(
        'createSnapshot(invalid volume id)',
        ctx.provider.createSnapshot({ name, volumeIds: ['hvsnap-no-such-volume-0'], consistencyGroup: false }),
        ['not_found', 'invalid'],
        true,
      );
    },
  },
  {
    group: 'consistency groups',
    title: 'one consistency-group snapshot covers every volume; the same name again gives the same set',
    skip: needCg,
    async run(ctx) {
      const ids = ctx.volumes.map((v) => v.id);
      const set = await snap(ctx, 'cg', ids, true);
      check(set.consistencyGroup, 'createSnapshot(consistencyGroup: true) returned consistencyGroup false');
      coversExactly(set, ids, 'CG snapshot');
      for (let i = 0; i < ctx.repeat; i++) {
        const again = await ctx.provider.createSnapshot({ name: set.name, volumeIds: ids, consistencyGroup: true });
        check(again.id === set.id, `CG createSnapshot repeat ${i + 1}: id ${again.id} differs from ${set.id}`);
      }
      const found = await listed(ctx, set.name);
      check(found && found.consistencyGroup, `listSnapshots does not list CG set ${set.name} as a consistency group`);
      coversExactly(found, ids, 'listed CG snapshot');
      await ctx.provider.deleteSnapshot({ name: set.name, handle: set });
      check(!(await listed(ctx, set.name)), `CG set ${set.name} is still listed after deleteSnapshot`);
    },
  },
  {
    group: 'presentation',
    title: 'present, present again, unpresent, unpresent again, delete',
    async run(ctx) {
      const caps = ctx.provider.capabilities;
      const vols = caps.consistencyGroups ? ctx.volumes : ctx.volumes.slice(0, 1);
      const set = await snap(
        ctx,
        'pres',
        vols.map((v) => v.id),
      );
      const name = ctx.tracker.presentation(ctx.name('pres'));
      const p = await ctx.provider.present({ name, snapshot: set, host: ctx.host });
      check(p.snapshotName === set.name, `present: snapshotName ${p.snapshotName} is not ${set.name}`);
      check(p.luns.length === vols.length, `present: ${p.luns.length} LUNs for ${vols.length} volumes`);
      for (const v of vols) {
        const lun = p.luns.find((l) => l.volumeId === v.id);
        check(lun, `present: no LUN for volume ${v.id}`);
        check(sameIdentity(lun.sourceIdentity, v.identity), `present: LUN of ${v.id} has sourceIdentity ${lun.sourceIdentity.id}, expected ${v.identity.id}`);
        if (caps.presentation === 'copy') check(!sameIdentity(lun.identity, v.identity), `present: the copy of ${v.id} has the source's own identity`);
      }
      for (let i = 0; i < ctx.repeat; i++) {
        const again = await ctx.provider.present({ name, snapshot: set, host: ctx.host });
        const a = again.luns
          .map((l) => l.identity.id)
          .sort()
          .join();
        const b = p.luns
          .map((l) => l.identity.id)
          .sort()
          .join();
        check(a === b, `present repeat ${i + 1}: LUN identities [${a}] differ from [${b}]`);
      }
      for (let i = 0; i <= ctx.repeat; i++) await ctx.provider.unpresent({ name });
      await ctx.provider.deleteSnapshot({ name: set.name, handle: set });
      check(!(await listed(ctx, set.name)), `${set.name} is still listed after unpresent and deleteSnapshot`);
    },
  },
  {
    group: 'presentation',
    title: 'present of a snapshot that does not exist is not_found',
    async run(ctx) {
      const name = ctx.tracker.presentation(ctx.name('pmiss'));
      const gone = await snap(ctx, 'pgone', [ctx.volumes[0]!.id], false);
      await ctx.provider.deleteSnapshot({ name: gone.name, handle: gone });
      await expectKind('present(deleted snapshot)', ctx.provider.present({ name, snapshot: gone, host: ctx.host }), ['not_found']);
    },
  },
  {
    group: 'presentation',
    title: 'findHost finds no host for new initiators, then the one ensureHost made (as found, same id), and none after removeHost',
    skip: (caps, ctx) =>
      !ctx.findHost
        ? 'findHost not implemented (optional: without it cleanup cannot name a host a run that died making it may have left)'
        : caps.transports?.every((t) => t === 'folder')
          ? 'the array presents folders by host name: it keeps no host objects'
          : undefined,
    async run(ctx) {
      const tag = ctx.name('fh');
      const spec = { name: tag, iqns: [`iqn.2026-12.io.hvsnap.conformance:${tag.toLowerCase().replace(/[^a-z0-9.-]/g, '-')}`], osType: ctx.host.osType };
      const before = await ctx.provider.findHost!({ host: spec });
      check(before === undefined, `findHost of initiators no host has: found ${before?.name}`);
      const made = await ctx.provider.ensureHost({ host: spec });
      try {
        check(made.created, `ensureHost of new initiators: created is false (host ${made.name})`);
        const found = await ctx.provider.findHost!({ host: spec });
        check(found && found.id === made.id && !found.created, `findHost after ensureHost: ${JSON.stringify(found)}, expected id ${made.id}, created false`);
      } finally {
        await ctx.provider.removeHost({ host: made });
      }
      const after = await ctx.provider.findHost!({ host: spec });
      check(after === undefined, `findHost after removeHost: host ${after?.name} is still found`);
    },
  },
  {
    group: 'presentation',
    title: 'unpresent of a name never presented succeeds',
    async run(ctx) {
      await ctx.provider.unpresent({ name: ctx.name('upnever') });
    },
  },
  {
    group: 'concurrency',
    title: 'concurrent creates of different names all succeed and are all listed',
    async run(ctx) {
      const vol = ctx.volumes[0]!.id;
      const sets = await Promise.all(['ca', 'cb', 'cc'].map((t) => snap(ctx, t, [vol], false)));
      const names = new Set((await ctx.provider.listSnapshots({ prefix: ctx.prefix })).map((s) => s.name));
      for (const s of sets) check(names.has(s.name), `concurrent create: ${s.name} is not listed`);
      await Promise.all(sets.map((s) => ctx.provider.deleteSnapshot({ name: s.name, handle: s })));
    },
  },
  {
    group: 'concurrency',
    title: 'concurrent creates of the same name give one set',
    async run(ctx) {
      const vol = ctx.volumes[0]!.id;
      const name = ctx.tracker.snapshot(ctx.name('same'));
      const [a, b] = await Promise.all([0, 1].map(() => ctx.provider.createSnapshot({ name, volumeIds: [vol], consistencyGroup: false })));
      ctx.tracker.handle(a!);
      check(a!.id === b!.id, `concurrent same-name create: ids ${a!.id} and ${b!.id} differ`);
      const count = (await ctx.provider.listSnapshots({ prefix: ctx.prefix })).filter((s) => s.name === name).length;
      check(count === 1, `concurrent same-name create: ${count} sets named ${name}`);
    },
  },
  {
    group: 'presentation',
    title: 'presenting the same snapshot twice gives a distinct copy, and never a source volume',
    async run(ctx) {
      const caps = ctx.provider.capabilities;
      const vols = caps.consistencyGroups ? ctx.volumes : ctx.volumes.slice(0, 1);
      const set = await snap(
        ctx,
        'twice',
        vols.map((v) => v.id),
      );
      const first = await ctx.provider.present({ name: ctx.tracker.presentation(ctx.name('tw1')), snapshot: set, host: ctx.host });
      const second = await ctx.provider.present({ name: ctx.tracker.presentation(ctx.name('tw2')), snapshot: set, host: ctx.host });
      neverASource(ctx, first, 'first present');
      neverASource(ctx, second, 'second present of the same snapshot');
      check(second.luns.length === vols.length, `second present: ${second.luns.length} LUNs for ${vols.length} volumes`);
      if (caps.presentation === 'copy') {
        for (const l of second.luns) {
          const twin = first.luns.find((x) => sameIdentity(x.identity, l.identity));
          check(!twin, `second present: the LUN of ${l.volumeId} is the first presentation's copy ${l.identity.id}, not a distinct copy`);
        }
      }
    },
  },
  {
    group: 'snapshots',
    title: 'two retained snapshots of the same volumes both exist and both present',
    async run(ctx) {
      const caps = ctx.provider.capabilities;
      const vols = (caps.consistencyGroups ? ctx.volumes : ctx.volumes.slice(0, 1)).map((v) => v.id);
      const a = await snap(ctx, 'ret1', vols);
      const b = await snap(ctx, 'ret2', vols);
      check(a.id !== b.id, `two snapshots of the same volumes have the same id ${a.id}`);
      coversExactly(b, vols, 'second retained snapshot');
      const p = await ctx.provider.present({ name: ctx.tracker.presentation(ctx.name('retp')), snapshot: b, host: ctx.host });
      neverASource(ctx, p, 'present of the second retained snapshot');
      await ctx.provider.unpresent({ name: p.name });
      await ctx.provider.deleteSnapshot({ name: a.name, handle: a });
      check(await listed(ctx, b.name), `deleting ${a.name} removed the other retained snapshot ${b.name}`);
      const again = await ctx.provider.present({ name: ctx.tracker.presentation(ctx.name('retq')), snapshot: b, host: ctx.host });
      check(again.luns.length === vols.length, `present of ${b.name} after deleting ${a.name}: ${again.luns.length} LUNs for ${vols.length} volumes`);
    },
  },
  {
    group: 'consistency groups',
    title: 'volumes in a foreign group: the whole group is snapshotted; a set split across it is refused before anything is made',
    skip: (caps, ctx) =>
      needCg(caps, ctx) ??
      (ctx.volumeCount < 3
        ? 'needs at least 3 volumes'
        : !ctx.foreignGroup
          ? 'the run gives no foreignGroup arrangement (arrays without volume groups)'
          : undefined),
    async run(ctx) {
      const [v0, v1, v2] = ctx.volumes.map((v) => v.id);
      const undo = await ctx.foreignGroup!([v0!, v1!]);
      try {
        const set = await snap(ctx, 'fg', [v0!, v1!]);
        coversExactly(set, [v0!, v1!], 'snapshot of volumes in a foreign group');
        const second = await snap(ctx, 'fg2', [v0!, v1!]);
        coversExactly(second, [v0!, v1!], 'second snapshot of volumes in a foreign group');
        await expectKind('checkSnapshot(split over a foreign group)', ctx.provider.checkSnapshot({ volumeIds: [v1!, v2!], consistencyGroup: true }), [
          'wrong_state',
          'unsupported',
        ]);
        const name = ctx.tracker.snapshot(ctx.name('fgx'));
        await expectKind('createSnapshot(split over a foreign group)', ctx.provider.createSnapshot({ name, volumeIds: [v1!, v2!], consistencyGroup: true }), [
          'wrong_state',
          'unsupported',
        ]);
        check(!(await listed(ctx, name)), `a refused snapshot ${name} left a set behind`);
      } finally {
        await undo();
      }
    },
  },
  {
    group: 'snapshots',
    title: 'names at the maximum length and with characters arrays reject work, stay idempotent and distinct',
    async run(ctx) {
      const vol = ctx.volumes[0]!.id;
      const long = (tag: string) => `${ctx.name('')}_job.2026-12-03T10:00:00Z+tenant@site/${'x'.repeat(140)}-${tag}`;
      const a = ctx.tracker.snapshot(long('lna'));
      const b = ctx.tracker.snapshot(long('lnb'));
      const sa = ctx.tracker.handle(await ctx.provider.createSnapshot({ name: a, volumeIds: [vol], consistencyGroup: false }));
      const sb = ctx.tracker.handle(await ctx.provider.createSnapshot({ name: b, volumeIds: [vol], consistencyGroup: false }));
      check(sa.id !== sb.id, "two long names that differ only after the array's limit gave the same snapshot");
      const again = await ctx.provider.createSnapshot({ name: a, volumeIds: [vol], consistencyGroup: false });
      check(again.id === sa.id, `createSnapshot repeat of a long name: id ${again.id} differs from ${sa.id}`);
      const p = await ctx.provider.present({ name: ctx.tracker.presentation(long('lnp')), snapshot: sa, host: ctx.host });
      const p2 = await ctx.provider.present({ name: p.name, snapshot: sa, host: ctx.host });
      check(p.luns.map((l) => l.identity.id).join() === p2.luns.map((l) => l.identity.id).join(), 'present repeat of a long name gave other LUNs');
      await ctx.provider.unpresent({ name: p.name });
    },
  },
  {
    group: 'presentation',
    title: 'present to an FC host and to an iSCSI host: each gets its transport in the target',
    skip: (caps, ctx) =>
      !ctx.fcHost ? 'the run gives no fcHost' : caps.transports && !caps.transports.includes('fc') ? 'fc not in capabilities.transports' : undefined,
    async run(ctx) {
      const set = await snap(ctx, 'fc', [ctx.volumes[0]!.id], false);
      const fcName = ctx.tracker.presentation(ctx.name('fcp'));
      const fc = await ctx.provider.present({ name: fcName, snapshot: set, host: ctx.fcHost! });
      check(fc.target.transport === 'fc', `present to an FC host: transport ${fc.target.transport}`);
      check((fc.target.wwpns ?? []).length > 0, 'present to an FC host: the target lists no WWPNs');
      const again = await ctx.provider.present({
        name: fcName,
        snapshot: set,
        host: {
          ...ctx.fcHost!,
          wwns: ctx.fcHost!.wwns!.map((w) => (w.includes(':') ? w.replace(/:/g, '').toUpperCase() : w.match(/../g)!.join(':').toLowerCase())),
        },
      });
      check(again.host === fc.host, `the same FC host spelled another way became another array host (${again.host}, ${fc.host})`);
      const iscsi = await ctx.provider.present({ name: ctx.tracker.presentation(ctx.name('isp')), snapshot: set, host: ctx.host });
      if (ctx.host.iqns?.length) check(iscsi.target.transport === 'iscsi', `present to an iSCSI host: transport ${iscsi.target.transport}`);
    },
  },
  {
    group: 'identity',
    title: 'probe reports model and version, and the capabilities the provider declares',
    async run(ctx) {
      const r = await ctx.provider.probe({});
      if (r.capabilities)
        check(
          JSON.stringify(r.capabilities) === JSON.stringify(ctx.provider.capabilities),
          `probe capabilities ${JSON.stringify(r.capabilities)} differ from provider.capabilities ${JSON.stringify(ctx.provider.capabilities)}`,
        );
    },
  },
];
