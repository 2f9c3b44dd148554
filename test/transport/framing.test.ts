import { describe, expect, it } from 'vitest';
import { encodeCommand, parseResult, remoteCommandLine, remoteStdin, RESULT_MARKER, RUNNER_PS1, TIMEOUT_MARKER } from '../../src/transport/framing.js';

const where = { name: 'x.ps1', target: 'ssh://svc@hv01:22' };
const line = (o: unknown) => RESULT_MARKER + Buffer.from(JSON.stringify(o), 'utf8').toString('base64');

describe('framing', () => {
  it("keeps the command line far below cmd.exe's 8191 characters, whatever the script size", () => {
    const cmd = remoteCommandLine('powershell.exe');
    expect(cmd.length).toBeLessThan(4000);
    expect(cmd).toMatch(/^powershell\.exe -NoLogo -NoProfile -NonInteractive -ExecutionPolicy Bypass -EncodedCommand [A-Za-z0-9+/=]+$/);
    expect(Buffer.from(encodeCommand('é'), 'base64')).toEqual(Buffer.from([0xe9, 0x00]));
  });

  it('sends runner, payload and deadline on stdin as three base64/number lines', () => {
    const lines = remoteStdin({ name: 'a.ps1', script: 'S', input: { vm: 'ünï "x"' }, timeoutMs: 1500.2 }).split('\n');
    expect(lines).toHaveLength(4);
    expect(Buffer.from(lines[0], 'base64').toString('utf8')).toBe(RUNNER_PS1);
    expect(JSON.parse(Buffer.from(lines[1], 'base64').toString('utf8'))).toEqual({ name: 'a.ps1', script: 'S', input: '{"vm":"ünï \\"x\\""}' });
    expect(lines[2]).toBe('1501');
    expect(remoteStdin({ name: 'a', script: '', input: null }).split('\n')[2]).toBe('-1');
  });

  it('finds the result among banners, warnings and CRLFs', () => {
    expect(parseResult(`Windows PowerShell\r\nWARNING: x\r\n${line({ ok: true, value: { a: [1] } })}\r\n`, where)).toEqual({ a: [1] });
    expect(parseResult(`${line({ ok: true })}\n`, where)).toBeNull();
  });

  it('names what went wrong when there is no usable result', () => {
    expect(() => parseResult(`${TIMEOUT_MARKER}\r\n`, where)).toThrow(/passed its deadline on ssh:\/\/svc@hv01:22/);
    expect(() => parseResult('', { ...where, exitCode: 1, stderr: "'powershell.exe' is not recognized" })).toThrow(
      /wrote no result \(exit code 1\): 'powershell.exe' is not recognized/,
    );
    expect(() => parseResult(`${RESULT_MARKER}${Buffer.from('{"ok":true,"value":Sys').toString('base64')}\n`, where)).toThrow(/not JSON/);
    // the host's watchdog stopped a run the client had not stopped: a lapsed lease, retryable
    expect(() => parseResult('', { ...where, exitCode: 125 })).toThrow(
      expect.objectContaining({
        code: 'transport_failed',
        retryable: true,
        message: expect.stringMatching(/stopped on ssh:\/\/svc@hv01:22 before it answered/),
      }),
    );
  });
});
