import { describe, expect, it } from 'vitest';
import { HostLeases } from '../../src/backup/host-leases.js';
import type { HostHandle } from '../../providers/sdk/provider.js';

const made: HostHandle = { id: 'h-1', name: 'proxy1', created: true };

/** A promise and the functions that settle it. */
function deferred<T>() {
  let resolve!: (v: T) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<T>((res, rej) => ((resolve = res), (reject = rej)));
  return { promise, resolve, reject };
}

describe('HostLeases: the proxy host shared by the sets of one process', () => {
  it('the first set asks the array; the others join it; only the last release removes the host', async () => {
    const leases = new HostLeases();
    const asked: boolean[] = [];
    const answer = deferred<HostHandle>();
    const obtain = (stale: boolean) => (asked.push(stale), answer.promise);
    // the second set asks while the array is still answering the first
    const a = leases.acquire('proxy1', obtain);
    const b = leases.acquire('proxy1', obtain);
    answer.resolve(made);
    expect(await a).toBe(made);
    expect(await b).toBe(made);
    expect(asked).toEqual([false]);

    const removed: string[] = [];
    const remove = async () => void removed.push('h-1');
    await leases.release(made, remove);
    expect(removed).toEqual([]); // the other set still uses it
    // a third set joins before the last is done: still one host, still not removed
    expect(await leases.acquire('proxy1', obtain)).toBe(made);
    await leases.release(made, remove);
    expect(removed).toEqual([]);
    await leases.release(made, remove);
    expect(removed).toEqual(['h-1']);
    expect(asked).toEqual([false]);
  });

  it('a set that asks while the host is being removed waits for the removal, then asks the array again (what it looked up is stale)', async () => {
    const leases = new HostLeases();
    await leases.acquire('proxy1', async () => made);
    const removal = deferred<void>();
    const releasing = leases.release(made, () => removal.promise);
    const asked: boolean[] = [];
    const again: HostHandle = { id: 'h-2', name: 'proxy1', created: true };
    const next = leases.acquire('proxy1', async (stale) => (asked.push(stale), again));
    await new Promise((r) => setTimeout(r, 10));
    expect(asked).toEqual([]); // not while the array removes it
    removal.resolve();
    await releasing;
    expect(await next).toBe(again);
    expect(asked).toEqual([true]);
  });

  it('a failed ask holds nothing: every set that joined gets the failure, and the next set asks again', async () => {
    const leases = new HostLeases();
    const answer = deferred<HostHandle>();
    const a = leases.acquire('proxy1', () => answer.promise);
    const b = leases.acquire('proxy1', () => answer.promise);
    answer.reject(new Error('array: 503'));
    await expect(a).rejects.toThrow('503');
    await expect(b).rejects.toThrow('503');
    let asked = 0;
    expect(await leases.acquire('proxy1', async () => (asked++, made))).toBe(made);
    expect(asked).toBe(1);
  });

  it('a host this process does not hold (found by id, not by name) is removed at once', async () => {
    const leases = new HostLeases();
    await leases.acquire('proxy1', async () => made);
    const removed: string[] = [];
    await leases.release({ id: 'other', name: 'proxy1', created: true }, async () => void removed.push('other'));
    expect(removed).toEqual(['other']);
    // the host it does hold is still held: one release removes it
    await leases.release(made, async () => void removed.push('h-1'));
    expect(removed).toEqual(['other', 'h-1']);
  });
});
