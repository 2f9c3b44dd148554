import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import { commandModules } from '../../src/cli/commands/index.js';

const root = join(import.meta.dirname, '..', '..');
const names = new Set(commandModules.flatMap((m) => ('name' in m ? [m.name] : [])));

function sources(dir: string): string[] {
  return readdirSync(join(root, dir), { withFileTypes: true, recursive: true })
    .filter((e) => e.isFile() && e.name.endsWith('.ts') && !e.name.endsWith('.d.ts'))
    .map((e) => join(e.parentPath, e.name));
}

/** Every hint an error carries, and every "next:" line and next step the CLI prints, with where it is. */
function hints(): Array<{ where: string; text: string }> {
  const out: Array<{ where: string; text: string }> = [];
  for (const file of [...sources('src'), ...sources('providers'), ...sources('proxy')]) {
    const lines = readFileSync(file, 'utf8').split('\n');
    lines.forEach((line, i) => {
      const where = `${relative(root, file)}:${i + 1}`;
      for (const m of line.matchAll(/hint: *(['`"])(.*?)\1/g)) out.push({ where, text: m[2] });
      if (file.includes('/src/cli/')) for (const m of line.matchAll(/(['`])(next: .*?)\1/g)) out.push({ where, text: m[2] });
      if (file.endsWith('/src/cli/io.ts')) for (const m of line.matchAll(/return '(.*?)';/g)) out.push({ where, text: m[1] }); // nextStep()
    });
  }
  return out;
}

describe('every hint names a command that exists', () => {
  const all = hints();

  it('finds the hints (the scan itself works)', () => {
    expect(all.length).toBeGreaterThan(15);
    expect(all.some((h) => h.text.includes('hvsnap cleanup'))).toBe(true);
  });

  it('each `hvsnap X` in a hint is a command of this CLI, and each "run X" runs hvsnap or says what to run', () => {
    const wrong: string[] = [];
    for (const { where, text } of all) {
      for (const m of text.matchAll(/hvsnap ([a-z][a-z-]*)/g))
        if (!names.has(m[1]) && m[1] !== 'process') wrong.push(`${where}: "hvsnap ${m[1]}" is not a command: ${text}`);
      for (const m of text.matchAll(/\brun `?([a-z]+)/g))
        if (!['hvsnap', 'the', 'it', 'as', 'with'].includes(m[1])) wrong.push(`${where}: "run ${m[1]}" names no hvsnap command: ${text}`);
    }
    expect(wrong).toEqual([]);
  });
});
