import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { stringify } from 'yaml';

/**
 * The job configuration of a lab in `<folder>/lab` backed up into `<folder>/repo` through a local
 * proxy named `proxy`, with paths relative to the configuration file (written in `<folder>`);
 * `over` is merged on top.
 */
export function labJobConfig(over: Record<string, unknown> = {}, proxy = 'proxy-1'): Record<string, unknown> {
  return {
    hypervisor: { kind: 'lab', dir: './lab' },
    provider: { name: 'lab', config: { volumesDir: './lab/volumes', stateDir: './lab/array' } },
    proxy: { kind: 'local', host: { name: proxy } },
    repository: { path: './repo' },
    ...over,
  };
}

/** Writes {@link labJobConfig}(`over`) as `<folder>/<name>` and returns the file. */
export async function writeLabJob(folder: string, over: Record<string, unknown> = {}, name = 'job.yaml'): Promise<string> {
  const file = join(folder, name);
  await writeFile(file, stringify(labJobConfig(over)));
  return file;
}
