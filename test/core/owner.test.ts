import { spawnSync } from 'node:child_process';
import { hostname } from 'node:os';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { configError } from '../../src/core/config-error.js';
import { currentOwner, isStale, processStartTicks } from '../../src/core/owner.js';

describe('isStale: the one "is this owner gone"', () => {
  it('a process that ended is stale; this one is not', async () => {
    const child = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' });
    expect(await isStale({ pid: Number(child.stdout), host: hostname() })).toBe(true);
    expect(await isStale(await currentOwner())).toBe(false);
  });
  it('an owner on another host is never stale (it cannot be asked)', async () => {
    expect(await isStale({ pid: 999_999_999, host: `not-${hostname()}` })).toBe(false);
  });
  it('a running pid with another start time is a reused pid: stale', async () => {
    const ticks = await processStartTicks(process.ppid);
    if (ticks === undefined) return expect(process.platform).not.toBe('linux');
    expect(await isStale({ pid: process.ppid, host: hostname(), startTicks: ticks })).toBe(false);
    expect(await isStale({ pid: process.ppid, host: hostname(), startTicks: `${ticks}9` })).toBe(true);
  });
  it('this process: stale only for a token it no longer holds', async () => {
    const held = new Set(['a']);
    expect(await isStale({ pid: process.pid, host: '', token: 'a' }, held)).toBe(false);
    expect(await isStale({ pid: process.pid, host: '', token: 'b' }, held)).toBe(true);
  });
});

describe('configError: the one zod error formatter', () => {
  const schema = z.object({ a: z.object({ b: z.number() }).strict() }).strict();
  it('names the file, every field with its prefix, and unknown keys', () => {
    const r = schema.safeParse({ a: { b: 'x', c: 1 }, d: 2 });
    const e = configError(r.error!, { file: 'job.yaml', prefix: 'proxy.config' });
    expect(e.code).toBe('config_invalid');
    expect(e.message).toMatch(/^job\.yaml: /);
    expect(e.message).toContain('proxy.config.a.b: ');
    expect(e.message).toContain('proxy.config.a.c: unknown key(s)');
    expect(e.message).toContain('proxy.config.d: unknown key(s)');
    expect(e.context).toMatchObject({ file: 'job.yaml', field: 'proxy.config.a.b' });
  });
  it('names what the configuration is when it is a part of a file', () => {
    const e = configError(schema.safeParse({}).error!, { what: 'provider "x" config', file: 'f.yaml' });
    expect(e.message).toMatch(/^provider "x" config in f\.yaml: a: /);
  });
});
