import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { captureLogger, silentLogger } from '../../src/core/logger.js';
import { HvsnapError } from '../../src/core/errors.js';
import {
  ontapIdentityFromSerial,
  ontapSerialFromIdentity,
  parseDiskIdentity,
  powerstoreIdentityFromWwn,
  powerstoreWwnFromIdentity,
  pureIdentityFromSerial,
  pureSerialFromIdentity,
  sameIdentity,
} from '../../providers/sdk/disk-identity.js';
import { collectSecrets, redact, redactingLogger } from '../../providers/sdk/redact.js';
import { guardProvider } from '../../providers/sdk/guard-provider.js';
import { providerErrorKind } from '../../providers/sdk/errors.js';
import type { Provider } from '../../providers/sdk/provider.js';
import { builtinProviderLoaders, findProviderDefinition, loadProvider } from '../../providers/index.js';
import { builtinProviders } from '../../providers/builtin-providers.js';
import { createSkeletonProvider } from '../../examples/provider-skeleton/src/index.js';
import { MemoryArray } from '../../examples/provider-skeleton/src/memory-array.js';
import { failure } from '../helpers/failure.js';

describe('disk identity', () => {
  it('parses Windows UniqueId, naa./eui. strings and the Linux by-id form', () => {
    expect(parseDiskIdentity('600A098038313954492458313032502D')).toEqual({ kind: 'naa', id: '600a098038313954492458313032502d' });
    expect(parseDiskIdentity('naa.68ccf098003756010d25481d597257d7')).toEqual({ kind: 'naa', id: '68ccf098003756010d25481d597257d7' });
    expect(parseDiskIdentity('3624a93701c0d5f2e6e7c4a5b00011234')).toEqual({ kind: 'naa', id: '624a93701c0d5f2e6e7c4a5b00011234' });
    expect(parseDiskIdentity('eui.0025385B71B0A3C1')).toEqual({ kind: 'eui', id: '0025385b71b0a3c1' });
    expect(parseDiskIdentity('50:01:43:80:12:34:56:78')).toEqual({ kind: 'naa', id: '5001438012345678' });
    expect(() => parseDiskIdentity('naa.7123')).toThrow(/disk identity "naa.7123"/);
    expect(() => parseDiskIdentity('xyz')).toThrow(/not hexadecimal/);
  });
  it('maps the ONTAP serial of the reference (819TI$X102P-) to 600a0980 + hex and back', () => {
    const id = ontapIdentityFromSerial('819TI$X102P-');
    expect(id.id).toBe('600a098038313954492458313032502d');
    expect(ontapSerialFromIdentity(parseDiskIdentity('600A098038313954492458313032502D'))).toBe('819TI$X102P-');
    expect(ontapSerialFromIdentity(pureIdentityFromSerial('1C0D5F2E6E7C4A5B00011234'))).toBeUndefined();
  });
  it('maps a Pure serial to 624a9370 + serial and back, case-insensitively', () => {
    const id = pureIdentityFromSerial('1C0D5F2E6E7C4A5B00011234');
    expect(id.id).toBe('624a93701c0d5f2e6e7c4a5b00011234');
    expect(pureSerialFromIdentity({ kind: 'naa', id: id.id.toUpperCase() })).toBe('1C0D5F2E6E7C4A5B00011234');
    expect(sameIdentity(id, { kind: 'naa', id: id.id.toUpperCase() })).toBe(true);
  });
  it('maps a PowerStore wwn both ways', () => {
    const id = powerstoreIdentityFromWwn('naa.68ccf098003756010d25481d597257d7');
    expect(powerstoreWwnFromIdentity(id)).toBe('naa.68ccf098003756010d25481d597257d7');
  });
});

describe('redaction', () => {
  it('redacts secret-looking keys and secret values inside strings, deeply', () => {
    const out = redact({ headers: { 'api-token': 'abc', Authorization: 'Basic eHg6eXk=' }, msg: 'token is s3cr3t-value here', nested: [{ password: 'p' }] }, [
      's3cr3t-value',
    ]);
    expect(out).toEqual({
      headers: { 'api-token': '[REDACTED]', Authorization: '[REDACTED]' },
      msg: 'token is [REDACTED] here',
      nested: [{ password: '[REDACTED]' }],
    });
  });
  it('collects config secrets and keeps them out of every log line', () => {
    const config = { endpoint: 'https://x', password: 'hunter2-pw', nested: { apiToken: 'tok-123456' } };
    expect(collectSecrets(config)).toEqual(['hunter2-pw', 'tok-123456']);
    const logger = captureLogger();
    redactingLogger(logger, () => collectSecrets(config))
      .child({ note: 'uses hunter2-pw' })
      .debug({ body: 'x tok-123456 y' }, 'sent hunter2-pw');
    expect(JSON.stringify(logger.lines)).not.toMatch(/hunter2-pw|tok-123456/);
  });
});

function stub(overrides: Partial<Provider>): Provider {
  const base = createSkeletonProvider(new MemoryArray());
  return { ...base, ...overrides };
}

describe('guardProvider', () => {
  it('refuses calls after close', async () => {
    const p = guardProvider(stub({}), { logger: silentLogger });
    await p.probe({});
    await p.close!();
    const e = await failure(p.probe({}));
    expect(e.message).toBe('provider "skeleton" is closed; probe refused');
  });
  it("times a call out and aborts the provider's signal", async () => {
    let seen: AbortSignal | undefined;
    const p = guardProvider(
      stub({
        probe: (_a, o) => {
          seen = o?.signal;
          return new Promise(() => undefined);
        },
      }),
      { logger: silentLogger, timeoutMs: 30 },
    );
    const e = await failure(p.probe({}));
    expect(e.code).toBe('timeout');
    expect(e.context).toMatchObject({ provider: 'skeleton', operation: 'probe', timeoutMs: 30 });
    expect(seen?.aborted).toBe(true);
  });
  it('rejects a bad result shape, naming the field', async () => {
    const p = guardProvider(stub({ listSnapshots: async () => [{ name: 'x' }] as never }), { logger: silentLogger });
    const e = await failure(p.listSnapshots({}));
    expect(providerErrorKind(e)).toBe('invalid');
    expect(e.message).toMatch(/listSnapshots returned a bad result: 0\.id/);
  });
  it('checks that createSnapshot answers for every volume asked', async () => {
    const p = guardProvider(
      stub({
        createSnapshot: async (a) => ({ name: a.name, id: '1', consistencyGroup: false, createdAt: 'now', volumes: [{ volumeId: 'a', snapshotId: 's' }] }),
      }),
      { logger: silentLogger },
    );
    const e = await failure(p.createSnapshot({ name: 'n', volumeIds: ['a', 'b'], consistencyGroup: true }));
    expect(e.message).toMatch(/no snapshot for volume\(s\) b/);
  });
  it('turns a foreign error into provider_error, without the secrets it may carry', async () => {
    const p = guardProvider(
      stub({
        probe: async () => {
          throw Object.assign(new Error('connect failed with password pw-998877'), { code: 'ECONNRESET', config: { headers: { authorization: 'pw-998877' } } });
        },
      }),
      { logger: silentLogger, secrets: ['pw-998877'] },
    );
    const e = await failure(p.probe({}));
    expect(e.code).toBe('provider_error');
    expect(providerErrorKind(e)).toBe('transient');
    expect(e.retryable).toBe(true);
    expect(JSON.stringify({ m: e.message, j: e.toJSON(), c: e.cause })).not.toMatch(/pw-998877/);
  });
  it('checks arguments before calling the provider', async () => {
    const p = guardProvider(stub({}), { logger: silentLogger });
    const e = await failure(p.createSnapshot({ name: '', volumeIds: ['a'], consistencyGroup: false }));
    expect(e.code).toBe('input_invalid');
    expect(e.message).toMatch(/name must be a non-empty string/);
  });
});

describe('loadProvider', () => {
  it('lists the built-ins, and loads each by name as the same definition', async () => {
    expect(Object.keys(builtinProviders).sort()).toEqual(['lab', 'ontap', 'powerstore', 'pure']);
    expect(Object.keys(builtinProviderLoaders).sort()).toEqual(Object.keys(builtinProviders).sort());
    for (const name of Object.keys(builtinProviders)) expect(await findProviderDefinition(name)).toBe(builtinProviders[name]);
  });
  it("takes no property of a plain object for a built-in (a provider named 'constructor' is looked for as a module)", async () => {
    const e = await failure(findProviderDefinition('constructor', '/etc/hvsnap/prod.yaml'));
    expect(e.code).toBe('config_invalid');
    expect(e.message).toMatch(/provider "constructor" is neither built in \(lab, pure, ontap, powerstore\) nor a module/);
  });
  it('validates the config without I/O, naming the field and the file', async () => {
    const e = await failure(loadProvider({ provider: 'pure', config: { endpoint: 'https://fa1' }, logger: silentLogger, configFile: '/etc/hvsnap/prod.yaml' }));
    expect(e).toBeInstanceOf(HvsnapError);
    expect(e.code).toBe('config_invalid');
    expect(e.message).toMatch(/provider "pure" config in \/etc\/hvsnap\/prod.yaml: apiToken: /);
    expect(e.context).toMatchObject({ field: 'apiToken', file: '/etc/hvsnap/prod.yaml' });
  });
  it('loads a module by path (as it would an npm package) and wraps it in the guard', async () => {
    const p = await loadProvider({
      provider: new URL('../../examples/provider-skeleton/src/index.ts', import.meta.url).pathname,
      config: { array: 'load-test' },
      logger: silentLogger,
    });
    expect(p.name).toBe('skeleton');
    expect((await p.probe({})).vendor).toBe('Example Corp');
    await p.close!();
    await expect(p.probe({})).rejects.toThrow(/closed/);
  });
  it("loads a plain ESM module's `provider` export and redacts its config secrets in its own logs", async () => {
    const dir = mkdtempSync(join(tmpdir(), 'hvsnap-thirdparty-'));
    try {
      const file = join(dir, 'index.mjs');
      writeFileSync(
        file,
        `
        const schema = { safeParse: (c) => (c && typeof c.password === 'string' ? { success: true, data: c } : { success: false, error: { issues: [{ path: ['password'], message: 'required' }] } }) };
        export const provider = { name: 'acme', configSchema: schema, create: (config, { logger }) => {
          logger.debug({ config }, 'creating with ' + config.password);
          return { name: 'acme', capabilities: { consistencyGroups: false, presentation: 'direct', readOnlyPresentation: true },
            probe: async () => ({ vendor: 'Acme' }), resolveVolumes: async () => [], createSnapshot: async () => { throw new Error('no'); },
            listSnapshots: async () => [], deleteSnapshot: async () => undefined, present: async () => { throw new Error('no'); }, unpresent: async () => undefined };
        } };
      `,
      );
      const logger = captureLogger();
      const p = await loadProvider({ provider: file, config: { password: 'acme-secret-42' }, logger });
      expect((await p.probe({})).vendor).toBe('Acme');
      expect(logger.lines.length).toBeGreaterThan(0);
      expect(JSON.stringify(logger.lines)).not.toContain('acme-secret-42');
      const e = await failure(loadProvider({ provider: file, config: {}, logger, configFile: 'job.yaml' }));
      expect(e.message).toBe('provider "acme" config in job.yaml: password: required');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('names a package that cannot be imported', async () => {
    const e = await failure(loadProvider({ provider: 'hvsnap-provider-does-not-exist', config: {}, logger: silentLogger, configFile: 'job.yaml' }));
    expect(e.code).toBe('config_invalid');
    expect(e.message).toMatch(/provider "hvsnap-provider-does-not-exist" is neither built in .* \(config file job.yaml\)/);
    expect(e.hint).toMatch(/npm install hvsnap-provider-does-not-exist/);
  });
});
