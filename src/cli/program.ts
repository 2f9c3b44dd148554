import { Command, CommanderError, Option } from 'commander';
import type { Logger } from '../core/logger.js';
import { ExitCode, exitCodeFor, renderError, renderErrorJson, type CliIo, type CommandResult } from './io.js';
import { packageVersion } from './version.js';

/** Options every command has, from the root program. */
export interface GlobalOptions {
  json: boolean;
  debug: boolean;
  /** append the logs to this file (reopened on SIGHUP) instead of stderr */
  logFile?: string;
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
 * A command whose module (and the libraries it needs) is imported only when that command runs:
 * `hvsnap --help` lists it from `name` and `description` alone.
 */
export interface LazyCommand {
  name: string;
  description: string;
  load(): Promise<CommandModule>;
  /**
   * The command reads or writes whole disks (backups, restores, repository checks): on Linux it runs
   * in a process started for that (see core/aligned-memory.ts `hugePageEnv` and relaunch.ts).
   */
  movesDiskData?: true;
  /**
   * The command makes things on hosts, arrays or the repository that it undoes when it is stopped
   * (SIGINT, SIGTERM): the process waits for that however long it takes, and a second signal ends it
   * at once (see main.ts). Any other command has one second. A list: only these subcommands do.
   */
  undoesOnStop?: true | readonly string[];
}

export type CommandEntry = CommandModule | LazyCommand;

/**
 * Runs the CLI in-process and returns the exit code. The entry point alone calls process.exit;
 * tests call this with buffers. Exit codes are decided here and only here (see {@link exitCodeFor}):
 * 2 for usage errors, 130 once `signal` has fired.
 */
export async function runCli(argv: string[], io: CliIo, modules: CommandEntry[], signal: AbortSignal = new AbortController().signal): Promise<number> {
  const json = argv.includes('--json');
  let exitCode: number = ExitCode.ok;
  let usageText = '';
  const program = new Command('hvsnap')
    .description('Back up Hyper-V VMs from storage-array snapshots through an off-host proxy')
    .version(packageVersion(), '-V, --version', 'print the version')
    .option('--json', 'print one machine-readable JSON document on stdout (results and errors); logs stay on stderr', false)
    .option('--debug', 'debug logging and stack traces', false)
    .option('--log-file <file>', 'append the logs (JSON lines) to this file instead of stderr; reopened on SIGHUP for log rotation')
    .exitOverride()
    .configureOutput({
      writeOut: (s) => io.stdout.write(s),
      // with --json a usage error becomes the JSON document on stdout, not text on stderr
      writeErr: (s) => (json ? (usageText += s) : io.stderr.write(s)),
    })
    .showHelpAfterError(!json);

  const kit: CommandKit = {
    io,
    signal,
    action<O>(fn: (ctx: ActionContext<O>) => Promise<CommandResult>) {
      return async (...raw: unknown[]) => {
        const cmd = raw[raw.length - 1] as Command;
        const opts = cmd.optsWithGlobals() as O & GlobalOptions;
        const args = raw
          .slice(0, -2)
          .flat()
          .filter((a): a is string => typeof a === 'string');
        try {
          const logger = await io.logger({ json: !!opts.json, debug: !!opts.debug, logFile: opts.logFile });
          const result = await fn({ opts, args, io, logger, signal });
          io.stdout.write(opts.json ? JSON.stringify(result.data, null, 2) + '\n' : result.text.endsWith('\n') ? result.text : result.text + '\n');
          exitCode = signal.aborted && result.exitCode ? ExitCode.interrupted : (result.exitCode ?? ExitCode.ok);
        } catch (e) {
          if (opts.json) io.stdout.write(renderErrorJson(e));
          else io.stderr.write(renderError(e, !!opts.debug));
          exitCode = exitCodeFor(e, signal);
        }
      };
    },
  };

  try {
    const wanted = commandName(argv);
    for (const entry of modules) {
      const cmd = isLazy(entry) ? (entry.name === wanted ? (await entry.load())(kit) : listing(entry)) : entry(kit);
      program.addCommand(cmd);
      inheritSettings(cmd, program);
    }
    await program.parseAsync(argv, { from: 'user' });
  } catch (e) {
    if (e instanceof CommanderError) {
      if (e.exitCode === 0) return ExitCode.ok; // help and version are not failures
      if (json)
        io.stdout.write(
          JSON.stringify({ ok: false, error: { code: 'usage', message: (usageText.trim() || e.message).replace(/^error: /, '') } }, null, 2) + '\n',
        );
      return ExitCode.usage;
    }
    if (json) io.stdout.write(renderErrorJson(e));
    else io.stderr.write(renderError(e, argv.includes('--debug')));
    return exitCodeFor(e, signal);
  }
  return exitCode;
}

/** The command argv names: its first word that is not an option or the value of `--log-file` (`help X`: X). */
function commandName(argv: string[]): string | undefined {
  const words = commandWords(argv);
  return words[0] === 'help' ? words[1] : words[0];
}

function commandWords(argv: string[]): string[] {
  return argv.filter((a, i) => !a.startsWith('-') && argv[i - 1] !== '--log-file');
}

/** True when argv runs a command that moves disk data ({@link LazyCommand.movesDiskData}); false for its help. */
export function movesDiskData(argv: string[], modules: CommandEntry[]): boolean {
  return flagged(argv, modules, 'movesDiskData');
}

/** True when argv runs a command that undoes what it made when stopped ({@link LazyCommand.undoesOnStop}); false for its help. */
export function undoesOnStop(argv: string[], modules: CommandEntry[]): boolean {
  return flagged(argv, modules, 'undoesOnStop');
}

function flagged(argv: string[], modules: CommandEntry[], flag: 'movesDiskData' | 'undoesOnStop'): boolean {
  const words = commandWords(argv);
  if (words[0] === 'help' || argv.includes('--help') || argv.includes('-h')) return false;
  const value = modules.find((e): e is LazyCommand => isLazy(e) && e.name === words[0])?.[flag];
  return value === true || (Array.isArray(value) && value.includes(words[1]!));
}

function isLazy(entry: CommandEntry): entry is LazyCommand {
  return typeof entry !== 'function';
}

/** The stand-in `--help` lists for a command that is not loaded (its options show in `hvsnap CMD --help`). */
function listing(entry: LazyCommand): Command {
  return new Command(entry.name).description(entry.description).addOption(new Option('--options').hideHelp());
}

/** addCommand, unlike command(), copies nothing: exit override and output go down the whole tree. */
function inheritSettings(cmd: Command, parent: Command): void {
  cmd.copyInheritedSettings(parent);
  for (const sub of cmd.commands) inheritSettings(sub, cmd);
}
