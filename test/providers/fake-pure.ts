import { randomBytes, randomUUID } from 'node:crypto';
import { FakeHttp, filterMatcher, type FakeReply, type FakeRequest } from './fake-http.js';

/**
 * Volume, host and protection-group names: 1–63 letters, digits and `-`, beginning and ending with a
 * letter or digit (openstack/cinder cinder/volume/drivers/pure.py `MAX_VOL_LENGTH = 63`; the same
 * character rule pure-flasharray-2.56.yaml states for names); `pod::` in front for objects in a pod.
 */
const OBJECT_NAME = /^([A-Za-z0-9][A-Za-z0-9-]{0,61}[A-Za-z0-9]|[A-Za-z0-9])$/;
/** A snapshot's full name `SOURCE.SUFFIX` is at most 96 characters (pure.py `MAX_SNAP_LENGTH = 96`). */
const SNAPSHOT_NAME_MAX = 96;
const nameOk = (n: string) => {
  const parts = n.split('::');
  return parts.length <= 2 && parts.every((p) => OBJECT_NAME.test(p));
};
const podOf = (n: string) => (n.includes('::') ? n.split('::')[0] : undefined);

/**
 * A fake FlashArray answering REST 2.x in the documented shapes (array-apis.md §1): `names`-addressed
 * objects, `items` envelopes with `continuation_token` paging (set `pageSize` small to test paging), errors
 * `{errors:[{context, message}]}` with HTTP 400, login with `api-token` → `x-auth-token`, 401 on an
 * unknown session, two-stage destroy then eradicate.
 *
 * Rules it enforces, each from its source:
 * - paging needs `limit`: "Pagination requires the `limit` and `continuation_token` query parameters"
 *   (pure-flasharray-2.56.yaml `Continuation_token`); a page is at most the array's maximum (`Limit`);
 *   without `limit` the fake answers one maximum page and no token [I: what a client without `limit` sees];
 * - object names (`OBJECT_NAME`, `SNAPSHOT_NAME_MAX` above);
 * - a destroyed object keeps its name until eradicated (array-apis.md §1 "Destroy is two-stage"), so
 *   creating that name again is "already exists";
 * - SafeMode (`safeMode`, Purity ≥ 6.3.4): a new volume joins the default protection group unless
 *   `with_default_protection=false` is sent, and eradication is refused (pure.py `pure_safemode_enabled`);
 * - an initiator belongs to one host; WWNs are kept as 16 upper-case hex digits and `filter=wwns='…'`
 *   matches that spelling only (pure.py `_get_host` upper-cases the WWN it filters on) [kept spelling UNCONFIRMED];
 * - protection groups and their volumes are in the same pod (pure.py `_get_pgroup_name` puts the group in the pod).
 */
export class FakePure {
  readonly http: FakeHttp;
  readonly sessions = new Set<string>();
  /** every session token ever issued (for the secrets test) */
  readonly issued: string[] = [];
  volumes = new Map<string, Obj>();
  snaps = new Map<string, Obj>();
  pgroups = new Map<string, Obj & { members: string[] }>();
  pgsnaps = new Map<string, Obj>();
  hosts = new Map<string, Obj>();
  connections: Array<{ host: string; volume: string; lun: number }> = [];
  pageSize = 100;
  /** SafeMode on: default protection for new volumes, no eradication */
  safeMode = false;
  /** members of the default protection group SafeMode puts new volumes in */
  readonly defaultProtected = new Set<string>();
  ports: Array<Record<string, string | null>> = [
    { name: 'CT0.ETH4', iqn: 'iqn.2010-06.com.purestorage:flasharray.fake', portal: '192.0.2.20:3260', wwn: null, nqn: null },
    { name: 'CT0.FC0', iqn: null, portal: null, wwn: '52:4A:93:7A:00:00:00:01', nqn: null },
  ];
  private clock = 1_700_000_000_000;

  constructor(
    readonly origin: string,
    readonly apiToken: string,
    readonly version = '2.26',
  ) {
    this.http = new FakeHttp(origin, (req) => this.handle(req));
  }

  /** Adds a volume and returns its serial (24 upper-case hex digits). */
  addVolume(name: string): string {
    const serial = randomBytes(12).toString('hex').toUpperCase();
    this.volumes.set(name, { id: randomUUID(), name, serial, provisioned: 1 << 30, created: this.clock++, destroyed: false, source: null });
    return serial;
  }

  close(): void {
    this.http.close();
  }

  /** Forgets every session: the next call gets a 401 (an expired session). */
  expireSessions(): void {
    this.sessions.clear();
  }

  private handle(req: FakeRequest): FakeReply {
    const base = `/api/${this.version}`;
    if (!req.path.startsWith(base)) return err(404, 'path', `no such path ${req.path}`);
    const path = req.path.slice(base.length);
    const q = req.query;
    if (path === '/login' && req.method === 'POST') {
      if (req.headers['api-token'] !== this.apiToken) return err(401, 'api-token', 'Invalid API token.');
      const token = randomUUID();
      this.sessions.add(token);
      this.issued.push(token);
      return { status: 200, body: { items: [{ username: 'hvsnap' }] }, headers: { 'x-auth-token': token } };
    }
    if (!this.sessions.has(req.headers['x-auth-token'] ?? '')) return err(401, 'x-auth-token', 'Authentication failed: session expired.');
    if (path === '/logout') {
      this.sessions.delete(req.headers['x-auth-token']!);
      return { status: 200, body: {} };
    }
    const names = q.names ? q.names.split(',') : undefined;
    if (req.method === 'POST' && ['/volumes', '/hosts', '/protection-groups'].includes(path) && names?.some((n) => !nameOk(n))) {
      return err(
        400,
        names.find((n) => !nameOk(n)),
        'Invalid name: use 1 to 63 letters, digits and dashes, beginning and ending with a letter or digit.',
      );
    }
    const key = `${req.method} ${path}`;
    switch (key) {
      case 'GET /arrays':
        return this.page([{ id: 'a1', name: 'fa-test', os: 'Purity//FA', version: '6.5.0' }], q);
      case 'GET /ports':
        return this.page(this.ports, q);
      case 'GET /volumes':
        return this.get(this.volumes, q, names);
      case 'POST /volumes': {
        const name = names![0]!;
        if (this.volumes.has(name)) return err(400, name, 'Volume already exists.');
        const src = this.snaps.get(req.body?.source?.name ?? '');
        if (!src || src.destroyed) return err(400, req.body?.source?.name, 'No such volume or snapshot.');
        const v = {
          id: randomUUID(),
          name,
          serial: randomBytes(12).toString('hex').toUpperCase(),
          provisioned: src.provisioned,
          created: this.clock++,
          destroyed: false,
          source: { name: src.name, id: src.id },
        };
        this.volumes.set(name, v);
        if (this.safeMode && q.with_default_protection !== 'false') this.defaultProtected.add(name);
        return { status: 200, body: { items: [v] } };
      }
      case 'PATCH /volumes': {
        if (req.body?.name !== undefined) {
          const [from] = names!;
          const v = this.volumes.get(from!);
          if (!v) return err(400, from, `${from} does not exist.`);
          if (!nameOk(req.body.name)) return err(400, req.body.name, 'Invalid name.');
          if (this.volumes.has(req.body.name)) return err(400, req.body.name, 'Volume already exists.');
          this.volumes.delete(from!);
          v.name = req.body.name;
          this.volumes.set(v.name, v);
          for (const c of this.connections) if (c.volume === from) c.volume = v.name;
          if (this.defaultProtected.delete(from!)) this.defaultProtected.add(v.name);
          return { status: 200, body: { items: [v] } };
        }
        return this.patch(this.volumes, names!, req.body);
      }
      case 'DELETE /volumes':
        return this.eradicate(this.volumes, names!, (n) =>
          this.connections.some((c) => c.volume === n) ? 'Volume cannot be deleted due to existing connections.' : undefined,
        );
      case 'GET /volume-snapshots':
        return this.get(this.snaps, q, names);
      case 'POST /volume-snapshots': {
        const sources = q.source_names!.split(',');
        for (const s of sources) if (!this.volumes.get(s) || this.volumes.get(s)!.destroyed) return err(400, s, 'Volume does not exist.');
        for (const s of sources) if (this.snaps.has(`${s}.${req.body.suffix}`)) return err(400, `${s}.${req.body.suffix}`, 'Snapshot already exists.');
        for (const s of sources)
          if (!OBJECT_NAME.test(req.body.suffix ?? '') || `${s}.${req.body.suffix}`.length > SNAPSHOT_NAME_MAX)
            return err(400, `${s}.${req.body.suffix}`, 'Invalid snapshot suffix or name too long.');
        const made = sources.map((s) => this.snap(s, `${s}.${req.body.suffix}`, req.body.suffix));
        return { status: 200, body: { items: made } };
      }
      case 'PATCH /volume-snapshots':
        return this.patch(this.snaps, names!, req.body);
      case 'DELETE /volume-snapshots':
        return this.eradicate(this.snaps, names!);
      case 'POST /protection-groups': {
        if (this.pgroups.has(names![0]!)) return err(400, names![0], 'Protection group already exists.');
        this.pgroups.set(names![0]!, { id: randomUUID(), name: names![0]!, destroyed: false, members: [] });
        return { status: 200, body: { items: [{ name: names![0] }] } };
      }
      case 'PATCH /protection-groups':
        return this.patch(this.pgroups, names!, req.body);
      case 'DELETE /protection-groups':
        return this.eradicate(this.pgroups, names!);
      case 'GET /protection-groups/volumes': {
        const pg = this.pgroups.get(q.group_names!);
        if (!pg) return err(400, q.group_names, 'Protection group does not exist.');
        return this.page(
          pg.members.map((m) => ({ group: { name: pg.name }, member: { name: m } })),
          q,
        );
      }
      case 'POST /protection-groups/volumes': {
        const pg = this.pgroups.get(q.group_names!);
        if (!pg) return err(400, q.group_names, 'Protection group does not exist.');
        const members = q.member_names!.split(',');
        for (const m of members) if (!this.volumes.has(m)) return err(400, m, 'Volume does not exist.');
        for (const m of members) if (podOf(m) !== podOf(pg.name)) return err(400, m, 'Volume and protection group must be in the same pod.');
        if (members.every((m) => pg.members.includes(m))) return err(400, pg.name, 'Protection group already includes the volume.');
        pg.members.push(...members.filter((m) => !pg.members.includes(m)));
        return { status: 200, body: { items: members.map((m) => ({ group: { name: pg.name }, member: { name: m } })) } };
      }
      case 'GET /protection-group-snapshots':
        return this.get(this.pgsnaps, q, names);
      case 'POST /protection-group-snapshots': {
        const pg = this.pgroups.get(q.source_names!);
        if (!pg || pg.destroyed) return err(400, q.source_names, 'Protection group does not exist.');
        const name = `${pg.name}.${req.body.suffix}`;
        if (this.pgsnaps.has(name)) return err(400, name, 'Snapshot already exists.');
        if (!OBJECT_NAME.test(req.body.suffix ?? '')) return err(400, name, 'Invalid snapshot suffix.');
        const s = { id: randomUUID(), name, suffix: req.body.suffix, created: this.clock++, destroyed: false, source: { name: pg.name } };
        this.pgsnaps.set(name, s);
        for (const m of pg.members) this.snap(m, `${name}.${m}`, req.body.suffix);
        return { status: 200, body: { items: [s] } };
      }
      case 'PATCH /protection-group-snapshots': {
        for (const n of names!) for (const s of this.snaps.values()) if (s.name.startsWith(`${n}.`)) s.destroyed = req.body.destroyed;
        return this.patch(this.pgsnaps, names!, req.body);
      }
      case 'DELETE /protection-group-snapshots': {
        for (const n of names!) for (const s of [...this.snaps.values()]) if (s.name.startsWith(`${n}.`)) this.snaps.delete(s.name);
        return this.eradicate(this.pgsnaps, names!);
      }
      case 'GET /hosts':
        return this.get(this.hosts, q, names);
      case 'POST /hosts': {
        if (this.hosts.has(names![0]!)) return err(400, names![0], 'Host already exists.');
        const wwns = (req.body?.wwns ?? []).map((w: string) => w.replace(/:/g, '').toUpperCase());
        const iqns = (req.body?.iqns ?? []).map((i: string) => i.toLowerCase());
        for (const h of this.hosts.values()) {
          const taken = wwns.find((w: string) => h.wwns.includes(w)) ?? iqns.find((i: string) => h.iqns.includes(i));
          if (taken) return err(400, taken, `The specified initiator is already in use by host ${h.name}.`);
        }
        const h = { name: names![0]!, iqns, wwns, nqns: req.body?.nqns ?? [], destroyed: false };
        this.hosts.set(h.name, h);
        return { status: 200, body: { items: [h] } };
      }
      case 'DELETE /hosts': {
        const n = names![0]!;
        if (!this.hosts.has(n)) return err(400, n, 'Host does not exist.');
        if (this.connections.some((c) => c.host === n)) return err(400, n, 'Host has connections.');
        this.hosts.delete(n);
        return { status: 200, body: {} };
      }
      case 'GET /connections': {
        const list = this.connections.filter((c) => (!q.host_names || c.host === q.host_names) && (!q.volume_names || c.volume === q.volume_names));
        return this.page(list.map(conn), q);
      }
      case 'POST /connections': {
        if (!this.hosts.has(q.host_names!)) return err(400, q.host_names, 'Host does not exist.');
        if (!this.volumes.has(q.volume_names!)) return err(400, q.volume_names, 'Volume does not exist.');
        if (this.connections.some((c) => c.host === q.host_names && c.volume === q.volume_names)) return err(400, q.volume_names, 'Connection already exists.');
        const c = { host: q.host_names!, volume: q.volume_names!, lun: 1 + this.connections.filter((x) => x.host === q.host_names).length };
        this.connections.push(c);
        return { status: 200, body: { items: [conn(c)] } };
      }
      case 'DELETE /connections': {
        const before = this.connections.length;
        this.connections = this.connections.filter((c) => !(c.host === q.host_names && c.volume === q.volume_names));
        return before === this.connections.length ? err(400, q.volume_names, 'Connection does not exist.') : { status: 200, body: {} };
      }
    }
    return err(404, path, `fake: ${key} not implemented`);
  }

  private snap(source: string, name: string, suffix: string): Obj {
    const v = this.volumes.get(source)!;
    const s = {
      id: randomUUID(),
      name,
      suffix,
      serial: randomBytes(12).toString('hex').toUpperCase(),
      created: this.clock++,
      provisioned: v.provisioned,
      destroyed: false,
      source: { name: v.name, id: v.id },
    };
    this.snaps.set(name, s);
    return s;
  }

  private get(map: Map<string, Obj>, q: Record<string, string>, names?: string[]): FakeReply {
    if (names) {
      const missing = names.find((n) => !map.has(n));
      if (missing) return err(400, missing, `${missing} does not exist.`);
    }
    const match = filterMatcher(q.filter);
    const destroyed = q.destroyed === undefined ? undefined : q.destroyed === 'true';
    const list = [...map.values()].filter((o) => (!names || names.includes(o.name)) && match(o) && (destroyed === undefined || !!o.destroyed === destroyed));
    return this.page(list, q);
  }

  private page(list: unknown[], q: Record<string, string>): FakeReply {
    const offset = Number(q.continuation_token ?? 0);
    const limit = Math.min(q.limit === undefined ? this.pageSize : Number(q.limit), this.pageSize);
    const items = list.slice(offset, offset + limit);
    const more = offset + limit < list.length;
    // a token only when the client pages with `limit` (pure-flasharray-2.56.yaml Continuation_token)
    const token = more && q.limit !== undefined ? String(offset + limit) : null;
    return {
      status: 200,
      body: { items, continuation_token: token, more_items_remaining: more, total_item_count: list.length },
      headers: token ? { 'x-next-token': token } : {},
    };
  }

  private patch(map: Map<string, Obj>, names: string[], body: { destroyed?: boolean }): FakeReply {
    for (const n of names) if (!map.has(n)) return err(400, n, `${n} does not exist.`);
    for (const n of names) {
      const o = map.get(n)!;
      if (body.destroyed && this.connections.some((c) => c.volume === n)) return err(400, n, 'Volume cannot be deleted due to existing connections.');
      o.destroyed = !!body.destroyed;
      if (o.destroyed) o.time_remaining = 86_400_000;
    }
    // the members list is the fake's own bookkeeping, not a field of the object
    return {
      status: 200,
      body: {
        items: names.map((n) => {
          const { members: _m, ...o } = map.get(n)! as Obj & { members?: unknown };
          return o;
        }),
      },
    };
  }

  private eradicate(map: Map<string, Obj>, names: string[], veto?: (n: string) => string | undefined): FakeReply {
    for (const n of names) {
      if (!map.has(n)) return err(400, n, `${n} does not exist.`);
      const why = veto?.(n);
      if (why) return err(400, n, why);
      if (!map.get(n)!.destroyed) return err(400, n, 'Object must be destroyed before it can be eradicated.');
      if (this.safeMode) return err(400, n, 'Eradication is disabled by SafeMode.');
    }
    for (const n of names) map.delete(n);
    return { status: 200, body: {} };
  }
}

type Obj = Record<string, any> & { name: string; destroyed?: boolean };

function conn(c: { host: string; volume: string; lun: number }) {
  return { host: { name: c.host }, host_group: { name: null }, volume: { name: c.volume }, lun: c.lun };
}

function err(status: number, context: unknown, message: string): FakeReply {
  return { status, body: { errors: [{ context: String(context ?? ''), message }] } };
}
