import { readFileSync } from 'node:fs';
import path from 'node:path';
import { HvsnapError } from '../core/errors.js';
import { packageRoot } from '../core/package-root.js';

export { packageRoot };

/** The line of a script that dot-sources the shared helper; the loader puts the helper's text there. */
export const HELPER_MARKER = '# hvsnap:helper';
/** The shared helper's file name. */
export const HELPER_FILE = '_hvsnap.ps1';

/** The scripts the WMI hypervisor and the doctor run. */
export const SCRIPT_NAMES = [
  'get-vms.ps1',
  'list-vm-groups.ps1',
  'create-checkpoint.ps1',
  'delete-checkpoint.ps1',
  'convert-checkpoint.ps1',
  'list-reference-points.ps1',
  'delete-reference-point.ps1',
  'list-leftovers.ps1',
  'get-changes.ps1',
  'export-config.ps1',
  'resolve-volume.ps1',
  'wait-job.ps1',
  'import-vm.ps1',
  'probe-host.ps1',
  'instant-initiators.ps1',
  'instant-rescan.ps1',
  'instant-online-disk.ps1',
  'instant-offline-disk.ps1',
  'instant-vm.ps1',
] as const;

export type ScriptName = (typeof SCRIPT_NAMES)[number];

/** Where the .ps1 files are: `<package root>/src/hyperv/scripts`. */
export function scriptsDir(): string {
  return path.join(packageRoot(), 'src', 'hyperv', 'scripts');
}

const cache = new Map<string, string>();

/** A script's text with the helper inlined, ready for a Shell. Cached; read once per process. */
export function loadScript(name: ScriptName, dir: string = scriptsDir()): string {
  const key = path.join(dir, name);
  const hit = cache.get(key);
  if (hit !== undefined) return hit;
  const read = (file: string) => {
    try {
      return readFileSync(path.join(dir, file), 'utf8').replace(/^\uFEFF/, '');
    } catch (e) {
      throw new HvsnapError('internal', `cannot read hvsnap script ${file} in ${dir}: ${(e as Error).message}`, {
        cause: e,
        context: { file: path.join(dir, file) },
      });
    }
  };
  const text = read(name);
  const lines = text.split(/\r?\n/);
  const at = lines.findIndex((l) => l.includes(HELPER_MARKER));
  if (at < 0) throw new HvsnapError('internal', `script ${name} has no "${HELPER_MARKER}" line`, { context: { file: key } });
  lines.splice(at, 1, read(HELPER_FILE));
  const full = lines.join('\n');
  cache.set(key, full);
  return full;
}
