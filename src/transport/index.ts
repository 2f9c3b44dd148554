export type { Shell, ShellRunArgs, ShellCallOptions } from './shell.js';
export { FakeShell, type FakeHandler, type FakeShellCall } from './fake-shell.js';
export { SshShell, type SshShellOptions } from './ssh-shell.js';
export { LocalShell, type LocalShellOptions, type PowerShellSession } from './local-shell.js';
export { withLogging, withRetry, withRedaction, redactInput, type RetryOptions } from './wrappers.js';
export { hostKeyFingerprint, sameFingerprint } from './host-key.js';
export { ScriptError, type ScriptFailure, RUNNER_PS1, SSH_BOOTSTRAP_PS1 } from './framing.js';
export { createShell, transportConfigSchema, sshTransportSchema, localTransportSchema, type TransportConfig, type ShellTarget } from './config.js';
