import { Command, InvalidArgumentError } from 'commander';
import { writeFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { InputError, SECRET_NAME } from '../core/errors.js';
import { execute, type ExecuteOptions, type ResolvedPlay, type RunOutcome } from '../core/executor.js';
import { loadInventory, type Inventory } from '../inventory/inventory.js';
import { writePlanOutput } from './plan-output.js';
import { listing, type ListOptions } from './listing.js';
import { loadExtraVars, withExtraVars } from '../inventory/extra-vars.js';
import { startAtTask } from '../core/start-at.js';
import { checkDefaultPassword, checkInventoryHasHosts, checkJsonPath, checkPlanDir, checkPrivateKeys, checkTags } from './preflight.js';
import type { Playbook } from '../core/playbook.js';
import { Reporter } from './reporter.js';
import { isImplicitLocalhost, resolvePlaybook } from '../core/resolve.js';
import { RemoteRuntime, type HostRuntime } from '../core/runtime.js';
import { Redactor, Secret } from '../core/secret.js';
import { SecretStore } from '../inventory/secrets-store.js';
import { simulatedHosts } from '../sim/hosts.js';
import { connectWithRetry } from '../transport/retry.js';
import { BecomeTransport } from '../transport/become.js';
import { LocalTransport } from '../transport/local.js';
import { connectSsh } from '../transport/ssh.js';
import type { SshOptions } from '../transport/ssh-options.js';
import { prepareSshReach } from './ssh-preflight.js';
import { terminalAsker } from './prompt.js';
import { UnreachableError } from '../transport/transport.js';
import { hostVarsOf } from '../inventory/vars.js';
import { RunLog } from '../history/run-log.js';
import { historyDirFor, keepFrom, RunStore } from '../history/store.js';

/** The command line every playbook and role entry point shares (ansible-playbook's flags). */
export interface CliOptions {
  readonly inventory: string;
  readonly check: boolean;
  readonly diff: boolean;
  readonly limit?: string;
  readonly tags: readonly string[];
  readonly skipTags: readonly string[];
  readonly forks: number;
  readonly json?: string;
  readonly verbose: number;
  readonly plan?: string;
  readonly insecureHostKeys: boolean;
  /** -k: ask the SSH login password once, for hosts without ansible_password. */
  readonly askPass: boolean;
  readonly maxFailPercentage?: number;
  readonly anyErrorsFatal: boolean;
  /** --start-at-task: the run begins at the first task so named (lib/core/start-at.ts). */
  readonly startAtTask?: string;
  /** -e: key=value pairs or @FILE, in order. */
  readonly extraVars: readonly string[];
  /** --list-hosts / --list-tasks / --list-tags: print what would run and exit. */
  readonly list?: ListOptions;
  /** Run records (lib/history): where (--history-dir, else STACKPLAY_HISTORY_DIR, else beside the inventory), or none (--no-history). */
  readonly historyDir?: string;
  readonly history: boolean;
  /** --report FILE: the run as one self-contained HTML page. */
  readonly report?: string;
}

/** Exit codes: 0 ok, 2 a host failed, 4 a host unreachable, 3 `--plan` found a second run not idempotent, 5 bad input, 130 interrupted. */
export const EXIT_BAD_INPUT = 5;
export const EXIT_NOT_IDEMPOTENT = 3;
/** Stopped by Ctrl-C (128 + SIGINT, as shells report it). */
export const EXIT_INTERRUPTED = 130;

const positiveInt = (v: string): number => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('expected a whole number ≥ 1');
  return n;
};
const percentage = (v: string): number => {
  const n = Number(v);
  if (!/^\d+(\.\d+)?$/.test(v) || n > 100) throw new InvalidArgumentError('expected a percentage from 0 to 100');
  return n;
};
const list = (v: string, prev: string[] = []): string[] => [
  ...prev,
  ...v
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean),
];

/** Where the CLI writes; injected so tests can run it in-process. */
export interface CliIo {
  readonly stdout: NodeJS.WritableStream & { isTTY?: boolean };
  readonly stderr: NodeJS.WritableStream;
}

/** The shared flags on a commander program of their own: an entry point adds its own flags and arguments (playbooks/exec.ts). */
export function cliProgram(name: string, io: CliIo = { stdout: process.stdout, stderr: process.stderr }): Command {
  return new Command(name)
    .description(`run the ${name} playbook`)
    .option('-i, --inventory <file>', 'inventory file', 'hosts/lab.ini')
    .option('-C, --check', 'predict changes without making any', false)
    .option('-D, --diff', 'show file differences (secrets masked)', false)
    .option('-l, --limit <pattern>', 'only these hosts/groups (Ansible host patterns)')
    .option('-t, --tags <tags>', 'only tasks with these tags (comma separated)', list, [])
    .option('--skip-tags <tags>', 'skip tasks with these tags', list, [])
    .option('-f, --forks <n>', 'hosts handled in parallel', positiveInt, 50)
    .option('--json <file>', 'write a machine-readable report')
    .option('-v, --verbose', 'more output (repeat: -vv, -vvv)', (_: string, prev: number) => prev + 1, 0)
    .option('--plan <dir>', 'run offline against simulated hosts and write files and commands per host to <dir>')
    .option('--insecure-host-keys', 'accept any host key and record none (never the default)', false)
    .option('-k, --ask-pass', 'ask the SSH password once (hosts without ansible_password)', false)
    .option('--max-fail-percentage <n>', "abort when more than n% of a play's hosts failed", percentage)
    .option('--any-errors-fatal', 'abort at the first failed or unreachable host', false)
    .option('-e, --extra-vars <vars>', 'key=value pairs or @FILE, above every inventory variable (repeatable)', (v: string, prev: string[]) => [...prev, v], [])
    .option('--start-at-task <name>', "begin at the first task named so (or 'role | name'; * matches anything)")
    .option('--list-hosts', 'list the hosts of each play (after --limit) and exit; nothing connects', false)
    .option('--list-tasks', 'list the tasks of each play (after --limit, --tags, --skip-tags) and exit', false)
    .option('--list-tags', 'list the tags of each play and exit', false)
    .option('--history-dir <dir>', 'keep run records here (default: $STACKPLAY_HISTORY_DIR, else .stackplay/runs/ beside the inventory)')
    .option('--no-history', 'do not record this run')
    .option('--report <file>', 'write the run as a self-contained HTML report')
    .exitOverride()
    .configureOutput({ writeErr: (s) => io.stderr.write(s), writeOut: (s) => io.stdout.write(s) });
}

export function parseCli(argv: readonly string[], name: string, io: CliIo = { stdout: process.stdout, stderr: process.stderr }): CliOptions {
  const program = cliProgram(name, io);
  program.parse([...argv], { from: 'user' });
  return cliOptionsOf(program);
}

/** The shared flags' values once `program` (from cliProgram) has parsed its command line. */
export function cliOptionsOf(program: Command): CliOptions {
  const o = program.opts<{
    inventory: string;
    check: boolean;
    diff: boolean;
    limit?: string;
    tags: string[];
    skipTags: string[];
    forks: number;
    json?: string;
    verbose: number;
    plan?: string;
    insecureHostKeys: boolean;
    askPass: boolean;
    maxFailPercentage?: number;
    anyErrorsFatal: boolean;
    extraVars: string[];
    startAtTask?: string;
    listHosts: boolean;
    listTasks: boolean;
    listTags: boolean;
    historyDir?: string;
    history: boolean;
    report?: string;
  }>();
  return {
    inventory: o.inventory,
    check: o.check,
    diff: o.diff,
    ...(o.limit !== undefined ? { limit: o.limit } : {}),
    tags: o.tags,
    skipTags: o.skipTags,
    forks: o.forks,
    ...(o.json !== undefined ? { json: o.json } : {}),
    verbose: o.verbose,
    ...(o.plan !== undefined ? { plan: o.plan } : {}),
    insecureHostKeys: o.insecureHostKeys,
    askPass: o.askPass,
    ...(o.maxFailPercentage !== undefined ? { maxFailPercentage: o.maxFailPercentage } : {}),
    anyErrorsFatal: o.anyErrorsFatal,
    extraVars: o.extraVars,
    ...(o.startAtTask !== undefined ? { startAtTask: o.startAtTask } : {}),
    ...(o.listHosts || o.listTasks || o.listTags ? { list: { hosts: o.listHosts, tasks: o.listTasks, tags: o.listTags } } : {}),
    ...(o.historyDir !== undefined ? { historyDir: o.historyDir } : {}),
    history: o.history,
    ...(o.report !== undefined ? { report: o.report } : {}),
  };
}

/**
 * Every value of a secret-named variable (`*pass*`, `*secret*`, `*token*`, `*key*`) anywhere in the inventory,
 * but a boolean or a number (`use_token_cache=true` holds no secret, and masking `true` everywhere hides output).
 */
function maskInventorySecrets(inventory: Inventory, redactor: Redactor): void {
  const scopes = [...inventory.groups.values()].map((g) => g.vars).concat([...inventory.hosts.keys()].map((h) => inventory.hostVars(h)));
  for (const vars of scopes) for (const [name, v] of vars) if (SECRET_NAME.test(name) && !/^(true|false|yes|no|\d+)$/i.test(v.value)) redactor.add(v.value);
}

function sshConnector(inventory: Inventory, reach: (host: string) => SshOptions, redactor: Redactor): (host: string) => Promise<HostRuntime> {
  return async (host) => {
    if (isImplicitLocalhost(inventory, host)) return new RemoteRuntime(new LocalTransport());
    const vars = hostVarsOf(inventory, host);
    const becomePassword = vars.opt('ansible_become_password');
    if (becomePassword) redactor.add(becomePassword);
    const retries = vars.int('stackplay_connect_retries', 2);
    const transport = await connectWithRetry(() => connectSsh(reach(host)), { delaysMs: [1000, 3000, 5000].slice(0, Math.max(0, retries)) });
    // Ansible's become (sudo) for a login user other than root.
    const become = vars.bool('ansible_become', false);
    const wrapped = become
      ? await BecomeTransport.open(transport, {
          user: vars.str('ansible_become_user', 'root'),
          password: becomePassword ? new Secret(becomePassword) : undefined,
        }).catch(async (error: unknown) => {
          await transport.close();
          // A refused sudo is not a connection problem to retry: the host cannot be worked on.
          throw new UnreachableError(host, error instanceof Error ? error.message : String(error), false);
        })
      : transport;
    return new RemoteRuntime(wrapped, { stateDir: vars.opt('stackplay_state_dir') });
  };
}

async function writeJson(
  path: string,
  book: Playbook,
  options: CliOptions,
  outcome: RunOutcome,
  reporter: Reporter,
  redactor: Redactor,
  startedAt: Date,
): Promise<void> {
  const report = {
    playbook: book.name,
    inventory: options.inventory,
    check: options.check,
    startedAt: startedAt.toISOString(),
    durationMs: Date.now() - startedAt.getTime(),
    exitCode: outcome.exitCode,
    recap: Object.fromEntries(outcome.recap),
    roleTimesMs: Object.fromEntries(reporter.roleTimes()),
    results: reporter.results,
  };
  await writeFile(path, `${JSON.stringify(redactor.redactDeep(report), null, 2)}\n`);
}

/** What an entry point adds to the shared run (day-2 playbooks). */
export interface RunHooks {
  /**
   * Changes secrets before the roles read them (rotation, restore). Throws
   * InputError for bad input. In check mode and --plan, keep the changes in
   * memory only (`SecretStore.rotate(…, { persist: false })`).
   */
  readonly prepareSecrets?: (secrets: SecretStore, options: CliOptions) => void | Promise<void>;
}

/** Runs a playbook with the shared CLI; returns the process exit code. */
export async function runPlaybook(
  book: Playbook,
  argv: readonly string[] = process.argv.slice(2),
  io: CliIo = { stdout: process.stdout, stderr: process.stderr },
  hooks: RunHooks = {},
): Promise<number> {
  let options: CliOptions;
  try {
    options = parseCli(argv, book.name, io);
  } catch (error) {
    return commanderExitCode(error);
  }
  return runParsed(book, options, io, { ...hooks, argv });
}

/** The exit code for what commander threw on a bad (or --help) command line; it printed why already. */
export function commanderExitCode(error: unknown): number {
  const code = (error as { code?: string }).code;
  return code === 'commander.helpDisplayed' || code === 'commander.version' ? 0 : EXIT_BAD_INPUT;
}

/** How an entry point wants its run shown, besides the flags. */
export interface RunMode extends RunHooks {
  /** The command line as given, for the run's record (default: this process's). */
  readonly argv?: readonly string[];
  /** Ad-hoc commands: per-host output blocks (Reporter's `adhoc`), and every secret-named inventory value masked in them. */
  readonly adhoc?: boolean;
}

/** Runs a playbook with flags already parsed (runPlaybook, or an entry point with flags of its own); returns the exit code. */
export async function runParsed(book: Playbook, options: CliOptions, io: CliIo, mode: RunMode = {}): Promise<number> {
  const startedAt = new Date();
  const redactor = new Redactor();
  const tty = Boolean(io.stdout.isTTY) && !process.env['NO_COLOR'];
  const reporter = new Reporter({
    out: io.stdout,
    color: tty,
    live: tty && !options.plan,
    verbose: options.verbose,
    diff: options.diff,
    redactor,
    check: options.check,
    ...(mode.adhoc ? { adhoc: true } : {}),
  });

  let inventory: Inventory;
  let plays: ResolvedPlay[];
  let secrets: SecretStore;
  let store: RunStore | undefined;
  try {
    const extras = await loadExtraVars(options.extraVars);
    // A secret-named variable from -e @FILE is masked like the secrets file's.
    for (const [name, v] of extras) if (SECRET_NAME.test(name)) redactor.add(v.value);
    inventory = withExtraVars(await loadInventory(options.inventory), extras);
    checkInventoryHasHosts(inventory);
    checkDefaultPassword(inventory);
    // A command's output is whatever the host holds: a password the inventory sets may be in it.
    if (mode.adhoc) maskInventorySecrets(inventory, redactor);
    const defaultPassword = inventory.groups.get('all')?.vars.get('default_password')?.value;
    secrets = SecretStore.besideInventory(options.inventory, redactor, defaultPassword);
    await mode.prepareSecrets?.(secrets, options);
    plays = resolvePlaybook(book, inventory, secrets, options.limit, (message) => io.stderr.write(`warning: ${redactor.redact(message)}\n`));
    checkTags(plays, options.tags, options.skipTags);
    if (options.startAtTask !== undefined) plays = startAtTask(plays, options.startAtTask);
    if (options.list) {
      // Like ansible-playbook's --list-*: what would run, nothing connects and nothing is written (not even new secrets).
      io.stdout.write(redactor.redact(listing(book.name, plays, options.list, options)));
      return 0;
    }
    if (options.json) await checkJsonPath(options.json);
    if (options.report) await checkJsonPath(options.report, '--report');
    // Only real runs are recorded; a --plan run can still have its --report.
    store = options.history && !options.plan ? new RunStore(historyDirFor(options.inventory, options.historyDir), keepFrom()) : undefined;
    if (options.plan) await checkPlanDir(options.plan);
    await secrets.save();
  } catch (error) {
    if (error instanceof InputError) {
      io.stderr.write(`error: ${redactor.redact(error.message)}\n`);
      return EXIT_BAD_INPUT;
    }
    throw error;
  }

  const base: Omit<ExecuteOptions, 'connect'> = {
    check: options.check,
    simulation: book.simulation,
    forks: options.forks,
    tags: options.tags,
    skipTags: options.skipTags,
    emit: reporter.handle,
    maxFailPercentage: options.maxFailPercentage,
    anyErrorsFatal: options.anyErrorsFatal,
  };
  const runLog = new RunLog({
    playbook: book.name,
    argv: mode.argv ?? process.argv.slice(2),
    inventory: resolve(options.inventory),
    check: options.check,
    store,
    report: options.report,
    redactor,
    stderr: io.stderr,
    say: options.verbose > 0 ? (line) => io.stdout.write(`${redactor.redact(line)}\n`) : undefined,
  });
  if (options.plan) {
    const sim = simulatedHosts(inventory, book.simulation);
    const first = await execute(plays, { ...base, connect: sim.connect, emit: runLog.tee(reporter.handle) });
    reporter.recap(first);
    await writePlanOutput(
      options.plan,
      [...sim.hosts.values()].filter((h) => first.recap.has(h.name)),
    );
    // Idempotence is the promise: the same plays on the converged simulated hosts must change nothing.
    const quiet = new Reporter({ out: io.stdout, color: false, live: false, verbose: 0, diff: false, redactor });
    const second = await execute(plays, { ...base, connect: sim.connect, emit: () => {} });
    const changed = [...second.recap].filter(([, r]) => r.changed > 0);
    const verdict =
      first.exitCode !== 0
        ? 'not checked: the first run failed'
        : changed.length === 0
          ? '0 changed (idempotent)'
          : `NOT idempotent on ${changed.map(([h, r]) => `${h} (${r.changed} changed)`).join(', ')}`;
    io.stdout.write(`\nplan written to ${options.plan}; second simulated run: ${verdict}\n`);
    if (changed.length > 0) quiet.recap(second);
    if (options.json) await writeJson(options.json, book, options, first, reporter, redactor, startedAt);
    const code = first.exitCode !== 0 ? first.exitCode : changed.length > 0 ? EXIT_NOT_IDEMPOTENT : 0;
    await runLog.close(code, first);
    return code;
  }

  let reach: (host: string) => SshOptions;
  try {
    checkPrivateKeys(inventory, plays);
    reach = await prepareSshReach(inventory, plays, {
      insecureHostKeys: options.insecureHostKeys,
      ask: terminalAsker(),
      askPass: options.askPass,
      agent: process.env['SSH_AUTH_SOCK'] || undefined,
      redactor,
    });
  } catch (error) {
    if (!(error instanceof InputError)) throw error;
    io.stderr.write(`error: ${redactor.redact(error.message)}\n`);
    return EXIT_BAD_INPUT;
  }
  if (options.insecureHostKeys)
    io.stderr.write('warning: --insecure-host-keys: host keys are neither checked nor recorded; anyone on the path to a host can pose as it\n');

  // First Ctrl-C: no new task starts, steps under way finish (files are written atomically
  // anyway), handlers notified so far stay recorded on the hosts for the next run. Second: leave now.
  const interrupt = new AbortController();
  const onSigint = () => {
    if (interrupt.signal.aborted) process.exit(130);
    io.stderr.write('\ninterrupted: finishing the steps under way (Ctrl-C again to leave at once)\n');
    interrupt.abort('interrupted (SIGINT)');
  };
  process.on('SIGINT', onSigint);
  let outcome: RunOutcome;
  try {
    outcome = await execute(plays, {
      ...base,
      emit: runLog.tee(reporter.handle),
      connect: sshConnector(inventory, reach, redactor),
      signal: interrupt.signal,
    });
  } catch (error) {
    await runLog.close(1, undefined, error);
    throw error;
  } finally {
    process.off('SIGINT', onSigint);
  }
  reporter.recap(outcome);
  if (options.json) {
    // Checked before the run; should it fail now all the same, the run's own exit code still tells what happened on the hosts.
    await writeJson(options.json, book, options, outcome, reporter, redactor, startedAt).catch((error: unknown) =>
      io.stderr.write(`error: cannot write ${options.json}: ${error instanceof Error ? error.message : String(error)}\n`),
    );
  }
  const code = interrupt.signal.aborted ? EXIT_INTERRUPTED : outcome.exitCode;
  // Failed or interrupted runs are recorded too: they are the ones asked about.
  await runLog.close(code, outcome);
  return code;
}

/** True when `importMetaUrl` is the module node was started with (a playbook or role run directly). */
export function isMain(importMetaUrl: string): boolean {
  const entry = process.argv[1];
  return entry !== undefined && pathToFileURL(resolve(entry)).href === importMetaUrl;
}

/** Entry point helper: `if (isMain(import.meta.url)) await main(book)`. */
export async function main(book: Playbook, argv: readonly string[] = process.argv.slice(2), hooks: RunHooks = {}): Promise<void> {
  await exitWith(() => runPlaybook(book, argv, undefined, hooks));
}

/** Sets the process's exit code to what `run` returns; an unexpected error is printed whole, exit 1. */
export async function exitWith(run: () => Promise<number>): Promise<void> {
  try {
    process.exitCode = await run();
  } catch (error) {
    process.stderr.write(`stackplay: unexpected error: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exitCode = 1;
  }
}
