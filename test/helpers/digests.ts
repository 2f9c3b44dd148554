import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { rm } from 'node:fs/promises';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** SHA-256 of a VHDX's virtual content as qemu-img (a real, independent reader) sees it. */
export async function qemuRawDigest(vhdx: string): Promise<string> {
  const raw = `${vhdx}.raw`;
  await run('qemu-img', ['convert', '-f', 'vhdx', '-O', 'raw', vhdx, raw]);
  try {
    return await fileDigest(raw);
  } finally {
    await rm(raw, { force: true });
  }
}

export async function fileDigest(file: string): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of createReadStream(file)) h.update(chunk as Buffer);
  return h.digest('hex');
}
