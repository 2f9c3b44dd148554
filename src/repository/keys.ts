import { randomBytes, scrypt as scryptCb, type ScryptOptions } from 'node:crypto';
import { mkdir, readFile, readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { HvsnapError } from '../core/errors.js';
import { decrypt, encrypt, type RepositoryKeys } from './blob-codec.js';
import { isErrno, writeFileAtomic } from './fs-util.js';

/**
 * The master key of an encrypted repository (64 random bytes: the blob key and the id key) is
 * stored only wrapped: one `keys/<name>.json` per passphrase, holding the master key encrypted
 * with AES-256-GCM under a key derived from that passphrase with scrypt (restic's keys/ folder is
 * the model). Adding or changing a passphrase writes or removes such a file; the data is untouched.
 */

/** scrypt cost: N = 2^15, r = 8 (32 MiB, ~0.1 s here): restic's and the Node docs' interactive level. */
export const DEFAULT_KDF = { N: 1 << 15, r: 8, p: 1 };
/** Environment variables the passphrase is read from; never a command-line argument (it would show in `ps`). */
export const PASSPHRASE_ENV = 'HVSNAP_PASSPHRASE';
export const PASSPHRASE_FILE_ENV = 'HVSNAP_PASSPHRASE_FILE';

interface KeyFile {
  kdf: 'scrypt';
  N: number;
  r: number;
  p: number;
  salt: string;
  /** base64 of nonce | encrypted master key | tag */
  wrapped: string;
  createdAt: string;
}

function scrypt(passphrase: string, salt: Buffer, k: { N: number; r: number; p: number }): Promise<Buffer> {
  const options: ScryptOptions = { N: k.N, r: k.r, p: k.p, maxmem: 256 * k.N * k.r + 16 * 1024 * 1024 };
  return new Promise((resolve, reject) => scryptCb(passphrase.normalize('NFC'), salt, 32, options, (e, key) => (e ? reject(e) : resolve(key))));
}

/** A new random master key. */
export function newKeys(): RepositoryKeys {
  const m = randomBytes(64);
  return { enc: m.subarray(0, 32), mac: m.subarray(32) };
}

/** Writes a new key file wrapping `keys` with `passphrase`; returns its name. */
export async function addKeyFile(repoPath: string, repoId: string, keys: RepositoryKeys, passphrase: string, kdf = DEFAULT_KDF): Promise<string> {
  checkPassphrase(passphrase);
  const salt = randomBytes(16);
  const wrapping = await scrypt(passphrase, salt, kdf);
  const file: KeyFile = {
    kdf: 'scrypt',
    ...kdf,
    salt: salt.toString('base64'),
    wrapped: encrypt(wrapping, Buffer.concat([keys.enc, keys.mac]), Buffer.from(repoId)).toString('base64'),
    createdAt: new Date().toISOString(),
  };
  const name = randomBytes(8).toString('hex');
  await mkdir(join(repoPath, 'keys'), { recursive: true });
  await writeFileAtomic(join(repoPath, 'keys', `${name}.json`), join(repoPath, 'keys'), JSON.stringify(file, null, 2) + '\n');
  return name;
}

/**
 * The master key, unwrapped with `passphrase` by the first key file it opens; `access_denied`
 * when none does (wrong passphrase), naming the repository but never the passphrase.
 */
export async function unlockKeys(repoPath: string, repoId: string, passphrase: string): Promise<{ keys: RepositoryKeys; keyName: string }> {
  let names: string[];
  try {
    names = (await readdir(join(repoPath, 'keys'))).filter((n) => /^[0-9a-f]{16}\.json$/.test(n)).sort();
  } catch (e) {
    if (!isErrno(e, 'ENOENT')) throw e;
    names = [];
  }
  if (names.length === 0)
    throw new HvsnapError('repository_invalid', `${repoPath} is encrypted but has no key files in keys/`, { context: { path: repoPath } });
  for (const name of names) {
    const file = join(repoPath, 'keys', name);
    let k: KeyFile;
    try {
      k = JSON.parse(await readFile(file, 'utf8')) as KeyFile;
    } catch {
      continue; // a damaged key file: another passphrase may still open the repository
    }
    if (k.kdf !== 'scrypt' || ![k.N, k.r, k.p].every((n) => Number.isInteger(n) && n > 0) || k.N > 1 << 22) continue;
    const wrapping = await scrypt(passphrase, Buffer.from(k.salt, 'base64'), k);
    try {
      const m = decrypt(wrapping, Buffer.from(k.wrapped, 'base64'), Buffer.from(repoId));
      if (m.length === 64) return { keys: { enc: m.subarray(0, 32), mac: m.subarray(32) }, keyName: name.slice(0, -5) };
    } catch {
      // not this key file's passphrase
    }
  }
  throw new HvsnapError('access_denied', `wrong passphrase for the encrypted repository ${repoPath} (no key file opens with it)`, {
    context: { path: repoPath },
    hint: `check ${PASSPHRASE_ENV} or the file ${PASSPHRASE_FILE_ENV} names`,
  });
}

/** Removes key file `name` (after another was added: changing a passphrase). */
export async function removeKeyFile(repoPath: string, name: string): Promise<void> {
  await rm(join(repoPath, 'keys', `${name}.json`), { force: true });
}

function checkPassphrase(p: string): void {
  if (typeof p !== 'string' || p.length === 0) throw new HvsnapError('input_invalid', 'the passphrase must not be empty', { context: { field: 'passphrase' } });
}

/**
 * The passphrase from the environment: `HVSNAP_PASSPHRASE`, or the first line of the file
 * `HVSNAP_PASSPHRASE_FILE` names. Undefined when neither is set.
 */
export async function passphraseFromEnvironment(env: NodeJS.ProcessEnv = process.env): Promise<string | undefined> {
  if (env[PASSPHRASE_ENV]) return env[PASSPHRASE_ENV];
  const file = env[PASSPHRASE_FILE_ENV];
  if (!file) return undefined;
  try {
    return (await readFile(file, 'utf8')).split(/\r?\n/)[0];
  } catch (e) {
    throw new HvsnapError(
      'input_invalid',
      `cannot read the passphrase file ${file} (${PASSPHRASE_FILE_ENV}): ${(e as NodeJS.ErrnoException).code ?? 'error'}`,
      {
        cause: e,
        context: { field: PASSPHRASE_FILE_ENV, file },
      },
    );
  }
}
