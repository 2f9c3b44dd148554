import { describe, expect, it } from 'vitest';
import { bundleHash, bundleText, commandPath, fileCommandLine } from '../../src/transport/file-delivery.js';
import { RUNNER_PS1 } from '../../src/transport/framing.js';

describe('file delivery', () => {
  it('turns Win32-OpenSSH SFTP paths into Windows paths for -File, and keeps POSIX ones', () => {
    expect(commandPath('/C:/Users/svc-hvsnap/.hvsnap/scripts/ab.ps1')).toBe('C:\\Users\\svc-hvsnap\\.hvsnap\\scripts\\ab.ps1');
    expect(commandPath('/D:')).toBe('D:\\');
    expect(commandPath('/root/.hvsnap/scripts/ab.ps1')).toBe('/root/.hvsnap/scripts/ab.ps1');
    expect(fileCommandLine('powershell.exe', '/C:/Users/a b/x.ps1', '/C:/Users/a b/run-1.json')).toBe(
      'powershell.exe -NoLogo -NoProfile -NonInteractive -ExecutionPolicy Bypass -File "C:\\Users\\a b\\x.ps1" "C:\\Users\\a b\\run-1.json"',
    );
  });

  it('refuses a folder the command line would interpret', () => {
    for (const bad of ['/C:/Users/x"y', '/C:/Users/%TEMP%', '/home/$USER', '/tmp/a`b']) expect(() => commandPath(bad)).toThrow(/remote script folder/);
  });

  it('carries runner, script and name as base64 data only, so the bundle is addressed by its content', () => {
    const nasty = "'; Stop-Computer -Force; '";
    const text = bundleText({ name: nasty, script: `Write-Output '${nasty}'` });
    expect(text).not.toContain('Stop-Computer');
    expect(text).toContain(Buffer.from(RUNNER_PS1, 'utf8').toString('base64'));
    expect(bundleHash(text)).toMatch(/^[0-9a-f]{64}$/);
    // PowerShell 5.1 reads a BOM-less .ps1 as ANSI: the bundle must be ASCII whatever the script holds
    expect([...bundleText({ name: 'ünï.ps1', script: "Write-Output 'Überprüfung'" })].every((c) => c.charCodeAt(0) < 0x80)).toBe(true);
    expect(bundleHash(bundleText({ name: 'a.ps1', script: 'x' }))).not.toBe(bundleHash(bundleText({ name: 'a.ps1', script: 'y' })));
  });
});
