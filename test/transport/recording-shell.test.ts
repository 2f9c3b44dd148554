import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { HvsnapError } from '../../src/core/errors.js';
import { Anonymizer } from '../../src/transport/anonymizer.js';
import { FakeShell } from '../../src/transport/fake-shell.js';
import { openRecorder, withRecording } from '../../src/transport/recording-shell.js';
import { readTranscript, scriptVersion } from '../../src/transport/transcript.js';

const dir = mkdtempSync(path.join(os.tmpdir(), 'hvsnap-record-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('withRecording', () => {
  it('writes script, version hash, input, output or error and duration, with secrets redacted', async () => {
    const recorder = openRecorder({ dir, command: 'backup', secrets: ['Tr0ub4dor&3'] });
    const shell = withRecording(
      new FakeShell({}, 'ssh://svc@hv01:22')
        .on('a.ps1', (i) => ({ echoed: i.note }))
        .on('b.ps1', () => {
          throw new HvsnapError('access_denied', 'login with Tr0ub4dor&3 refused', { context: { host: 'hv01' } });
        }),
      recorder,
    );
    expect(await shell.run({ name: 'a.ps1', script: 'A', input: { apiToken: 'abc123', note: 'pw is Tr0ub4dor&3' } })).toEqual({ echoed: 'pw is Tr0ub4dor&3' });
    await expect(shell.run({ name: 'b.ps1', script: 'B', input: {} })).rejects.toMatchObject({ code: 'access_denied' });
    const t = readTranscript(recorder.writer.file);
    expect(t.header).toMatchObject({ hvsnapTranscript: 1, source: 'recorded', anonymized: false });
    expect(t.entries[0]).toMatchObject({
      seq: 1,
      target: 'ssh://svc@hv01:22',
      script: 'a.ps1',
      scriptSha256: scriptVersion('A'),
      input: { apiToken: '[redacted]', note: 'pw is [redacted]' },
      ok: true,
      output: { echoed: 'pw is [redacted]' },
    });
    expect(t.entries[1]).toMatchObject({ seq: 2, script: 'b.ps1', ok: false, error: { code: 'access_denied', message: 'login with [redacted] refused' } });
    expect(typeof t.entries[1].durationMs).toBe('number');
    expect(readFileSync(recorder.writer.file, 'utf8')).not.toMatch(/Tr0ub4dor|abc123/);
  });

  it('anonymizes names and paths consistently, keeping GUIDs, drive letters and extensions', () => {
    const a = new Anonymizer();
    const out = a.value({
      ComputerName: 'HV01',
      Vms: [{ Name: '0F3C9D2E-1111-4222-8333-944455556666', ElementName: 'sql01', Disks: [{ Path: 'C:\\ClusterStorage\\Volume1\\sql01\\sql01-0.vhdx' }] }],
      VolumeRoot: 'C:\\ClusterStorage\\Volume1',
      message: 'no VM named sql01 on HV01',
    }) as Record<string, any>;
    expect(out.ComputerName).toBe('host-1');
    expect(out.Vms[0].Name).toBe('0F3C9D2E-1111-4222-8333-944455556666');
    expect(out.Vms[0].ElementName).toBe('vm-1');
    expect(out.VolumeRoot).toBe('C:\\ClusterStorage\\dir-1');
    expect(out.Vms[0].Disks[0].Path).toBe('C:\\ClusterStorage\\dir-1\\vm-1\\file-1.vhdx');
    expect(out.message).toBe('no VM named vm-1 on host-1');
    expect(a.value({ vm: 'sql01' })).toEqual({ vm: 'vm-1' });
  });
});
