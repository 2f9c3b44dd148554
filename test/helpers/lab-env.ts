import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BackupEnvironment } from '../../src/backup/types.js';
import { captureLogger, silentLogger, type Logger } from '../../src/core/logger.js';
import { createLab, openLab, type CreateLabArgs } from '../../src/lab/index.js';
import { openRepository } from '../../src/repository/index.js';
import { labProvider } from '../../providers/lab/index.js';
import { createLocalProxy } from '../../proxy/local/index.js';
import type { Proxy } from '../../proxy/proxy.js';

export interface LabEnv extends BackupEnvironment {
  dir: string;
  labDir: string;
  cleanup(): Promise<void>;
}

/** A lab host, a lab array and a repository in a temporary folder, wired as a backup runs them. */
export async function makeLabEnv(
  args: Omit<CreateLabArgs, 'dir'> & { failOn?: string[]; proxy?: Proxy; logger?: Logger; lockTimeoutMs?: number; chunkSize?: number } = {},
): Promise<LabEnv> {
  const dir = await mkdtemp(join(tmpdir(), 'hvsnap-test-'));
  const labDir = join(dir, 'lab');
  const { failOn, proxy, logger, lockTimeoutMs, chunkSize, ...labArgs } = args;
  await createLab({ dir: labDir, ...labArgs });
  const provider = await labProvider.create(
    labProvider.configSchema.parse({ volumesDir: join(labDir, 'volumes'), stateDir: join(labDir, 'array'), failOn: failOn ?? [] }),
    { logger: silentLogger },
  );
  const repository = await openRepository({ path: join(dir, 'repo'), create: true, lockTimeoutMs, chunkSize });
  return {
    dir,
    labDir,
    hypervisor: openLab(labDir),
    provider,
    proxy: proxy ?? createLocalProxy(),
    proxyHost: { name: 'proxy-1' },
    repository,
    logger: logger ?? captureLogger(),
    cleanup: async () => {
      await repository.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
