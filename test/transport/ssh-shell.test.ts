import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { captureLogger } from '../../src/core/logger.js';
import { bundleHash, bundleText } from '../../src/transport/file-delivery.js';
import { RUNNER_PS1, SSH_BOOTSTRAP_PS1 } from '../../src/transport/framing.js';
import { SshShell, type SshShellOptions } from '../../src/transport/ssh-shell.js';
import { bundleSource } from '../helpers/bundle-source.js';
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

/**
 * A client process that runs one long script and is then killed (SIGKILL: no cleanup of any kind).
 * The shell is bundled from the TypeScript sources ({@link bundleSource}); the child reads its options
 * from argv.
 */
async function startClient(options: SshShellOptions, input: unknown): Promise<{ kill(): void; exited: Promise<unknown> }> {
  const out = await bundleSource('src/transport/ssh-shell.ts', 'ssh-shell.mjs');
  const main = path.join(path.dirname(out), 'client.mjs');
  writeFileSync(
    main,
    `import { SshShell } from './ssh-shell.mjs';\nconst [o, i] = process.argv.slice(2).map((a) => JSON.parse(a));\nawait new SshShell(o).run({ name: 'sleep.ps1', script: 'sleep', input: i });\n`,
  );
  const child = spawn(process.execPath, [main, JSON.stringify(options), JSON.stringify(input)], { stdio: 'ignore' });
  return { kill: () => child.kill('SIGKILL'), exited: new Promise((r) => child.once('exit', r)) };
}

describe.each(['sftp', 'stdin'] as const)('SshShell (%s delivery) against a real sshd + sftp-server on 127.0.0.1', (delivery) => {
  describeWith(`ssh ${delivery}`, { tools: ['sshd', 'ssh-keygen', 'sftp-server'], root: true }, () => sshSuite(delivery));
});

function sshSuite(delivery: 'sftp' | 'stdin') {
  let sshd: Sshd;
  const shells: SshShell[] = [];
  const options = (over: Partial<SshShellOptions> = {}): SshShellOptions => ({
    host: '127.0.0.1',
    port: sshd.port,
    username: 'root',
    privateKey: sshd.clientKey,
    hostKeyFingerprint: sshd.hostKeyFingerprint,
    executable: sshd.fakePwsh,
    keepaliveIntervalMs: 1000,
    delivery,
    remoteDir: path.join(sshd.dir, 'scripts'),
    leaseIntervalMs: 200,
    ...over,
  });
  const make = (over: Partial<SshShellOptions> = {}) => {
    const s = new SshShell(options(over));
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
    expect(rec.delivery).toBe(delivery === 'sftp' ? 'file' : 'stdin');
    if (delivery === 'stdin') expect(rec.bootstrap).toBe(SSH_BOOTSTRAP_PS1);
    else {
      expect(rec.bundle).toBe(bundleText({ name: 'echo.ps1', script: 'echo' }));
      // the argument file is gone after the run; the bundle stays, named by its content
      expect(existsSync(rec.argsPath!)).toBe(false);
      expect(readdirSync(path.join(sshd.dir, 'scripts'))).toContain(`${bundleHash(rec.bundle!)}.ps1`);
    }
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
    expect(JSON.stringify([(e as Error).message, (e as { context: unknown }).context, String((e as Error).cause ?? ''), lines.lines])).not.toContain(
      'Tr0ub4dor',
    );
  });

  it('stops the remote process on timeout', async () => {
    const pidFile = path.join(sshd.dir, `sleep-${delivery}.pid`);
    // a lease (4 s) longer than the timeout: what stops the run is the client's timeout, even when a
    // loaded machine delays a renewal by most of a second
    const shell = make({ leaseIntervalMs: 1000 });
    const before = sshd.records().length;
    await expect(shell.run({ name: 'sleep.ps1', script: 'sleep', input: { pidFile, ms: 30_000 } }, { timeoutMs: 1500 })).rejects.toMatchObject({
      code: 'timeout',
    });
    // The flaky "expected -1 to be 1500": the client's 1500 ms ran out before the fake PowerShell (a
    // node process, seconds to start under load) had recorded anything, so the last record was the
    // previous test's. Wait for this run's own record. A process that starts after the client gave
    // up must not run at all (late); one that started must stop.
    const rec = await sshd.waitForRecord((_, i) => i >= before);
    if (rec.late) {
      expect(existsSync(pidFile)).toBe(false);
      return;
    }
    expect(rec.deadline).toBe(1500);
    for (let i = 0; i < 400 && !existsSync(pidFile); i++) await new Promise((r) => setTimeout(r, 25));
    const pid = Number(readFileSync(pidFile, 'utf8'));
    for (let i = 0; i < 100 && alive(pid); i++) await new Promise((r) => setTimeout(r, 50));
    expect(alive(pid)).toBe(false);
    // the connection is still good for the next run
    expect(await shell.run({ name: 'echo.ps1', script: 'echo', input: 'after' })).toBe('after');
  });

  it.runIf(delivery === 'sftp')('a run longer than a second outlives a lease shorter than a second: every renewal changes the whole-second times', async () => {
    // leases renewed every 200 ms, stale after 800 ms; SFTP sets times in whole seconds, so renewals
    // that set the clock's time changed the file once a second, and the host stopped the run (exit 125)
    const pidFile = path.join(sshd.dir, `outlive-${delivery}.pid`);
    expect(await make().run({ name: 'sleep.ps1', script: 'sleep', input: { pidFile, ms: 2500 } })).toBe('late');
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
    const pidFile = path.join(sshd.dir, `drop-${delivery}.pid`);
    const running = shell.run({ name: 'sleep.ps1', script: 'sleep', input: { pidFile, ms: 20_000 } });
    for (let i = 0; i < 200 && !existsSync(pidFile); i++) await new Promise((r) => setTimeout(r, 25));
    for (const s of sockets.splice(0)) s.destroy();
    await expect(running).rejects.toMatchObject({ code: 'transport_failed', retryable: true });
    expect(await shell.run({ name: 'echo.ps1', script: 'echo', input: 'again' })).toBe('again');
    await shell.close();
    server.close();
  });

  it('a killed client still stops the remote process', async () => {
    const pidFile = path.join(sshd.dir, `killed-${delivery}.pid`);
    const client = await startClient(options(), { pidFile, ms: 60_000 });
    for (let i = 0; i < 800 && !existsSync(pidFile); i++) await new Promise((r) => setTimeout(r, 25));
    const pid = Number(readFileSync(pidFile, 'utf8'));
    expect(alive(pid)).toBe(true);
    client.kill();
    await client.exited;
    // stdin: the dead connection closes the channel, stdin ends; sftp: the lease is no longer renewed
    for (let i = 0; i < 400 && alive(pid); i++) await new Promise((r) => setTimeout(r, 25));
    expect(alive(pid)).toBe(false);
  });

  it.runIf(delivery === 'sftp')('uploads a bundle once per host, replaces a damaged one, and shares the connection with openSftp', async () => {
    const dir = path.join(sshd.dir, 'scripts');
    const file = path.join(dir, `${bundleHash(bundleText({ name: 'once.ps1', script: 'echo' }))}.ps1`);
    const first = make();
    await first.run({ name: 'once.ps1', script: 'echo', input: 1 });
    const placed = statSync(file).mtimeMs;
    await new Promise((r) => setTimeout(r, 20));
    await make().run({ name: 'once.ps1', script: 'echo', input: 2 });
    expect(statSync(file).mtimeMs).toBe(placed);
    writeFileSync(file, 'Remove-Item C:\\ -Recurse');
    expect(await make().run({ name: 'once.ps1', script: 'echo', input: 3 })).toBe(3);
    expect(readFileSync(file, 'utf8')).toBe(bundleText({ name: 'once.ps1', script: 'echo' }));
    expect(readdirSync(dir).filter((f) => f.endsWith('.json') || f.endsWith('.tmp'))).toEqual([]);
    const sftp = await first.openSftp();
    expect(await new Promise((r) => sftp.readFile(file, (e, b) => r(e ?? b.toString('utf8'))))).toBe(readFileSync(file, 'utf8'));
    expect(await first.openSftp()).toBe(sftp);
  });
}
