import { randomBytes, randomUUID } from 'node:crypto';
import { FakeHttp, filterMatcher, type FakeReply, type FakeRequest } from './fake-http.js';

/**
 * A fake FlashArray answering REST 2.x in the documented shapes (array-apis.md §1): `names`-addressed
 * objects, `items` envelopes with `continuation_token` paging (set `pageSize` small to test paging), errors
 * `{errors:[{context, message}]}` with HTTP 400, login with `api-token` → `x-auth-token`, 401 on an
 * unknown session, two-stage destroy then eradicate.
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
  private clock = 1_700_000_000_000;

  constructor(readonly origin: string, readonly apiToken: string, readonly version = '2.26') {
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
    if (path === '/logout') { this.sessions.delete(req.headers['x-auth-token']!); return { status: 200, body: {} }; }
    const names = q.names ? q.names.split(',') : undefined;
    const key = `${req.method} ${path}`;
    switch (key) {
      case 'GET /arrays': return this.page([{ id: 'a1', name: 'fa-test', os: 'Purity//FA', version: '6.5.0' }], q);
      case 'GET /volumes': return this.get(this.volumes, q, names);
      case 'POST /volumes': {
        const name = names![0]!;
        if (this.volumes.has(name)) return err(400, name, 'Volume already exists.');
        const src = this.snaps.get(req.body?.source?.name ?? '');
        if (!src || src.destroyed) return err(400, req.body?.source?.name, 'No such volume or snapshot.');
        const v = { id: randomUUID(), name, serial: randomBytes(12).toString('hex').toUpperCase(), provisioned: src.provisioned, created: this.clock++, destroyed: false, source: { name: src.name, id: src.id } };
        this.volumes.set(name, v);
        return { status: 200, body: { items: [v] } };
      }
      case 'PATCH /volumes': return this.patch(this.volumes, names!, req.body);
      case 'DELETE /volumes': return this.eradicate(this.volumes, names!, (n) => this.connections.some((c) => c.volume === n) ? 'Volume cannot be deleted due to existing connections.' : undefined);
      case 'GET /volume-snapshots': return this.get(this.snaps, q, names);
      case 'POST /volume-snapshots': {
        const sources = q.source_names!.split(',');
        for (const s of sources) if (!this.volumes.get(s) || this.volumes.get(s)!.destroyed) return err(400, s, 'Volume does not exist.');
        for (const s of sources) if (this.snaps.has(`${s}.${req.body.suffix}`)) return err(400, `${s}.${req.body.suffix}`, 'Snapshot already exists.');
        const made = sources.map((s) => this.snap(s, `${s}.${req.body.suffix}`, req.body.suffix));
        return { status: 200, body: { items: made } };
      }
      case 'PATCH /volume-snapshots': return this.patch(this.snaps, names!, req.body);
      case 'DELETE /volume-snapshots': return this.eradicate(this.snaps, names!);
      case 'POST /protection-groups': {
        if (this.pgroups.has(names![0]!)) return err(400, names![0], 'Protection group already exists.');
        this.pgroups.set(names![0]!, { id: randomUUID(), name: names![0]!, destroyed: false, members: [] });
        return { status: 200, body: { items: [{ name: names![0] }] } };
      }
      case 'PATCH /protection-groups': return this.patch(this.pgroups, names!, req.body);
      case 'DELETE /protection-groups': return this.eradicate(this.pgroups, names!);
      case 'GET /protection-groups/volumes': {
        const pg = this.pgroups.get(q.group_names!);
        if (!pg) return err(400, q.group_names, 'Protection group does not exist.');
        return this.page(pg.members.map((m) => ({ group: { name: pg.name }, member: { name: m } })), q);
      }
      case 'POST /protection-groups/volumes': {
        const pg = this.pgroups.get(q.group_names!);
        if (!pg) return err(400, q.group_names, 'Protection group does not exist.');
        const members = q.member_names!.split(',');
        for (const m of members) if (!this.volumes.has(m)) return err(400, m, 'Volume does not exist.');
        if (members.every((m) => pg.members.includes(m))) return err(400, pg.name, 'Protection group already includes the volume.');
        pg.members.push(...members.filter((m) => !pg.members.includes(m)));
        return { status: 200, body: { items: members.map((m) => ({ group: { name: pg.name }, member: { name: m } })) } };
      }
      case 'GET /protection-group-snapshots': return this.get(this.pgsnaps, q, names);
      case 'POST /protection-group-snapshots': {
        const pg = this.pgroups.get(q.source_names!);
        if (!pg || pg.destroyed) return err(400, q.source_names, 'Protection group does not exist.');
        const name = `${pg.name}.${req.body.suffix}`;
        if (this.pgsnaps.has(name)) return err(400, name, 'Snapshot already exists.');
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
      case 'GET /hosts': return this.get(this.hosts, q, names);
      case 'POST /hosts': {
        if (this.hosts.has(names![0]!)) return err(400, names![0], 'Host already exists.');
        const h = { name: names![0]!, iqns: req.body?.iqns ?? [], wwns: req.body?.wwns ?? [], nqns: req.body?.nqns ?? [], destroyed: false };
        this.hosts.set(h.name, h);
        return { status: 200, body: { items: [h] } };
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
    const s = { id: randomUUID(), name, suffix, serial: randomBytes(12).toString('hex').toUpperCase(), created: this.clock++, provisioned: v.provisioned, destroyed: false, source: { name: v.name, id: v.id } };
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
    const limit = Number(q.limit ?? this.pageSize);
    const items = list.slice(offset, offset + limit);
    const more = offset + limit < list.length;
    return { status: 200, body: { items, continuation_token: more ? String(offset + limit) : null, more_items_remaining: more, total_item_count: list.length } };
  }

  private patch(map: Map<string, Obj>, names: string[], body: { destroyed?: boolean }): FakeReply {
    for (const n of names) if (!map.has(n)) return err(400, n, `${n} does not exist.`);
    for (const n of names) {
      const o = map.get(n)!;
      if (body.destroyed && this.connections.some((c) => c.volume === n)) return err(400, n, 'Volume cannot be deleted due to existing connections.');
      o.destroyed = !!body.destroyed;
      if (o.destroyed) o.time_remaining = 86_400_000;
    }
    return { status: 200, body: { items: names.map((n) => map.get(n)) } };
  }

  private eradicate(map: Map<string, Obj>, names: string[], veto?: (n: string) => string | undefined): FakeReply {
    for (const n of names) {
      if (!map.has(n)) return err(400, n, `${n} does not exist.`);
      const why = veto?.(n);
      if (why) return err(400, n, why);
      if (!map.get(n)!.destroyed) return err(400, n, 'Object must be destroyed before it can be eradicated.');
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
