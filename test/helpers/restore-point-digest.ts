import { createHash } from 'node:crypto';
import type { Repository } from '../../src/repository/index.js';

/** SHA-256 of a disk's virtual content as the restore point's chunk index holds it (zeros for null chunks). */
export async function restorePointDiskDigest(repository: Repository, restorePointId: string, diskId: string): Promise<string> {
  const index = await repository.readIndex(restorePointId, diskId);
  const h = createHash('sha256');
  for (let i = 0; i < index.chunks.length; i++) {
    const length = Math.min(index.chunkSize, index.virtualSize - i * index.chunkSize);
    const id = index.chunks[i];
    h.update(id === null ? Buffer.alloc(length) : await repository.getChunk(id, { verify: true }));
  }
  return h.digest('hex');
}
