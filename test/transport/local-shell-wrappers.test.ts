import { describe, expect, it } from 'vitest';
import { HvsnapError, isHvsnapError } from '../../src/core/errors.js';
import { captureLogger } from '../../src/core/logger.js';
import { RESULT_MARKER, RUNNER_PS1 } from '../../src/transport/framing.js';
import { FakeShell } from '../../src/transport/fake-shell.js';
import { LocalShell, type PowerShellSession } from '../../src/transport/local-shell.js';
import { withLogging, withRedaction, withRetry } from '../../src/transport/wrappers.js';

const frame = (o: unknown) => `PS banner\r\n${RESULT_MARKER}${Buffer.from(JSON.stringify(o)).toString('base64')}\r\n`;

/** A node-powershell session stand-in: decodes the one command it gets the way PowerShell would. */
class FakeSession implements PowerShellSession {
  commands: string[] = [];
  disposed: string[] = [];
  constructor(private readonly answer: (payload: { name: string; script: string; input: string }) => string | Promise<string>) {}
  async invoke(command: string) {
    this.commands.push(command);
    const m =
      /^& \(\[ScriptBlock\]::Create\(\[Text\.Encoding\]::UTF8\.GetString\(\[Convert\]::FromBase64String\('([A-Za-z0-9+/=]+)'\)\)\)\) '([A-Za-z0-9+/=]+)'$/.exec(
        command,
      );
    if (!m) throw new Error(`unexpected command shape: ${command.slice(0, 80)}`);
    expect(Buffer.from(m[1], 'base64').toString('utf8')).toBe(RUNNER_PS1);
    return { raw: await this.answer(JSON.parse(Buffer.from(m[2], 'base64').toString('utf8'))) };
  }
  async dispose(signal?: NodeJS.Signals) {
    this.disposed.push(signal ?? 'default');
  }
}

describe('LocalShell', () => {
  it('sends the runner and a base64 payload only: the argument is never code', async () => {
    const sessions: FakeSession[] = [];
    const shell = new LocalShell({
      createSession: () => (sessions.push(new FakeSession((p) => frame({ ok: true, value: JSON.parse(p.input) }))), sessions.at(-1)!),
    });
    const nasty = { vm: `x'; Remove-Item C:\\ -Recurse; '$(whoami)\`` };
    expect(await shell.run({ name: 'a.ps1', script: 'Write-Output 1', input: nasty })).toEqual(nasty);
    expect(await shell.run({ name: 'b.ps1', script: 'Write-Output 2', input: 2 })).toBe(2);
    expect(sessions).toHaveLength(1);
    expect(sessions[0].commands.join('\n')).not.toContain('Remove-Item');
    await shell.close();
    expect(sessions[0].disposed).toEqual(['default']);
  });

  it('reports a script error with its hvsnap code', async () => {
    const shell = new LocalShell({
      createSession: () => new FakeSession(() => frame({ ok: false, error: { message: 'denied', category: 'PermissionDenied' } })),
    });
    await expect(shell.run({ name: 'a.ps1', script: '', input: {} })).rejects.toMatchObject({
      code: 'access_denied',
      context: { host: 'local', step: 'a.ps1' },
    });
  });

  it('kills PowerShell on timeout and starts a new one for the next run', async () => {
    const sessions: FakeSession[] = [];
    let first = true;
    const shell = new LocalShell({
      createSession: () => {
        sessions.push(new FakeSession(() => (first ? ((first = false), new Promise<string>(() => {})) : frame({ ok: true, value: 'fresh' }))));
        return sessions.at(-1)!;
      },
    });
    await expect(shell.run({ name: 'slow.ps1', script: '', input: {} }, { timeoutMs: 50 })).rejects.toMatchObject({ code: 'timeout' });
    expect(sessions[0].disposed).toEqual(['SIGKILL']);
    expect(await shell.run({ name: 'x.ps1', script: '', input: {} })).toBe('fresh');
    expect(sessions).toHaveLength(2);
  });
});

describe('shell wrappers', () => {
  it("pass an SSH shell's openSftp through, and add none where the shell has none", async () => {
    const session = { marker: 'sftp' };
    const inner = Object.assign(new FakeShell(), { openSftp: async () => session as never });
    const wrapped = withRetry(withLogging(withRedaction(inner, ['secret']), captureLogger()));
    expect(await wrapped.openSftp!()).toBe(session);
    expect(withRetry(withLogging(new FakeShell(), captureLogger())).openSftp).toBeUndefined();
  });

  it('withRetry retries retryable errors only', async () => {
    let n = 0;
    const inner = new FakeShell().on('flaky.ps1', () => {
      if (++n < 3) throw new HvsnapError('transport_failed', 'dropped', { retryable: true });
      return 'ok';
    });
    inner.on('bad.ps1', () => {
      throw new HvsnapError('vm_not_found', 'no VM');
    });
    const shell = withRetry(inner, { retries: 3, minTimeoutMs: 1 });
    expect(await shell.run({ name: 'flaky.ps1', script: '', input: {} })).toBe('ok');
    expect(inner.callsTo('flaky.ps1')).toHaveLength(3);
    await expect(shell.run({ name: 'bad.ps1', script: '', input: {} })).rejects.toMatchObject({ code: 'vm_not_found' });
    expect(inner.callsTo('bad.ps1')).toHaveLength(1);
    n = 0;
    await expect(shell.run({ name: 'flaky.ps1', script: '', input: {}, idempotent: false })).rejects.toMatchObject({ code: 'transport_failed' });
    expect(inner.callsTo('flaky.ps1')).toHaveLength(4);
    expect(() => withRetry(inner, { retries: -1 })).toThrow(/retries must be an integer >= 0/);
  });

  it('withRedaction removes secrets from message, context and cause', async () => {
    const inner = new FakeShell().on('x.ps1', () => {
      throw new HvsnapError('access_denied', 'logon failed for svc with password Sup3rSecret!', {
        context: { detail: 'pw=Sup3rSecret!' },
        cause: new Error('Sup3rSecret!'),
      });
    });
    const e = await withRedaction(inner, ['Sup3rSecret!', undefined])
      .run({ name: 'x.ps1', script: '', input: {} })
      .catch((x: unknown) => x);
    expect(isHvsnapError(e) && e.code).toBe('access_denied');
    expect(JSON.stringify({ m: (e as Error).message, c: (e as HvsnapError).context, cause: String((e as Error).cause) })).not.toContain('Sup3rSecret!');
    expect((e as Error).message).toContain('[redacted]');
  });

  it('withLogging logs runs and failures with secret-looking input members redacted', async () => {
    const logger = captureLogger();
    const shell = withLogging(
      new FakeShell()
        .on('a.ps1', () => 1)
        .on('b.ps1', () => {
          throw new HvsnapError('vm_in_use', 'busy', { retryable: true });
        }),
      logger,
    );
    await shell.run({ name: 'a.ps1', script: '', input: { vm: 'x', password: 'hunter22' } });
    await shell.run({ name: 'b.ps1', script: '', input: {} }).catch(() => undefined);
    expect(JSON.stringify(logger.lines)).not.toContain('hunter22');
    expect(logger.lines.find((l) => l.msg === 'script done')?.obj).toMatchObject({ script: 'a.ps1', target: 'fake' });
    expect(logger.lines.find((l) => l.msg === 'script failed')?.obj).toMatchObject({ script: 'b.ps1', code: 'vm_in_use', retryable: true });
  });
});
