import type { Cmd } from './shell.js';
import type { ExecResult, HttpRequest, HttpResponse } from '../transport/transport.js';
import type { SimHost } from '../sim/sim.js';

/**
 * The shape every task module shares (pyinfra's operations, changesets'
 * plan/apply split): a task declares the facts it needs; `plan()` is a pure
 * function of those facts that says "nothing to do, because …" or "these
 * steps, this diff"; only the executor applies steps.
 */

/** A probe run in a shell on the host. Facts of one task are gathered in one round trip. */
export interface ShellFact<T> {
  readonly kind: 'shell';
  readonly script: Cmd;
  parse(result: ExecResult): T;
  /** The same fact read from a simulated host (for `--plan`). */
  simulate(host: SimHost): T;
  /**
   * The inverse of `simulate`: sets `host` so that `simulate` answers `value`.
   * Check mode keeps each real answer in the host's overlay this way, so the
   * steps it predicts build on the host as it is (lib/core/predict.ts).
   * Facts reading several things (packages, a service's state) need it; without it a
   * fact that reads a prediction is answered from the predictions alone.
   */
  absorb?(host: SimHost, value: T): void;
  /**
   * Check mode, when this run would install packages: why this real answer may
   * not hold by the time the task runs (a path absent now that a package may
   * create), or undefined. A task that then plans no change would run instead.
   */
  mayChangeByInstall?(value: T): string | undefined;
}

export type Http = (request: HttpRequest) => Promise<HttpResponse>;

/** A probe made through an HTTP API as the host sees it (keystone, etc.). */
export interface ApiFact<T> {
  readonly kind: 'api';
  run(http: Http): Promise<T>;
}

/** What a task registered (`register`), as later tasks on any host see it: Ansible's `register` + `hostvars`. */
export interface Registered {
  /** `would-run`: check mode could not tell whether the task changes something. */
  readonly status: 'ok' | 'changed' | 'failed' | 'skipped' | 'would-run';
  /** Why nothing changed or why skipped; the summary of a change; the error of a failure. */
  readonly detail: string;
  /** What the task's plan handed on (`Plan.value` of a task that changed nothing): Ansible's registered stdout, typed by its reader. */
  readonly value?: unknown;
}

/**
 * The results earlier tasks registered under `name` on `hosts` in this run
 * (hosts that registered nothing are absent). Answered by the executor, not
 * by the host: plays are barriers, so a later play sees an earlier play's.
 */
export interface RegisteredFact<T> {
  readonly kind: 'registered';
  readonly name: string;
  readonly hosts: readonly string[];
  /** Type only: the fact's value type. */
  readonly __value?: T;
}

export const registeredFact = (name: string, hosts: readonly string[]): RegisteredFact<ReadonlyMap<string, Registered>> => ({
  kind: 'registered',
  name,
  hosts,
});

export type Fact<T> = ShellFact<T> | ApiFact<T> | RegisteredFact<T>;

export interface ExecStep {
  readonly kind: 'exec';
  readonly cmd: Cmd;
  /** Exit codes that count as success (default [0]). */
  readonly okExitCodes?: readonly number[];
  /** For steps whose effect is known only after running (db_sync, `changed_when`). Default: changed. */
  readonly changedWhen?: (result: ExecResult) => boolean;
  /** Effect on a simulated host and the result to pretend; default exit 0, empty output. */
  readonly simulate?: (host: SimHost) => Partial<ExecResult> | void;
  /**
   * What the command printed is what the task is for (an ad-hoc command): its exit
   * code and output become the task result's `output`. Other steps' output is the
   * engine's business and never shown.
   */
  readonly reportOutput?: boolean;
}

export interface WriteStep {
  readonly kind: 'write';
  readonly path: string;
  /** Full new content; may hold secrets (diffs are redacted, commands.txt shows only the path). */
  readonly content: string;
  /** Octal string like '0640'; when absent an existing file keeps its mode, a new one gets 0644. */
  readonly mode?: string;
  readonly owner?: string;
  readonly group?: string;
}

export interface ApiStep {
  readonly kind: 'api';
  readonly description: string;
  /** Returns whether it changed something (default true). */
  run(http: Http): Promise<boolean | void>;
}

export type Step = ExecStep | WriteStep | ApiStep;

export interface FileDiff {
  readonly path: string;
  /** null: the file does not exist (before) or is removed (after). */
  readonly before: string | null;
  readonly after: string | null;
}

export type Plan =
  /** `skipped`: the task does not apply here, rather than finding everything in place (see `skip`). */
  | {
      readonly action: 'none';
      readonly reason: string;
      readonly skipped?: true;
      /** Kept with the registered result (`register`) for later tasks: what a check found, too big for `reason`. */
      readonly value?: unknown;
    }
  | { readonly action: 'change'; readonly summary: string; readonly steps: readonly Step[]; readonly diffs?: readonly FileDiff[] }
  /** Steps must run to know whether anything changed (migrations, commands with changedWhen). */
  | { readonly action: 'run'; readonly summary: string; readonly steps: readonly Step[] };

export const noChange = (reason: string): Plan => ({ action: 'none', reason });
/** Nothing to do because the task does not apply here (a check this host cannot make, …): reported `skipped` with the reason. */
export const skip = (reason: string): Plan => ({ action: 'none', reason, skipped: true });

export interface TaskOptions<H extends string = never> {
  /** Shown in output; modules supply a descriptive default. */
  readonly name?: string;
  readonly tags?: readonly string[];
  /** Handlers of the enclosing role to run when this task changes something. */
  readonly notify?: readonly H[];
  /** A failure counts as failed but the host goes on to its next task (Ansible's `ignore_errors`). */
  readonly ignoreErrors?: boolean;
  /** Keep this task's result under this name for later tasks on any host (`registeredFact`; Ansible's `register`). */
  readonly register?: string;
}

export interface Task<H extends string = never> {
  readonly kind: 'task';
  readonly name: string;
  /** Module name, as in Ansible: 'ini', 'package', … */
  readonly module: string;
  readonly tags: readonly string[];
  readonly notify: readonly H[];
  readonly ignoreErrors?: boolean;
  readonly register?: string;
  /**
   * The service this task keeps running (a `service` task with state started):
   * what day-2 stop, start and status act on, read from the deploying roles
   * themselves so that release and OS differences stay in the roles' data.
   */
  readonly daemon?: string;
  readonly facts: readonly Fact<unknown>[];
  /** Pure: same facts in, same plan out. `facts[i]` answers `this.facts[i]`. */
  plan(facts: readonly unknown[]): Plan;
}

/** Runs the handlers notified so far, now rather than at the end of the role. */
export interface FlushHandlers {
  readonly kind: 'flush';
}
export const flushHandlers = (): FlushHandlers => ({ kind: 'flush' });

type FactRecord<F> = { readonly [K in keyof F]: Fact<F[K]> };

/** Builds a task from named facts, keeping `plan` typed by those names. */
export function makeTask<F extends Record<string, unknown>, H extends string = never>(spec: {
  readonly module: string;
  readonly name: string;
  readonly options?: TaskOptions<H> | undefined;
  /** See `Task.daemon`. */
  readonly daemon?: string;
  readonly facts: FactRecord<F>;
  readonly plan: (facts: F) => Plan;
}): Task<H> {
  const names = Object.keys(spec.facts) as (keyof F & string)[];
  return {
    kind: 'task',
    module: spec.module,
    name: spec.options?.name ?? spec.name,
    tags: spec.options?.tags ?? [],
    notify: spec.options?.notify ?? [],
    ...(spec.options?.ignoreErrors ? { ignoreErrors: true } : {}),
    ...(spec.options?.register !== undefined ? { register: spec.options.register } : {}),
    ...(spec.daemon !== undefined ? { daemon: spec.daemon } : {}),
    facts: names.map((n) => spec.facts[n] as Fact<unknown>),
    plan(values) {
      const record = Object.fromEntries(names.map((n, i) => [n, values[i]])) as F;
      return spec.plan(record);
    },
  };
}
