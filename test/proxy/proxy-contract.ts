import { expect, it } from 'vitest';
import { isHvsnapError } from '../../src/core/errors.js';
import type { Presentation } from '../../providers/sdk/provider.js';
import type { Attachment, Proxy } from '../../proxy/proxy.js';

/**
 * The Proxy contract (proxy/proxy.ts), the same for every implementation: call inside a
 * `describe`. `fixture()` gives a fresh proxy, a presentation it can attach, one whose LUN does not
 * exist, and `isAttached` which looks at the real (or simulated) host to say whether the volumes are
 * mounted.
 */
export interface ProxyContractFixture {
  proxy: Proxy;
  presentation: Presentation;
  missing: Presentation;
  isAttached(attachment: Attachment): Promise<boolean>;
}

export function proxyContract(fixture: () => Promise<ProxyContractFixture>): void {
  it('contract: detach of something never attached succeeds, by name', async () => {
    const { proxy } = await fixture();
    await expect(proxy.detach({ presentationName: 'never-attached-here' })).resolves.toBeUndefined();
  });

  it('contract: attach gives one volume per LUN in order, idempotent by name; detach is idempotent; re-attach works', async () => {
    const { proxy, presentation, isAttached } = await fixture();
    const a = await proxy.attach({ presentation });
    try {
      expect(a.presentationName).toBe(presentation.name);
      expect(a.volumes.map((v) => v.sourceIdentity)).toEqual(presentation.luns.map((l) => l.sourceIdentity));
      expect(a.volumes.every((v) => v.mountPath.length > 0)).toBe(true);
      expect(await isAttached(a)).toBe(true);
      const again = await proxy.attach({ presentation });
      expect(again.volumes.map((v) => v.mountPath)).toEqual(a.volumes.map((v) => v.mountPath));
    } finally {
      await proxy.detach({ attachment: a });
    }
    expect(await isAttached(a)).toBe(false);
    await proxy.detach({ attachment: a });
    await proxy.detach({ presentationName: presentation.name });
    const b = await proxy.attach({ presentation });
    expect(await isAttached(b)).toBe(true);
    await proxy.detach({ presentationName: presentation.name });
    expect(await isAttached(b)).toBe(false);
  });

  it('contract: a LUN that never appears is an HvsnapError, and detach afterwards is safe', async () => {
    const { proxy, missing } = await fixture();
    const err = await proxy.attach({ presentation: missing }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(isHvsnapError(err)).toBe(true);
    await expect(proxy.detach({ presentationName: missing.name })).resolves.toBeUndefined();
  });

  it('contract: a presentation without LUNs is input_invalid', async () => {
    const { proxy, presentation } = await fixture();
    const err = await proxy.attach({ presentation: { ...presentation, luns: [] } }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(isHvsnapError(err) && err.code).toBe('input_invalid');
  });
}
