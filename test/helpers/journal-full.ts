import { vi } from 'vitest';
import { Journal, type JournalEntry } from '../../src/backup/journal.js';

/** The error a full disk gives a write. */
export function enospc(): NodeJS.ErrnoException {
  return Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
}

/**
 * A disk that fills under the job journal: every journal's append of an entry `refuse` picks throws
 * ENOSPC (the others are written), until the caller's `vi.restoreAllMocks()`. Returns the entries
 * refused, in order.
 */
export function journalDiskFull(refuse: (entry: JournalEntry) => boolean): JournalEntry[] {
  const refused: JournalEntry[] = [];
  const write = Journal.prototype.append;
  vi.spyOn(Journal.prototype, 'append').mockImplementation(async function (this: Journal, entry) {
    if (!refuse(entry)) return write.call(this, entry);
    refused.push(entry);
    throw enospc();
  });
  return refused;
}
