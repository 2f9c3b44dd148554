import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { HvsnapError } from '../core/errors.js';
import { silentLogger, type Logger } from '../core/logger.js';
import { addKeyFile, DEFAULT_KDF, PASSPHRASE_ENV, PASSPHRASE_FILE_ENV, removeKeyFile, unlockKeys } from './keys.js';
import { REPOSITORY_FILE } from './open-repository.js';

export { PASSPHRASE_ENV, PASSPHRASE_FILE_ENV };

/**
 * Adds a passphrase to an encrypted repository (`keep: true`), or changes one: a new key file
 * wraps the same master key with `newPassphrase`; when changing, the key file `passphrase` opened
 * is removed after the new one is durable. Nothing else in the repository changes.
 * `access_denied` when `passphrase` opens no key file.
 */
export async function changePassphrase(args: {
  path: string;
  passphrase: string;
  newPassphrase: string;
  keep?: boolean;
  logger?: Logger;
  kdf?: { N: number; r: number; p: number };
}): Promise<{ added: string; removed?: string }> {
  const path = resolve(args.path);
  const config = JSON.parse(await readFile(join(path, REPOSITORY_FILE), 'utf8')) as { id?: string; encryption?: string };
  if (config.encryption !== 'aes-256-gcm' || typeof config.id !== 'string') {
    throw new HvsnapError('input_invalid', `${path} is not an encrypted repository: it has no passphrase to change`, { context: { path } });
  }
  const { keys, keyName } = await unlockKeys(path, config.id, args.passphrase);
  const added = await addKeyFile(path, config.id, keys, args.newPassphrase, args.kdf ?? DEFAULT_KDF);
  if (!args.keep) await removeKeyFile(path, keyName);
  (args.logger ?? silentLogger).info({ path, added, removed: args.keep ? undefined : keyName }, args.keep ? 'passphrase added' : 'passphrase changed');
  return { added, removed: args.keep ? undefined : keyName };
}
