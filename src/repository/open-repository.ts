import { mkdir, readFile, readdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { HvsnapError } from '../core/errors.js';
import { silentLogger, type Logger } from '../core/logger.js';
import { randomBytes } from 'node:crypto';
import type { RepositoryKeys } from './blob-codec.js';
import { fsyncPath, isErrno, writeFileAtomic } from './fs-util.js';
import { addKeyFile, DEFAULT_KDF, newKeys, PASSPHRASE_ENV, PASSPHRASE_FILE_ENV, passphraseFromEnvironment, unlockKeys } from './keys.js';
import type { PackVersion } from './pack-format.js';
import { Repository } from './repository.js';

/** The file that makes a folder an hvsnap repository. */
export const REPOSITORY_FILE = 'hvsnap-repository.json';
/**
 * Bytes per chunk of a new repository (an existing one keeps the size its config records). 256 KiB:
 * an incremental reads every chunk a change touches, so a scattered 64 KiB write costs a 256 KiB read
 * instead of 1 MiB (4x less); the price is 4x more chunks (disk index: 32 bytes per chunk, 128 KiB per
 * GiB of disk per restore point; chunk index: about 56 bytes of memory per chunk).
 */
export const DEFAULT_CHUNK_SIZE = 256 * 1024;
/**
 * The format of a repository this hvsnap creates: 3, where an unencrypted blob ends in a checksum
 * that a restore checks instead of hashing the chunk again (pack-format.ts).
 */
export const FORMAT_VERSION: PackVersion = 3;
/**
 * The formats this hvsnap reads and writes. A version 2 repository stays version 2 (its packs too,
 * so the hvsnap that made it can still read it); its restores hash every unencrypted chunk again.
 */
export const READABLE_VERSIONS: readonly PackVersion[] = [2, 3];

/** Whether `version` (a repository's `formatVersion`, as read) is one of {@link READABLE_VERSIONS}. */
export function isReadableVersion(version: unknown): version is PackVersion {
  return (READABLE_VERSIONS as readonly unknown[]).includes(version);
}
const SUBFOLDERS = ['packs', 'index', 'bad', 'keys', 'restore-points', 'tmp', 'locks'];
const MIN_CHUNK = 64 * 1024;
const MAX_CHUNK = 16 * 1024 * 1024;

export interface OpenRepositoryArgs {
  /** the repository folder */
  path: string;
  /** create the repository when the folder does not hold one (the folder must be absent or empty) */
  create?: boolean;
  /** bytes, only with `create`: a power of two from 64 KiB to 16 MiB; default {@link DEFAULT_CHUNK_SIZE} (256 KiB) */
  chunkSize?: number;
  logger?: Logger;
  /** ms a writer waits for a running garbage collection before `repository_locked`; default 60 000 */
  lockTimeoutMs?: number;
  /** only with `create`: encrypt the repository (AES-256-GCM, keyed chunk ids); needs a passphrase */
  encrypt?: boolean;
  /**
   * the passphrase of an encrypted repository; default: the environment (`HVSNAP_PASSPHRASE`, or
   * the file `HVSNAP_PASSPHRASE_FILE` names). Never take it from a command-line argument.
   */
  passphrase?: string;
  /** scrypt cost of a new key (tests lower it); default {@link DEFAULT_KDF} */
  kdf?: { N: number; r: number; p: number };
}

/** What hvsnap-repository.json holds (versions 2 and 3 alike). */
export interface RepositoryConfig {
  format: 'hvsnap-repository';
  formatVersion: PackVersion;
  /** random, 32 hex digits; binds the key files to this repository */
  id: string;
  chunkSize: number;
  compression: 'zstd';
  encryption: 'none' | 'aes-256-gcm';
  createdAt: string;
}

/** Checks a chunk size without I/O; `input_invalid` names the field. */
export function checkChunkSize(chunkSize: unknown, field = 'chunkSize'): number {
  const n = chunkSize as number;
  if (!Number.isInteger(n) || n < MIN_CHUNK || n > MAX_CHUNK || (n & (n - 1)) !== 0) {
    throw new HvsnapError('input_invalid', `${field} must be a power of two from ${MIN_CHUNK} to ${MAX_CHUNK} bytes, got ${String(chunkSize)}`, {
      context: { field },
    });
  }
  return n;
}

/**
 * Opens (or with `create`, creates) the repository at `args.path`. A folder that is not a
 * repository, a file, or an unreadable path is `repository_invalid` naming the path.
 */
export async function openRepository(args: OpenRepositoryArgs): Promise<Repository> {
  const path = resolve(args.path);
  const logger = args.logger ?? silentLogger;
  if (args.chunkSize !== undefined) checkChunkSize(args.chunkSize);
  const file = join(path, REPOSITORY_FILE);
  const invalid = (msg: string, cause?: unknown, hint?: string): HvsnapError =>
    new HvsnapError('repository_invalid', `${path}: ${msg}`, { cause, context: { path }, hint });

  let text: string | undefined;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    if (isErrno(e, 'ENOTDIR')) throw invalid('not a folder (or a parent of it is a file)', e);
    if (isErrno(e, 'EISDIR')) throw invalid(`${REPOSITORY_FILE} is a folder`, e);
    if (!isErrno(e, 'ENOENT')) throw invalid(`cannot read ${REPOSITORY_FILE}: ${(e as NodeJS.ErrnoException).code}`, e, 'check the permissions of the folder');
  }

  let config: RepositoryConfig;
  let keys: RepositoryKeys | undefined;
  if (text === undefined) {
    if (!args.create) throw invalid(`not an hvsnap repository (no ${REPOSITORY_FILE})`, undefined, 'check the path, or create a repository there');
    config = {
      format: 'hvsnap-repository',
      formatVersion: FORMAT_VERSION,
      id: randomBytes(16).toString('hex'),
      chunkSize: args.chunkSize ?? DEFAULT_CHUNK_SIZE,
      compression: 'zstd',
      encryption: args.encrypt ? 'aes-256-gcm' : 'none',
      createdAt: new Date().toISOString(),
    };
    const passphrase = args.encrypt ? await needPassphrase(args, path) : undefined;
    const made = passphrase === undefined ? undefined : newKeys();
    await create(path, config, invalid, async () => {
      if (made) await addKeyFile(path, config.id, made, passphrase!, args.kdf ?? DEFAULT_KDF);
    });
    keys = made;
    logger.info({ path, chunkSize: config.chunkSize, encryption: config.encryption }, 'repository created');
  } else {
    config = parseConfig(text, file, path, invalid);
    if (args.chunkSize !== undefined && args.chunkSize !== config.chunkSize) {
      throw new HvsnapError('input_invalid', `${path} is a repository with ${config.chunkSize}-byte chunks, not ${args.chunkSize}`, {
        context: { path, field: 'chunkSize' },
      });
    }
  }
  if (config.encryption === 'aes-256-gcm' && !keys) keys = (await unlockKeys(path, config.id, await needPassphrase(args, path))).keys;
  try {
    for (const sub of SUBFOLDERS) await mkdir(join(path, sub), { recursive: true });
  } catch (e) {
    throw invalid(`cannot prepare the repository folders: ${(e as NodeJS.ErrnoException).code}`, e);
  }
  const repo = new Repository({ path, config, keys, logger, lockTimeoutMs: args.lockTimeoutMs ?? 60_000 });
  await repo.load();
  return repo;
}

async function needPassphrase(args: OpenRepositoryArgs, path: string): Promise<string> {
  const p = args.passphrase ?? (await passphraseFromEnvironment());
  if (p === undefined || p.length === 0) {
    throw new HvsnapError('input_invalid', `${path} is ${args.create && args.encrypt ? 'to be ' : ''}encrypted: a passphrase is needed`, {
      context: { path, field: PASSPHRASE_ENV },
      hint: `set ${PASSPHRASE_ENV}, or ${PASSPHRASE_FILE_ENV} to a file holding it`,
    });
  }
  return p;
}

async function create(
  path: string,
  config: RepositoryConfig,
  invalid: (msg: string, cause?: unknown) => HvsnapError,
  before: () => Promise<void>,
): Promise<void> {
  try {
    await mkdir(path, { recursive: true });
    // our own sub-folders may be there already, left by a create that crashed before the marker
    const entries = (await readdir(path)).filter((e) => !SUBFOLDERS.includes(e));
    if (entries.length > 0)
      throw invalid(`the folder is not empty and not a repository (holds ${entries.slice(0, 3).join(', ')}${entries.length > 3 ? ', ...' : ''})`);
    for (const sub of SUBFOLDERS) await mkdir(join(path, sub), { recursive: true });
    await before();
    // the marker file goes last: a crash before it leaves a folder that is not yet a repository
    await writeFileAtomic(join(path, REPOSITORY_FILE), path, JSON.stringify(config, null, 2) + '\n');
    await fsyncPath(join(path, '..'));
  } catch (e) {
    if (e instanceof HvsnapError) throw e;
    throw invalid(`cannot create a repository: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, e);
  }
}

function parseConfig(text: string, file: string, path: string, invalid: (msg: string, cause?: unknown, hint?: string) => HvsnapError): RepositoryConfig {
  let config: Record<string, unknown>;
  try {
    config = JSON.parse(text) as Record<string, unknown>;
  } catch (e) {
    throw invalid(`${file} is not valid JSON`, e);
  }
  const bad = (field: string, why: string, hint?: string): HvsnapError =>
    invalid(`${file}: field ${field} ${why}`, undefined, hint).withContext({ file, field });
  if (typeof config !== 'object' || config === null || config.format !== 'hvsnap-repository') throw bad('format', 'must be "hvsnap-repository"');
  if (config.formatVersion === 1) {
    throw bad(
      'formatVersion',
      `is 1: a repository of an older hvsnap (one file per chunk); this hvsnap reads versions ${READABLE_VERSIONS.join(' and ')}`,
      `convert it with: hvsnap migrate --repo ${path}`,
    );
  }
  if (!isReadableVersion(config.formatVersion)) {
    throw bad(
      'formatVersion',
      `is ${JSON.stringify(config.formatVersion)}; this hvsnap reads versions ${READABLE_VERSIONS.join(' and ')}`,
      'a newer hvsnap wrote it: upgrade hvsnap to use it',
    );
  }
  if (typeof config.id !== 'string' || !/^[0-9a-f]{32}$/.test(config.id)) throw bad('id', 'must be 32 lowercase hex digits');
  if (config.compression !== 'zstd') throw bad('compression', 'must be "zstd"');
  if (config.encryption !== 'none' && config.encryption !== 'aes-256-gcm') throw bad('encryption', 'must be "none" or "aes-256-gcm"');
  try {
    checkChunkSize(config.chunkSize);
  } catch {
    throw bad('chunkSize', `is ${JSON.stringify(config.chunkSize)}; must be a power of two from ${MIN_CHUNK} to ${MAX_CHUNK}`);
  }
  return config as unknown as RepositoryConfig;
}
