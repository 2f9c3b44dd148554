import { randomUUID } from 'node:crypto';
import { FakeHttp, filterMatcher, type FakeReply, type FakeRequest } from './fake-http.js';

type Rec = Record<string, any>;

/**
 * A fake ONTAP cluster answering REST in the documented shapes (array-apis.md §2): HTTP Basic,
 * collections `{records, num_records, _links.next.href}` paged by `max_records` (set `pageSize` small to test paging),
 * every volume/snapshot/CG write answered 202 with a job that is `running` on the first poll and
 * `success` (or `failure` with a code) on the next, errors `{error:{message, code, target}}`.
 */
export class FakeOntap {
  readonly http: FakeHttp;
  volumes = new Map<string, Rec>();
  luns = new Map<string, Rec>();
  snapshots = new Map<string, Map<string, Rec>>();
  igroups = new Map<string, Rec>();
  maps: Array<{ lun: Rec; igroup: Rec; logical_unit_number: number }> = [];
  cgs = new Map<string, Rec>();
  jobs = new Map<string, { polls: number; outcome: { state: 'success' } | { state: 'failure'; error: { code: string; message: string } } }>();
  pageSize = 100;
  private clock = Date.parse('2026-11-01T00:00:00Z');

  constructor(readonly origin: string, readonly username: string, readonly password: string, readonly svm = 'svm1') {
    this.http = new FakeHttp(origin, (req) => this.handle(req));
  }

  close(): void {
    this.http.close();
  }

  /** Adds a FlexVol with one LUN; returns the LUN serial (12 ASCII characters). */
  addLun(volName: string, lunName = 'lun0'): string {
    const vol = { uuid: randomUUID(), name: volName, svm: { name: this.svm } };
    this.volumes.set(vol.uuid, vol);
    this.snapshots.set(vol.uuid, new Map());
    return this.makeLun(vol, lunName).serial_number;
  }

  private makeLun(vol: Rec, lunName: string): Rec {
    const chars = 'ABCDEFGHJKLMNPQRSTUVWXYZ0123456789$-';
    const serial = Array.from({ length: 12 }, () => chars[Math.floor(Math.random() * chars.length)]).join('');
    const lun = { uuid: randomUUID(), name: `/vol/${vol.name}/${lunName}`, serial_number: serial, location: { volume: { name: vol.name, uuid: vol.uuid }, logical_unit: lunName }, svm: { name: this.svm }, space: { size: 1 << 30 } };
    this.luns.set(lun.uuid, lun);
    return lun;
  }

  private handle(req: FakeRequest): FakeReply {
    const auth = 'Basic ' + Buffer.from(`${this.username}:${this.password}`).toString('base64');
    if (req.headers.authorization !== auth) return err(401, '6', 'User is not authorized.');
    if (!req.path.startsWith('/api/')) return err(404, '3', 'API not found');
    const path = req.path.slice(4);
    const q = req.query;
    const b = req.body ?? {};
    let m: RegExpExecArray | null;
    if (req.method === 'GET' && (m = /^\/cluster\/jobs\/([\w-]+)$/.exec(path))) {
      const job = this.jobs.get(m[1]!);
      if (!job) return err(404, '4', 'entry doesn\'t exist');
      job.polls++;
      const state = job.polls < 2 ? { state: 'running' } : job.outcome.state === 'success' ? { state: 'success', code: 0, message: 'success' } : { state: 'failure', code: Number(job.outcome.error.code), message: job.outcome.error.message, error: job.outcome.error };
      return ok({ uuid: m[1], ...state });
    }
    if (req.method === 'GET' && path === '/cluster') return ok({ name: 'cluster1', version: { full: 'NetApp Release 9.13.1', generation: 9, major: 13, minor: 1 } });
    if (path === '/storage/luns' && req.method === 'GET') return this.page('/storage/luns', [...this.luns.values()], q, ['name', 'serial_number', 'location.volume.uuid', 'location.volume.name', 'svm.name']);
    if ((m = /^\/storage\/luns\/([^/]+)$/.exec(path)) && req.method === 'GET') {
      const lun = this.luns.get(m[1]!);
      return lun ? ok(lun) : err(404, '4', `entry doesn't exist (lun ${m[1]})`);
    }
    if (path === '/storage/volumes' && req.method === 'GET') return this.page('/storage/volumes', [...this.volumes.values()], q, ['name', 'svm.name']);
    if (path === '/storage/volumes' && req.method === 'POST') {
      if ([...this.volumes.values()].some((v) => v.name === b.name)) return this.job({ code: '917505', message: `Duplicate volume name ${b.name}` });
      const parent = [...this.volumes.values()].find((v) => v.name === b.clone?.parent_volume?.name);
      const snap = parent && [...this.snapshots.get(parent.uuid)!.values()].find((s) => s.name === b.clone?.parent_snapshot?.name);
      if (!parent || !snap) return this.job({ code: '4', message: 'parent volume or snapshot doesn\'t exist' });
      const vol = { uuid: randomUUID(), name: b.name, svm: { name: this.svm }, clone: { is_flexclone: true, parent_volume: { name: parent.name }, parent_snapshot: { name: snap.name } } };
      this.volumes.set(vol.uuid, vol);
      this.snapshots.set(vol.uuid, new Map());
      for (const l of [...this.luns.values()].filter((x) => x.location.volume.uuid === parent.uuid)) this.makeLun(vol, l.location.logical_unit);
      return this.job();
    }
    if ((m = /^\/storage\/volumes\/([^/]+)$/.exec(path)) && req.method === 'DELETE') {
      const vol = this.volumes.get(m[1]!);
      if (!vol) return err(404, '4', 'entry doesn\'t exist');
      const luns = [...this.luns.values()].filter((l) => l.location.volume.uuid === vol.uuid);
      if (this.maps.some((x) => luns.some((l) => l.uuid === x.lun.uuid))) return this.job({ code: '524486', message: 'volume has mapped LUNs' });
      for (const l of luns) this.luns.delete(l.uuid);
      this.volumes.delete(vol.uuid);
      return this.job();
    }
    if ((m = /^\/storage\/volumes\/([^/]+)\/snapshots$/.exec(path))) {
      const snaps = this.snapshots.get(m[1]!);
      if (!snaps) return err(404, '4', 'entry doesn\'t exist (volume)');
      if (req.method === 'GET') return this.page(path, [...snaps.values()], q, ['name']);
      if (req.method === 'POST') {
        if ([...snaps.values()].some((s) => s.name === b.name)) return this.job({ code: '1', message: `duplicate entry: snapshot ${b.name}` });
        const s = { uuid: randomUUID(), name: b.name, comment: b.comment, create_time: new Date(this.clock++).toISOString() };
        snaps.set(s.uuid, s);
        return this.job();
      }
    }
    if ((m = /^\/storage\/volumes\/([^/]+)\/snapshots\/([^/]+)$/.exec(path))) {
      const snaps = this.snapshots.get(m[1]!);
      const snap = snaps?.get(m[2]!);
      if (!snap) return err(404, '4', 'entry doesn\'t exist (snapshot)');
      if (req.method === 'PATCH') { if (b.comment !== undefined) snap.comment = b.comment; return this.job(); }
      if (req.method === 'DELETE') {
        const vol = this.volumes.get(m[1]!)!;
        if ([...this.volumes.values()].some((v) => v.clone?.parent_volume?.name === vol.name && v.clone?.parent_snapshot?.name === snap.name)) {
          return this.job({ code: '1638555', message: 'Snapshot copy is busy: a FlexClone depends on it' });
        }
        snaps!.delete(snap.uuid);
        return this.job();
      }
    }
    if (path === '/application/consistency-groups' && req.method === 'POST') {
      if ([...this.cgs.values()].some((c) => c.name === b.name)) return this.job({ code: '1', message: 'duplicate entry' });
      const vols = (b.volumes ?? []).map((v: Rec) => [...this.volumes.values()].find((x) => x.name === v.name));
      if (vols.some((v: unknown) => !v)) return this.job({ code: '4', message: 'volume doesn\'t exist' });
      const cg = { uuid: randomUUID(), name: b.name, svm: { name: this.svm }, volumes: vols };
      this.cgs.set(cg.uuid, cg);
      return this.job();
    }
    if (path === '/application/consistency-groups' && req.method === 'GET') return this.page(path, [...this.cgs.values()], q, ['name', 'svm.name']);
    if ((m = /^\/application\/consistency-groups\/([^/]+)\/snapshots$/.exec(path)) && req.method === 'POST') {
      const cg = this.cgs.get(m[1]!);
      if (!cg) return err(404, '4', 'entry doesn\'t exist (CG)');
      for (const v of cg.volumes) {
        const snaps = this.snapshots.get(v.uuid)!;
        if ([...snaps.values()].some((s) => s.name === b.name)) return this.job({ code: '53411921', message: 'CG snapshot already exists' });
      }
      const time = new Date(this.clock++).toISOString();
      for (const v of cg.volumes) { const s = { uuid: randomUUID(), name: b.name, comment: b.comment, create_time: time }; this.snapshots.get(v.uuid)!.set(s.uuid, s); }
      return this.job();
    }
    if ((m = /^\/application\/consistency-groups\/([^/]+)$/.exec(path)) && req.method === 'DELETE') {
      if (!this.cgs.delete(m[1]!)) return err(404, '4', 'entry doesn\'t exist (CG)');
      return this.job();
    }
    if (path === '/protocols/san/igroups' && req.method === 'GET') return this.page(path, [...this.igroups.values()].map((g) => ({ ...g, 'initiators.name': g.initiators.map((i: Rec) => i.name) })), q, ['name', 'svm.name', 'initiators.name']);
    if (path === '/protocols/san/igroups' && req.method === 'POST') {
      if ([...this.igroups.values()].some((g) => g.name === b.name)) return err(409, '1', `duplicate entry: igroup ${b.name}`);
      const g = { uuid: randomUUID(), name: b.name, protocol: b.protocol, os_type: b.os_type, initiators: b.initiators ?? [], svm: { name: this.svm } };
      this.igroups.set(g.uuid, g);
      return { status: 201, body: { num_records: 1, records: [g] } };
    }
    if (path === '/protocols/san/lun-maps' && req.method === 'GET') {
      return this.page(path, this.maps.map((x) => ({ lun: { uuid: x.lun.uuid, name: x.lun.name }, igroup: { uuid: x.igroup.uuid, name: x.igroup.name }, logical_unit_number: x.logical_unit_number, 'lun.name': x.lun.name, 'igroup.name': x.igroup.name, svm: { name: this.svm } })), q, ['lun.name', 'igroup.name', 'svm.name']);
    }
    if (path === '/protocols/san/lun-maps' && req.method === 'POST') {
      const lun = [...this.luns.values()].find((l) => l.name === b.lun?.name);
      const igroup = [...this.igroups.values()].find((g) => g.name === b.igroup?.name);
      if (!lun || !igroup) return err(404, '4', 'LUN or igroup doesn\'t exist');
      if (this.maps.some((x) => x.lun.uuid === lun.uuid && x.igroup.uuid === igroup.uuid)) return err(409, '5374914', 'LUN already mapped to this group');
      const map = { lun, igroup, logical_unit_number: this.maps.filter((x) => x.igroup.uuid === igroup.uuid).length };
      this.maps.push(map);
      return { status: 201, body: { num_records: 1, records: [{ lun: { uuid: lun.uuid, name: lun.name }, igroup: { uuid: igroup.uuid, name: igroup.name }, logical_unit_number: map.logical_unit_number }] } };
    }
    if ((m = /^\/protocols\/san\/lun-maps\/([^/]+)\/([^/]+)$/.exec(path)) && req.method === 'DELETE') {
      const before = this.maps.length;
      this.maps = this.maps.filter((x) => !(x.lun.uuid === m![1] && x.igroup.uuid === m![2]));
      return before === this.maps.length ? err(404, '5374922', 'LUN map does not exist') : ok({});
    }
    return err(404, '3', `fake: ${req.method} ${path} not implemented`);
  }

  private job(fail?: { code: string; message: string }): FakeReply {
    const uuid = randomUUID();
    this.jobs.set(uuid, { polls: 0, outcome: fail ? { state: 'failure', error: fail } : { state: 'success' } });
    return { status: 202, body: { job: { uuid, _links: { self: { href: `/api/cluster/jobs/${uuid}` } } } } };
  }

  private page(path: string, list: Rec[], q: Record<string, string>, filterable: string[]): FakeReply {
    const flat = (r: Rec, key: string) => key.split('.').reduce<any>((o, k) => o?.[k], r) ?? r[key];
    let rows = list;
    for (const key of filterable) {
      if (q[key] === undefined) continue;
      const any = q[key]!.split(',').map((v) => filterMatcher(`v='${v}'`));
      rows = rows.filter((r) => any.some((match) => match({ v: flat(r, key) })));
    }
    const offset = Number(q['start.offset'] ?? 0);
    const max = Math.min(Number(q.max_records ?? this.pageSize), this.pageSize);
    const records = rows.slice(offset, offset + max);
    const next = offset + max < rows.length ? new URLSearchParams({ ...q, 'start.offset': String(offset + max) }).toString() : undefined;
    return ok({ records, num_records: records.length, _links: { self: { href: `/api${path}` }, ...(next ? { next: { href: `/api${path}?${next}` } } : {}) } });
  }
}

function ok(body: unknown): FakeReply {
  return { status: 200, body };
}

function err(status: number, code: string, message: string): FakeReply {
  return { status, body: { error: { message, code, target: '' } } };
}
