import { createHash } from 'node:crypto';
import { HvsnapError } from '../core/errors.js';
import { RUNNER_PS1, TIMEOUT_MARKER } from './framing.js';

/**
 * Delivery of a script as files instead of console stdin (the default over SSH).
 *
 * Why: whether powershell.exe 5.1 reads `[Console]::In` under Win32-OpenSSH is unproven — in
 * PowerShell/Win32-OpenSSH issue 1314 a .NET console program could not read its stdin. Win32-OpenSSH
 * ships sftp-server, so the script goes up once per host as a content-addressed bundle
 * (`<sha256>.ps1`, runner and script inside, base64 so no text of ours is ever parsed as code), the
 * one JSON argument goes in a file beside it, and the run is `powershell -File <bundle> <argument
 * file>` with nothing on stdin.
 *
 * Stopping without stdin and without signals (Windows OpenSSH refuses them): the argument file is a
 * lease. The client touches it (SFTP setstat of the times, a second later each time) every `leaseIntervalMs`; the bundle's
 * watchdog exits with 125 when the file is gone (timeout, abort: the client removes it) or when its
 * write time has not changed for `staleMs` of the host's own clock (a killed client), so clock skew
 * between client and host does not matter. It exits with 124 after writing the timeout marker when
 * the deadline passes, and removes the argument file whenever it exits. UNCONFIRMED on a real host:
 * that Win32-OpenSSH's sftp-server applies SETSTAT times (if it ignores them, a run longer than
 * `staleMs` is stopped: the first real transcript will show it; `delivery: stdin` is the fallback).
 */

/** What the argument file holds: the input as JSON text, the deadline and the lease, in ms. */
export interface ArgumentFile {
  input: string;
  /** ms from the start; -1 = none */
  deadlineMs: number;
  /** ms without a touch after which the host stops the script */
  staleMs: number;
}

/**
 * The text of a bundle: a fixed program with the runner, the script and its name inside as base64.
 * Pure ASCII on purpose: powershell.exe 5.1 reads a .ps1 without a BOM in the ANSI code page, so
 * any non-ASCII name or path stays inside the base64 (and the argument file is read as UTF-8).
 */
export function bundleText(args: { name: string; script: string }): string {
  const b64 = (s: string) => Buffer.from(s, 'utf8').toString('base64');
  return `# hvsnap script bundle (content-addressed): runner and script are base64 data below
param([Parameter(Mandatory = $true)][string]$ArgsFile)
$NameB64 = '${b64(args.name)}'
$ScriptB64 = '${b64(args.script)}'
$RunnerB64 = '${b64(RUNNER_PS1)}'
${BUNDLE_BODY}`;
}

/** The program part of every bundle (after the three base64 constants). */
const BUNDLE_BODY = `$u = [Text.Encoding]::UTF8
$a = [IO.File]::ReadAllText($ArgsFile, $u) | ConvertFrom-Json
$payload = ConvertTo-Json -Compress -InputObject ([ordered]@{ name = $u.GetString([Convert]::FromBase64String($NameB64)); script = $u.GetString([Convert]::FromBase64String($ScriptB64)); input = [string]$a.input })
$p = [PowerShell]::Create().AddScript($u.GetString([Convert]::FromBase64String($RunnerB64))).AddArgument([Convert]::ToBase64String($u.GetBytes($payload)))
$d = [int64]$a.deadlineMs
$stale = [int64]$a.staleMs
$w = [Diagnostics.Stopwatch]::StartNew()
$seen = [IO.File]::GetLastWriteTimeUtc($ArgsFile)
$touched = $w.ElapsedMilliseconds
$h = $p.BeginInvoke()
$code = 0
while (-not $h.AsyncWaitHandle.WaitOne(200)) {
  if (-not [IO.File]::Exists($ArgsFile)) { $code = 125; break }
  $now = [IO.File]::GetLastWriteTimeUtc($ArgsFile)
  if ($now -ne $seen) { $seen = $now; $touched = $w.ElapsedMilliseconds }
  if ($w.ElapsedMilliseconds - $touched -gt $stale) { $code = 125; break }
  if ($d -ge 0 -and $w.ElapsedMilliseconds -gt $d) { [Console]::Out.WriteLine('${TIMEOUT_MARKER}'); $code = 124; break }
}
if ($code -eq 0) { [void]$p.EndInvoke($h) }
Remove-Item -LiteralPath $ArgsFile -Force -ErrorAction SilentlyContinue
[Console]::Out.Flush()
[Environment]::Exit($code)
`;

/** The content address of a bundle: hex SHA-256 of its UTF-8 bytes (the remote file is `<hash>.ps1`). */
export function bundleHash(text: string): string {
  return createHash('sha256').update(text, 'utf8').digest('hex');
}

/**
 * The path PowerShell needs for an SFTP path: Win32-OpenSSH's sftp-server shows `C:\x` as `/C:/x`.
 * Other paths (a POSIX test server) are kept. Characters a command line would interpret are refused.
 */
export function commandPath(sftpPath: string): string {
  if (/["%$`!\r\n]/.test(sftpPath)) {
    throw new HvsnapError('config_invalid', `the remote script folder ${sftpPath} holds a character the command line would interpret (" % $ \` !)`, {
      context: { field: 'remoteDir', path: sftpPath },
    });
  }
  const m = /^\/([A-Za-z]:)(\/.*)?$/.exec(sftpPath);
  return m ? `${m[1]}${(m[2] ?? '\\').replace(/\//g, '\\')}` : sftpPath;
}

/** The command line of a file-delivered run: `-File` with the bundle and the argument file, nothing on stdin. */
export function fileCommandLine(executable: string, bundlePath: string, argsPath: string): string {
  return `${executable} -NoLogo -NoProfile -NonInteractive -ExecutionPolicy Bypass -File "${commandPath(bundlePath)}" "${commandPath(argsPath)}"`;
}
