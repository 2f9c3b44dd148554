import { describe, expect, it } from 'vitest';
import { arrayKeyOf } from '../../src/job/instant-environment.js';

describe('arrayKeyOf (which array an instant restore is on)', () => {
  const pure = { name: 'pure', config: { endpoint: 'fa1.example.com', apiTokenEnv: 'PURE_TOKEN', pod: undefined } };

  it('is the same for the same provider section, whatever the order of its keys', () => {
    expect(arrayKeyOf({ provider: pure })).toBe(arrayKeyOf({ provider: { name: 'pure', config: { apiTokenEnv: 'PURE_TOKEN', endpoint: 'fa1.example.com' } } }));
    expect(arrayKeyOf({ provider: pure })).toMatch(/^[0-9a-f]{32}$/);
  });

  it('differs for another array, another setting of the same array, or another provider', () => {
    const keys = [
      arrayKeyOf({ provider: pure }),
      arrayKeyOf({ provider: { ...pure, config: { ...pure.config, endpoint: 'fa2.example.com' } } }),
      arrayKeyOf({ provider: { ...pure, config: { ...pure.config, pod: 'pod1' } } }),
      arrayKeyOf({ provider: { ...pure, name: 'powerstore' } }),
    ];
    expect(new Set(keys).size).toBe(keys.length);
  });
});
