/**
 * What a test needs from outside the repository (a system tool, a data file from `../shared`, root,
 * /dev/fuse), checked in one place. A missing need skips the test with a one-line reason and the
 * Debian package that brings it; with HVSNAP_TEST_STRICT=1 (set by .ci/run) it fails instead.
 * Every skip is appended to the file named by HVSNAP_SKIP_LOG (set by the vitest global setup), so
 * the run can end with a summary and one `apt-get install` line.
 */
import { accessSync, appendFileSync, constants, existsSync } from 'node:fs';
import { delimiter, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe } from 'vitest';

/** The Debian package that provides each tool the tests may call. */
export const TOOL_PACKAGES: Record<string, string> = {
  'qemu-img': 'qemu-utils',
  'qemu-io': 'qemu-utils',
  '7zz': '7zip',
  'ntfs-3g': 'ntfs-3g',
  mkntfs: 'ntfs-3g',
  sfdisk: 'fdisk',
  losetup: 'mount',
  sshd: 'openssh-server',
  'sftp-server': 'openssh-sftp-server',
  ssh: 'openssh-client',
  'ssh-keygen': 'openssh-client',
  scp: 'openssh-client',
  'redis-server': 'redis-server',
  restic: 'restic',
  borg: 'borgbackup',
  fusermount3: 'fuse3',
  vhdiinfo: 'libvhdi-utils',
  vhdiexport: 'libvhdi-utils',
  bzip2: 'bzip2',
};

export interface Needs {
  /** Programs that must be on PATH (or, for sshd, in /usr/sbin). */
  tools?: string[];
  /** Paths relative to the shared folder (`../shared` beside the project, or HVSNAP_SHARED). */
  shared?: string[];
  /** The test must run as root (loop devices, mounts). */
  root?: boolean;
  /** /dev/fuse must exist. */
  fuse?: boolean;
}

const projectRoot = resolve(fileURLToPath(new URL('../..', import.meta.url)));

/** The shared folder (reference docs, fixtures), or undefined where this clone has none. */
export function sharedDir(): string | undefined {
  const dir = process.env.HVSNAP_SHARED ?? resolve(projectRoot, '..', 'shared');
  return existsSync(dir) ? dir : undefined;
}

/** The absolute path of a file under the shared folder, whether or not it exists. */
export function sharedPath(rel: string): string {
  return join(sharedDir() ?? resolve(projectRoot, '..', 'shared'), rel);
}

/** The full path of a program, looked up on PATH (and /usr/sbin, /sbin for daemons), or undefined. */
export function findTool(name: string): string | undefined {
  const dirs = (process.env.PATH ?? '').split(delimiter).filter(Boolean);
  if (name === 'sshd' || name.endsWith('-server')) dirs.push('/usr/sbin', '/sbin', '/usr/lib/openssh');
  for (const dir of dirs) {
    const file = join(dir, name);
    try {
      accessSync(file, constants.X_OK);
      return file;
    } catch {
      // not here
    }
  }
  return undefined;
}

/** Why the needs are not met ("qemu-img not installed (apt-get install qemu-utils)"), or undefined. */
export function unmetNeeds(needs: Needs): string | undefined {
  const reasons: string[] = [];
  const missingTools = (needs.tools ?? []).filter((t) => !findTool(t));
  if (missingTools.length) {
    const pkgs = [...new Set(missingTools.map((t) => TOOL_PACKAGES[t] ?? t))];
    reasons.push(`${missingTools.join(', ')} not installed (apt-get install ${pkgs.join(' ')})`);
  }
  const missingShared = (needs.shared ?? []).filter((rel) => !existsSync(sharedPath(rel)));
  if (missingShared.length) reasons.push(`${missingShared.join(', ')} not found in ../shared (or HVSNAP_SHARED)`);
  if (needs.root && process.getuid?.() !== 0) reasons.push('needs root');
  if (needs.fuse && !existsSync('/dev/fuse')) reasons.push('/dev/fuse is absent');
  return reasons.length ? reasons.join('; ') : undefined;
}

/** True under HVSNAP_TEST_STRICT=1, where a skip for a missing need is a failure. */
export const strictTests = process.env.HVSNAP_TEST_STRICT === '1';

/**
 * The reason to skip, recorded for the end-of-run summary; throws under strict mode so CI cannot
 * pass by skipping. Call it at module level: `const skip = skipUnless('title', { tools: ['qemu-img'] })`.
 */
export function skipUnless(title: string, needs: Needs): string | undefined {
  const reason = unmetNeeds(needs);
  if (!reason) return undefined;
  if (strictTests) throw new Error(`${title}: ${reason} (HVSNAP_TEST_STRICT=1 forbids skipping)`);
  const log = process.env.HVSNAP_SKIP_LOG;
  if (log) appendFileSync(log, `${JSON.stringify({ title, reason, packages: packagesFor(needs) })}\n`);
  return reason;
}

/** The Debian packages that would meet the needs' missing tools. */
export function packagesFor(needs: Needs): string[] {
  return [...new Set((needs.tools ?? []).filter((t) => !findTool(t)).map((t) => TOOL_PACKAGES[t] ?? t))];
}

/** `describe` that skips (with its reason in the title) when the needs are not met. */
export function describeWith(title: string, needs: Needs, body: () => void): void {
  const reason = skipUnless(title, needs);
  describe.skipIf(reason !== undefined)(reason ? `${title} — SKIPPED: ${reason}` : title, body);
}
