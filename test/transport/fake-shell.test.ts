import { describe, expect, it } from 'vitest';
import { HvsnapError, isHvsnapError } from '../../src/core/errors.js';
import { FakeShell } from '../../src/transport/fake-shell.js';

describe('FakeShell', () => {
  it('answers by script name and records every call', async () => {
    const shell = new FakeShell({ 'a.ps1': (input: { n: number }) => ({ doubled: input.n * 2 }) }, 'host1');
    shell.on('b.ps1', async () => [1, 2]);
    expect(await shell.run({ name: 'a.ps1', script: 'A', input: { n: 21 } })).toEqual({ doubled: 42 });
    expect(await shell.run({ name: 'b.ps1', script: 'B', input: null })).toEqual([1, 2]);
    expect(shell.calls).toEqual([
      { name: 'a.ps1', input: { n: 21 }, script: 'A' },
      { name: 'b.ps1', input: null, script: 'B' },
    ]);
    expect(shell.target).toBe('host1');
    expect(shell.callsTo('a.ps1')).toHaveLength(1);
  });

  it('rejects a script with no handler, naming it', async () => {
    const shell = new FakeShell();
    await expect(shell.run({ name: 'nope.ps1', script: '', input: {} })).rejects.toThrow(/no handler for script nope\.ps1/);
  });

  it('passes a handler error through and wraps a plain one', async () => {
    const shell = new FakeShell()
      .on('typed.ps1', () => {
        throw new HvsnapError('vm_in_use', 'busy', { retryable: true });
      })
      .on('plain.ps1', () => {
        throw new Error('boom');
      });
    await expect(shell.run({ name: 'typed.ps1', script: '', input: {} })).rejects.toMatchObject({ code: 'vm_in_use', retryable: true });
    const e = await shell.run({ name: 'plain.ps1', script: '', input: {} }).catch((x: unknown) => x);
    expect(isHvsnapError(e) && e.message).toMatch(/plain\.ps1 failed on fake: boom/);
  });

  it('refuses input that a real shell could not transmit', async () => {
    const shell = new FakeShell({ 'x.ps1': () => 1 });
    await expect(shell.run({ name: 'x.ps1', script: '', input: { a: undefined } })).rejects.toMatchObject({ code: 'input_invalid', context: { field: '$.a' } });
    await expect(shell.run({ name: 'x.ps1', script: '', input: { d: new Date(0) } })).rejects.toMatchObject({ code: 'input_invalid' });
    await expect(shell.run({ name: 'x.ps1', script: '', input: [1, Number.NaN] })).rejects.toMatchObject({ context: { field: '$[1]' } });
    await expect(shell.run({ name: 'x.ps1', script: '', input: undefined })).rejects.toMatchObject({ code: 'input_invalid' });
    expect(shell.calls).toHaveLength(0);
  });

  it('returns a copy of the output, and null for no output', async () => {
    const shared = { list: [1] };
    const shell = new FakeShell({ 'o.ps1': () => shared, 'v.ps1': () => undefined });
    const out = await shell.run<{ list: number[] }>({ name: 'o.ps1', script: '', input: {} });
    out.list.push(2);
    expect(shared.list).toEqual([1]);
    expect(await shell.run({ name: 'v.ps1', script: '', input: {} })).toBeNull();
  });

  it('honours an aborted signal and refuses after close', async () => {
    const shell = new FakeShell({ 'x.ps1': () => 1 });
    await expect(shell.run({ name: 'x.ps1', script: '', input: {} }, { signal: AbortSignal.abort() })).rejects.toMatchObject({ code: 'aborted' });
    await shell.close();
    await expect(shell.run({ name: 'x.ps1', script: '', input: {} })).rejects.toMatchObject({ code: 'transport_failed' });
  });
});
