import { createHash } from 'node:crypto';
import { openVhdx } from './open-vhdx.js';
import type { OpenVhdxOptions } from './types.js';

/** SHA-256 (hex) of a VHDX's virtual content, read through its log and parents, 4 MiB at a time. */
export async function vhdxSha256(file: string, options?: OpenVhdxOptions): Promise<string> {
  const img = await openVhdx(file, options);
  try {
    const h = createHash('sha256');
    for (let o = 0; o < img.virtualSize; o += 4 << 20) h.update(await img.read(o, Math.min(4 << 20, img.virtualSize - o)));
    return h.digest('hex');
  } finally {
    await img.close();
  }
}
