import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, mkdirSync, readFileSync, rmSync, writeFileSync, chmodSync, existsSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

/**
 * A real OpenSSH server on 127.0.0.1 for tests, with the real sftp-server as its sftp subsystem: its
 * own temporary host key and authorized key, a free port, and a fake `pwsh` (a node program) as the
 * remote PowerShell. The fake takes both deliveries a real host receives: `-EncodedCommand` + stdin
 * (like the real bootstrap it exits when its stdin closes), and `-File <bundle> <argument file>` (like
 * the real bundle it decodes the base64 constants, and exits with 125 when the argument file is gone
 * or untouched for its staleMs, with 124 after its deadline, removing the file). It answers by the script text:
 * `probe-host.ps1` (by name: a Windows Server 2019 host answer for doctor), `echo` (input back, after banner noise), `big` (a long string), `fail` (a script error with an
 * hvsnap detail), `crash` (stderr, exit 3, no result), `sleep` (writes its pid, answers late).
 */
export interface Sshd {
  port: number;
  dir: string;
  clientKey: string;
  hostKeyFingerprint: string;
  fakePwsh: string;
  /** every request the fake received: how it came, bootstrap or bundle text, runner text, payload, deadline */
  records(): Array<{
    delivery: 'stdin' | 'file';
    /** the process started after the client had given up: nothing ran */ late?: boolean;
    bootstrap?: string;
    bundle?: string;
    argsPath?: string;
    staleMs?: number;
    runner: string;
    payload: { name: string; script: string; input: string };
    deadline: number;
  }>;
  /** waits until the fake has recorded a request matching `pick` (the remote side starts on its own time) */
  waitForRecord(pick: (r: ReturnType<Sshd['records']>[number], index: number) => boolean, ms?: number): Promise<ReturnType<Sshd['records']>[number]>;
  stop(): Promise<void>;
}

const SFTP_SERVER = '/usr/lib/openssh/sftp-server';

export function sshdAvailable(): boolean {
  return existsSync('/usr/sbin/sshd') && typeof process.getuid === 'function' && process.getuid() === 0;
}

/** `pwshDelayMs`: the fake PowerShell waits this long before it reads anything (a slow, loaded host). */
export async function startSshd(opts: { pwshDelayMs?: number } = {}): Promise<Sshd> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'hvsnap-sshd-'));
  const recordFile = path.join(dir, 'records.jsonl');
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', path.join(dir, 'host_key')]);
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', path.join(dir, 'client_key')]);
  writeFileSync(path.join(dir, 'authorized_keys'), readFileSync(path.join(dir, 'client_key.pub')));
  chmodSync(path.join(dir, 'authorized_keys'), 0o600);
  const records = () =>
    existsSync(recordFile)
      ? readFileSync(recordFile, 'utf8')
          .split('\n')
          .filter(Boolean)
          .map((l) => JSON.parse(l))
      : [];
  const fp = execFileSync('ssh-keygen', ['-lf', path.join(dir, 'host_key.pub')])
    .toString()
    .split(' ')[1];
  const port = await freePort();
  mkdirSync('/run/sshd', { recursive: true });
  const fakePwsh = path.join(dir, 'fake-pwsh');
  writeFileSync(fakePwsh, fakePwshSource(recordFile, opts.pwshDelayMs ?? 0), { mode: 0o755 });
  writeFileSync(
    path.join(dir, 'sshd_config'),
    [
      `Port ${port}`,
      'ListenAddress 127.0.0.1',
      `HostKey ${path.join(dir, 'host_key')}`,
      `AuthorizedKeysFile ${path.join(dir, 'authorized_keys')}`,
      `PidFile ${path.join(dir, 'sshd.pid')}`,
      'PermitRootLogin prohibit-password',
      'PasswordAuthentication no',
      'KbdInteractiveAuthentication no',
      'UsePAM no',
      'StrictModes no',
      'MaxSessions 10',
      `Subsystem sftp ${SFTP_SERVER}`,
      process.env.SSHD_LOG ?? 'LogLevel ERROR',
    ].join('\n') + '\n',
  );
  const proc: ChildProcess = spawn('/usr/sbin/sshd', ['-D', '-e', '-f', path.join(dir, 'sshd_config')], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  proc.stderr?.on('data', (d) => {
    stderr += d;
    if (process.env.SSHD_LOG) process.stderr.write(d);
  });
  await waitForPort(port, () => stderr);
  return {
    port,
    dir,
    clientKey: readFileSync(path.join(dir, 'client_key'), 'utf8'),
    hostKeyFingerprint: fp,
    fakePwsh,
    records,
    waitForRecord: async (pick, ms = 30_000) => {
      for (const until = Date.now() + ms; Date.now() < until; await new Promise((r) => setTimeout(r, 25))) {
        const hit = records().find((r, i) => pick(r, i));
        if (hit) return hit;
      }
      throw new Error('the fake pwsh recorded no matching request');
    },
    stop: async () => {
      proc.kill('SIGTERM');
      await new Promise((r) => proc.once('exit', r));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

async function waitForPort(port: number, log: () => string): Promise<void> {
  for (let i = 0; i < 100; i++) {
    const ok = await new Promise<boolean>((r) => {
      const c = net.connect(port, '127.0.0.1', () => (c.destroy(), r(true)));
      c.once('error', () => r(false));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`sshd did not listen on ${port}: ${log()}`);
}

function fakePwshSource(recordFile: string, delayMs: number): string {
  return `#!${process.execPath}
const fs = require('fs');
const args = process.argv.slice(2);
// a PowerShell slow to start (a loaded host), for reproducing start-up races
Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ${delayMs});
const record = (r) => fs.appendFileSync(${JSON.stringify(recordFile)}, JSON.stringify(r) + '\\n');
let argsPath;
const finish = (code) => {
  if (argsPath) try { fs.unlinkSync(argsPath); } catch {}
  process.exit(code);
};
const frame = (o) => process.stdout.write('#HVSNAP-RESULT:' + Buffer.from(JSON.stringify(o), 'utf8').toString('base64') + '\\r\\n', () => finish(0));

if (args.includes('-File')) {
  const bundlePath = args[args.indexOf('-File') + 1];
  argsPath = args[args.indexOf('-File') + 2];
  // started after the client gave up and took the lease away: like the real bundle, nothing runs
  if (!fs.existsSync(argsPath)) { record({ delivery: 'file', late: true }); process.exit(125); }
  const bundle = fs.readFileSync(bundlePath, 'utf8');
  const constant = (n) => Buffer.from(new RegExp('\\\\$' + n + " = '([^']*)'").exec(bundle)[1], 'base64').toString('utf8');
  const a = JSON.parse(fs.readFileSync(argsPath, 'utf8'));
  const payload = { name: constant('NameB64'), script: constant('ScriptB64'), input: a.input };
  record({ delivery: 'file', bundle, argsPath, staleMs: a.staleMs, runner: constant('RunnerB64'), payload, deadline: a.deadlineMs });
  // the bundle's watchdog: the argument file is the lease
  const started = Date.now();
  let seen = fs.statSync(argsPath).mtimeMs;
  let touched = Date.now();
  setInterval(() => {
    let m;
    try { m = fs.statSync(argsPath).mtimeMs; } catch { return finish(125); }
    if (m !== seen) { seen = m; touched = Date.now(); }
    if (Date.now() - touched > a.staleMs) return finish(125);
    if (a.deadlineMs >= 0 && Date.now() - started > a.deadlineMs) process.stdout.write('#HVSNAP-TIMEOUT\\r\\n', () => finish(124));
  }, 100);
  answer(payload, JSON.parse(payload.input));
} else {
  const bootstrap = Buffer.from(args[args.indexOf('-EncodedCommand') + 1], 'base64').toString('utf16le');
  let buf = '';
  let done = false;
  // stdin ended before a whole request: the client closed the channel before the process started
  const late = () => { record({ delivery: 'stdin', late: true }); process.exit(125); };
  process.stdin.on('end', late);
  process.stdin.on('data', (c) => {
    buf += c.toString('utf8');
    const lines = buf.split('\\n');
    if (done || lines.length < 4) return;
    process.stdin.removeListener('end', late);
    done = true;
    // like the real bootstrap: the remote run ends as soon as its stdin closes
    process.stdin.on('end', () => process.exit(125));
    const runner = Buffer.from(lines[0], 'base64').toString('utf8');
    const payload = JSON.parse(Buffer.from(lines[1], 'base64').toString('utf8'));
    record({ delivery: 'stdin', bootstrap, runner, payload, deadline: Number(lines[2]) });
    answer(payload, JSON.parse(payload.input));
  });
}

function answer(payload, input) {
  if (payload.name === 'probe-host.ps1') {
    frame({ ok: true, value: { ComputerName: 'HV01', PowerShell: '5.1.20348.2849', UserName: 'CORP\\\\svc-hvsnap', IsAdministrator: true, IsHyperVAdministrator: false,
      Os: 'Microsoft Windows Server 2019 Datacenter', OsBuild: '17763', VmmsStatus: 'Running', HyperVModule: true, Namespace: 'ok', Cluster: 'CLU01',
      Vms: [{ Name: '0F3C9D2E-1111-4222-8333-944455556666', ElementName: 'legacy01', Version: '7.0' }],
      Services: { Msvm_VirtualSystemManagementService: '1', Msvm_VirtualSystemSnapshotService: '1', Msvm_VirtualSystemReferencePointService: '1', Msvm_ImageManagementService: '1' },
      ClusterNodes: [{ Name: 'HV01', State: 0 }] } });
    return;
  }
  switch (payload.script) {
    case 'echo':
      process.stdout.write('Windows PowerShell\\r\\nCopyright (C) Microsoft Corporation.\\r\\n');
      process.stderr.write('WARNING: some warning\\r\\n');
      frame({ ok: true, value: input });
      break;
    case 'big':
      frame({ ok: true, value: 'x'.repeat(input.bytes) });
      break;
    case 'fail':
      frame({ ok: false, error: { message: 'no VM named ' + input.vm, category: 'ObjectNotFound', line: 7, detail: { kind: 'hvsnap', code: 'vm_not_found', vm: input.vm } } });
      break;
    case 'crash':
      process.stderr.write('pwsh: cannot start\\n');
      finish(3);
    case 'sleep':
      fs.writeFileSync(input.pidFile, String(process.pid));
      setTimeout(() => frame({ ok: true, value: 'late' }), input.ms);
      break;
    default:
      frame({ ok: false, error: { message: 'unknown script' } });
  }
}
`;
}
