import { randomBytes, randomUUID } from 'node:crypto';
import { FakeHttp, type FakeReply, type FakeRequest } from './fake-http.js';

type Rec = Record<string, any>;

/**
 * A fake PowerStore answering REST in the documented shapes (array-apis.md §3): `GET /login_session`
 * with Basic → `DELL-EMC-TOKEN` header + `auth_cookie` cookie, 401 on an unknown session; filters
 * `field=eq.value` / `like.value*`; `limit`/`offset` paging answered 206 with `Content-Range` while
 * rows remain; synchronous creates returning `{id}`; errors `{messages:[{code, severity, message_l10n}]}`.
 */
export class FakePowerstore {
  readonly http: FakeHttp;
  sessions = new Map<string, string>(); // token → cookie
  /** every token and cookie ever issued (for the secrets test) */
  readonly issued: string[] = [];
  volumes = new Map<string, Rec>();
  groups = new Map<string, Rec>();
  hosts = new Map<string, Rec>();
  mappings: Rec[] = [];
  /** the most rows one answer holds, whatever `limit` says (small values test 206 paging) */
  maxRows = 1000;
  private clock = Date.parse('2026-11-01T00:00:00Z');

  constructor(readonly origin: string, readonly username: string, readonly password: string) {
    this.http = new FakeHttp(origin, (req) => this.handle(req));
  }

  close(): void {
    this.http.close();
  }

  /** Adds a primary volume; returns its wwn (`naa.` + 32 hex digits). */
  addVolume(name: string): string {
    return this.makeVolume({ name, type: 'Primary' }).wwn;
  }

  expireSessions(): void {
    this.sessions.clear();
  }

  private makeVolume(v: Rec): Rec {
    const vol = { id: randomUUID(), wwn: `naa.68ccf098${randomBytes(12).toString('hex')}`, size: 1 << 30, description: null, creation_timestamp: new Date(this.clock++).toISOString(), protection_data: { source_id: null }, ...v };
    this.volumes.set(vol.id, vol);
    return vol;
  }

  private handle(req: FakeRequest): FakeReply {
    if (!req.path.startsWith('/api/rest/')) return err(404, '0xE04040010005', 'not found');
    const path = req.path.slice('/api/rest'.length);
    const q = req.query;
    const b = req.body ?? {};
    if (path === '/login_session' && req.method === 'GET') {
      const basic = 'Basic ' + Buffer.from(`${this.username}:${this.password}`).toString('base64');
      if (req.headers.authorization !== basic) return err(401, '0xE09040010001', 'Authentication failed');
      const token = randomUUID();
      const cookie = randomBytes(16).toString('hex');
      this.sessions.set(token, cookie);
      this.issued.push(token, cookie);
      return { status: 200, body: [{ id: 'session1', user: this.username, role_ids: ['1'], idle_timeout: 3600 }], headers: { 'DELL-EMC-TOKEN': token, 'set-cookie': [`auth_cookie=${cookie}; Path=/; Secure; HttpOnly`] } };
    }
    const token = req.headers['dell-emc-token'] ?? '';
    const cookie = /auth_cookie=([^;]+)/.exec(req.headers.cookie ?? '')?.[1];
    if (!this.sessions.has(token) || this.sessions.get(token) !== cookie) return err(401, '0xE09040010001', 'Unauthorized: session expired');
    if (path === '/logout') { this.sessions.delete(token); return { status: 204 }; }
    let m: RegExpExecArray | null;
    if (req.method === 'GET' && path === '/cluster') return this.page([{ id: '0', name: 'ps-test' }], q);
    if (req.method === 'GET' && path === '/volume') return this.page([...this.volumes.values()], q);
    if (req.method === 'GET' && path === '/volume_group') {
      return this.page([...this.groups.values()].map((g) => ({ ...g, volumes: g.volume_ids.map((id: string) => ({ id, protection_data: this.volumes.get(id)?.protection_data })) })), q);
    }
    if (req.method === 'GET' && path === '/host') return this.page([...this.hosts.values()], q);
    if (req.method === 'GET' && path === '/host_volume_mapping') return this.page(this.mappings, q);
    if ((m = /^\/volume\/([^/]+)$/.exec(path))) {
      const vol = this.volumes.get(m[1]!);
      if (!vol) return err(404, '0xE0A07001000C', `Volume ${m[1]} not found`);
      if (req.method === 'GET') return { status: 200, body: vol };
      if (req.method === 'DELETE') {
        if (this.mappings.some((x) => x.volume_id === vol.id)) return err(422, '0xE0A07001001B', 'Volume is mapped to a host');
        this.volumes.delete(vol.id);
        return { status: 204 };
      }
    }
    if ((m = /^\/volume\/([^/]+)\/(snapshot|clone|attach|detach)$/.exec(path)) && req.method === 'POST') {
      const vol = this.volumes.get(m[1]!);
      if (!vol) return err(404, '0xE0A07001000C', `Volume ${m[1]} not found`);
      const op = m[2];
      if (op === 'snapshot' || op === 'clone') {
        if ([...this.volumes.values()].some((v) => v.name === b.name)) return err(422, '0xE0A07001000E', `The name ${b.name} is already in use`);
        const made = this.makeVolume({ name: b.name, description: b.description ?? null, type: op === 'snapshot' ? 'Snapshot' : 'Clone', protection_data: { source_id: vol.id } });
        return { status: 200, body: { id: made.id } };
      }
      if (op === 'attach') {
        if (!this.hosts.has(b.host_id)) return err(404, '0xE0A020010001', 'Host not found');
        if (this.mappings.some((x) => x.volume_id === vol.id && x.host_id === b.host_id)) return err(422, '0xE0A080010010', 'Volume is already attached to the host');
        this.mappings.push({ id: randomUUID(), host_id: b.host_id, volume_id: vol.id, logical_unit_number: 1 + this.mappings.filter((x) => x.host_id === b.host_id).length });
        return { status: 204 };
      }
      const before = this.mappings.length;
      this.mappings = this.mappings.filter((x) => !(x.volume_id === vol.id && x.host_id === b.host_id));
      return before === this.mappings.length ? err(422, '0xE0A08001000F', 'The volume is not mapped to the host') : { status: 204 };
    }
    if (path === '/volume_group' && req.method === 'POST') {
      if ([...this.groups.values()].some((g) => g.name === b.name)) return err(422, '0xE0A0B0010004', `The name ${b.name} is already in use`);
      for (const id of b.volume_ids ?? []) {
        if (!this.volumes.has(id)) return err(404, '0xE0A07001000C', `Volume ${id} not found`);
        if ([...this.groups.values()].some((g) => g.type === 'Primary' && g.volume_ids.includes(id))) return err(422, '0xE0A0B0010010', `Volume ${id} is already in a volume group`);
      }
      const g = { id: randomUUID(), name: b.name, description: b.description ?? null, type: 'Primary', is_write_order_consistent: !!b.is_write_order_consistent, creation_timestamp: new Date(this.clock++).toISOString(), volume_ids: [...(b.volume_ids ?? [])], protection_data: { source_id: null } };
      this.groups.set(g.id, g);
      return { status: 201, body: { id: g.id } };
    }
    if ((m = /^\/volume_group\/([^/]+)(\/snapshot|\/remove_members)?$/.exec(path))) {
      const g = this.groups.get(m[1]!);
      if (!g) return err(404, '0xE0A0B001000C', `Volume group ${m[1]} not found`);
      if (m[2] === '/snapshot' && req.method === 'POST') {
        if ([...this.groups.values()].some((x) => x.name === b.name)) return err(422, '0xE0A0B0010004', `The name ${b.name} is already in use`);
        const members = g.volume_ids.map((id: string) => this.makeVolume({ name: `${b.name}.${this.volumes.get(id)!.name}`, type: 'Snapshot', protection_data: { source_id: id } }).id);
        const s = { id: randomUUID(), name: b.name, description: b.description ?? null, type: 'Snapshot', creation_timestamp: new Date(this.clock++).toISOString(), volume_ids: members, protection_data: { source_id: g.id } };
        this.groups.set(s.id, s);
        return { status: 200, body: { id: s.id } };
      }
      if (m[2] === '/remove_members' && req.method === 'POST') {
        g.volume_ids = g.volume_ids.filter((id: string) => !(b.volume_ids ?? []).includes(id));
        return { status: 204 };
      }
      if (!m[2] && req.method === 'DELETE') {
        if (b.delete_members) for (const id of g.volume_ids) this.volumes.delete(id);
        else if (g.volume_ids.length) return err(422, '0xE0A0B0010020', 'The volume group has members');
        this.groups.delete(g.id);
        return { status: 204 };
      }
    }
    if (path === '/host' && req.method === 'POST') {
      if ([...this.hosts.values()].some((h) => h.name === b.name)) return err(422, '0xE0A020010005', `The name ${b.name} is already in use`);
      const h = { id: randomUUID(), name: b.name, os_type: b.os_type, initiators: b.initiators ?? [] };
      this.hosts.set(h.id, h);
      return { status: 201, body: { id: h.id } };
    }
    return err(404, '0xE04040010005', `fake: ${req.method} ${path} not implemented`);
  }

  private page(rows: Rec[], q: Record<string, string>): FakeReply {
    let list = rows;
    for (const [key, cond] of Object.entries(q)) {
      if (['select', 'limit', 'offset', 'order'].includes(key)) continue;
      const mm = /^(eq|like)\.(.*)$/.exec(cond);
      if (!mm) return err(400, '0xE04040020009', `bad filter ${key}=${cond}`);
      const re = new RegExp('^' + mm[2]!.split('*').map((s) => s.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join(mm[1] === 'like' ? '.*' : '\\*') + '$');
      list = list.filter((r) => r[key] !== undefined && r[key] !== null && re.test(String(r[key])));
    }
    const offset = Number(q.offset ?? 0);
    const limit = Math.min(Number(q.limit ?? 100), this.maxRows);
    const out = list.slice(offset, offset + limit);
    if (offset + out.length < list.length) return { status: 206, body: out, headers: { 'content-range': `${offset}-${offset + out.length - 1}/${list.length}` } };
    return { status: 200, body: out, headers: list.length ? { 'content-range': `${offset}-${offset + Math.max(out.length, 1) - 1}/${list.length}` } : {} };
  }
}

function err(status: number, code: string, message: string): FakeReply {
  return { status, body: { messages: [{ code, severity: 'Error', message_l10n: message, arguments: [] }] } };
}
