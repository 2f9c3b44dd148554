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

const abortError = () => Object.assign(new Error('This operation was aborted'), { name: 'AbortError' });

describe('HostLeases: the proxy host shared by the sets of one process', () => {
  it('the first set asks the array; the others join it; only the last lease given back removes a made host', async () => {
    const leases = new HostLeases();
    let asked = 0;
    const answer = deferred<HostHandle>();
    const obtain = () => (asked++, answer.promise);
    // the second set asks while the array is still answering the first
    const a = leases.acquire('proxy1', obtain);
    const b = leases.acquire('proxy1', obtain);
    answer.resolve(made);
    const [la, lb] = [await a, await b];
    expect([la.host, lb.host]).toEqual([made, made]);
    expect(la.lease).not.toBe(lb.lease);
    expect(asked).toBe(1);

    const removed: string[] = [];
    const remove = async () => (removed.push('h-1'), true);
    await leases.release({ host: made, lease: la.lease }, remove);
    expect(removed).toEqual([]); // the other set still uses it
    // a third set joins before the last is done: still one host, still not removed
    const lc = await leases.acquire('proxy1', obtain);
    expect(lc.host).toBe(made);
    await leases.release({ host: made, lease: lb.lease }, remove);
    await leases.release({ host: made, lease: lc.lease }, remove);
    expect(removed).toEqual(['h-1']);
    expect(asked).toBe(1);
  });

  it('a host nobody made here (found) is not removed, and once its last lease is back the next set asks the array again', async () => {
    const leases = new HostLeases();
    const found: HostHandle = { id: 'h-9', name: 'proxy1', created: false };
    let asked = 0;
    const l = await leases.acquire('proxy1', async () => (asked++, found));
    await leases.release({ host: found, lease: l.lease });
    await leases.acquire('proxy1', async () => (asked++, found));
    expect(asked).toBe(2);
  });

  it('a host this process removed is gone for a set that looked it up before: it asks the array again', async () => {
    const leases = new HostLeases();
    const l = await leases.acquire('proxy1', async () => made);
    await leases.release({ host: made, lease: l.lease }, async () => true);
    const seen: boolean[] = [];
    const again: HostHandle = { id: 'h-2', name: 'proxy1', created: true };
    // the lookup (find-host) happened before the removal; the set asks after it
    const next = await leases.acquire('proxy1', async (gone) => (seen.push(gone('h-1'), gone('h-2')), again));
    expect(next.host).toBe(again);
    expect(seen).toEqual([true, false]);
  });

  it('a host the array would not remove (still mapped for another process) is still there for a set that looked it up before', async () => {
    const leases = new HostLeases();
    const l = await leases.acquire('proxy1', async () => made);
    // the last user here gives it back; the array refuses: a set of another process has a LUN mapped to it
    await leases.release({ host: made, lease: l.lease }, async () => false);
    const seen: boolean[] = [];
    const next = await leases.acquire('proxy1', async (gone) => (seen.push(gone('h-1')), made));
    expect(seen).toEqual([false]);
    expect(next.host).toBe(made);
  });

  it('a set that asks while the host is being removed waits for the removal', async () => {
    const leases = new HostLeases();
    const l = await leases.acquire('proxy1', async () => made);
    const removal = deferred<boolean>();
    const releasing = leases.release({ host: made, lease: l.lease }, () => removal.promise);
    let asked = false;
    const next = leases.acquire('proxy1', async (gone) => ((asked = true), gone('h-1') ? { ...made, id: 'h-2' } : made));
    await new Promise((r) => setTimeout(r, 10));
    expect(asked).toBe(false); // not while the array removes it
    removal.resolve(true);
    await releasing;
    expect((await next).host.id).toBe('h-2');
  });

  it('a failed ask holds nothing; a set that joined a call stopped by the signal of the set that made it asks again, unless it is stopped too', async () => {
    const leases = new HostLeases();
    const failing = deferred<HostHandle>();
    const a = leases.acquire('proxy1', () => failing.promise);
    const b = leases.acquire('proxy1', () => failing.promise);
    failing.reject(new Error('array: 503'));
    await expect(a).rejects.toThrow('503');
    await expect(b).rejects.toThrow('503');

    const stopped = deferred<HostHandle>();
    const own = leases.acquire('proxy1', () => stopped.promise, { signal: AbortSignal.abort() });
    const joiner = leases.acquire('proxy1', async () => made, { signal: new AbortController().signal });
    const alsoStopped = leases.acquire('proxy1', async () => made, { signal: AbortSignal.abort() });
    stopped.reject(abortError());
    await expect(own).rejects.toThrow('aborted'); // the set that made the call is not asked again
    expect((await joiner).host).toBe(made);
    await expect(alsoStopped).rejects.toThrow('aborted');
  });

  it('a user that keeps the host (policy.keepHosts) keeps it, whoever gives the last lease back', async () => {
    const leases = new HostLeases();
    const removed: string[] = [];
    const remove = async () => (removed.push('h-1'), true);
    const a = await leases.acquire('proxy1', async () => made);
    const b = await leases.acquire('proxy1', async () => made, { keep: true });
    await leases.release({ host: made, lease: b.lease });
    await leases.release({ host: made, lease: a.lease }, remove);
    expect(removed).toEqual([]);
  });

  it("a record whose lease is not held here (a lost attempt's) removes its host at once, unless a set here uses that host: then its last user does", async () => {
    const leases = new HostLeases();
    const removed: string[] = [];
    await leases.release({ host: { id: 'other', name: 'proxy1', created: true }, lease: 'of-a-dead-process' }, async () => (removed.push('other'), true));
    expect(removed).toEqual(['other']);

    const found: HostHandle = { ...made, created: false };
    const l = await leases.acquire('proxy1', async () => found);
    await leases.release({ host: made, lease: 'of-a-dead-process' }, async () => (removed.push('h-1'), true));
    expect(removed).toEqual(['other']);
    await leases.release({ host: found, lease: l.lease });
    expect(removed).toEqual(['other', 'h-1']);
  });
});
