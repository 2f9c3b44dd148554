import { createHash, randomBytes } from 'node:crypto';
import { readFile, readdir, rm } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { HvsnapError } from '../core/errors.js';
import { silentLogger, type Logger } from '../core/logger.js';
import { encrypt, type RepositoryKeys } from './blob-codec.js';
import { decodeIndex, encodeIndex } from './disk-index.js';
import { isErrno, writeFileAtomic } from './fs-util.js';
import { isChunkId } from './hash.js';
import { addKeyFile, DEFAULT_KDF, newKeys, unlockKeys } from './keys.js';
import { RepositoryLocks } from './lock.js';
import { MANIFEST_VERSION, openManifest, parseManifest, sealManifest } from './manifest.js';
import { FORMAT_VERSION, isReadableVersion, READABLE_VERSIONS, REPOSITORY_FILE, type RepositoryConfig } from './open-repository.js';
import { PackStore } from './pack-store.js';
import { indexFileName } from './restore-point-writer.js';
import { chunkId } from './chunk-id.js';

/** What {@link migrateRepository} did. */
export interface MigrateResult {
  /** false when the repository already was version 2 or 3 (nothing to do) */
  migrated: boolean;
  /** the repository's format version now */
  formatVersion: number;
  chunks: number;
  /** bytes of chunk files read, and bytes of packs written */
  bytesIn: number;
  bytesOut: number;
  restorePoints: number;
  /** chunk files that did not hash to their name (not carried over: verify reports who needs them) */
  corruptChunks: string[];
}

const PENDING = 'migrate-pending.json';

/**
 * Converts a version 1 repository (one file per chunk under `chunks/`) in place into the current version ({@link FORMAT_VERSION}):
 * every chunk is checked against its name and put into packs (compressed; encrypted and re-keyed
 * with `encrypt`), every restore point's indexes and manifest are rewritten (with checksums), and
 * the configuration file is switched last. Holds the repository's exclusive lock. Re-running after
 * a crash finishes the job (the half-made new state is kept in `migrate-pending.json`).
 */
export async function migrateRepository(args: {
  path: string;
  encrypt?: boolean;
  passphrase?: string;
  logger?: Logger;
  kdf?: { N: number; r: number; p: number };
}): Promise<MigrateResult> {
  const path = resolve(args.path);
  const logger = args.logger ?? silentLogger;
  const old = JSON.parse(
    await readFile(join(path, REPOSITORY_FILE), 'utf8').catch((e: unknown) => {
      throw new HvsnapError('repository_invalid', `${path}: not an hvsnap repository (cannot read ${REPOSITORY_FILE})`, { cause: e, context: { path } });
    }),
  ) as { formatVersion?: unknown; chunkSize?: number };
  const result: MigrateResult = {
    migrated: false,
    formatVersion: old.formatVersion as number,
    chunks: 0,
    bytesIn: 0,
    bytesOut: 0,
    restorePoints: 0,
    corruptChunks: [],
  };
  if (isReadableVersion(old.formatVersion)) return result;
  if (old.formatVersion !== 1)
    throw new HvsnapError('repository_invalid', `${path}: format version ${JSON.stringify(old.formatVersion)} cannot be migrated (only 1)`, {
      context: { path, field: 'formatVersion' },
    });
  if (args.encrypt && !args.passphrase)
    throw new HvsnapError('input_invalid', 'migrating to an encrypted repository needs a passphrase', { context: { field: 'passphrase' } });
  const lock = await new RepositoryLocks(join(path, 'locks'), path, logger).acquireExclusive('migrate');
  try {
    const { config, keys } = await pendingConfig(path, old.chunkSize!, args);
    const store = new PackStore(path, config.chunkSize, keys, config.formatVersion, logger);
    await store.refresh();
    const renamed = new Map<string, string>(); // v1 id → keyed id (encrypted only)
    for (const a of await dirs(join(path, 'chunks'))) {
      for (const b of await dirs(join(path, 'chunks', a))) {
        for (const name of await dirs(join(path, 'chunks', a, b))) {
          if (!isChunkId(name)) continue;
          const data = await readFile(join(path, 'chunks', a, b, name));
          result.bytesIn += data.length;
          if (chunkId(data) !== name) {
            result.corruptChunks.push(name);
            continue;
          }
          const put = await store.put(data);
          if (keys && put.id) renamed.set(name, put.id);
          result.bytesOut += put.bytesWritten;
          result.chunks++;
        }
      }
    }
    await store.flush();
    const rename = (id: string | null): string | null => (id === null || !keys ? id : (renamed.get(id) ?? chunkId(Buffer.from(id, 'hex'), keys.mac)));
    for (const id of await dirs(join(path, 'restore-points'))) {
      const dir = join(path, 'restore-points', id);
      const file = join(dir, 'manifest.json');
      const value = JSON.parse(await readFile(file, 'utf8').catch(() => 'null')) as Record<string, unknown> | null;
      if (value === null) continue; // not a restore point (a stray file) or unreadable: verify reports it
      if (value.formatVersion === MANIFEST_VERSION) {
        openManifest(value, file, keys?.mac); // done by an earlier, interrupted run
        result.restorePoints++;
        continue;
      }
      const manifest = parseManifest({ ...value, formatVersion: MANIFEST_VERSION }, file);
      for (const disk of manifest.disks) {
        const idxFile = join(dir, 'disks', indexFileName(disk.diskId));
        const buf = await readFile(idxFile);
        const sha = createHash('sha256').update(buf).digest('hex');
        if (sha !== disk.indexSha256)
          throw new HvsnapError('integrity_failed', `index file ${idxFile} does not match its manifest; run verify with the old hvsnap first`, {
            context: { file: idxFile },
          });
        const index = decodeIndex(buf, idxFile);
        const out = encodeIndex({ ...index, chunks: index.chunks.map(rename) });
        await writeFileAtomic(idxFile, join(dir, 'disks'), out);
        disk.indexSha256 = createHash('sha256').update(out).digest('hex');
      }
      if (keys) for (const name of manifest.configFiles) await sealConfigFile(dir, name, keys);
      await writeFileAtomic(file, dir, sealManifest(manifest, keys?.mac));
      result.restorePoints++;
    }
    // the switch: from here the repository is of the new version
    await writeFileAtomic(join(path, REPOSITORY_FILE), path, JSON.stringify(config, null, 2) + '\n');
    await rm(join(path, PENDING), { force: true });
    await rm(join(path, 'chunks'), { recursive: true, force: true });
    result.migrated = true;
    result.formatVersion = config.formatVersion;
    logger.info({ path, ...result, corruptChunks: result.corruptChunks.length }, `repository migrated to version ${config.formatVersion}`);
    return result;
  } finally {
    await lock.release();
  }
}

/** The new configuration being made (kept across an interrupted run, with its key). */
async function pendingConfig(
  path: string,
  chunkSize: number,
  args: { encrypt?: boolean; passphrase?: string; kdf?: { N: number; r: number; p: number } },
): Promise<{ config: RepositoryConfig; keys?: RepositoryKeys }> {
  try {
    const config = JSON.parse(await readFile(join(path, PENDING), 'utf8')) as RepositoryConfig;
    // an older hvsnap's interrupted run goes on in its version (2); a newer one's is for a newer hvsnap to finish
    if (!isReadableVersion(config.formatVersion))
      throw new HvsnapError(
        'repository_invalid',
        `${path}: an interrupted migration to format version ${JSON.stringify(config.formatVersion)} (${PENDING}); this hvsnap writes versions ${READABLE_VERSIONS.join(' and ')}`,
        { context: { path, file: join(path, PENDING), field: 'formatVersion' }, hint: 'finish it with the release that started it, or a newer one' },
      );
    if (config.encryption === 'aes-256-gcm') {
      if (!args.passphrase)
        throw new HvsnapError('input_invalid', 'an interrupted migration to an encrypted repository needs its passphrase to go on', {
          context: { field: 'passphrase' },
        });
      return { config, keys: (await unlockKeys(path, config.id, args.passphrase)).keys };
    }
    return { config };
  } catch (e) {
    if (!isErrno(e, 'ENOENT')) throw e;
  }
  const config: RepositoryConfig = {
    format: 'hvsnap-repository',
    formatVersion: FORMAT_VERSION,
    id: randomBytes(16).toString('hex'),
    chunkSize,
    compression: 'zstd',
    encryption: args.encrypt ? 'aes-256-gcm' : 'none',
    createdAt: new Date().toISOString(),
  };
  let keys: RepositoryKeys | undefined;
  if (args.encrypt) {
    keys = newKeys();
    await addKeyFile(path, config.id, keys, args.passphrase!, args.kdf ?? DEFAULT_KDF);
  }
  await writeFileAtomic(join(path, PENDING), path, JSON.stringify(config, null, 2) + '\n');
  return { config, keys };
}

async function sealConfigFile(dir: string, name: string, keys: RepositoryKeys): Promise<void> {
  const file = join(dir, 'config', name);
  const data = await readFile(file);
  await writeFileAtomic(file, join(file, '..'), encrypt(keys.enc, data, Buffer.from(`config:${name}`)));
}

async function dirs(dir: string): Promise<string[]> {
  try {
    return (await readdir(dir)).sort();
  } catch (e) {
    if (isErrno(e, 'ENOENT', 'ENOTDIR')) return [];
    throw e;
  }
}
