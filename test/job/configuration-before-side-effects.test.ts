import { existsSync, readFileSync } from 'node:fs';
import { createServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { redactUrlCredentials } from '../../src/core/redact-url.js';
import { cli } from '../cli/run-cli.js';

let dir: string;
beforeEach(async () => (dir = await mkdtemp(join(tmpdir(), 'hvsnap-config-first-'))));
afterEach(async () => rm(dir, { recursive: true, force: true }));

async function config(over: Record<string, unknown>): Promise<string> {
  const file = join(dir, 'job.yaml');
  await writeFile(
    file,
    stringify({
      hypervisor: { kind: 'lab', dir: './lab', init: { vms: 1, volumes: 1, diskSizeMiB: 8, dataMiB: 1 } },
      provider: { name: 'lab', config: { volumesDir: './lab/volumes', stateDir: './lab/array' } },
      proxy: { kind: 'local', host: { name: 'proxy-1' } },
      repository: { path: './repo' },
      ...over,
    }),
  );
  return file;
}

describe('the whole configuration is checked before anything is made', () => {
  it('a provider typo is reported, naming the provider and the file, before the lab or the repository exists', async () => {
    const file = await config({ provider: { name: 'lba', config: {} } });
    const r = await cli('backup', '--config', file);
    expect(r.code).toBe(3);
    expect(r.stderr).toContain('provider "lba"');
    expect(r.stderr).toContain(file);
    expect(existsSync(join(dir, 'lab'))).toBe(false);
    expect(existsSync(join(dir, 'repo'))).toBe(false);
  });

  it('a provider config field error is reported with its field before the lab exists', async () => {
    const file = await config({ provider: { name: 'lab', config: { volumesDir: './lab/volumes', stateDir: './lab/array', presentAs: 'floppy' } } });
    const r = await cli('backup', '--config', file);
    expect(r.code).toBe(3);
    expect(r.stderr).toContain('presentAs');
    expect(existsSync(join(dir, 'lab'))).toBe(false);
  });

  it('a proxy config error is reported before the lab exists', async () => {
    const file = await config({ proxy: { kind: 'linux', host: { name: 'proxy-1' }, config: { mountRoot: 42 } } });
    const r = await cli('backup', '--config', file);
    expect(r.code).toBe(3);
    expect(r.stderr).toContain('proxy.config');
    expect(existsSync(join(dir, 'lab'))).toBe(false);
  });
});

describe('credentials written in a URL are redacted like every other secret', () => {
  it('an endpoint with user:password@ never shows its password in an error (text or --json, with --debug)', async () => {
    // a real HTTPS array endpoint whose certificate is not trusted: the error names the endpoint
    const fixture = (name: string) => readFileSync(new URL(`../providers/fixtures/${name}`, import.meta.url), 'utf8');
    const server = createServer({ cert: fixture('test-array-cert.pem'), key: fixture('test-array-key.pem') }, (_req, res) => res.end('{}'));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    try {
      const endpoint = `https://pureuser:Hunter2-secret@127.0.0.1:${(server.address() as AddressInfo).port}`;
      const file = await config({ provider: { name: 'pure', config: { endpoint, apiToken: 'tok-0123456789' } } });
      for (const flags of [[], ['--json'], ['--debug']]) {
        const r = await cli('doctor', '--config', file, ...flags);
        expect(r.code).not.toBe(0);
        const all = r.stdout + r.stderr + JSON.stringify(r.logs);
        expect(all).toContain('is not trusted');
        expect(all).toContain('https://pureuser:[REDACTED]@127.0.0.1');
        expect(all).not.toContain('Hunter2-secret');
        expect(all).not.toContain('tok-0123456789');
      }
    } finally {
      await new Promise((r) => server.close(r));
    }
  });

  it('the redaction keeps scheme, user and host', () => {
    expect(redactUrlCredentials('GET https://admin:p%40ss@array.example.com:8443/api failed')).toBe(
      'GET https://admin:[REDACTED]@array.example.com:8443/api failed',
    );
    expect(redactUrlCredentials('redis://:pw@127.0.0.1:6379/0')).toBe('redis://:[REDACTED]@127.0.0.1:6379/0');
    expect(redactUrlCredentials('https://ghp_token123@github.com/x')).toBe('https://[REDACTED]@github.com/x');
    expect(redactUrlCredentials('https://array.example.com/api user@example.com')).toBe('https://array.example.com/api user@example.com');
  });
});
