import { describe, expect, it } from 'vitest';
import { COPY_WINDOW_MS, StopRequests } from '../../src/cli/stop.js';
import { undoesOnStop } from '../../src/cli/program.js';
import { commandModules } from '../../src/cli/commands/index.js';

describe('which commands wait for their undo when stopped', () => {
  it('those that make things on hosts, arrays or the repository (and mount); not their help, listings or a migration', () => {
    for (const argv of [
      ['backup', '-c', 'x.yaml'],
      ['worker'],
      ['mount', '--config', 'c.yaml', 'DIR'],
      ['instant', 'discard', 'ID'],
      ['instant', 'commit', 'ID', '-c', 'c', '--to', 'D'],
      ['provider-test', '-c', 'p.yaml'],
    ])
      expect(undoesOnStop(argv, commandModules), argv.join(' ')).toBe(true);
    for (const argv of [
      ['backup', '--help'],
      ['instant', 'list'],
      ['instant', 'help', 'commit'],
      ['migrate', '--repo', 'r'],
      ['verify'],
      ['list'],
      ['vhdx', 'read', 'x.vhdx'],
      [],
    ])
      expect(undoesOnStop(argv, commandModules), argv.join(' ')).toBe(false);
  });
});

describe('stop requests: a signal that reaches the command by two routes, or twice by one, counts once', () => {
  it('one Ctrl-C is one request, whichever copy comes first, however late the relayed one', () => {
    const a = new StopRequests();
    expect(a.add('SIGINT', 'direct', 0)).toBe(1);
    expect(a.add('SIGINT', 'relayed', 5000)).toBe(1);
    const b = new StopRequests();
    expect(b.add('SIGINT', 'relayed', 0)).toBe(1);
    expect(b.add('SIGINT', 'direct', 10)).toBe(1);
  });

  it('a second Ctrl-C is a second request, even when its copies come between those of the first', () => {
    const r = new StopRequests();
    expect(r.add('SIGINT', 'direct', 0)).toBe(1);
    expect(r.add('SIGINT', 'direct', COPY_WINDOW_MS + 200)).toBe(2); // the second Ctrl-C overtook the first one's relayed copy
    expect(r.add('SIGINT', 'relayed', COPY_WINDOW_MS + 300)).toBe(2);
    expect(r.add('SIGINT', 'relayed', COPY_WINDOW_MS + 400)).toBe(2);
  });

  it("by one route, a repeat within the window is a copy (npx passes the group's signal on once more); repeats keep counting", () => {
    const r = new StopRequests();
    expect(r.add('SIGTERM', 'direct', 0)).toBe(1);
    expect(r.add('SIGTERM', 'direct', 40)).toBe(1);
    expect(r.add('SIGTERM', 'direct', COPY_WINDOW_MS - 1)).toBe(1);
    // a window from the last request counted, not from the last copy: a Ctrl-C held down still stops at once
    expect(r.add('SIGTERM', 'direct', COPY_WINDOW_MS)).toBe(2);
  });

  it('a signal sent to one process alone counts each time it comes', () => {
    const launcherOnly = new StopRequests();
    expect([launcherOnly.add('SIGTERM', 'relayed', 0), launcherOnly.add('SIGTERM', 'relayed', 2000)]).toEqual([1, 2]);
    const commandOnly = new StopRequests();
    expect([commandOnly.add('SIGTERM', 'direct', 0), commandOnly.add('SIGTERM', 'direct', 2000)]).toEqual([1, 2]);
  });

  it('another signal is another request, however soon', () => {
    const r = new StopRequests();
    r.add('SIGINT', 'direct', 0);
    r.add('SIGINT', 'relayed', 1);
    expect(r.add('SIGTERM', 'relayed', 2)).toBe(2);
  });
});
