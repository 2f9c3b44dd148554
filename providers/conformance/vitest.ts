import { afterAll, beforeAll, describe, it } from 'vitest';
import { conformanceCases } from './cases.js';
import { openConformanceSession, type ConformanceArgs, type ConformanceSession } from './run-conformance.js';

/**
 * Registers the conformance suite as vitest blocks: one `describe` per group, one `it` per case,
 * skipped (with the reason) when the provider does not declare the capability. Import from
 * `providers/conformance/vitest.js` in a test file; the CLI uses `runConformance` instead.
 */
export function runProviderConformance(args: ConformanceArgs): void {
  describe(`provider conformance: ${args.name}`, () => {
    let session: ConformanceSession | undefined;
    beforeAll(async () => {
      session = await openConformanceSession(args);
    });
    afterAll(async () => {
      await session?.close();
    });
    const groups = [...new Set(conformanceCases.map((c) => c.group))];
    for (const group of groups) {
      describe(group, () => {
        for (const c of conformanceCases.filter((x) => x.group === group)) {
          if (args.only && !c.title.includes(args.only)) continue;
          const known = args.knownFailures?.[c.title];
          const body = async (tc: { skip(note?: string): void }) => {
            if (!session) throw new Error('the conformance session did not open (see beforeAll)');
            const skip = session.skipReason(c);
            if (skip) {
              tc.skip(skip);
              return;
            }
            await session.runCase(c);
          };
          if (known) it.fails(`${c.title} [known failure: ${known}]`, body);
          else it(c.title, body);
        }
      });
    }
  });
}
