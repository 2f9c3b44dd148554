import { existsSync, readFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { captureLogger } from '../../src/core/logger.js';
import { RUNNER_PS1, SSH_BOOTSTRAP_PS1 } from '../../src/transport/framing.js';
import { SshShell, type SshShellOptions } from '../../src/transport/ssh-shell.js';
import { describeWith } from '../helpers/requirements.js';
import { startSshd, type Sshd } from './sshd-fixture.js';

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

describeWith('SshShell against a real sshd on 127.0.0.1', { tools: ['sshd', 'ssh-keygen'], root: true }, () => {
  let sshd: Sshd;
  const shells: SshShell[] = [];
  const make = (over: Partial<SshShellOptions> = {}) => {
    const s = new SshShell({
      host: '127.0.0.1',
      port: sshd.port,
      username: 'root',
      privateKey: sshd.clientKey,
      hostKeyFingerprint: sshd.hostKeyFingerprint,
      executable: sshd.fakePwsh,
      keepaliveIntervalMs: 1000,
      ...over,
    });
    shells.push(s);
    return s;
  };

  beforeAll(async () => {
    sshd = await startSshd();
  });
  afterAll(async () => {
    for (const s of shells) await s.close();
    await sshd?.stop();
  });

  it('accepts the pinned key and carries script and argument as data, both ways', async () => {
    const shell = make();
    const nasty = { vm: `a'b"c $(Remove-Item C:\\) \`n; Stop-Computer\nnext line ünïcødé`, n: 5 };
    expect(await shell.run({ name: 'echo.ps1', script: 'echo', input: nasty })).toEqual(nasty);
    const rec = sshd.records().at(-1)!;
    expect(rec.bootstrap).toBe(SSH_BOOTSTRAP_PS1);
    expect(rec.runner).toBe(RUNNER_PS1);
    expect(rec.payload).toEqual({ name: 'echo.ps1', script: 'echo', input: JSON.stringify(nasty) });
    expect(rec.deadline).toBe(-1);
  });

  it('reuses one connection for many runs, also concurrent ones', async () => {
    const shell = make();
    const connects: number[] = [];
    const server = net.createServer((c) => {
      connects.push(1);
      const up = net.connect(sshd.port, '127.0.0.1');
      c.pipe(up).pipe(c);
      c.on('error', () => up.destroy());
      up.on('error', () => c.destroy());
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const viaProxy = make({ port: (server.address() as net.AddressInfo).port });
    const results = await Promise.all([1, 2, 3, 4, 5].map((n) => viaProxy.run({ name: 'echo.ps1', script: 'echo', input: n })));
    expect(results).toEqual([1, 2, 3, 4, 5]);
    expect(await viaProxy.run({ name: 'echo.ps1', script: 'echo', input: 6 })).toBe(6);
    expect(connects).toHaveLength(1);
    await viaProxy.close();
    server.close();
    expect(await shell.run({ name: 'echo.ps1', script: 'echo', input: 'ok' })).toBe('ok');
  });

  it('returns large outputs whole', async () => {
    const out = await make().run<string>({ name: 'big.ps1', script: 'big', input: { bytes: 3_000_000 } });
    expect(out.length).toBe(3_000_000);
  });

  it("turns a script's own error into its hvsnap code with context", async () => {
    const e = await make()
      .run({ name: 'get-vm.ps1', script: 'fail', input: { vm: 'web01' } })
      .catch((x: unknown) => x);
    expect(e).toMatchObject({ code: 'vm_not_found', context: { vm: 'web01', step: 'get-vm.ps1' } });
    expect((e as Error).message).toMatch(/no VM named web01 \(line 7\)/);
  });

  it('reports stderr and the exit code when PowerShell wrote no result', async () => {
    const e = await make()
      .run({ name: 'x.ps1', script: 'crash', input: {} })
      .catch((x: unknown) => x);
    expect(e).toMatchObject({ code: 'transport_failed' });
    expect((e as Error).message).toMatch(/exit code 3.*pwsh: cannot start/s);
  });

  it('refuses a changed host key, and an unpinned one unless explicitly allowed', async () => {
    const wrong = make({ hostKeyFingerprint: 'SHA256:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA' });
    await expect(wrong.run({ name: 'echo.ps1', script: 'echo', input: 1 })).rejects.toMatchObject({ code: 'host_key_mismatch', retryable: false });
    expect(() => make({ hostKeyFingerprint: undefined })).toThrow(/pin the host key/);
    const lines = captureLogger();
    const tofu = make({ hostKeyFingerprint: undefined, acceptUnknownHostKey: true, logger: lines });
    expect(await tofu.run({ name: 'echo.ps1', script: 'echo', input: 2 })).toBe(2);
    expect(lines.lines.some((l) => l.obj.fingerprint === sshd.hostKeyFingerprint)).toBe(true);
  });

  it('refuses a key the server does not authorize, as access_denied', async () => {
    const other = readFileSync(path.join(sshd.dir, 'host_key'), 'utf8');
    await expect(make({ privateKey: other }).run({ name: 'echo.ps1', script: 'echo', input: 1 })).rejects.toMatchObject({ code: 'access_denied' });
  });

  it('tries a password and reports a refusal as access_denied without the password anywhere', async () => {
    const lines = captureLogger();
    const shell = make({ privateKey: undefined, password: 'Tr0ub4dor&3-secret', logger: lines });
    const e = await shell.run({ name: 'echo.ps1', script: 'echo', input: 1 }).catch((x: unknown) => x);
    expect(e).toMatchObject({ code: 'access_denied', retryable: false });
    expect(JSON.stringify([(e as Error).message, (e as { context: unknown }).context, String((e as Error).cause ?? ''), lines.lines])).not.toContain('Tr0ub4dor');
  });

  it('stops the remote process on timeout', async () => {
    const pidFile = path.join(sshd.dir, 'sleep.pid');
    const shell = make();
    await expect(shell.run({ name: 'sleep.ps1', script: 'sleep', input: { pidFile, ms: 30_000 } }, { timeoutMs: 1500 })).rejects.toMatchObject({ code: 'timeout' });
    expect(sshd.records().at(-1)!.deadline).toBe(1500);
    const pid = Number(readFileSync(pidFile, 'utf8'));
    for (let i = 0; i < 100 && alive(pid); i++) await new Promise((r) => setTimeout(r, 50));
    expect(alive(pid)).toBe(false);
    // the connection is still good for the next run
    expect(await shell.run({ name: 'echo.ps1', script: 'echo', input: 'after' })).toBe('after');
  });

  it('gives a retryable error when the connection drops, then reconnects', async () => {
    const sockets: net.Socket[] = [];
    const server = net.createServer((c) => {
      const up = net.connect(sshd.port, '127.0.0.1');
      sockets.push(c, up);
      c.pipe(up).pipe(c);
      c.on('error', () => up.destroy());
      up.on('error', () => c.destroy());
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const shell = make({ port: (server.address() as net.AddressInfo).port });
    const pidFile = path.join(sshd.dir, 'drop.pid');
    const running = shell.run({ name: 'sleep.ps1', script: 'sleep', input: { pidFile, ms: 20_000 } });
    for (let i = 0; i < 200 && !existsSync(pidFile); i++) await new Promise((r) => setTimeout(r, 25));
    for (const s of sockets.splice(0)) s.destroy();
    await expect(running).rejects.toMatchObject({ code: 'transport_failed', retryable: true });
    expect(await shell.run({ name: 'echo.ps1', script: 'echo', input: 'again' })).toBe('again');
    await shell.close();
    server.close();
  });
});
