import { beforeAll, expect, it } from 'vitest';
import { silentLogger } from '../../src/core/logger.js';
import { runConformance } from '../../providers/conformance/index.js';
import { pureProvider } from '../../providers/pure/index.js';
import { ontapProvider } from '../../providers/ontap/index.js';
import { powerstoreProvider } from '../../providers/powerstore/index.js';
import { ontapIdentityFromSerial, powerstoreIdentityFromWwn, pureIdentityFromSerial } from '../../providers/sdk/disk-identity.js';
import { FakePure } from './fake-pure.js';
import { FakeOntap } from './fake-ontap.js';
import { FakePowerstore } from './fake-powerstore.js';
import { OpenApiSpec, openapiDir, openapiNeeds, type Verdict } from './openapi-check.js';
import { describeWith } from '../helpers/requirements.js';
import type { FakeRequest } from './fake-http.js';

/**
 * Every request each driver makes during a full conformance run is checked against the vendor's
 * own OpenAPI definition in ../shared/reference/openapi/: method and path template, query
 * parameters, body fields (and enums, and required fields).
 *
 * Not checkable: ONTAP's consistency-group calls (`/application/consistency-groups...`, ONTAP 9.10+)
 * are absent from the 9.7 definition we have, so they are listed, not checked.
 */
let pureSpec: OpenApiSpec | undefined;
let ontapSpec: OpenApiSpec | undefined;
let psSpec: OpenApiSpec | undefined;
const specs = {
  pure: () => (pureSpec ??= new OpenApiSpec('pure-flasharray-2.56.yaml', { basePath: '/api/', rewrite: (p) => p.replace(/^\/api\/2\.\d+\//, '/api/2.56/') })),
  ontap: () => (ontapSpec ??= new OpenApiSpec('ontap-9.7.yaml', { basePath: '/api' })),
  powerstore: () => (psSpec ??= new OpenApiSpec('powerstore-4.1.0.0.json', { basePath: '/api/rest', modelFilters: true })),
};
const host = { name: 'proxy1', iqns: ['iqn.1991-05.com.microsoft:proxy1'] };
const fast = { retry: { minDelayMs: 1, maxDelayMs: 2 } };

function verdicts(spec: OpenApiSpec, requests: FakeRequest[], which: 'request' | 'response' = 'request'): Verdict[] {
  const seen = new Map<string, Verdict>();
  for (const r of requests) {
    const v = which === 'request' ? spec.check(r) : spec.checkResponse(r);
    const key = `${v.template ?? r.path} ${r.method} ${v.problems.join('|')}`;
    if (!seen.has(key)) seen.set(key, v);
  }
  return [...seen.values()];
}

/** The findHost case ran, with its requests checked below like every other (it is skipped for a provider without findHost). */
const findHostCase = (report: { results: Array<{ title: string; status: string }> }) => report.results.find((r) => r.title.startsWith('findHost '))?.status;

describeWith("driver requests match the vendors' OpenAPI definitions", openapiNeeds, () => {
  beforeAll(() => {
    openapiDir();
  });

  it('Pure FlashArray 2.x requests are in FA2.56.spec.yaml (version in the path rewritten to 2.56)', async () => {
    const fake = new FakePure('https://pure-oas.test', 'pure-api-token-oas');
    try {
      const report = await runConformance({
        name: 'pure',
        host,
        logger: silentLogger,
        create: async () =>
          pureProvider.create(pureProvider.configSchema.parse({ endpoint: fake.origin, apiToken: fake.apiToken, ...fast }), { logger: silentLogger }),
        volumes: async () => ['csv1', 'csv2'].map((n) => pureIdentityFromSerial(fake.addVolume(n))),
      });
      expect(report.failed, JSON.stringify(report.results.filter((r) => r.status === 'failed'))).toBe(0);
      expect(findHostCase(report)).toBe('passed');
      const spec = specs.pure();
      const all = verdicts(spec, fake.http.requests);
      expect(all.length).toBeGreaterThan(15);
      expect(all.filter((v) => v.problems.length)).toEqual([]);
      expect(verdicts(spec, fake.http.requests, 'response').filter((v) => v.problems.length)).toEqual([]);
    } finally {
      fake.close();
    }
  });

  it.each([
    ['9.13.1', { generation: 9, major: 13, minor: 1 }],
    ['9.7.0', { generation: 9, major: 7, minor: 0 }],
  ])('ONTAP requests (cluster %s) are in the 9.7 definition, except the consistency-group calls it lacks', async (_label, version) => {
    const fake = new FakeOntap('https://ontap-oas.test', 'hvsnap', 'ontap-password-oas');
    fake.version = version;
    const newer = version.major >= 10;
    try {
      const report = await runConformance({
        name: 'ontap',
        host,
        logger: silentLogger,
        create: async () =>
          ontapProvider.create(
            ontapProvider.configSchema.parse({ endpoint: fake.origin, username: fake.username, password: fake.password, svm: 'svm1', jobPollMs: 1, ...fast }),
            { logger: silentLogger },
          ),
        volumes: async () => ['csv1', 'csv2'].map((n) => ontapIdentityFromSerial(fake.addLun(n))),
      });
      expect(report.failed, JSON.stringify(report.results.filter((r) => r.status === 'failed'))).toBe(0);
      expect(findHostCase(report)).toBe('passed');
      const spec = specs.ontap();
      const all = verdicts(spec, fake.http.requests);
      const unchecked = all.filter((v) => !v.template && /^\w+ \/api\/application\/consistency-groups/.test(v.request));
      const checked = all.filter((v) => !unchecked.includes(v));
      expect([...new Set(unchecked.map((v) => v.request.replace(/[0-9a-f-]{36}/g, '{uuid}')))].sort()).toEqual(
        newer
          ? [
              'DELETE /api/application/consistency-groups/{uuid}',
              'GET /api/application/consistency-groups',
              'POST /api/application/consistency-groups',
              'POST /api/application/consistency-groups/{uuid}/snapshots',
            ]
          : [],
      );
      expect(checked.length).toBeGreaterThan(12);
      // DELETE /storage/volumes/{uuid}?force is "Introduced in: 9.12" (docs.netapp.com/us-en/ontap-restapi-9131/delete-storage-volumes-.html),
      // after our 9.7 definition: accepted for the newer cluster only, and it must have been sent there
      const laterParam = (p: string) => newer && p === 'query parameter "force" is not declared for DELETE /storage/volumes/{uuid}';
      expect(checked.some((v) => v.problems.some(laterParam))).toBe(newer);
      expect(checked.filter((v) => v.problems.some((p) => !laterParam(p)))).toEqual([]);
      expect(verdicts(spec, fake.http.requests, 'response').filter((v) => v.problems.length)).toEqual([]);
    } finally {
      fake.close();
    }
  });

  it('PowerStore requests are in the 4.1.0.0 definition (filters are fields of the listed model)', async () => {
    const fake = new FakePowerstore('https://ps-oas.test', 'hvsnap', 'powerstore-password-oas');
    try {
      const report = await runConformance({
        name: 'powerstore',
        host,
        logger: silentLogger,
        create: async () =>
          powerstoreProvider.create(
            powerstoreProvider.configSchema.parse({ endpoint: fake.origin, username: fake.username, password: fake.password, ...fast }),
            { logger: silentLogger },
          ),
        volumes: async () => ['csv1', 'csv2'].map((n) => powerstoreIdentityFromWwn(fake.addVolume(n))),
      });
      expect(report.failed, JSON.stringify(report.results.filter((r) => r.status === 'failed'))).toBe(0);
      expect(findHostCase(report)).toBe('passed');
      const spec = specs.powerstore();
      const all = verdicts(spec, fake.http.requests);
      expect(all.length).toBeGreaterThan(15);
      expect(all.filter((v) => v.problems.length)).toEqual([]);
      expect(verdicts(spec, fake.http.requests, 'response').filter((v) => v.problems.length)).toEqual([]);
    } finally {
      fake.close();
    }
  });
});

describeWith('the OpenAPI check itself finds wrong requests', openapiNeeds, () => {
  const req = (method: string, path: string, query: Record<string, string> = {}, body?: unknown): FakeRequest => ({ method, path, query, headers: {}, body });
  it('Pure: unknown query parameter, unknown body field, wrong method, unknown path', () => {
    const spec = specs.pure();
    expect(spec.check(req('POST', '/api/2.26/volume-snapshots', { source_names: 'v', bogus: '1' }, { suffix: 's' })).problems).toEqual([
      'query parameter "bogus" is not declared for POST /api/2.56/volume-snapshots',
    ]);
    expect(spec.check(req('POST', '/api/2.26/volume-snapshots', { source_names: 'v' }, { suffix: 's', colour: 'red' })).problems).toEqual([
      'body.colour is not a field of the request schema',
    ]);
    expect(spec.check(req('PUT', '/api/2.26/volumes', { names: 'v' })).problems[0]).toMatch(/PUT is not defined/);
    expect(spec.check(req('GET', '/api/2.26/volume-snapshot')).problems[0]).toMatch(/no path/);
  });
  it('ONTAP: body field nested in the wrong place, bad enum value', () => {
    const spec = specs.ontap();
    expect(spec.check(req('POST', '/api/storage/volumes', {}, { name: 'c', clone: { is_flexclone: true, parent: 'x' } })).problems).toEqual([
      'body.clone.parent is not a field of the request schema',
    ]);
    expect(
      spec.check(req('POST', '/api/protocols/san/igroups', {}, { name: 'g', svm: { name: 's' }, protocol: 'smb', os_type: 'hyper_v' })).problems.join(),
    ).toMatch(/body.protocol = "smb" is not one of/);
  });
  it('PowerStore: a filter on a field the model lacks, a body field the model lacks, a bad enum', () => {
    const spec = specs.powerstore();
    expect(spec.check(req('GET', '/api/rest/volume', { colour: 'eq.red' })).problems).toEqual(['query parameter "colour" is not declared for GET /volume']);
    expect(spec.check(req('POST', '/api/rest/volume/abc/attach', {}, { host: 'h' })).problems).toEqual(['body.host is not a field of the request schema']);
    expect(spec.check(req('POST', '/api/rest/host', {}, { name: 'h', os_type: 'Win', initiators: [] })).problems.join()).toMatch(
      /os_type = "Win" is not one of/,
    );
  });
});
