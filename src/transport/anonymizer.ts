import { createHash } from 'node:crypto';

/**
 * Replaces names and paths in transcripts consistently: the same original always becomes the same
 * stand-in (`vm-1`, `host-2`, `C:\ClusterStorage\dir-3\dir-4.vhdx`), so ids, prefixes and the links
 * between calls survive (a disk path still starts with its volume root). GUIDs, instance ids, RCT ids
 * and numbers are kept: they carry no names and replays need them. Once a name is learned, every other
 * string that contains it (an error message, `hvsnap:job:web01`) has it replaced too.
 */
export class Anonymizer {
  private readonly map = new Map<string, string>();
  private readonly counters = new Map<string, number>();

  /** A copy of a JSON value with names and paths replaced; `key` is the member name it sits under. */
  value(v: unknown, key = ''): unknown {
    const learned = this.learn(v, key);
    return this.rewrite(learned);
  }

  /** The stand-in of one name of a kind (`vm`, `host`, `user`, …). */
  name(kind: string, original: string): string {
    if (!original) return original;
    const known = this.map.get(original);
    if (known) return known;
    const n = (this.counters.get(kind) ?? 0) + 1;
    this.counters.set(kind, n);
    const stand = `${kind}-${n}`;
    this.map.set(original, stand);
    return stand;
  }

  /** A Windows or UNC path with every folder and file name replaced, drive, well-known folders and extension kept. */
  path(original: string): string {
    const parts = original.split('\\');
    return parts
      .map((p, i) => {
        if (!p || /^[A-Za-z]:$/.test(p) || (i === 0 && p === '') || KEEP.has(p.toLowerCase())) return p;
        const ext = /\.(vhdx?|avhdx|vmcx|vmgs|vmrs|xml|json|ps1)$/i.exec(p)?.[0] ?? '';
        const base = ext ? p.slice(0, -ext.length) : p;
        if (GUID.test(base)) return p;
        return this.name(ext ? 'file' : 'dir', base) + ext;
      })
      .join('\\');
  }

  /** Replaces every learned original inside free text, longest first. */
  text(s: string): string {
    const originals = [...this.map.keys()].filter((o) => o.length >= 3).sort((a, b) => b.length - a.length);
    return originals.reduce((acc, o) => acc.split(o).join(this.map.get(o)!), s);
  }

  private learn(v: unknown, key: string): unknown {
    if (typeof v === 'string') {
      if (PATH.test(v)) return this.path(v);
      const kind = NAME_KEYS[key.toLowerCase()];
      // file names of an export (`Virtual Machines/<id>.vmcx`) are ids, not names
      if (kind && !GUID.test(v) && !v.includes('/') && !FILE.test(v)) return this.name(kind, v);
      if (key === 'DataBase64' || key === 'dataBase64')
        return Buffer.from(`anonymized ${createHash('sha256').update(v).digest('hex').slice(0, 16)}`).toString('base64');
      return v;
    }
    if (Array.isArray(v)) return v.map((x) => this.learn(x, key));
    if (v && typeof v === 'object') {
      return Object.fromEntries(Object.entries(v).map(([k, x]) => [PATH.test(k) ? this.path(k) : k, this.learn(x, k)]));
    }
    return v;
  }

  private rewrite(v: unknown): unknown {
    if (typeof v === 'string') return this.text(v);
    if (Array.isArray(v)) return v.map((x) => this.rewrite(x));
    if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [this.text(k), this.rewrite(x)]));
    return v;
  }
}

const GUID = /^\{?[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\}?$/i;
const PATH = /^([A-Za-z]:\\|\\\\)/;
const FILE = /\.(vmcx|vmgs|vmrs|vhdx?|avhdx|ps1)$/i;
/** Folder names that say nothing about the customer and help a reader. */
const KEEP = new Set(['clusterstorage', 'virtual hard disks', 'virtual machines', 'snapshots', 'hyper-v', 'programdata', 'microsoft', 'windows']);
/** Members whose string value is a name, and the kind of stand-in it gets. */
const NAME_KEYS: Record<string, string> = {
  elementname: 'vm',
  vmname: 'vm',
  name: 'vm',
  names: 'vm',
  vm: 'vm',
  computername: 'host',
  cluster: 'cluster',
  username: 'user',
  friendlyname: 'disk',
  serialnumber: 'serial',
};
