import { mkdir, readFile, readdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { HvsnapError } from '../core/errors.js';
import { silentLogger, type Logger } from '../core/logger.js';
import { fsyncPath, isErrno, writeFileAtomic } from './fs-util.js';
import { Repository } from './repository.js';

/** The file that makes a folder an hvsnap repository. */
export const REPOSITORY_FILE = 'hvsnap-repository.json';
export const DEFAULT_CHUNK_SIZE = 1024 * 1024;
const SUBFOLDERS = ['chunks', 'restore-points', 'tmp', 'locks'];
const MIN_CHUNK = 64 * 1024;
const MAX_CHUNK = 16 * 1024 * 1024;

export interface OpenRepositoryArgs {
  /** the repository folder */
  path: string;
  /** create the repository when the folder does not hold one (the folder must be absent or empty) */
  create?: boolean;
  /** bytes, only with `create`: a power of two from 64 KiB to 16 MiB; default 1 MiB */
  chunkSize?: number;
  logger?: Logger;
  /** ms a writer waits for a running garbage collection before `repository_locked`; default 60 000 */
  lockTimeoutMs?: number;
}

/** Checks a chunk size without I/O; `input_invalid` names the field. */
export function checkChunkSize(chunkSize: unknown, field = 'chunkSize'): number {
  const n = chunkSize as number;
  if (!Number.isInteger(n) || n < MIN_CHUNK || n > MAX_CHUNK || (n & (n - 1)) !== 0) {
    throw new HvsnapError('input_invalid', `${field} must be a power of two from ${MIN_CHUNK} to ${MAX_CHUNK} bytes, got ${String(chunkSize)}`, { context: { field } });
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

  let chunkSize: number;
  if (text === undefined) {
    if (!args.create) throw invalid(`not an hvsnap repository (no ${REPOSITORY_FILE})`, undefined, 'check the path, or create a repository there');
    chunkSize = args.chunkSize ?? DEFAULT_CHUNK_SIZE;
    await create(path, chunkSize, invalid);
    logger.info({ path, chunkSize }, 'repository created');
  } else {
    chunkSize = parseConfig(text, file, invalid);
    if (args.chunkSize !== undefined && args.chunkSize !== chunkSize) {
      throw new HvsnapError('input_invalid', `${path} is a repository with ${chunkSize}-byte chunks, not ${args.chunkSize}`, { context: { path, field: 'chunkSize' } });
    }
  }
  try {
    for (const sub of SUBFOLDERS) await mkdir(join(path, sub), { recursive: true });
  } catch (e) {
    throw invalid(`cannot prepare the repository folders: ${(e as NodeJS.ErrnoException).code}`, e);
  }
  return new Repository({ path, chunkSize, logger, lockTimeoutMs: args.lockTimeoutMs ?? 60_000 });
}

async function create(path: string, chunkSize: number, invalid: (msg: string, cause?: unknown) => HvsnapError): Promise<void> {
  try {
    await mkdir(path, { recursive: true });
    // our own sub-folders may be there already, left by a create that crashed before the marker
    const entries = (await readdir(path)).filter((e) => !SUBFOLDERS.includes(e));
    if (entries.length > 0) throw invalid(`the folder is not empty and not a repository (holds ${entries.slice(0, 3).join(', ')}${entries.length > 3 ? ', ...' : ''})`);
    for (const sub of SUBFOLDERS) await mkdir(join(path, sub), { recursive: true });
    const config = { format: 'hvsnap-repository', formatVersion: 1, chunkSize, hash: 'sha256', createdAt: new Date().toISOString() };
    // the marker file goes last: a crash before it leaves a folder that is not yet a repository
    await writeFileAtomic(join(path, REPOSITORY_FILE), path, JSON.stringify(config, null, 2) + '\n');
    await fsyncPath(join(path, '..'));
  } catch (e) {
    if (e instanceof HvsnapError) throw e;
    throw invalid(`cannot create a repository: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, e);
  }
}

function parseConfig(text: string, file: string, invalid: (msg: string, cause?: unknown) => HvsnapError): number {
  let config: Record<string, unknown>;
  try {
    config = JSON.parse(text) as Record<string, unknown>;
  } catch (e) {
    throw invalid(`${file} is not valid JSON`, e);
  }
  const bad = (field: string, why: string): HvsnapError => invalid(`${file}: field ${field} ${why}`).withContext({ file, field });
  if (typeof config !== 'object' || config === null || config.format !== 'hvsnap-repository') throw bad('format', 'must be "hvsnap-repository"');
  if (config.formatVersion !== 1) throw bad('formatVersion', `is ${JSON.stringify(config.formatVersion)}; this hvsnap reads version 1`);
  if (config.hash !== 'sha256') throw bad('hash', 'must be "sha256"');
  try {
    return checkChunkSize(config.chunkSize);
  } catch {
    throw bad('chunkSize', `is ${JSON.stringify(config.chunkSize)}; must be a power of two from ${MIN_CHUNK} to ${MAX_CHUNK}`);
  }
}
