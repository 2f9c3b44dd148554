import { Command } from 'commander';
import { HvsnapError } from '../../core/errors.js';
import { changePassphrase, checkChunkSize, migrateRepository, openRepository, PASSPHRASE_ENV, PASSPHRASE_FILE_ENV } from '../../repository/index.js';
import { passphraseFromEnvironment } from '../../repository/keys.js';
import { formatBytes, parseSize } from '../format.js';
import type { CommandModule } from '../program.js';

/** Where `hvsnap passphrase` reads the new passphrase: like the current one, never from an argument. */
const NEW_ENV = 'HVSNAP_NEW_PASSPHRASE';
const NEW_FILE_ENV = 'HVSNAP_NEW_PASSPHRASE_FILE';

async function needFromEnv(env: string, fileEnv: string, what: string): Promise<string> {
  const p = await passphraseFromEnvironment({ [PASSPHRASE_ENV]: process.env[env], [PASSPHRASE_FILE_ENV]: process.env[fileEnv] });
  if (!p)
    throw new HvsnapError('input_invalid', `${what}: set ${env}, or ${fileEnv} to a file holding it (never on the command line)`, { context: { field: env } });
  return p;
}

export const initCommand: CommandModule = (kit) =>
  new Command('init')
    .description(`create a repository (--encrypt: AES-256-GCM, passphrase from ${PASSPHRASE_ENV} or ${PASSPHRASE_FILE_ENV})`)
    .requiredOption('--repo <path>', 'repository folder (absent or empty)')
    .option('--encrypt', 'encrypt chunks and configuration (recommended)', false)
    .option('--chunk-size <size>', 'bytes per chunk (262144, 256K, 1M), a power of two from 64 KiB to 16 MiB; default 256 KiB')
    .action(
      kit.action<{ repo: string; encrypt: boolean; chunkSize?: string }>(async ({ opts, logger }) => {
        const repo = await openRepository({
          path: opts.repo,
          create: true,
          encrypt: opts.encrypt,
          chunkSize: opts.chunkSize === undefined ? undefined : checkChunkSize(parseSize(opts.chunkSize, '--chunk-size'), '--chunk-size'),
          logger,
        });
        await repo.close();
        return {
          data: repo.config,
          text: `repository ${repo.path}: format ${repo.config.formatVersion}, ${formatBytes(repo.chunkSize)} chunks, zstd, encryption ${repo.config.encryption}`,
        };
      }),
    );

export const migrateCommand: CommandModule = (kit) =>
  new Command('migrate')
    .description('convert a version 1 repository to the current version (packs, zstd; --encrypt to encrypt it too)')
    .requiredOption('--repo <path>', 'repository folder')
    .option('--encrypt', `encrypt it (passphrase from ${PASSPHRASE_ENV} or ${PASSPHRASE_FILE_ENV})`, false)
    .action(
      kit.action<{ repo: string; encrypt: boolean }>(async ({ opts, logger }) => {
        const passphrase = opts.encrypt ? await needFromEnv(PASSPHRASE_ENV, PASSPHRASE_FILE_ENV, 'the passphrase of the encrypted repository') : undefined;
        const r = await migrateRepository({ path: opts.repo, encrypt: opts.encrypt, passphrase, logger });
        const text = r.migrated
          ? `migrated to version ${r.formatVersion}: ${r.restorePoints} restore point(s), ${r.chunks} chunks: ${formatBytes(r.bytesIn)} → ${formatBytes(r.bytesOut)}` +
            (r.corruptChunks.length ? `\n${r.corruptChunks.length} corrupt chunk(s) not carried over; run hvsnap verify, then back the affected VMs up` : '')
          : `${opts.repo} already is a version ${r.formatVersion} repository`;
        return { data: r, text };
      }),
    );

export const passphraseCommand: CommandModule = (kit) =>
  new Command('passphrase')
    .description(`add or change a passphrase of an encrypted repository (current: ${PASSPHRASE_ENV}/${PASSPHRASE_FILE_ENV}; new: ${NEW_ENV}/${NEW_FILE_ENV})`)
    .requiredOption('--repo <path>', 'repository folder')
    .option('--add', 'keep the current passphrase too', false)
    .action(
      kit.action<{ repo: string; add: boolean }>(async ({ opts, logger }) => {
        const passphrase = await needFromEnv(PASSPHRASE_ENV, PASSPHRASE_FILE_ENV, 'the current passphrase');
        const newPassphrase = await needFromEnv(NEW_ENV, NEW_FILE_ENV, 'the new passphrase');
        const r = await changePassphrase({ path: opts.repo, passphrase, newPassphrase, keep: opts.add, logger });
        return { data: r, text: opts.add ? `passphrase added (key ${r.added})` : `passphrase changed (key ${r.removed} → ${r.added})` };
      }),
    );
