import { describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/core/logger.js';
import { checkShape } from '../../providers/conformance/run-conformance.js';
import { expectKind } from '../../providers/conformance/check.js';
import { guardProvider } from '../../providers/sdk/guard-provider.js';
import { createSkeletonProvider } from '../../examples/provider-skeleton/src/index.js';
import { MemoryArray } from '../../examples/provider-skeleton/src/memory-array.js';
import type { Provider } from '../../providers/sdk/provider.js';

/** The suite tells a vendor what is wrong with the shape of a driver before running any case. */
describe('conformance: the shape of a driver', () => {
  const complete = () => createSkeletonProvider(new MemoryArray());

  it('accepts the skeleton', () => {
    expect(() => checkShape(complete())).not.toThrow();
  });

  it('names a required method the driver lacks', () => {
    const { ensureHost: _e, checkSnapshot: _c, ...rest } = complete();
    expect(() => checkShape(rest as Provider)).toThrow(/provider "skeleton" does not implement checkSnapshot, ensureHost/);
  });

  it('names a capability the driver declares but does not implement', () => {
    const p = complete();
    const declared = { ...p, capabilities: { ...p.capabilities, backgroundCopy: true } } as Provider;
    expect(() => checkShape(declared)).toThrow(/declares capability backgroundCopy but does not implement snapshotReady/);
  });

  it("reports a plain Error thrown by a driver with the hint to use the SDK's error helpers", async () => {
    const p = complete();
    const plain = guardProvider(
      {
        ...p,
        probe: async () => {
          throw new Error('socket hang up in my client');
        },
      },
      { logger: silentLogger },
    );
    const e = await plain.probe({}).catch((x) => x);
    expect(e.hint).toMatch(/threw a plain Error; throw providerError\(kind, message\) from hvsnap\/sdk/);
    await expect(expectKind('probe', plain.probe({}), ['transient'])).rejects.toThrow(/threw a plain Error/);
  });
});
