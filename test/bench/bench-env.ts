import { join } from 'node:path';
import type { BackupEnvironment } from '../../src/backup/types.js';
import { silentLogger } from '../../src/core/logger.js';
import { openLab } from '../../src/lab/index.js';
import { openRepository } from '../../src/repository/index.js';
import { labProvider } from '../../providers/lab/index.js';
import { createLocalProxy } from '../../proxy/local/index.js';

/**
 * The backup environment a bench worker runs against: an existing lab (host and array) and a
 * repository folder (created when missing). Silent: a bench run logs nothing.
 */
export async function openBenchEnv(labDir: string, repoDir: string, passphrase?: string): Promise<BackupEnvironment> {
  const provider = await labProvider.create(
    labProvider.configSchema.parse({ volumesDir: join(labDir, 'volumes'), stateDir: join(labDir, 'array'), failOn: [] }),
    { logger: silentLogger },
  );
  return {
    hypervisor: openLab(labDir),
    provider,
    proxy: createLocalProxy(),
    proxyHost: { name: 'bench-proxy' },
    repository: await openRepository({ path: repoDir, create: true, encrypt: passphrase !== undefined, passphrase }),
    logger: silentLogger,
  };
}

/** Deletes every reference point hvsnap left in a lab, so repeated full runs start from the same state. */
export async function clearReferencePoints(labDir: string): Promise<void> {
  const host = openLab(labDir);
  const { referencePoints } = await host.listLeftovers({ tagPrefix: 'hvsnap:' });
  for (const rp of referencePoints) await host.deleteReferencePoint({ vmId: rp.vmId, referencePointId: rp.id });
}
