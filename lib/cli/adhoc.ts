import { InputError } from '../core/errors.js';
import { defineRole, playbook, type Playbook } from '../core/playbook.js';
import { adhocTask, moduleHelp, type AdhocTask } from './adhoc-modules.js';
import { cliOptionsOf, cliProgram, commanderExitCode, EXIT_BAD_INPUT, runParsed, type CliIo, type CliOptions } from './cli.js';

/**
 * Ad-hoc commands, as `ansible PATTERN -m MODULE -a ARGS`:
 * `exec -l compute -- systemctl status nova-compute` runs one command on
 * every selected host and shows what it printed, host by host;
 * `exec -l compute --module service name=nova-compute state=restarted` runs
 * one module. It is a one-task playbook built from the command line and run
 * like any other (inventory, become, forks, run lock, host keys, --check,
 * --json, redaction), only reported in `ansible`'s ad-hoc format.
 */
export interface AdhocCommandLine {
  /** The shared flags; `limit` is left to the play's hosts (see adhocPlaybook). */
  readonly options: CliOptions;
  readonly task: AdhocTask;
  /** The host pattern: -l, or every host of the inventory. */
  readonly pattern: string;
}

/** Shared flags that say nothing about one task on some hosts. */
const NOT_FOR_ADHOC: readonly [keyof CliOptions, string][] = [
  ['tags', '--tags'],
  ['skipTags', '--skip-tags'],
  ['startAtTask', '--start-at-task'],
  ['plan', '--plan'],
];

/** Parses the ad-hoc command line; throws what commander throws (it printed why) or InputError. */
export function parseAdhoc(argv: readonly string[], io: CliIo): AdhocCommandLine {
  // Everything after the first `--` is the command, word for word, whatever it looks like.
  const dash = argv.indexOf('--');
  const flags = dash < 0 ? argv : argv.slice(0, dash);
  const words = dash < 0 ? [] : argv.slice(dash + 1);
  const program = cliProgram('exec', io)
    .description('run one command or module on the hosts of a pattern, as `ansible PATTERN -m MODULE -a ARGS`')
    .usage('[-i INVENTORY] [-l PATTERN] [flags] -- COMMAND …\n       exec [-i INVENTORY] [-l PATTERN] [flags] --module NAME key=value …')
    .option('-m, --module <name>', 'run this module (key=value arguments) rather than the command after --', 'command')
    .argument('[key=value...]', 'arguments of --module')
    .addHelpText('after', `\nmodules:\n${moduleHelp()}\n`);
  for (const [, flag] of NOT_FOR_ADHOC) program.options.find((o) => o.long === flag)?.hideHelp();
  program.parse([...flags], { from: 'user' });
  const options = cliOptionsOf(program);
  for (const [key, flag] of NOT_FOR_ADHOC) {
    const value = options[key];
    if (value !== undefined && !(Array.isArray(value) && value.length === 0)) throw new InputError(flag, 0, 'does not apply to an ad-hoc command (one task)');
  }
  const { module } = program.opts<{ module: string }>();
  const args = (program.processedArgs[0] as string[] | undefined) ?? [];
  if (module === 'command' && words.length === 0 && args.length === 0)
    throw new InputError('exec', 0, 'nothing to run: give a command after --, or --module NAME key=value …');
  const { limit, ...rest } = options;
  return { options: rest, task: adhocTask(module, args, words), pattern: limit ?? 'all' };
}

/**
 * The one-play playbook: the task on every host, limited to the pattern (so a
 * pattern matching nothing is bad input, as --limit is). `-l localhost` is
 * the play's hosts instead: this machine without SSH when the inventory has
 * no such host, as `ansible localhost` does.
 */
export function adhocPlaybook(line: AdhocCommandLine): { book: Playbook; options: CliOptions } {
  const { task, pattern, options } = line;
  const where = pattern === 'all' ? 'all (no --limit: every host of the inventory)' : pattern;
  const name = `ad-hoc ${task.module === 'command' || task.module === 'shell' ? `${task.module}: ${task.describe}` : task.describe} on ${where}`;
  const local = pattern === 'localhost';
  return {
    book: playbook('exec', [{ name, hosts: local ? 'localhost' : 'all', roles: [() => defineRole('adhoc').tasks([task.build(options.check)])] }]),
    options: local || pattern === 'all' ? options : { ...options, limit: pattern },
  };
}

/** The ad-hoc entry point: parses, runs, returns the exit code (5 for bad input, before any host is contacted). */
export async function runAdhoc(argv: readonly string[], io: CliIo = { stdout: process.stdout, stderr: process.stderr }): Promise<number> {
  let line: AdhocCommandLine;
  try {
    line = parseAdhoc(argv, io);
  } catch (error) {
    if (!(error instanceof InputError)) return commanderExitCode(error);
    io.stderr.write(`error: ${error.message}\n`);
    return EXIT_BAD_INPUT;
  }
  const { book, options } = adhocPlaybook(line);
  return runParsed(book, options, io, { adhoc: true });
}
