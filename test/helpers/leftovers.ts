import { readdir } from 'node:fs/promises';
import { join } from 'node:path';

/**
 * Every file or folder below `dir` whose name a lab, lab-array, lock or restore process uses for
 * its drafts and work folders (`.cow-<pid>`, `lab.json.<pid>.tmp`, `.tmp-…`, `.del-…`,
 * `<name>.json.p<pid>.tmp`, `.hvsnap-restore-…`, a lock's `.new-…`): after a kill and `hvsnap cleanup`
 * there must be none.
 */
export async function workLeftovers(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (/\.cow-\d+$|^lab\.json\.\d+\.tmp$|^\.(tmp|del)-|\.json\.p\d+\.tmp$|^\.hvsnap-restore-|\.lock\.(new|del)-/.test(e.name))
      out.push(join(e.parentPath, e.name));
  }
  return out;
}
