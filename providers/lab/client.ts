import { randomBytes, randomUUID } from 'node:crypto';
import { link, mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { withFileLock } from '../../src/core/file-lock.js';
import { isStale } from '../../src/core/owner.js';
import type { VolumeIdentity } from '../../src/core/types.js';
import { readVolumeMarker, VOLUME_MARKER, volumeLockPath } from '../../src/core/volume-marker.js';
import { labError } from './errors.js';
import { buildNtfsImage } from './ntfs-image.js';

/**
 * The lab array's "REST API": volumes are folders under `volumesDir`; a snapshot is a hard-linked
 * tree of them (O(files), never O(bytes): the lab host breaks the sharing before it writes, the
 * array's copy-on-write); a presentation is a record pointing a host at a snapshot's folders.
 */
export interface LabArrayPaths {
  volumesDir: string;
  stateDir: string;
}

export interface LabVolumeRecord {
  id: string;
  dir: string;
  identity: VolumeIdentity;
}

export interface LabSnapshotRecord {
  name: string;
  id: string;
  consistencyGroup: boolean;
  createdAt: string;
  volumes: Array<{ volumeId: string; snapshotId: string; dir: string; sourceIdentity: VolumeIdentity }>;
}

export interface LabPresentationRecord {
  name: string;
  snapshotName: string;
  host: string;
  luns: Array<{ volumeId: string; sourceIdentity: VolumeIdentity; identity: VolumeIdentity; lun: number; path: string }>;
}

const SAFE = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,200}$/;
/** the array's own work folders and files: `.tmp-<name>-p<pid>-<8 hex>`, `.del-…`, `<name>.json.p<pid>.tmp` */
const WORK = /^\.(?:tmp|del)-.+-p(\d+)-[0-9a-f]{8}$|\.json\.p(\d+)\.tmp$/;
const workTag = () => `p${process.pid}-${randomUUID().slice(0, 8)}`;

export class LabArrayClient {
  constructor(private readonly paths: LabArrayPaths) {}

  isSafeName(name: string): boolean {
    return SAFE.test(name) && !name.includes('..');
  }

  async listVolumes(): Promise<LabVolumeRecord[]> {
    let names: string[];
    try {
      names = (await readdir(this.paths.volumesDir, { withFileTypes: true })).filter((d) => d.isDirectory()).map((d) => d.name);
    } catch {
      return [];
    }
    const out: LabVolumeRecord[] = [];
    for (const id of names.sort()) {
      const dir = join(this.paths.volumesDir, id);
      try {
        out.push({ id, dir, identity: (await readVolumeMarker(dir)).identity });
      } catch {
        // a folder without a marker is not a volume
      }
    }
    return out;
  }

  private snapshotsDir(): string {
    return join(this.paths.stateDir, 'snapshots');
  }

  async getSnapshot(name: string): Promise<LabSnapshotRecord | undefined> {
    const file = join(this.snapshotsDir(), name, 'snapshot.json');
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw labError('transient', `lab array: cannot read ${file}: ${(e as Error).message}`, { file }, e);
    }
    try {
      return JSON.parse(text) as LabSnapshotRecord;
    } catch (e) {
      // a damaged record must not make its snapshot invisible to cleanup
      throw labError('invalid', `lab array: ${file} is damaged: ${(e as Error).message}`, { file }, e);
    }
  }

  /**
   * Removes the work folders and files of array processes that died (a kill between making a
   * `.tmp-` folder and its rename, or between a rename to `.del-` and its removal): the array
   * tidies up after itself, as a real array's background jobs do. Those of live processes stay.
   */
  async sweep(): Promise<string[]> {
    const removed: string[] = [];
    for (const dir of [this.snapshotsDir(), join(this.paths.stateDir, 'presentations')]) {
      for (const name of await readdir(dir).catch(() => [] as string[])) {
        const m = WORK.exec(name);
        if (!m || !(await isStale({ pid: Number(m[1] ?? m[2]), host: '' }))) continue;
        await rm(join(dir, name), { recursive: true, force: true });
        removed.push(name);
      }
    }
    return removed;
  }

  async listSnapshots(): Promise<LabSnapshotRecord[]> {
    await this.sweep();
    let names: string[];
    try {
      names = await readdir(this.snapshotsDir());
    } catch {
      return [];
    }
    const out: LabSnapshotRecord[] = [];
    for (const n of names.filter((x) => !x.startsWith('.')).sort()) {
      const s = await this.getSnapshot(n);
      if (s) out.push(s);
    }
    return out;
  }

  /** One point in time for all volumes: every volume's lock is held while the trees are linked. */
  async createSnapshot(name: string, volumes: LabVolumeRecord[], consistencyGroup: boolean): Promise<LabSnapshotRecord> {
    const tmp = join(this.snapshotsDir(), `.tmp-${name}-${workTag()}`);
    await mkdir(tmp, { recursive: true });
    try {
      const sorted = [...volumes].sort((a, b) => a.id.localeCompare(b.id));
      const linkAll = async (i: number): Promise<void> => {
        if (i === sorted.length) {
          for (const v of sorted) await linkTree(v.dir, join(tmp, v.id));
          return;
        }
        await withFileLock(volumeLockPath(sorted[i].dir), () => linkAll(i + 1), { what: `lab volume ${sorted[i].id}` });
      };
      await linkAll(0);
      const record: LabSnapshotRecord = {
        name,
        id: randomUUID(),
        consistencyGroup,
        createdAt: new Date().toISOString(),
        volumes: volumes.map((v) => ({
          volumeId: v.id,
          snapshotId: `${v.id}.${name}`,
          dir: join(this.snapshotsDir(), name, v.id),
          sourceIdentity: v.identity,
        })),
      };
      await writeFile(join(tmp, 'snapshot.json'), JSON.stringify(record, null, 2));
      await rename(tmp, join(this.snapshotsDir(), name));
      return record;
    } catch (e) {
      await rm(tmp, { recursive: true, force: true });
      throw e;
    }
  }

  async deleteSnapshot(name: string): Promise<void> {
    const dir = join(this.snapshotsDir(), name);
    const trash = join(this.snapshotsDir(), `.del-${name}-${workTag()}`);
    try {
      await rename(dir, trash);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw e;
    }
    await rm(trash, { recursive: true, force: true });
  }

  private presentationFile(name: string): string {
    return join(this.paths.stateDir, 'presentations', `${name}.json`);
  }

  async getPresentation(name: string): Promise<LabPresentationRecord | undefined> {
    try {
      return JSON.parse(await readFile(this.presentationFile(name), 'utf8')) as LabPresentationRecord;
    } catch {
      return undefined;
    }
  }

  async listPresentations(): Promise<LabPresentationRecord[]> {
    let files: string[];
    try {
      files = await readdir(join(this.paths.stateDir, 'presentations'));
    } catch {
      return [];
    }
    const out: LabPresentationRecord[] = [];
    for (const f of files.filter((x) => x.endsWith('.json'))) {
      const p = await this.getPresentation(f.slice(0, -5));
      if (p) out.push(p);
    }
    return out;
  }

  async createPresentation(
    name: string,
    snapshot: LabSnapshotRecord,
    host: string,
    presentAs: 'folder' | 'ntfs-image' = 'folder',
  ): Promise<LabPresentationRecord> {
    const imagesDir = join(this.paths.stateDir, 'presentations', name);
    const clonesDir = this.clonesDir(name);
    const luns: LabPresentationRecord['luns'] = [];
    try {
      await rm(clonesDir, { recursive: true, force: true }); // a clone half-made by a process that died
      for (const [i, v] of snapshot.volumes.entries()) {
        // a presented LUN is a writable copy of the snapshot (the host an instant restore presents
        // it to writes to it), never the snapshot itself: a hard-linked clone, whose files the lab
        // host copies before its first write (disk-io breakSharing)
        let path = join(clonesDir, v.volumeId);
        if (presentAs === 'folder') await linkTree(v.dir, path);
        if (presentAs === 'ntfs-image') {
          // a presentable copy, as Pure and PowerStore make: here a disk image with an NTFS volume
          await mkdir(imagesDir, { recursive: true });
          path = join(imagesDir, `${v.volumeId}.img`);
          await buildNtfsImage({ sourceDir: v.dir, image: path, label: v.volumeId });
        }
        // a presented image is a LUN of its own, with its own page-83 identity
        luns.push({
          volumeId: v.volumeId,
          sourceIdentity: v.sourceIdentity,
          identity: { kind: 'naa', id: ('6001405' + randomBytes(13).toString('hex')).slice(0, 32) },
          lun: i + 1,
          path,
        });
      }
    } catch (e) {
      await rm(imagesDir, { recursive: true, force: true });
      await rm(clonesDir, { recursive: true, force: true });
      throw e;
    }
    const record: LabPresentationRecord = { name, snapshotName: snapshot.name, host, luns };
    await mkdir(join(this.paths.stateDir, 'presentations'), { recursive: true });
    const file = this.presentationFile(name);
    const draft = `${file}.p${process.pid}.tmp`;
    await writeFile(draft, JSON.stringify(record, null, 2));
    await rename(draft, file);
    return record;
  }

  async deletePresentation(name: string): Promise<void> {
    await rm(this.presentationFile(name), { force: true });
    await rm(join(this.paths.stateDir, 'presentations', name), { recursive: true, force: true });
    await rm(this.clonesDir(name), { recursive: true, force: true });
  }

  /** Where the folder LUNs of a presentation are: the snapshot's files, hard-linked. */
  private clonesDir(name: string): string {
    return join(this.paths.stateDir, 'clones', name);
  }
}

/** Mirrors a folder tree with hard links (the marker is copied: a snapshot has no identity of its own). */
async function linkTree(from: string, to: string): Promise<void> {
  await mkdir(to, { recursive: true });
  for (const entry of await readdir(from, { withFileTypes: true })) {
    const src = join(from, entry.name);
    const dst = join(to, entry.name);
    if (entry.isDirectory()) await linkTree(src, dst);
    else if (entry.isFile() && entry.name !== VOLUME_MARKER) await link(src, dst);
  }
}
