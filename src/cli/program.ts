import { Command, CommanderError } from 'commander';
import type { Logger } from '../core/logger.js';
import { ExitCode, exitCodeFor, renderError, renderErrorJson, type CliIo, type CommandResult } from './io.js';

/** Options every command has, from the root program. */
export interface GlobalOptions {
  json: boolean;
  debug: boolean;
}

export interface ActionContext<O> {
  /** this command's options merged with the global ones */
  opts: O & GlobalOptions;
  /** positional arguments */
  args: string[];
  io: CliIo;
  logger: Logger;
  signal: AbortSignal;
}

/** Everything a command module gets to build its command. */
export interface CommandKit {
  io: CliIo;
  signal: AbortSignal;
  /** Wraps an action: the action returns data; this prints text or JSON and records the exit code. */
  action<O>(fn: (ctx: ActionContext<O>) => Promise<CommandResult>): (...args: unknown[]) => Promise<void>;
}

export type CommandModule = (kit: CommandKit) => Command;

/**
 * Runs the CLI in-process and returns the exit code. The entry point alone calls process.exit;
 * tests call this with buffers.
 */
export async function runCli(argv: string[], io: CliIo, modules: CommandModule[], signal: AbortSignal = new AbortController().signal): Promise<number> {
  let exitCode: number = ExitCode.ok;
  const program = new Command('hvsnap')
    .description('Back up Hyper-V VMs from storage-array snapshots through an off-host proxy')
    .option('--json', 'print machine-readable JSON', false)
    .option('--debug', 'debug logging and stack traces', false)
    .exitOverride()
    .configureOutput({
      writeOut: (s) => io.stdout.write(s),
      writeErr: (s) => io.stderr.write(s),
    })
    .showHelpAfterError();

  const kit: CommandKit = {
    io,
    signal,
    action<O>(fn: (ctx: ActionContext<O>) => Promise<CommandResult>) {
      return async (...raw: unknown[]) => {
        const cmd = raw[raw.length - 1] as Command;
        const opts = cmd.optsWithGlobals() as O & GlobalOptions;
        const args = raw.slice(0, -2).flat().filter((a): a is string => typeof a === 'string');
        const logger = io.logger({ json: !!opts.json, debug: !!opts.debug });
        try {
          const result = await fn({ opts, args, io, logger, signal });
          io.stdout.write(opts.json ? JSON.stringify(result.data, null, 2) + '\n' : result.text.endsWith('\n') ? result.text : result.text + '\n');
          exitCode = result.exitCode ?? ExitCode.ok;
        } catch (e) {
          io.stderr.write(opts.json ? renderErrorJson(e) : renderError(e, !!opts.debug));
          exitCode = exitCodeFor(e);
        }
      };
    },
  };
  for (const make of modules) program.addCommand(make(kit));

  try {
    await program.parseAsync(argv, { from: 'user' });
  } catch (e) {
    if (e instanceof CommanderError) {
      // help and version are not failures
      return e.exitCode === 0 ? ExitCode.ok : ExitCode.usage;
    }
    io.stderr.write(renderError(e, argv.includes('--debug')));
    return ExitCode.failed;
  }
  return exitCode;
}
