import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HvsnapError } from '../../src/core/errors.js';
import { captureLogger } from '../../src/core/logger.js';
import { checkHyperVHost } from '../../src/hyperv/check-host.js';
import { WmiHypervisor } from '../../src/hyperv/wmi-hypervisor.js';
import { doctorCommand } from '../../src/cli/commands/doctor.js';
import { runCli } from '../../src/cli/program.js';
import type { CliIo } from '../../src/cli/io.js';
import { FakeShell } from '../../src/transport/fake-shell.js';
import { describeWith } from '../helpers/requirements.js';
import { startSshd, type Sshd } from '../transport/sshd-fixture.js';
import { SimulatedHost } from './simulated-host.js';

describe('checkHyperVHost', () => {
  it('reports each check of a reachable host, and maps the disks of the named VMs to LUN identities', async () => {
    const host = new SimulatedHost('HV01').addVolume({
      root: 'C:\\ClusterStorage\\Volume1',
      uniqueId: 'naa.600a098038314e6a5a244b4c49543971',
      uniqueIdFormat: 8,
    });
    host.addVm('sql01', { disks: 2 });
    host.addVm('old', { version: '7.1' });
    const checks = await checkHyperVHost({ nodes: [{ name: 'HV01', shell: host.shell }], vmNames: ['sql01'] });
    const by = (n: string) => checks.find((c) => c.name === `HV01: ${n}`)!;
    expect(by('reachable').ok).toBe(true);
    expect(by('rights')).toMatchObject({ ok: true, detail: expect.stringMatching(/Administrators/) });
    expect(by('Hyper-V')).toMatchObject({ ok: true });
    expect(by('Hyper-V version')).toMatchObject({ ok: true, detail: expect.stringMatching(/build 20348/) });
    expect(by('VM configuration versions')).toMatchObject({ ok: true, warning: true, detail: expect.stringMatching(/old 7\.1/) });
    const disks = checks.filter((c) => c.name === 'HV01: disk of sql01');
    expect(disks).toHaveLength(2);
    expect(disks[0]).toMatchObject({ ok: true, detail: expect.stringMatching(/naa 600a098038314e6a5a244b4c49543971/) });
  });

  it('checks the management classes, every node of the cluster, and the RCT ids of reference points', async () => {
    const a = new SimulatedHost('HV01').addVolume({ root: 'C:\\ClusterStorage\\Volume1' });
    const vm = a.addVm('sql01', { disks: 2 });
    a.cluster = {
      name: 'CLU01',
      nodes: [
        { Name: 'HV01', State: 0 },
        { Name: 'HV02', State: 2 },
        { Name: 'HV03', State: 0 },
      ],
    };
    const b = new SimulatedHost('HV02');
    b.down = true;
    a.missingClasses.add('Msvm_VirtualSystemReferencePointService');
    a.quirks.missingRct = true;
    const hv = new WmiHypervisor({ nodes: [{ name: 'HV01', shell: a.shell }] });
    const cp = await hv.createCheckpoint({ vmId: vm.id, name: 'hvsnap:old', consistency: 'crash' });
    await hv.convertToReferencePoint({ checkpoint: cp }).catch(() => undefined); // refused now; older hvsnap versions kept such points
    const checks = await checkHyperVHost({
      nodes: [
        { name: 'HV01', shell: a.shell },
        { name: 'HV02', shell: b.shell },
      ],
      vmNames: ['sql01'],
    });
    const by = (n: string) => checks.find((c) => c.name === n)!;
    expect(by('HV01: management classes')).toMatchObject({ ok: false, detail: 'Msvm_VirtualSystemReferencePointService: Invalid class' });
    expect(by('HV02: reachable')).toMatchObject({ ok: false });
    expect(by('CLU01: node HV01')).toMatchObject({ ok: true, detail: 'up' });
    expect(by('CLU01: node HV02')).toMatchObject({ ok: false, detail: 'paused; did not answer' });
    expect(by('CLU01: node HV03')).toMatchObject({ ok: false, detail: expect.stringMatching(/not in hypervisor\.nodes/) });
    expect(by('HV01: reference points of sql01')).toMatchObject({ ok: false, detail: expect.stringMatching(/no RCT id for hvsnap:old: .*\\0\\1\\L/) });
  });

  it('reports an unreachable host and a refused login without throwing', async () => {
    const down = new FakeShell({}, 'ssh://svc@hv02:22').on('probe-host.ps1', () => {
      throw new HvsnapError('transport_failed', 'connect ECONNREFUSED', { retryable: true });
    });
    const denied = new FakeShell({}, 'ssh://svc@hv03:22').on('probe-host.ps1', () => {
      throw new HvsnapError('access_denied', 'ssh authentication as svc failed');
    });
    const checks = await checkHyperVHost({
      nodes: [
        { name: 'HV02', shell: down },
        { name: 'HV03', shell: denied },
      ],
    });
    expect(checks).toEqual([
      { name: 'HV02: reachable', ok: false, detail: 'transport_failed: connect ECONNREFUSED' },
      { name: 'HV03: reachable', ok: true, detail: 'ssh://svc@hv03:22' },
      { name: 'HV03: authenticated', ok: false, detail: 'ssh authentication as svc failed' },
    ]);
  });
});

describeWith('hvsnap doctor over SSH to a real sshd', { tools: ['sshd', 'ssh-keygen'], root: true }, () => {
  let sshd: Sshd;
  let dir: string;
  beforeAll(async () => {
    sshd = await startSshd();
    dir = mkdtempSync(path.join(os.tmpdir(), 'hvsnap-doctor-'));
  });
  afterAll(async () => {
    await sshd?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('checks the host named in the config and exits 0 when all pass', async () => {
    writeFileSync(path.join(dir, 'id_ed25519'), sshd.clientKey, { mode: 0o600 });
    const yaml = [
      'hypervisor:',
      '  kind: wmi',
      '  nodes:',
      `    - { name: HV01, address: 127.0.0.1, hostKeyFingerprint: "${sshd.hostKeyFingerprint}" }`,
      '  transport:',
      '    kind: ssh',
      '    username: root',
      `    port: ${sshd.port}`,
      '    privateKeyPath: id_ed25519',
      `    executable: ${sshd.fakePwsh}`,
      `    remoteDir: ${path.join(sshd.dir, 'scripts')}`,
      'provider: { name: lab, config: { volumesDir: volumes, stateDir: array } }',
      'proxy: { kind: local, host: { name: proxy-1 } }',
      'repository: { path: repo }',
    ].join('\n');
    writeFileSync(path.join(dir, 'job.yaml'), yaml);
    let out = '';
    let errText = '';
    const io: CliIo = {
      stdout: { write: (s) => (out += String(s)) },
      stderr: { write: (s) => (errText += String(s)) },
      env: {},
      logger: () => captureLogger(),
    };
    const code = await runCli(['doctor', '--config', path.join(dir, 'job.yaml')], io, [doctorCommand]);
    expect(errText).toBe('');
    expect(code).toBe(0);
    expect(out).toMatch(/ok +HV01: reachable +ssh:\/\/root@127\.0\.0\.1:\d+ \(computer HV01/);
    expect(out).toMatch(/WARN {2}HV01: VM configuration versions .*legacy01 7\.0/);
    expect(out).toMatch(/all checks passed/);
    const json = { out: '' };
    const io2: CliIo = { ...io, stdout: { write: (s) => (json.out += String(s)) } };
    expect(await runCli(['--json', 'doctor', '--config', path.join(dir, 'job.yaml')], io2, [doctorCommand])).toBe(0);
    expect(JSON.parse(json.out).checks.length).toBeGreaterThan(4);
    // the one command to capture a shareable transcript, and what it writes
    expect(out).toContain(
      `to capture a transcript of these hosts to share: hvsnap doctor -c ${path.join(dir, 'job.yaml')} --record hvsnap-transcripts --anonymize`,
    );
    const rec = { out: '' };
    const io3: CliIo = { ...io, stdout: { write: (s) => (rec.out += String(s)) } };
    expect(await runCli(['doctor', '--config', path.join(dir, 'job.yaml'), '--record', path.join(dir, 'tr'), '--anonymize'], io3, [doctorCommand])).toBe(0);
    const file = /transcript written to (\S+)/.exec(rec.out)![1];
    const text = readFileSync(file, 'utf8');
    const entry = JSON.parse(text.split('\n')[1]);
    expect(entry).toMatchObject({ seq: 1, target: 'node-1', script: 'probe-host.ps1', ok: true, output: { ComputerName: 'host-1' } });
    expect(text).not.toMatch(/HV01|legacy01|svc-hvsnap|127\.0\.0\.1/);
  });
});
