/**
 * Vitest global setup: gives every test worker one skip log (HVSNAP_SKIP_LOG, a fresh temporary
 * file) and, when the run ends, prints what was skipped for a missing tool, file, root or FUSE,
 * with the one `apt-get install` line that would enable it. See test/helpers/requirements.ts.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** One skip as requirements.ts appends it. */
export interface SkipRecord {
  title: string;
  reason: string;
  packages: string[];
}

/** The end-of-run summary for the recorded skips, or '' when nothing was skipped. */
export function skipSummary(records: SkipRecord[]): string {
  const byTitle = new Map<string, SkipRecord>();
  for (const r of records) byTitle.set(`${r.title}\0${r.reason}`, r); // a module loaded by two workers records twice
  if (byTitle.size === 0) return '';
  const packages = [...new Set([...byTitle.values()].flatMap((r) => r.packages))].sort();
  const lines = [`hvsnap tests: ${byTitle.size} group(s) skipped for a missing need (HVSNAP_TEST_STRICT=1 makes these failures):`];
  for (const r of byTitle.values()) lines.push(`  - ${r.title}: ${r.reason}`);
  if (packages.length) lines.push(`to run them: apt-get install ${packages.join(' ')}`);
  return lines.join('\n');
}

/** Reads the JSON-lines skip log; a torn last line (a killed worker) is ignored. */
export function readSkipLog(file: string): SkipRecord[] {
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter(Boolean)
    .flatMap((line) => {
      try {
        return [JSON.parse(line) as SkipRecord];
      } catch {
        return [];
      }
    });
}

export default function setup(): () => void {
  const given = process.env.HVSNAP_SKIP_LOG;
  const dir = given ? undefined : mkdtempSync(join(tmpdir(), 'hvsnap-skips-'));
  const log = given ?? join(dir!, 'skips.jsonl');
  process.env.HVSNAP_SKIP_LOG = log;
  return () => {
    const summary = skipSummary(readSkipLog(log));
    if (summary) process.stdout.write(`\n${summary}\n`);
    if (dir) rmSync(dir, { recursive: true, force: true });
  };
}
