import { Command, InvalidArgumentError } from 'commander';
import { writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
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
import { UnreachableError } from '../transport/transport.js';
import { hostVarsOf } from '../inventory/vars.js';

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
  readonly maxFailPercentage?: number;
  readonly anyErrorsFatal: boolean;
  /** --start-at-task: the run begins at the first task so named (lib/core/start-at.ts). */
  readonly startAtTask?: string;
  /** -e: key=value pairs or @FILE, in order. */
  readonly extraVars: readonly string[];
  /** --list-hosts / --list-tasks / --list-tags: print what would run and exit. */
  readonly list?: ListOptions;
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

export function parseCli(argv: readonly string[], name: string, io: CliIo = { stdout: process.stdout, stderr: process.stderr }): CliOptions {
  const program = new Command(name)
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
    .option('--max-fail-percentage <n>', "abort when more than n% of a play's hosts failed", percentage)
    .option('--any-errors-fatal', 'abort at the first failed or unreachable host', false)
    .option('-e, --extra-vars <vars>', 'key=value pairs or @FILE, above every inventory variable (repeatable)', (v: string, prev: string[]) => [...prev, v], [])
    .option('--start-at-task <name>', "begin at the first task named so (or 'role | name'; * matches anything)")
    .option('--list-hosts', 'list the hosts of each play (after --limit) and exit; nothing connects', false)
    .option('--list-tasks', 'list the tasks of each play (after --limit, --tags, --skip-tags) and exit', false)
    .option('--list-tags', 'list the tags of each play and exit', false)
    .exitOverride()
    .configureOutput({ writeErr: (s) => io.stderr.write(s), writeOut: (s) => io.stdout.write(s) });
  program.parse([...argv], { from: 'user' });
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
    maxFailPercentage?: number;
    anyErrorsFatal: boolean;
    extraVars: string[];
    startAtTask?: string;
    listHosts: boolean;
    listTasks: boolean;
    listTags: boolean;
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
    ...(o.maxFailPercentage !== undefined ? { maxFailPercentage: o.maxFailPercentage } : {}),
    anyErrorsFatal: o.anyErrorsFatal,
    extraVars: o.extraVars,
    ...(o.startAtTask !== undefined ? { startAtTask: o.startAtTask } : {}),
    ...(o.listHosts || o.listTasks || o.listTags ? { list: { hosts: o.listHosts, tasks: o.listTasks, tags: o.listTags } } : {}),
  };
}

function sshConnector(inventory: Inventory, options: CliOptions, redactor: Redactor): (host: string) => Promise<HostRuntime> {
  return async (host) => {
    if (isImplicitLocalhost(inventory, host)) return new RemoteRuntime(new LocalTransport());
    const vars = hostVarsOf(inventory, host);
    const becomePassword = vars.opt('ansible_become_password');
    if (becomePassword) redactor.add(becomePassword);
    const keyPath = vars.opt('ansible_ssh_private_key_file') ?? vars.opt('ansible_private_key_file');
    const transport = await connectWithRetry(
      () =>
        connectSsh({
          host,
          address: vars.str('ansible_host', host),
          port: vars.int('ansible_port', 22),
          username: vars.str('ansible_user', 'root'),
          ...(keyPath ? { privateKeyPath: resolve(keyPath) } : {}),
          knownHostsPath: resolve(vars.str('stackplay_known_hosts', `${homedir()}/.ssh/known_hosts`)),
          hostKeyPolicy: options.insecureHostKeys ? 'insecure' : vars.oneOf('stackplay_host_key_checking', ['accept-new', 'strict'], 'accept-new'),
          connectTimeoutMs: vars.int('stackplay_connect_timeout', 10) * 1000,
        }),
      { delaysMs: vars.int('stackplay_connect_retries', 2) > 0 ? [1000, 3000, 5000].slice(0, vars.int('stackplay_connect_retries', 2)) : [] },
    );
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

/** Runs a playbook with the shared CLI; returns the process exit code. */
export async function runPlaybook(
  book: Playbook,
  argv: readonly string[] = process.argv.slice(2),
  io: CliIo = { stdout: process.stdout, stderr: process.stderr },
): Promise<number> {
  const startedAt = new Date();
  let options: CliOptions;
  try {
    options = parseCli(argv, book.name, io);
  } catch (error) {
    const code = (error as { exitCode?: number; code?: string }).code;
    return code === 'commander.helpDisplayed' || code === 'commander.version' ? 0 : EXIT_BAD_INPUT;
  }
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
  });

  let inventory: Inventory;
  let plays: ResolvedPlay[];
  let secrets: SecretStore;
  try {
    const extras = await loadExtraVars(options.extraVars);
    // A secret-named variable from -e @FILE is masked like the secrets file's.
    for (const [name, v] of extras) if (SECRET_NAME.test(name)) redactor.add(v.value);
    inventory = withExtraVars(await loadInventory(options.inventory), extras);
    checkInventoryHasHosts(inventory);
    checkDefaultPassword(inventory);
    const defaultPassword = inventory.groups.get('all')?.vars.get('default_password')?.value;
    secrets = SecretStore.besideInventory(options.inventory, redactor, defaultPassword);
    plays = resolvePlaybook(book, inventory, secrets, options.limit, (message) => io.stderr.write(`warning: ${redactor.redact(message)}\n`));
    checkTags(plays, options.tags, options.skipTags);
    if (options.startAtTask !== undefined) plays = startAtTask(plays, options.startAtTask);
    if (options.list) {
      // Like ansible-playbook's --list-*: what would run, nothing connects and nothing is written (not even new secrets).
      io.stdout.write(redactor.redact(listing(book.name, plays, options.list, options)));
      return 0;
    }
    if (options.json) await checkJsonPath(options.json);
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
  if (options.plan) {
    const sim = simulatedHosts(inventory, book.simulation);
    const first = await execute(plays, { ...base, connect: sim.connect });
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
    return first.exitCode !== 0 ? first.exitCode : changed.length > 0 ? EXIT_NOT_IDEMPOTENT : 0;
  }

  try {
    checkPrivateKeys(inventory, plays);
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
    outcome = await execute(plays, { ...base, connect: sshConnector(inventory, options, redactor), signal: interrupt.signal });
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
  return interrupt.signal.aborted ? EXIT_INTERRUPTED : outcome.exitCode;
}

/** True when `importMetaUrl` is the module node was started with (a playbook or role run directly). */
export function isMain(importMetaUrl: string): boolean {
  const entry = process.argv[1];
  return entry !== undefined && pathToFileURL(resolve(entry)).href === importMetaUrl;
}

/** Entry point helper: `if (isMain(import.meta.url)) await main(book)`. */
export async function main(book: Playbook): Promise<void> {
  try {
    process.exitCode = await runPlaybook(book);
  } catch (error) {
    process.stderr.write(`stackplay: unexpected error: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exitCode = 1;
  }
}
