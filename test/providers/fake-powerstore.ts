import { randomBytes, randomUUID } from 'node:crypto';
import { FakeHttp, type FakeReply, type FakeRequest } from './fake-http.js';

type Rec = Record<string, any>;

/** powerstore-4.1.0.0.json: `name` of volume, clone, snapshot, volume group and host at most 128 characters; `description` 128 (volume) / 256 (group). */
const NAME_MAX = 128;
const VOLUME_DESCRIPTION_MAX = 128;
/** FC initiators are colon-separated WWPNs (openstack/cinder dell_emc/powerstore/utils.py `extract_fc_wwpns`). */
const FC_PORT_NAME = /^([0-9a-f]{2}:){7}[0-9a-f]{2}$/;

/**
 * A fake PowerStore answering REST in the documented shapes (array-apis.md §3): `GET /login_session`
 * with Basic → `DELL-EMC-TOKEN` header + `auth_cookie` cookie, 401 on an unknown session; filters
 * `field=eq.value` / `like.value*`; `limit`/`offset` paging answered 206 with `Content-Range` while
 * rows remain; synchronous creates returning `{id}`; errors `{messages:[{code, severity, message_l10n}]}`.
 *
 * Rules it enforces, each from its source:
 * - a volume belongs to one volume group at most: 422 `0xE0A0B0010010` (array-apis.md §3.4, from
 *   dell/csi-powerstore `CreateVolumeGroupSnapshot` reusing the group that holds the volume);
 * - names and descriptions within the lengths above (powerstore-4.1.0.0.json);
 * - paging only with `limit`/`offset`, 206 + `Content-Range` (array-apis.md §3);
 * - `select=` chooses the fields returned, nested `volumes(...)`/`volume_groups(...)` included (array-apis.md §3);
 * - an initiator is on one host (Cinder's adapter refuses initiators spread over hosts, dell_emc/powerstore/adapter.py
 *   `_filter_hosts_by_initiators`) [that the array itself refuses it: I]; FC initiators colon-separated;
 * - CHAP: in cluster CHAP mode `Single`, an iSCSI initiator needs `chap_single_username` and a 12–64
 *   character `chap_single_password` (powerstore-4.1.0.0.json `initiator_create_modify`).
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
  /** the cluster's CHAP mode (`/chap_config`) */
  chapMode: 'Disabled' | 'Single' = 'Disabled';
  ipPoolAddresses: Rec[] = [
    { id: 'ip1', address: '192.0.2.30', purposes: ['Storage_Iscsi_Target'], ip_port: { target_iqn: 'iqn.2015-10.com.dell:dellemc-powerstore-fake-a' } },
    { id: 'ip2', address: '192.0.2.31', purposes: ['Mgmt_Cluster_Floating'], ip_port: { target_iqn: null } },
  ];
  fcPorts: Rec[] = [
    { id: 'fc1', wwn: '58:cc:f0:90:49:20:0c:58', is_link_up: true },
    { id: 'fc2', wwn: '58:cc:f0:90:49:20:0c:59', is_link_up: false },
  ];
  private clock = Date.parse('2026-11-01T00:00:00Z');

  constructor(
    readonly origin: string,
    readonly username: string,
    readonly password: string,
  ) {
    this.http = new FakeHttp(origin, (req) => this.handle(req));
  }

  close(): void {
    this.http.close();
  }

  /** Adds a primary volume; returns its wwn (`naa.` + 32 hex digits). */
  addVolume(name: string): string {
    return this.makeVolume({ name, type: 'Primary' }).wwn;
  }

  /** A primary volume group made by someone else (the array's admin); the volumes may be in no other group. */
  addVolumeGroup(name: string, volumeIds: string[]): () => void {
    for (const id of volumeIds)
      if ([...this.groups.values()].some((g) => g.type === 'Primary' && g.volume_ids.includes(id))) throw new Error(`fake: ${id} is already in a volume group`);
    const g = {
      id: randomUUID(),
      name,
      description: null,
      type: 'Primary',
      is_write_order_consistent: true,
      creation_timestamp: new Date(this.clock++).toISOString(),
      volume_ids: [...volumeIds],
      protection_data: { source_id: null },
    };
    this.groups.set(g.id, g);
    return () => {
      this.groups.delete(g.id);
    };
  }

  expireSessions(): void {
    this.sessions.clear();
  }

  private makeVolume(v: Rec): Rec {
    const vol = {
      id: randomUUID(),
      wwn: `naa.68ccf098${randomBytes(12).toString('hex')}`,
      size: 1 << 30,
      description: null,
      creation_timestamp: new Date(this.clock++).toISOString(),
      protection_data: { source_id: null },
      ...v,
    };
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
      return {
        status: 200,
        body: [{ id: 'session1', user: this.username, role_ids: ['1'], idle_timeout: 3600 }],
        headers: { 'DELL-EMC-TOKEN': token, 'set-cookie': [`auth_cookie=${cookie}; Path=/; Secure; HttpOnly`] },
      };
    }
    const token = req.headers['dell-emc-token'] ?? '';
    const cookie = /auth_cookie=([^;]+)/.exec(req.headers.cookie ?? '')?.[1];
    if (!this.sessions.has(token) || this.sessions.get(token) !== cookie) return err(401, '0xE09040010001', 'Unauthorized: session expired');
    if (path === '/logout') {
      this.sessions.delete(token);
      return { status: 204 };
    }
    let m: RegExpExecArray | null;
    if (req.method === 'GET' && path === '/cluster') return this.page([{ id: '0', name: 'ps-test' }], q);
    if (req.method === 'GET' && path === '/software_installed') return this.page([{ id: 'sw1', release_version: '4.1.0.0', is_cluster: true }], q);
    if (req.method === 'GET' && path === '/ip_pool_address') return this.page(this.ipPoolAddresses, q);
    if (req.method === 'GET' && path === '/fc_port') return this.page(this.fcPorts, q);
    if (req.method === 'GET' && path === '/volume')
      return this.page(
        [...this.volumes.values()].map((v) => this.volumeView(v)),
        q,
      );
    if (req.method === 'GET' && path === '/volume_group')
      return this.page(
        [...this.groups.values()].map((g) => this.groupView(g)),
        q,
      );
    if ((m = /^\/volume_group\/([^/]+)$/.exec(path)) && req.method === 'GET') {
      const g = this.groups.get(m[1]!);
      return g ? { status: 200, body: select(this.groupView(g), q.select) } : err(404, '0xE0A0B001000C', `Volume group ${m[1]} not found`);
    }
    if (req.method === 'GET' && path === '/host') return this.page([...this.hosts.values()], q);
    if (req.method === 'GET' && path === '/host_volume_mapping') return this.page(this.mappings, q);
    if ((m = /^\/volume\/([^/]+)$/.exec(path))) {
      const vol = this.volumes.get(m[1]!);
      if (!vol) return err(404, '0xE0A07001000C', `Volume ${m[1]} not found`);
      if (req.method === 'GET') return { status: 200, body: select(this.volumeView(vol), q.select) };
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
        const bad = this.badName(b.name, b.description, VOLUME_DESCRIPTION_MAX);
        if (bad) return bad;
        if ([...this.volumes.values()].some((v) => v.name === b.name)) return err(422, '0xE0A07001000E', `The name ${b.name} is already in use`);
        const made = this.makeVolume({
          name: b.name,
          description: b.description ?? null,
          type: op === 'snapshot' ? 'Snapshot' : 'Clone',
          protection_data: { source_id: vol.id },
        });
        return { status: 200, body: { id: made.id } };
      }
      if (op === 'attach') {
        if (!this.hosts.has(b.host_id)) return err(404, '0xE0A020010001', 'Host not found');
        if (this.mappings.some((x) => x.volume_id === vol.id && x.host_id === b.host_id))
          return err(422, '0xE0A080010010', 'Volume is already attached to the host');
        this.mappings.push({
          id: randomUUID(),
          host_id: b.host_id,
          volume_id: vol.id,
          logical_unit_number: 1 + this.mappings.filter((x) => x.host_id === b.host_id).length,
        });
        return { status: 204 };
      }
      const before = this.mappings.length;
      this.mappings = this.mappings.filter((x) => !(x.volume_id === vol.id && x.host_id === b.host_id));
      return before === this.mappings.length ? err(422, '0xE0A08001000F', 'The volume is not mapped to the host') : { status: 204 };
    }
    if (path === '/volume_group' && req.method === 'POST') {
      const bad = this.badName(b.name, b.description, 256);
      if (bad) return bad;
      if ([...this.groups.values()].some((g) => g.name === b.name)) return err(422, '0xE0A0B0010004', `The name ${b.name} is already in use`);
      for (const id of b.volume_ids ?? []) {
        if (!this.volumes.has(id)) return err(404, '0xE0A07001000C', `Volume ${id} not found`);
        if ([...this.groups.values()].some((g) => g.type === 'Primary' && g.volume_ids.includes(id)))
          return err(422, '0xE0A0B0010010', `Volume ${id} is already in a volume group`);
      }
      const g = {
        id: randomUUID(),
        name: b.name,
        description: b.description ?? null,
        type: 'Primary',
        is_write_order_consistent: !!b.is_write_order_consistent,
        creation_timestamp: new Date(this.clock++).toISOString(),
        volume_ids: [...(b.volume_ids ?? [])],
        protection_data: { source_id: null },
      };
      this.groups.set(g.id, g);
      return { status: 201, body: { id: g.id } };
    }
    if ((m = /^\/volume_group\/([^/]+)(\/snapshot|\/remove_members)?$/.exec(path))) {
      const g = this.groups.get(m[1]!);
      if (!g) return err(404, '0xE0A0B001000C', `Volume group ${m[1]} not found`);
      if (m[2] === '/snapshot' && req.method === 'POST') {
        const bad = this.badName(b.name, b.description, 256);
        if (bad) return bad;
        if ([...this.groups.values()].some((x) => x.name === b.name)) return err(422, '0xE0A0B0010004', `The name ${b.name} is already in use`);
        const members = g.volume_ids.map(
          (id: string) => this.makeVolume({ name: `${b.name}.${this.volumes.get(id)!.name}`, type: 'Snapshot', protection_data: { source_id: id } }).id,
        );
        const s = {
          id: randomUUID(),
          name: b.name,
          description: b.description ?? null,
          type: 'Snapshot',
          creation_timestamp: new Date(this.clock++).toISOString(),
          volume_ids: members,
          protection_data: { source_id: g.id },
        };
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
    if ((m = /^\/host\/([^/]+)$/.exec(path)) && req.method === 'DELETE') {
      if (!this.hosts.has(m[1]!)) return err(404, '0xE0A020010001', 'Host not found');
      if (this.mappings.some((x) => x.host_id === m![1])) return err(422, '0xE0A020010017', 'The host has volumes attached');
      this.hosts.delete(m[1]!);
      return { status: 204 };
    }
    if (path === '/host' && req.method === 'POST') {
      const bad = this.badName(b.name, b.description, 256);
      if (bad) return bad;
      for (const i of b.initiators ?? []) {
        if (i.port_type === 'FC' && !FC_PORT_NAME.test(i.port_name)) return err(400, '0xE0A020010010', `Invalid FC port name ${i.port_name}`);
        if (
          i.port_type === 'iSCSI' &&
          this.chapMode === 'Single' &&
          (!i.chap_single_username || !(String(i.chap_single_password ?? '').length >= 12 && String(i.chap_single_password).length <= 64))
        ) {
          return err(400, '0xE0A020010011', `CHAP single credentials are required for ${i.port_name}`);
        }
        const owner = [...this.hosts.values()].find((h) => h.initiators.some((x: Rec) => x.port_name === i.port_name));
        if (owner) return err(422, '0xE0A020010006', `Initiator ${i.port_name} is already in use by host ${owner.name}`);
      }
      if ([...this.hosts.values()].some((h) => h.name === b.name)) return err(422, '0xE0A020010005', `The name ${b.name} is already in use`);
      const h = {
        id: randomUUID(),
        name: b.name,
        os_type: b.os_type,
        initiators: (b.initiators ?? []).map((i: Rec) => ({ port_name: i.port_name, port_type: i.port_type })),
      };
      this.hosts.set(h.id, h);
      return { status: 201, body: { id: h.id } };
    }
    return err(404, '0xE04040010005', `fake: ${req.method} ${path} not implemented`);
  }

  /** A volume as GET shows it: with the volume groups it is in. */
  private volumeView(v: Rec): Rec {
    return {
      ...v,
      volume_groups: [...this.groups.values()].filter((g) => g.type === 'Primary' && g.volume_ids.includes(v.id)).map((g) => ({ id: g.id, name: g.name })),
    };
  }

  private groupView(g: Rec): Rec {
    return { ...g, volumes: g.volume_ids.map((id: string) => ({ id, protection_data: this.volumes.get(id)?.protection_data })) };
  }

  private badName(name: unknown, description: unknown, descriptionMax: number): FakeReply | undefined {
    if (typeof name !== 'string' || name.length < 1 || name.length > NAME_MAX)
      return err(400, '0xE04040020009', `name must be 1 to ${NAME_MAX} characters (got ${String(name).length})`);
    if (typeof description === 'string' && description.length > descriptionMax)
      return err(400, '0xE04040020009', `description must be at most ${descriptionMax} characters`);
    return undefined;
  }

  private page(rows: Rec[], q: Record<string, string>): FakeReply {
    let list = rows;
    for (const [key, cond] of Object.entries(q)) {
      if (['select', 'limit', 'offset', 'order'].includes(key)) continue;
      const mm = /^(eq|like)\.(.*)$/.exec(cond);
      if (!mm) return err(400, '0xE04040020009', `bad filter ${key}=${cond}`);
      const re = new RegExp(
        '^' +
          mm[2]!
            .split('*')
            .map((s) => s.replace(/[.+?^${}()|[\]\\]/g, '\\$&'))
            .join(mm[1] === 'like' ? '.*' : '\\*') +
          '$',
      );
      list = list.filter((r) => r[key] !== undefined && r[key] !== null && re.test(String(r[key])));
    }
    const offset = Number(q.offset ?? 0);
    const limit = Math.min(Number(q.limit ?? 100), this.maxRows);
    const out = list.slice(offset, offset + limit).map((r) => select(r, q.select));
    if (offset + out.length < list.length)
      return { status: 206, body: out, headers: { 'content-range': `${offset}-${offset + out.length - 1}/${list.length}` } };
    return { status: 200, body: out, headers: list.length ? { 'content-range': `${offset}-${offset + Math.max(out.length, 1) - 1}/${list.length}` } : {} };
  }
}

/** `select=a,b,c(x,y)`: only those fields, nested selections of embedded objects too (array-apis.md §3). */
function select(r: Rec, sel: string | undefined): Rec {
  if (!sel) return r;
  const out: Rec = {};
  const parts: string[] = [];
  let depth = 0;
  let cur = '';
  for (const ch of sel) {
    if (ch === ',' && depth === 0) {
      parts.push(cur);
      cur = '';
      continue;
    }
    if (ch === '(') depth++;
    if (ch === ')') depth--;
    cur += ch;
  }
  if (cur) parts.push(cur);
  for (const p of parts) {
    const m = /^(\w+)\((.*)\)$/.exec(p);
    if (m) {
      const v = r[m[1]!];
      out[m[1]!] = Array.isArray(v) ? v.map((x) => select(x, m[2])) : v && typeof v === 'object' ? select(v, m[2]) : v;
    } else if (p in r) out[p] = r[p];
  }
  return out;
}

function err(status: number, code: string, message: string): FakeReply {
  return { status, body: { messages: [{ code, severity: 'Error', message_l10n: message, arguments: [] }] } };
}
