import { ErrorCodes, HvsnapError, type ErrorCode } from '../core/errors.js';

/**
 * How a script and its argument travel to PowerShell and how its one JSON document comes back.
 *
 * Why this shape: the Windows command line (and cmd.exe, OpenSSH's default shell on Windows, at
 * 8191 characters) is too short for our scripts, and console code pages mangle non-ASCII names.
 * So only a tiny fixed bootstrap goes on the command line (`-EncodedCommand`); the runner, the
 * script and the argument travel on stdin as base64 of UTF-8 JSON, and the answer comes back as one
 * base64 line after a marker, so banners, progress and warnings around it do no harm. The argument
 * is never part of any code: the script receives it as one string parameter and decodes it.
 */

/** Marks the one line of stdout that carries the result. */
export const RESULT_MARKER = '#HVSNAP-RESULT:';
/** Written by the remote watchdog when the deadline passed and it stopped the script. */
export const TIMEOUT_MARKER = '#HVSNAP-TIMEOUT';

/**
 * Runs one script in the current PowerShell session. Argument: base64 of the UTF-8 JSON payload
 * `{ name, script, input }` where `input` is the JSON text of the argument. Writes one result line.
 */
export const RUNNER_PS1 = `param([string]$PayloadB64)
$ErrorActionPreference = 'Stop'
$ProgressPreference = 'SilentlyContinue'
function Write-HvsnapFrame([string]$Json) {
  [Console]::Out.WriteLine('${RESULT_MARKER}' + [Convert]::ToBase64String([Text.Encoding]::UTF8.GetBytes($Json)))
}
try {
  $payload = [Text.Encoding]::UTF8.GetString([Convert]::FromBase64String($PayloadB64)) | ConvertFrom-Json
  $block = [ScriptBlock]::Create([string]$payload.script)
  $out = @(& $block ([string]$payload.input))
  $doc = 'null'
  if ($out.Count -gt 0) { $doc = [string]$out[$out.Count - 1] }
  Write-HvsnapFrame ('{"ok":true,"value":' + $doc + '}')
} catch {
  $e = $_
  $detail = $null
  if ($e.Exception.Data -and $e.Exception.Data.Contains('hvsnap')) { $detail = $e.Exception.Data['hvsnap'] }
  $err = [ordered]@{
    message  = $e.Exception.Message
    type     = $e.Exception.GetType().FullName
    errorId  = [string]$e.FullyQualifiedErrorId
    category = [string]$e.CategoryInfo.Category
    line     = $e.InvocationInfo.ScriptLineNumber
    detail   = $detail
  }
  Write-HvsnapFrame ('{"ok":false,"error":' + (ConvertTo-Json -InputObject $err -Compress -Depth 8) + '}')
}
`;

/**
 * The fixed command-line program of a remote run (kept tiny for cmd.exe). Reads three stdin lines:
 * the runner (base64 UTF-8), the payload (base64) and the deadline in ms (-1 = none), and runs the
 * runner in its own runspace. It exits when the runner finishes, with 124 when the deadline passes
 * (after writing the timeout marker), and with 125 as soon as its stdin closes: the client closes
 * the channel on timeout or abort, so the remote process never outlives the call, even where the
 * SSH server refuses signals (Windows OpenSSH; OpenSSH for a root login). Reading stdin to its end
 * asynchronously is how PowerShell 5.1 notices that; UNCONFIRMED on a real host until tested there.
 */
export const SSH_BOOTSTRAP_PS1 = `$i = [Console]::In
$r = [Text.Encoding]::UTF8.GetString([Convert]::FromBase64String($i.ReadLine().Trim()))
$p = [PowerShell]::Create().AddScript($r).AddArgument($i.ReadLine().Trim())
$d = [int]$i.ReadLine().Trim()
$w = [Diagnostics.Stopwatch]::StartNew()
$e = [Console]::OpenStandardInput().ReadAsync((New-Object byte[] 1), 0, 1)
$h = $p.BeginInvoke()
while (-not $h.AsyncWaitHandle.WaitOne(200)) {
  if ($e.IsCompleted) { [Environment]::Exit(125) }
  if ($d -ge 0 -and $w.ElapsedMilliseconds -gt $d) { [Console]::Out.WriteLine('${TIMEOUT_MARKER}'); [Console]::Out.Flush(); [Environment]::Exit(124) }
}
[void]$p.EndInvoke($h)
[Console]::Out.Flush()
[Environment]::Exit(0)
`;

/** Base64 of UTF-16LE, what `powershell -EncodedCommand` expects. */
export function encodeCommand(text: string): string {
  return Buffer.from(text, 'utf16le').toString('base64');
}

/** The payload the runner decodes: base64 of UTF-8 JSON. `input` is carried as JSON text. */
export function encodePayload(args: { name: string; script: string; input: unknown }): string {
  const inputJson = JSON.stringify(args.input ?? null);
  return Buffer.from(JSON.stringify({ name: args.name, script: args.script, input: inputJson }), 'utf8').toString('base64');
}

/** stdin of a remote run: runner, payload and deadline, one per line. */
export function remoteStdin(args: { name: string; script: string; input: unknown; timeoutMs?: number }): string {
  const deadline = args.timeoutMs === undefined ? -1 : Math.max(1, Math.ceil(args.timeoutMs));
  return [Buffer.from(RUNNER_PS1, 'utf8').toString('base64'), encodePayload(args), String(deadline)].join('\n') + '\n';
}

/** The PowerShell command line of a remote run. `executable` is `powershell.exe` or `pwsh`. */
export function remoteCommandLine(executable: string): string {
  return `${executable} -NoLogo -NoProfile -NonInteractive -ExecutionPolicy Bypass -EncodedCommand ${encodeCommand(SSH_BOOTSTRAP_PS1)}`;
}

/** One in-session command for a local PowerShell: the payload is base64, so quoting it is safe. */
export function localCommand(args: { name: string; script: string; input: unknown }): string {
  const runner = Buffer.from(RUNNER_PS1, 'utf8').toString('base64');
  return `& ([ScriptBlock]::Create([Text.Encoding]::UTF8.GetString([Convert]::FromBase64String('${runner}')))) '${encodePayload(args)}'`;
}

/** What a script reported when it failed: PowerShell's view plus the script's own `detail`. */
export interface ScriptFailure {
  message: string;
  type?: string;
  errorId?: string;
  category?: string;
  line?: number;
  /** set by the script: `{ kind: 'hvsnap', code, ... }` or `{ kind: 'wmi', method, returnValue, ... }` */
  detail?: Record<string, unknown> | null;
}

/** The `cause` of an error a script raised; callers (the WMI hypervisor) read `failure.detail`. */
export class ScriptError extends Error {
  constructor(readonly failure: ScriptFailure) {
    super(failure.message);
    this.name = 'ScriptError';
  }
}

/**
 * Finds the result line in a run's stdout and returns the value, or throws the script's error.
 * `exitCode` and `stderr` name what went wrong when there is no result line.
 */
export function parseResult<T>(stdout: string, where: { name: string; target: string; exitCode?: number | null; stderr?: string }): T {
  const context = { host: where.target, step: where.name };
  const line = stdout
    .split(/\r?\n/)
    .reverse()
    .find((l) => l.startsWith(RESULT_MARKER));
  if (line === undefined) {
    if (stdout.split(/\r?\n/).includes(TIMEOUT_MARKER)) {
      throw new HvsnapError('timeout', `script ${where.name} passed its deadline on ${where.target} and was stopped there`, { retryable: true, context });
    }
    const err = (where.stderr ?? '').trim().slice(0, 2000);
    if (where.exitCode === 125) {
      // the watchdog's own exit: the client did not stop this run, so its lease lapsed or its stdin closed on the way
      throw new HvsnapError(
        'transport_failed',
        `script ${where.name} was stopped on ${where.target} before it answered: its lease was not renewed in time, or its input closed`,
        {
          retryable: true,
          context,
          hint: 'the client or the connection stalled for longer than the lease (4 renewal intervals: 20 s by default); check the load on the proxy and the link to the host',
        },
      );
    }
    throw new HvsnapError(
      'transport_failed',
      `script ${where.name} on ${where.target} wrote no result (exit code ${where.exitCode ?? 'none'})${err ? `: ${err}` : ''}`,
      { context, hint: 'check that PowerShell starts for this account (powershell.exe or pwsh on PATH)' },
    );
  }
  let envelope: { ok: boolean; value?: unknown; error?: ScriptFailure };
  try {
    envelope = JSON.parse(Buffer.from(line.slice(RESULT_MARKER.length).trim(), 'base64').toString('utf8'));
  } catch (e) {
    throw new HvsnapError(
      'internal',
      `script ${where.name} on ${where.target} wrote a result that is not JSON (does it output exactly one ConvertTo-Json document last?)`,
      {
        cause: e,
        context,
      },
    );
  }
  if (envelope.ok) return (envelope.value ?? null) as T;
  throw scriptErrorToHvsnap(envelope.error ?? { message: 'unknown script error' }, context);
}

const KNOWN_CODES = new Set<string>(ErrorCodes);

/** A script's failure as an HvsnapError: the script's own code when it set one, else by category. */
export function scriptErrorToHvsnap(failure: ScriptFailure, context: { host: string; step: string }): HvsnapError {
  const detail = failure.detail ?? undefined;
  let code: ErrorCode = 'internal';
  let retryable = false;
  const extra: Record<string, string | number | boolean> = {};
  if (detail && detail.kind === 'hvsnap' && typeof detail.code === 'string' && KNOWN_CODES.has(detail.code)) {
    code = detail.code as ErrorCode;
    retryable = detail.retryable === true;
    for (const [k, v] of Object.entries(detail)) {
      if (k !== 'kind' && k !== 'code' && k !== 'retryable' && ['string', 'number', 'boolean'].includes(typeof v)) extra[k] = v as string;
    }
  } else if (failure.category === 'PermissionDenied' || failure.type === 'System.UnauthorizedAccessException') {
    code = 'access_denied';
  }
  const where = failure.line ? ` (line ${failure.line})` : '';
  return new HvsnapError(code, `${context.step} on ${context.host}: ${failure.message}${where}`, {
    retryable,
    context: { ...extra, ...context },
    cause: new ScriptError(failure),
  });
}
