import { captureLogger } from '../../src/core/logger.js';
import { commandModules } from '../../src/cli/commands/index.js';
import type { CliIo } from '../../src/cli/io.js';
import { runCli } from '../../src/cli/program.js';

/** Runs the CLI in-process, as the entry point does, capturing what it prints. */
export async function cli(...argv: string[]) {
  let stdout = '';
  let stderr = '';
  const logs = captureLogger();
  const io: CliIo = {
    stdout: { write: (s) => ((stdout += String(s)), true) },
    stderr: { write: (s) => ((stderr += String(s)), true) },
    env: {},
    logger: () => logs,
  };
  const code = await runCli(argv, io, commandModules);
  return { code, stdout, stderr, logs: logs.lines };
}
