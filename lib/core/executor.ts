import PQueue from 'p-queue';
import { hostname, userInfo } from 'node:os';
import { BeginFailed, HostLockedError, type LockHolder } from './host-session.js';
import { describeStep, StepFailed, type HostRuntime } from './runtime.js';
import { prefetching, readAhead } from './prefetch.js';
import { Prediction, type HostPrediction } from './predict.js';
import type { Role } from './playbook.js';
import type { FileDiff, Plan, Registered, Step, Task } from './task.js';
import type { Simulation } from '../sim/hosts.js';
import { UnreachableError, type ExecResult } from '../transport/transport.js';

/**
 * Runs resolved plays against hosts. Hosts run in parallel (up to `forks`),
 * the tasks of one host in order; plays are barriers. It never prints: it
 * emits typed events for the reporter and returns the recap.
 */

/** `would-run` (check mode only): the task would run, but whether it changes something is known only by running it. */
export type TaskStatus = 'ok' | 'changed' | 'failed' | 'skipped' | 'would-run';

/** What a command the task is for printed (ad-hoc commands): unredacted here, the reporter redacts it on arrival. */
export interface CommandOutput {
  readonly rc: number;
  readonly stdout: string;
  readonly stderr: string;
}

export interface TaskResult {
  readonly host: string;
  readonly role: string;
  readonly task: string;
  readonly module: string;
  readonly handler: boolean;
  readonly status: TaskStatus;
  /** Why nothing changed, or why skipped. */
  readonly reason?: string;
  readonly summary?: string;
  /** What was (or in check mode, would be) run, secrets masked. */
  readonly steps?: readonly string[];
  readonly diffs?: readonly FileDiff[];
  readonly error?: string;
  /** A failure of a task with `ignoreErrors`: counted as failed, the host went on. */
  readonly ignored?: boolean;
  /** Only for steps with `reportOutput` (ad-hoc commands), whether they succeeded or failed. */
  readonly output?: CommandOutput;
  readonly durationMs: number;
}

export type RunEvent =
  | { readonly type: 'play'; readonly name: string; readonly hosts: readonly string[] }
  | { readonly type: 'task-start'; readonly host: string; readonly role: string; readonly task: string }
  | { readonly type: 'task'; readonly result: TaskResult }
  | { readonly type: 'role-end'; readonly host: string; readonly role: string; readonly durationMs: number }
  | { readonly type: 'unreachable'; readonly host: string; readonly error: string }
  /** The failure policy stopped the run: no task starts after this. */
  | { readonly type: 'abort'; readonly reason: string };

export interface HostRecap {
  ok: number;
  changed: number;
  failed: number;
  skipped: number;
  unreachable: number;
  /** Check mode: tasks whose outcome cannot be predicted. */
  wouldRun: number;
}

export interface ResolvedPlay {
  readonly name: string;
  /** Host name → its roles, instantiated for that host. */
  readonly hosts: ReadonlyMap<string, readonly Role[]>;
  /** Hosts per batch (Play.serial resolved against this play's hosts); absent: all at once. */
  readonly serial?: number;
}

/** The play's hosts in batches of `serial` (at least 1), or one batch. */
function batches<T>(hosts: readonly T[], serial: number | undefined): T[][] {
  if (serial === undefined || serial >= hosts.length) return [[...hosts]];
  const size = Math.max(1, serial);
  return Array.from({ length: Math.ceil(hosts.length / size) }, (_, i) => hosts.slice(i * size, (i + 1) * size));
}

export interface ExecuteOptions {
  /** Predict, change nothing: later tasks plan against the host as the earlier predicted steps would leave it (predict.ts). */
  readonly check: boolean;
  /** The playbook's simulated services, which answer in check mode for services the run would install. */
  readonly simulation?: Simulation | undefined;
  readonly forks: number;
  /** Run only tasks carrying one of these tags (empty: all). */
  readonly tags: readonly string[];
  readonly skipTags: readonly string[];
  readonly connect: (host: string) => Promise<HostRuntime>;
  readonly emit: (event: RunEvent) => void;
  /** Abort the run when more than this percentage of a play's hosts failed or were unreachable (Ansible's max_fail_percentage). */
  readonly maxFailPercentage?: number | undefined;
  /** Abort the run at the first failed or unreachable host (Ansible's any_errors_fatal). */
  readonly anyErrorsFatal?: boolean | undefined;
  /** Aborting it (Ctrl-C) stops the run like the failure policy: no new task starts; steps under way finish. */
  readonly signal?: AbortSignal | undefined;
  /** Who this run is, for the hosts' run locks. */
  readonly holder?: LockHolder | undefined;
}

export function currentHolder(): LockHolder {
  let user = 'unknown';
  try {
    user = userInfo().username;
  } catch {
    // no passwd entry (containers): keep 'unknown'
  }
  return { pid: process.pid, user, machine: hostname(), startedAt: new Date().toISOString() };
}

interface Connected {
  readonly rt: HostRuntime;
  /** Handlers the last run owed, by role (known once the session is); each role takes its own once. */
  owed?: Map<string, ReadonlySet<string>>;
}

/** What the last run owed `role` on this host, taken once; waits for the host's session (lock, pending handlers). */
async function takeOwed(c: Connected, role: string): Promise<ReadonlySet<string> | undefined> {
  c.owed ??= new Map((await c.rt.session()).pending);
  const pending = c.owed.get(role);
  c.owed.delete(role);
  return pending;
}

export interface RunOutcome {
  readonly recap: ReadonlyMap<string, HostRecap>;
  /** 0 all good, 2 some host failed, 4 some host unreachable (failed wins, as in Ansible). */
  readonly exitCode: 0 | 2 | 4;
  /** Why the failure policy stopped the run early, if it did. */
  readonly aborted?: string | null;
}

const emptyRecap = (): HostRecap => ({ ok: 0, changed: 0, failed: 0, skipped: 0, unreachable: 0, wouldRun: 0 });

/** A host stops at its first failure or loss; other hosts go on. */
class HostStopped extends Error {}

/** The failure policy aborted the run; hosts stop at their next task without counting anything. */
class RunAborted extends Error {}

/** Why the failure policy aborts, or null to go on. */
function abortReason(failed: number, total: number, options: ExecuteOptions): string | null {
  if (failed === 0) return null;
  if (options.anyErrorsFatal) return `a host failed and --any-errors-fatal is set`;
  const pct = options.maxFailPercentage;
  if (pct !== undefined && (failed / total) * 100 > pct)
    return `${failed} of ${total} hosts failed (${Math.round((failed / total) * 100)}%), more than --max-fail-percentage ${pct}`;
  return null;
}

export async function execute(plays: readonly ResolvedPlay[], options: ExecuteOptions): Promise<RunOutcome> {
  const recap = new Map<string, HostRecap>();
  const runtimes = new Map<string, Promise<Connected>>();
  const holder = options.holder ?? currentHolder();
  const registry: Registry = new Map();
  const prediction = options.check ? new Prediction(options.simulation) : undefined;
  const stopped = new Set<string>();
  const queue = new PQueue({ concurrency: Math.max(1, options.forks) });
  let aborted: string | null = null;
  const checkAbort = (): void => {
    if (aborted === null && options.signal?.aborted) {
      aborted = typeof options.signal.reason === 'string' ? options.signal.reason : 'interrupted';
      options.emit({ type: 'abort', reason: aborted });
    }
    if (aborted !== null) throw new RunAborted(aborted);
  };

  /** Connects once per run and asks for the host's run lock and pending handlers (answered with the first facts read). */
  const runtimeFor = (host: string): Promise<Connected> => {
    let connected = runtimes.get(host);
    if (!connected) {
      connected = options.connect(host).then((rt) => {
        rt.begin(holder, !options.check);
        return { rt };
      });
      runtimes.set(host, connected);
    }
    return connected;
  };

  try {
    for (const play of plays) {
      for (const batch of batches([...play.hosts.keys()], play.serial)) {
        if (aborted !== null) break;
        const hosts = batch.filter((h) => !stopped.has(h));
        options.emit({ type: 'play', name: play.name, hosts });
        let failedInBatch = 0;
        await queue.addAll(
          hosts.map((host) => async () => {
            const counts = recap.get(host) ?? emptyRecap();
            recap.set(host, counts);
            try {
              checkAbort();
              const connected = await runtimeFor(host);
              for (const role of play.hosts.get(host) ?? []) {
                const predicted = prediction?.forHost(host);
                await runRole({ rt: connected.rt, counts, options, registry, predicted }, role, checkAbort, () => takeOwed(connected, role.name));
              }
            } catch (error) {
              if (error instanceof RunAborted) return;
              stopped.add(host);
              if (error instanceof UnreachableError) {
                counts.unreachable++;
                options.emit({ type: 'unreachable', host, error: error.message });
              } else if (error instanceof HostLockedError || error instanceof BeginFailed || error instanceof StepFailed) {
                counts.failed++;
                const task = error instanceof StepFailed ? 'keep run state on the host (lock, pending handlers)' : 'take the run lock';
                options.emit({
                  type: 'task',
                  result: { host, role: '-', task, module: 'lock', handler: false, status: 'failed', error: error.message, durationMs: 0 },
                });
              } else if (!(error instanceof HostStopped)) {
                throw error;
              }
              const reason = aborted === null ? abortReason(++failedInBatch, hosts.length, options) : null;
              if (reason !== null) {
                aborted = reason;
                options.emit({ type: 'abort', reason });
              }
            }
          }),
        );
      }
    }
  } finally {
    await Promise.allSettled([...runtimes.values()].map(async (c) => (await c).rt.close()));
  }

  const all = [...recap.values()];
  const exitCode = all.some((r) => r.failed > 0) || (aborted !== null && !all.some((r) => r.unreachable > 0)) ? 2 : all.some((r) => r.unreachable > 0) ? 4 : 0;
  return { recap, exitCode, aborted };
}

/** Whether --tags and --skip-tags let `task` run (Ansible's rules, `always` included). */
export function taskSelected(task: Task<string>, options: Pick<ExecuteOptions, 'tags' | 'skipTags'>): boolean {
  if (task.tags.some((t) => options.skipTags.includes(t))) return false;
  if (options.tags.length === 0) return true;
  return task.tags.some((t) => options.tags.includes(t)) || task.tags.includes('always');
}

/** What the tasks of one host run with. */
interface HostRun {
  readonly rt: HostRuntime;
  readonly counts: HostRecap;
  readonly options: ExecuteOptions;
  readonly registry: Registry;
  /** Check mode: this host's predictions, which its tasks' facts follow. */
  readonly predicted: HostPrediction | undefined;
}

/** Results tasks registered in this run: name → host → result. */
type Registry = Map<string, Map<string, Registered>>;

/** What `hosts` registered under `name` so far; a host that registered nothing is absent. */
function registeredOn(registry: Registry, name: string, hosts: readonly string[]): ReadonlyMap<string, Registered> {
  const byHost = registry.get(name);
  const found = new Map<string, Registered>();
  for (const h of hosts) {
    const r = byHost?.get(h);
    if (r) found.set(h, r);
  }
  return found;
}

async function runRole(
  run: HostRun,
  role: Role,
  checkAbort: () => void,
  /** Handlers the last run left owed to this role; waits for the host's session. */
  owed: () => Promise<ReadonlySet<string> | undefined>,
): Promise<void> {
  const { options, predicted } = run;
  const started = performance.now();
  // In check mode every task reads the host as the earlier predicted steps would leave it.
  const follow = <T extends Task<string>>(t: T): T => (predicted ? predicted.task(t) : t);
  // The role's shell facts are read ahead in one round trip until a step changes the host (lib/prefetch.ts);
  // on a host's first role that read also carries the run lock and the pending handlers.
  const rt = prefetching(run.rt, role.tasks.filter((t): t is Task<string> => t.kind === 'task' && taskSelected(t, options)).map(follow));
  await readAhead(rt);
  const pendingFromLastRun = (await owed()) ?? new Set<string>();
  // Handlers an earlier run notified but never ran (it died or was
  // interrupted) run this time, whatever this run's tasks report.
  const known = new Set(Object.keys(role.handlers));
  const notified = new Set([...pendingFromLastRun].filter((h) => known.has(h)));
  const persisted = new Set(notified);
  // Check mode: handlers notified only by tasks whose outcome is unknown, with the first such task.
  const maybe = new Map<string, string>();
  const runHandlers = async () => {
    // Handler order is the role's declaration order, whatever order they were notified in.
    for (const [name, handler] of Object.entries(role.handlers) as [string, Task][]) {
      if (!notified.has(name)) continue;
      notified.delete(name);
      const onlyIf = maybe.get(name);
      maybe.delete(name);
      await runTask({ ...run, rt }, role.name, follow(handler), true, undefined, onlyIf);
      if (persisted.delete(name) && !options.check) await rt.donePending(role.name, name);
    }
  };
  for (const item of role.tasks) {
    checkAbort();
    if (item.kind === 'flush') {
      await runHandlers();
      continue;
    }
    if (!taskSelected(item, options)) continue;
    // The handlers this task would notify are written down on the host before
    // its first step: a run that dies after the change but before the handlers
    // (or even before recording them) leaves them to the next run. A restart
    // owed is never lost; at worst one is made that the change did not need.
    let recordedNow: string[] = [];
    const record = async () => {
      recordedNow = item.notify.filter((h) => !persisted.has(h));
      if (recordedNow.length === 0 || options.check) return;
      await rt.notePending(role.name, recordedNow);
      for (const h of recordedNow) persisted.add(h);
    };
    const status = await runTask({ ...run, rt }, role.name, follow(item), false, item.notify.length > 0 ? record : undefined);
    if (status === 'changed') {
      for (const h of item.notify) {
        notified.add(h);
        maybe.delete(h);
      }
    } else if (status === 'would-run') {
      for (const h of item.notify) {
        if (!notified.has(h)) maybe.set(h, item.name);
        notified.add(h);
      }
    } else if (!options.check) {
      // It ran but changed nothing (changedWhen): take back what it recorded.
      for (const h of recordedNow) {
        persisted.delete(h);
        await rt.donePending(role.name, h);
      }
    }
  }
  await runHandlers();
  options.emit({ type: 'role-end', host: rt.host, role: role.name, durationMs: performance.now() - started });
}

async function runTask(
  { rt, counts, options, registry, predicted }: HostRun,
  role: string,
  task: Task<string>,
  handler: boolean,
  /** Called once the task is about to change something, before its first step. */
  beforeApply?: () => Promise<void>,
  /** Check mode: a handler notified only by this task, whose outcome is unknown. */
  onlyIfChanged?: string,
): Promise<TaskStatus> {
  const started = performance.now();
  options.emit({ type: 'task-start', host: rt.host, role, task: task.name });
  const base = { host: rt.host, role, task: task.name, module: task.module, handler };
  const finish = (result: Omit<TaskResult, keyof typeof base | 'durationMs'>, value?: unknown): TaskStatus => {
    counts[result.status === 'would-run' ? 'wouldRun' : result.status]++;
    if (task.register !== undefined) {
      const byHost = registry.get(task.register) ?? new Map<string, Registered>();
      const detail = result.error ?? result.summary ?? result.reason ?? '';
      registry.set(task.register, byHost.set(rt.host, { status: result.status, detail, ...(value !== undefined ? { value } : {}) }));
    }
    options.emit({ type: 'task', result: { ...base, ...result, durationMs: performance.now() - started } });
    return result.status;
  };
  /** A failure stops the host, unless the task ignores errors (it still counts as failed). */
  const fail = (result: Omit<TaskResult, keyof typeof base | 'durationMs' | 'status'>): TaskStatus => {
    if (!task.ignoreErrors) {
      finish({ status: 'failed', ...result });
      throw new HostStopped();
    }
    return finish({ status: 'failed', ...result, ignored: true });
  };

  let plan: Plan;
  try {
    const values = await rt.gather(task.facts);
    // Registered facts are answered here, from this run's registry; the runtime left them undefined.
    task.facts.forEach((f, i) => {
      if (f.kind === 'registered') values[i] = registeredOn(registry, f.name, f.hosts);
    });
    plan = task.plan(values);
  } catch (error) {
    if (error instanceof UnreachableError) throw error;
    // Check mode, after predicted changes: what it reads is not there yet, or not as the run would leave it.
    predicted?.takeUncertain();
    if (predicted?.anyPredicted) {
      const notes = predicted.takeNotes();
      return finish({ status: 'would-run', reason: `cannot predict: ${messageOf(error)}${notes.length > 0 ? `; ${notes.join('; ')}` : ''}` });
    }
    return fail({ error: messageOf(error) });
  }

  const uncertain = predicted?.takeUncertain() ?? [];
  if (plan.action === 'none') {
    const notes = predicted?.takeNotes() ?? [];
    const reason = notes.length > 0 ? `${plan.reason}; ${notes.join('; ')}` : plan.reason;
    // Check mode: nothing to do on the host as it is now, but the packages this run installs may change that.
    if (uncertain.length > 0 && !plan.skipped) return finish({ status: 'would-run', reason: `${reason} now, but ${uncertain.join('; ')}` });
    return finish({ status: plan.skipped ? 'skipped' : 'ok', reason }, plan.value);
  }
  const steps = plan.steps.map(describeStep);
  const diffs = plan.action === 'change' ? (plan.diffs ?? []) : [];
  if (predicted) {
    const notes = predicted.takeNotes();
    await predicted.predict(plan.steps);
    const summary = notes.length > 0 ? `${plan.summary} (${notes.join('; ')})` : plan.summary;
    if (plan.action === 'run') return finish({ status: 'would-run', reason: 'outcome is known only by running it', summary, steps });
    if (onlyIfChanged !== undefined) return finish({ status: 'would-run', reason: `runs if "${onlyIfChanged}" changes something`, summary, steps, diffs });
    return finish({ status: 'changed', summary, steps, diffs });
  }

  let changed = plan.action === 'change';
  const output: { output?: CommandOutput } = {};
  const keep = (r: ExecResult): void => {
    output.output = { rc: r.exitCode, stdout: r.stdout, stderr: r.stderr };
  };
  let applying: Step | undefined;
  try {
    await beforeApply?.();
    for (const step of plan.steps) {
      applying = step;
      const stepChanged = await rt.apply(keepingOutput(step, keep));
      if (plan.action === 'run') changed ||= stepChanged;
    }
  } catch (error) {
    if (error instanceof UnreachableError) {
      // Counted as unreachable, not failed; the step is never re-run blindly.
      throw new UnreachableError(rt.host, `connection lost during "${task.name}"; it was not re-run: ${error.message}`, error.transient, { cause: error });
    }
    // A refused exit code: what the command printed is in the failure.
    if (error instanceof StepFailed && error.result && applying?.kind === 'exec' && applying.reportOutput === true) keep(error.result);
    return fail({ error: messageOf(error), summary: plan.summary, steps, diffs, ...output });
  }
  return changed
    ? finish({ status: 'changed', summary: plan.summary, steps, diffs, ...output })
    : finish({ status: 'ok', reason: 'ran; reported no change', summary: plan.summary, ...output });
}

/**
 * A step whose output the task reports, made to hand its result to `keep`.
 * Every runtime passes an exec step's result (exit code accepted) to its
 * `changedWhen`, so the output is taken there; a refused exit code arrives
 * as StepFailed's result instead. The runtimes' `apply` stays a yes/no.
 */
function keepingOutput(step: Step, keep: (result: ExecResult) => void): Step {
  if (step.kind !== 'exec' || step.reportOutput !== true) return step;
  const { changedWhen } = step;
  return {
    ...step,
    changedWhen: (result) => {
      keep(result);
      return changedWhen ? changedWhen(result) : true;
    },
  };
}

function messageOf(error: unknown): string {
  if (error instanceof StepFailed) return error.message;
  if (error instanceof Error) return `${error.name}: ${error.message}`;
  return String(error);
}
