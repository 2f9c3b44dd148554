import { describe, expect, it } from 'vitest';
import { StopRequests } from '../../src/cli/stop.js';

describe('stop requests: a signal that reaches the command directly and through its launcher counts once', () => {
  it('one Ctrl-C is one request, whichever copy comes first', () => {
    const a = new StopRequests();
    expect(a.add('SIGINT', 'direct')).toBe(1);
    expect(a.add('SIGINT', 'relayed')).toBe(1);
    const b = new StopRequests();
    expect(b.add('SIGINT', 'relayed')).toBe(1);
    expect(b.add('SIGINT', 'direct')).toBe(1);
  });

  it('a second Ctrl-C is a second request, even when its copies come between those of the first', () => {
    const r = new StopRequests();
    expect(r.add('SIGINT', 'direct')).toBe(1);
    expect(r.add('SIGINT', 'direct')).toBe(2); // the second Ctrl-C overtook the first one's relayed copy
    expect(r.add('SIGINT', 'relayed')).toBe(2);
    expect(r.add('SIGINT', 'relayed')).toBe(2);
  });

  it('a signal sent to one process alone counts each time it comes', () => {
    const launcherOnly = new StopRequests();
    expect([launcherOnly.add('SIGTERM', 'relayed'), launcherOnly.add('SIGTERM', 'relayed')]).toEqual([1, 2]);
    const commandOnly = new StopRequests();
    expect([commandOnly.add('SIGTERM', 'direct'), commandOnly.add('SIGTERM', 'direct')]).toEqual([1, 2]);
  });

  it('another signal is another request', () => {
    const r = new StopRequests();
    r.add('SIGINT', 'direct');
    r.add('SIGINT', 'relayed');
    expect(r.add('SIGTERM', 'relayed')).toBe(2);
  });
});
