import { closeSync, constants, openSync, rmSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { allocAlignedBuffer, DIRECT_ALIGN } from '../../src/core/direct-io.js';

/**
 * Whether `folder`'s file system takes an aligned O_DIRECT write (ext4 and xfs do; tmpfs only from
 * Linux 6.6; Windows and macOS have no O_DIRECT). Tests expect direct writes where this says yes and
 * the page-cache fallback, with its reason, where it says no.
 */
export function acceptsDirectIo(folder: string): boolean {
  const flag = (constants as { O_DIRECT?: number }).O_DIRECT;
  if (flag === undefined) return false;
  const probe = join(folder, '.direct-io-probe');
  let fd: number | undefined;
  try {
    fd = openSync(probe, constants.O_WRONLY | constants.O_CREAT | flag);
    writeSync(fd, allocAlignedBuffer(DIRECT_ALIGN), 0, DIRECT_ALIGN, 0);
    return true;
  } catch {
    return false;
  } finally {
    if (fd !== undefined) closeSync(fd);
    rmSync(probe, { force: true });
  }
}
