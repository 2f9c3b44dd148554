import { randomUUID } from 'node:crypto';
import { FakeHttp, filterMatcher, type FakeReply, type FakeRequest } from './fake-http.js';

type Rec = Record<string, any>;

/** Fields ONTAP defines on a job (ontap-9.7.yaml `definitions.job.properties`): asking for another is an error. */
const JOB_FIELDS = new Set(['_links', 'code', 'description', 'end_time', 'message', 'start_time', 'state', 'uuid']);
/** ontap-9.7.yaml `volume.name`: starts with a letter or `_`, at most 203 characters (FlexVol). */
const VOLUME_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,202}$/;
/** ontap-9.7.yaml `igroup.name`: 1–96 characters. */
const IGROUP_NAME_MAX = 96;
/** NetApp/trident abstraction_rest.go `ConsistencyGroupSnapshot`: CG names at most 30 characters (array-apis.md §2.8). */
const CG_NAME_MAX = 30;
/** ontap-9.7.yaml `igroup_initiator.name`: a WWPN is 16 hex digits as 8 colon-separated pairs; an IQN `iqn.yyyy-mm.…`; or `eui.` + 16 hex. */
const INITIATOR = /^(([0-9a-fA-F]{2}:){7}[0-9a-fA-F]{2}|iqn\.\d{4}-\d{2}\..+|eui\.[0-9a-fA-F]{16})$/;

/**
 * A fake ONTAP cluster answering REST in the documented shapes (array-apis.md §2): HTTP Basic,
 * collections `{records, num_records, _links.next.href}` paged by `max_records` (set `pageSize` small to test paging),
 * every volume/snapshot/CG write answered 202 with a job that is `running` on the first poll and
 * `success` (or `failure` with a code) on the next, errors `{error:{message, code, target}}`.
 *
 * Rules it enforces, each from its source:
 * - a FlexClone holds its parent's snapshots, the one it was made from included (library.netapp.com
 *   ECMP1368859, array-apis.md §2 "Docs facts that bite"), and that snapshot cannot be deleted while the clone exists;
 * - `fields=` chooses the fields returned (array-apis.md §2.2), and a job has only the fields ontap-9.7.yaml defines;
 * - paging only through `max_records` and `_links.next.href` (array-apis.md §2.2);
 * - `return_timeout`: with a non-zero value a write the job finishes within is answered with its final status (array-apis.md §2.2);
 * - name rules: FlexVol, igroup and CG names (constants above); initiator formats (ontap-9.7.yaml `igroup_initiator`);
 * - consistency groups exist from ONTAP 9.10 (`/application/consistency-groups` is absent from the 9.7 definition);
 * - a FlexClone's LUNs may be listed only a moment after its job succeeded (`lateLunLists`; Trident waits for them);
 * - a volume deleted without `force` goes to the recovery queue (renamed, space kept); `force` exists from 9.12 only.
 */
export class FakeOntap {
  readonly http: FakeHttp;
  volumes = new Map<string, Rec>();
  luns = new Map<string, Rec>();
  snapshots = new Map<string, Map<string, Rec>>();
  igroups = new Map<string, Rec>();
  maps: Array<{ lun: Rec; igroup: Rec; logical_unit_number: number }> = [];
  cgs = new Map<string, Rec>();
  /** volumes deleted without `force`: in the volume recovery queue, renamed, still holding space */
  recoveryQueue: Rec[] = [];
  private nextDsid = 1027;
  jobs = new Map<string, { polls: number; outcome: { state: 'success' } | { state: 'failure'; error: { code: string; message: string } } }>();
  pageSize = 100;
  /** ONTAP release the cluster reports */
  version = { generation: 9, major: 13, minor: 1 };
  /** answer a write with `return_timeout` > 0 with its final status (false: always 202, as a job that outlives the hold) */
  returnTimeoutHonoured = true;
  /** how many LUN lists a new FlexClone's LUNs stay invisible for */
  lateLunLists = 0;
  private hidden = new Map<string, number>();
  private clock = Date.parse('2026-11-01T00:00:00Z');

  constructor(
    readonly origin: string,
    readonly username: string,
    readonly password: string,
    readonly svm = 'svm1',
  ) {
    this.http = new FakeHttp(origin, (req) => this.handle(req));
  }

  close(): void {
    this.http.close();
  }

  /** Adds a FlexVol with one LUN; returns the LUN serial (12 ASCII characters). */
  addLun(volName: string, lunName = 'lun0'): string {
    const vol = { uuid: randomUUID(), name: volName, svm: { name: this.svm }, clone: { is_flexclone: false } };
    this.volumes.set(vol.uuid, vol);
    this.snapshots.set(vol.uuid, new Map());
    return this.makeLun(vol, lunName).serial_number;
  }

  private makeLun(vol: Rec, lunName: string): Rec {
    const chars = 'ABCDEFGHJKLMNPQRSTUVWXYZ0123456789$-';
    const serial = Array.from({ length: 12 }, () => chars[Math.floor(Math.random() * chars.length)]).join('');
    const lun = {
      uuid: randomUUID(),
      name: `/vol/${vol.name}/${lunName}`,
      serial_number: serial,
      location: { volume: { name: vol.name, uuid: vol.uuid }, logical_unit: lunName },
      svm: { name: this.svm },
      space: { size: 1 << 30 },
    };
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
      if (!job) return err(404, '4', "entry doesn't exist");
      const unknown = (q.fields ?? '').split(',').filter((f) => f && f !== '*' && f !== '**' && !JOB_FIELDS.has(f));
      if (unknown.length) return err(400, '262197', `The value "${unknown[0]}" is invalid for field "fields" (job)`);
      job.polls++;
      const state =
        job.polls < 2
          ? { state: 'running' }
          : job.outcome.state === 'success'
            ? { state: 'success', code: 0, message: 'success' }
            : { state: 'failure', code: Number(job.outcome.error.code), message: job.outcome.error.message };
      return ok({ uuid: m[1], ...state });
    }
    if (req.method === 'GET' && path === '/cluster') {
      const v = this.version;
      return ok(project({ name: 'cluster1', version: { full: `NetApp Release ${v.generation}.${v.major}.${v.minor}`, ...v } }, q.fields));
    }
    if (path.startsWith('/application/consistency-groups') && !this.atLeast(9, 10)) return err(404, '3', 'API not found');
    if (path === '/storage/luns' && req.method === 'GET') {
      const visible = [...this.luns.values()].filter((l) => {
        const left = this.hidden.get(l.uuid) ?? 0;
        if (left > 0) this.hidden.set(l.uuid, left - 1);
        return left === 0;
      });
      return this.page('/storage/luns', visible, q, [
        'name',
        'serial_number',
        'location.volume.uuid',
        'location.volume.name',
        'location.logical_unit',
        'svm.name',
      ]);
    }
    if ((m = /^\/storage\/luns\/([^/]+)$/.exec(path)) && req.method === 'GET') {
      const lun = this.luns.get(m[1]!);
      return lun ? ok(project(lun, q.fields)) : err(404, '4', `entry doesn't exist (lun ${m[1]})`);
    }
    if (path === '/storage/volumes' && req.method === 'GET')
      return this.page('/storage/volumes', [...this.volumes.values()], q, ['name', 'svm.name', 'clone.is_flexclone']);
    if ((m = /^\/storage\/volumes\/([^/]+)$/.exec(path)) && req.method === 'GET') {
      const vol = this.volumes.get(m[1]!);
      return vol ? ok(project(vol, q.fields)) : err(404, '4', "entry doesn't exist");
    }
    if (path === '/storage/volumes' && req.method === 'POST') {
      if (typeof b.name !== 'string' || !VOLUME_NAME.test(b.name)) return err(400, '917888', `Invalid volume name "${b.name}"`);
      if ([...this.volumes.values()].some((v) => v.name === b.name)) return this.job({ code: '917505', message: `Duplicate volume name ${b.name}` });
      const parent = [...this.volumes.values()].find((v) => v.name === b.clone?.parent_volume?.name);
      const snap = parent && [...this.snapshots.get(parent.uuid)!.values()].find((s) => s.name === b.clone?.parent_snapshot?.name);
      if (!parent || !snap) return this.job({ code: '4', message: "parent volume or snapshot doesn't exist" });
      const vol = {
        uuid: randomUUID(),
        name: b.name,
        svm: { name: this.svm },
        clone: { is_flexclone: true, parent_volume: { name: parent.name, uuid: parent.uuid }, parent_snapshot: { name: snap.name, uuid: snap.uuid } },
      };
      this.volumes.set(vol.uuid, vol);
      // a FlexClone starts with the parent's snapshots, comments included (ECMP1368859)
      this.snapshots.set(vol.uuid, new Map([...this.snapshots.get(parent.uuid)!.values()].map((s) => [s.uuid, { ...s, uuid: randomUUID() }])));
      for (const l of [...this.luns.values()].filter((x) => x.location.volume.uuid === parent.uuid)) {
        const made = this.makeLun(vol, l.location.logical_unit);
        if (this.lateLunLists) this.hidden.set(made.uuid, this.lateLunLists);
      }
      return this.job(undefined, q);
    }
    if ((m = /^\/storage\/volumes\/([^/]+)$/.exec(path)) && req.method === 'DELETE') {
      // `force` is "Introduced in: 9.12" (docs.netapp.com/us-en/ontap-restapi-9131/delete-storage-volumes-.html; not in ontap-9.7.yaml):
      // an older cluster refuses a query argument it does not define
      if (q.force !== undefined && !this.atLeast(9, 12)) return err(400, '262179', 'Unexpected argument "force".');
      const vol = this.volumes.get(m[1]!);
      if (!vol) return err(404, '4', "entry doesn't exist");
      const luns = [...this.luns.values()].filter((l) => l.location.volume.uuid === vol.uuid);
      if (this.maps.some((x) => luns.some((l) => l.uuid === x.lun.uuid))) return this.job({ code: '524486', message: 'volume has mapped LUNs' });
      for (const l of luns) this.luns.delete(l.uuid);
      this.volumes.delete(vol.uuid);
      // without force the volume enters the recovery queue: renamed `<oldname>_<DSID>`, hidden from normal
      // listings, still using aggregate space and counting towards the node's volume limit for at least 12 hours
      // (kb.netapp.com "How to use the Volume Recovery Queue"); `force=true` "bypasses the recovery-queue" (delete doc above)
      if (q.force !== 'true') this.recoveryQueue.push({ ...vol, name: `${vol.name}_${this.nextDsid++}`, state: 'pending delete' });
      return this.job();
    }
    if ((m = /^\/storage\/volumes\/([^/]+)\/snapshots$/.exec(path))) {
      const snaps = this.snapshots.get(m[1]!);
      if (!snaps) return err(404, '4', "entry doesn't exist (volume)");
      if (req.method === 'GET') return this.page(path, [...snaps.values()], q, ['name']);
      if (req.method === 'POST') {
        if ([...snaps.values()].some((s) => s.name === b.name)) return this.job({ code: '1', message: `duplicate entry: snapshot ${b.name}` });
        const s = { uuid: randomUUID(), name: b.name, comment: b.comment, create_time: new Date(this.clock++).toISOString() };
        snaps.set(s.uuid, s);
        return this.job(undefined, q);
      }
    }
    if ((m = /^\/storage\/volumes\/([^/]+)\/snapshots\/([^/]+)$/.exec(path))) {
      const snaps = this.snapshots.get(m[1]!);
      const snap = snaps?.get(m[2]!);
      if (!snap) return err(404, '4', "entry doesn't exist (snapshot)");
      if (req.method === 'GET') return ok(project(snap, q.fields));
      if (req.method === 'PATCH') {
        if (b.comment !== undefined) snap.comment = b.comment;
        return this.job();
      }
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
      if (typeof b.name !== 'string' || b.name.length > CG_NAME_MAX)
        return err(400, '53411842', `Consistency group name "${b.name}" is longer than ${CG_NAME_MAX} characters`);
      if ([...this.cgs.values()].some((c) => c.name === b.name)) return this.job({ code: '1', message: 'duplicate entry' });
      const vols = (b.volumes ?? []).map((v: Rec) => [...this.volumes.values()].find((x) => x.name === v.name));
      if (vols.some((v: unknown) => !v)) return this.job({ code: '4', message: "volume doesn't exist" });
      const cg = { uuid: randomUUID(), name: b.name, svm: { name: this.svm }, volumes: vols };
      this.cgs.set(cg.uuid, cg);
      return this.job();
    }
    if (path === '/application/consistency-groups' && req.method === 'GET') return this.page(path, [...this.cgs.values()], q, ['name', 'svm.name']);
    if ((m = /^\/application\/consistency-groups\/([^/]+)\/snapshots$/.exec(path)) && req.method === 'POST') {
      const cg = this.cgs.get(m[1]!);
      if (!cg) return err(404, '4', "entry doesn't exist (CG)");
      for (const v of cg.volumes) {
        const snaps = this.snapshots.get(v.uuid)!;
        if ([...snaps.values()].some((s) => s.name === b.name)) return this.job({ code: '53411921', message: 'CG snapshot already exists' });
      }
      const time = new Date(this.clock++).toISOString();
      for (const v of cg.volumes) {
        const s = { uuid: randomUUID(), name: b.name, comment: b.comment, create_time: time };
        this.snapshots.get(v.uuid)!.set(s.uuid, s);
      }
      return this.job();
    }
    if ((m = /^\/application\/consistency-groups\/([^/]+)$/.exec(path)) && req.method === 'DELETE') {
      if (!this.cgs.delete(m[1]!)) return err(404, '4', "entry doesn't exist (CG)");
      return this.job();
    }
    if (path === '/protocols/san/igroups' && req.method === 'GET')
      return this.page(
        path,
        [...this.igroups.values()].map((g) => ({ ...g, 'initiators.name': g.initiators.map((i: Rec) => i.name) })),
        q,
        ['name', 'svm.name', 'initiators.name'],
      );
    if (path === '/protocols/san/igroups' && req.method === 'POST') {
      if (typeof b.name !== 'string' || !b.name.length || b.name.length > IGROUP_NAME_MAX)
        return err(400, '5374737', `igroup name "${b.name}" must be 1 to ${IGROUP_NAME_MAX} characters`);
      const bad = (b.initiators ?? []).find((i: Rec) => !INITIATOR.test(i.name));
      if (bad) return err(400, '5374914', `Invalid initiator "${bad.name}": a WWPN is 8 colon-separated hex pairs`);
      if ([...this.igroups.values()].some((g) => g.name === b.name)) return err(409, '1', `duplicate entry: igroup ${b.name}`);
      const g = { uuid: randomUUID(), name: b.name, protocol: b.protocol, os_type: b.os_type, initiators: b.initiators ?? [], svm: { name: this.svm } };
      this.igroups.set(g.uuid, g);
      return { status: 201, body: { num_records: 1, records: [g] } };
    }
    if ((m = /^\/protocols\/san\/igroups\/([^/]+)$/.exec(path)) && req.method === 'DELETE') {
      if (!this.igroups.has(m[1]!)) return err(404, '4', "entry doesn't exist (igroup)");
      if (this.maps.some((x) => x.igroup.uuid === m![1])) return err(400, '5374852', 'igroup has LUNs mapped');
      this.igroups.delete(m[1]!);
      return ok({});
    }
    if (path === '/protocols/san/iscsi/services' && req.method === 'GET')
      return this.page(path, [{ svm: { name: this.svm }, target: { name: `iqn.1992-08.com.netapp:sn.fake:vs.3`, alias: this.svm }, enabled: true }], q, [
        'svm.name',
      ]);
    if (path === '/network/ip/interfaces' && req.method === 'GET')
      return this.page(
        path,
        [
          { uuid: 'lif1', name: 'iscsi_lif1', svm: { name: this.svm }, services: ['data_iscsi'], ip: { address: '192.0.2.10' } },
          { uuid: 'lif2', name: 'mgmt', svm: { name: this.svm }, services: ['management_https'], ip: { address: '192.0.2.2' } },
        ],
        q,
        ['svm.name', 'services'],
      );
    if (path === '/network/fc/interfaces' && req.method === 'GET')
      return this.page(path, [{ uuid: 'fc1', name: 'fc_lif1', svm: { name: this.svm }, wwpn: '20:00:00:50:56:b4:00:01' }], q, ['svm.name']);
    if (path === '/protocols/san/lun-maps' && req.method === 'GET') {
      return this.page(
        path,
        this.maps.map((x) => ({
          lun: { uuid: x.lun.uuid, name: x.lun.name },
          igroup: { uuid: x.igroup.uuid, name: x.igroup.name },
          logical_unit_number: x.logical_unit_number,
          svm: { name: this.svm },
        })),
        q,
        ['lun.name', 'igroup.name', 'igroup.uuid', 'svm.name'],
      );
    }
    if (path === '/protocols/san/lun-maps' && req.method === 'POST') {
      const lun = [...this.luns.values()].find((l) => l.name === b.lun?.name);
      const igroup = [...this.igroups.values()].find((g) => g.name === b.igroup?.name);
      if (!lun || !igroup) return err(404, '4', "LUN or igroup doesn't exist");
      if (this.maps.some((x) => x.lun.uuid === lun.uuid && x.igroup.uuid === igroup.uuid)) return err(409, '5374914', 'LUN already mapped to this group');
      const map = { lun, igroup, logical_unit_number: this.maps.filter((x) => x.igroup.uuid === igroup.uuid).length };
      this.maps.push(map);
      return {
        status: 201,
        body: {
          num_records: 1,
          records: [
            { lun: { uuid: lun.uuid, name: lun.name }, igroup: { uuid: igroup.uuid, name: igroup.name }, logical_unit_number: map.logical_unit_number },
          ],
        },
      };
    }
    if ((m = /^\/protocols\/san\/lun-maps\/([^/]+)\/([^/]+)$/.exec(path)) && req.method === 'DELETE') {
      const before = this.maps.length;
      this.maps = this.maps.filter((x) => !(x.lun.uuid === m![1] && x.igroup.uuid === m![2]));
      return before === this.maps.length ? err(404, '5374922', 'LUN map does not exist') : ok({});
    }
    return err(404, '3', `fake: ${req.method} ${path} not implemented`);
  }

  atLeast(generation: number, major: number): boolean {
    return this.version.generation > generation || (this.version.generation === generation && this.version.major >= major);
  }

  /** A job; with a non-zero `return_timeout` a successful one has finished by the time it is answered (array-apis.md §2.2). */
  job(fail?: { code: string; message: string }, q: Record<string, string> = {}): FakeReply {
    const uuid = randomUUID();
    this.jobs.set(uuid, { polls: 0, outcome: fail ? { state: 'failure', error: fail } : { state: 'success' } });
    const body = { job: { uuid, _links: { self: { href: `/api/cluster/jobs/${uuid}` } } } };
    // the 9.7 definition answers these writes 202 + job only; a job that finished within the hold is already done when polled
    if (!fail && this.returnTimeoutHonoured && Number(q.return_timeout ?? 0) > 0) this.jobs.get(uuid)!.polls = 2;
    return { status: 202, body };
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
    const records = rows.slice(offset, offset + max).map((r) => project(r, q.fields));
    const next = offset + max < rows.length ? new URLSearchParams({ ...q, 'start.offset': String(offset + max) }).toString() : undefined;
    return ok({ records, num_records: records.length, _links: { self: { href: `/api${path}` }, ...(next ? { next: { href: `/api${path}?${next}` } } : {}) } });
  }
}

/** What `fields=` asks for, plus the keys ONTAP always returns (uuid, name) (array-apis.md §2.2). */
function project(r: Rec, fields: string | undefined): Rec {
  if (!fields || fields === '*' || fields === '**') return r;
  const out: Rec = {};
  const put = (path: string[], src: any, dst: Rec) => {
    if (src === undefined || src === null) return;
    if (path.length === 1) {
      if (src[path[0]!] !== undefined) dst[path[0]!] = src[path[0]!];
      return;
    }
    const next = src[path[0]!];
    if (next === undefined) return;
    dst[path[0]!] ??= {};
    put(path.slice(1), next, dst[path[0]!]);
  };
  for (const f of ['uuid', 'name', ...fields.split(',')]) put(f.split('.'), r, out);
  return out;
}

function ok(body: unknown): FakeReply {
  return { status: 200, body };
}

function err(status: number, code: string, message: string): FakeReply {
  return { status, body: { error: { message, code, target: '' } } };
}
