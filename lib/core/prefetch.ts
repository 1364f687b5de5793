import PQueue from 'p-queue';
import { StepFailed, type HostRuntime } from './runtime.js';
import type { ApiFact, Fact, Http, ShellFact, Step, Task } from './task.js';
import type { ExecResult } from '../transport/transport.js';

/**
 * Fact prefetching for one role on one host: the shell facts of the role's
 * upcoming tasks are read in one round trip instead of one per task.
 *
 * Why it is sound: a fact read ahead can only go stale if something changed
 * the host in between, and within a run only applied steps do that. So the
 * first task of a role reads the facts of every task after it; each task
 * then uses its own (parsing them only then, so a bad probe fails the task
 * it belongs to); any applied step — the task's own, or a handler's — drops
 * everything read ahead, and the next task reads again for itself and the
 * tasks after it. An idempotent role thus costs one round trip; a changing
 * task costs what it did before (its own read, its steps).
 *
 * After a change, the read-ahead stops once the facts it would re-read
 * reached READ_AHEAD_BYTES when last read, so a role that changes task after
 * task (a first deployment) does not re-read big config files over and over.
 *
 * API facts follow the same rule, read side by side instead of in one round
 * trip: when a task with API facts comes and nothing has changed in the role
 * yet, the API facts of that task and of every task after it are started at
 * once (API_READ_AHEAD at a time); each task awaits its own. A converged role
 * thus waits for its slowest API read, not for the sum of them (keystone
 * answered a GET in 20 to 85 ms on the lab, a password check in ~300 ms). The first applied
 * step drops them, and from then on the role reads its API facts task by
 * task: on a first deployment the services are only starting, and the later
 * tasks' state follows from the earlier tasks' calls. A read-ahead that
 * failed is read again by its task, so an error is always the task's own
 * and a transient one (a service still starting) is not charged to it.
 */

/** What a runtime needs to be prefetched: raw probe results, one round trip for many facts. */
export interface ProbingRuntime extends HostRuntime {
  readonly http: Http;
  probe(facts: readonly ShellFact<unknown>[]): Promise<(ExecResult | StepFailed)[]>;
}

const READ_AHEAD_BYTES = 256 * 1024;

/** API reads in flight at once per role and host: a little over the API workers of a small controller (min(nproc, 5)). */
const API_READ_AHEAD = 4;

type Settled = { readonly ok: true; readonly value: unknown } | { readonly ok: false };

const READ_AHEAD = Symbol('readAhead');

/**
 * Reads the facts of a prefetching runtime's first tasks now, before the
 * first task asks (so what rides along with that read — the run lock on a
 * host's first role — is known first). Other runtimes: nothing.
 */
export async function readAhead(rt: HostRuntime): Promise<void> {
  const start = (rt as unknown as Record<symbol, unknown>)[READ_AHEAD];
  if (typeof start === 'function') await (start as () => Promise<void>)();
}

function canProbe(rt: HostRuntime): rt is ProbingRuntime {
  const r = rt as Partial<ProbingRuntime>;
  return typeof r.probe === 'function' && typeof r.http === 'function';
}

/**
 * `rt` as it should be used for the tasks of one role, in order: `gather`
 * serves their shell facts from a read-ahead, `apply` invalidates it, every
 * other member is `rt`'s own. Runtimes that cannot probe (the simulated
 * hosts of `--plan`) come back unchanged.
 */
export function prefetching<R extends HostRuntime>(rt: R, tasks: readonly Task<string>[]): R {
  if (!canProbe(rt) || tasks.length === 0) return rt;
  const prefetch = new Prefetch(rt, tasks);
  return new Proxy(rt, {
    get(target, prop) {
      if (prop === READ_AHEAD) return () => prefetch.start();
      if (prop === 'gather') return (facts: readonly Fact<unknown>[]) => prefetch.gather(facts);
      if (prop === 'apply') return (step: Step) => prefetch.apply(step);
      const value: unknown = Reflect.get(target, prop, target);
      return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
    },
  });
}

class Prefetch {
  readonly #rt: ProbingRuntime;
  readonly #tasks: readonly Task<string>[];
  /** Index of the task `gather` expects next. */
  #next = 0;
  /** Probe results read ahead, by fact. */
  readonly #ahead = new Map<ShellFact<unknown>, ExecResult | StepFailed>();
  /** Output size of each fact when last read. */
  readonly #sizes = new Map<ShellFact<unknown>, number>();
  #changedSinceStart = false;
  /** API facts read ahead, by fact: settled, never rejected (a failure is read again by its task). */
  readonly #apiAhead = new Map<ApiFact<unknown>, Promise<Settled>>();
  #apiQueue: PQueue | undefined;

  constructor(rt: ProbingRuntime, tasks: readonly Task<string>[]) {
    this.#rt = rt;
    this.#tasks = tasks;
  }

  async gather(facts: readonly Fact<unknown>[]): Promise<unknown[]> {
    let index = -1;
    for (let i = this.#next; i < this.#tasks.length; i++) {
      if (this.#tasks[i]!.facts === facts) {
        index = i;
        break;
      }
    }
    // Not one of the role's upcoming tasks (a handler): read as usual.
    if (index < 0) return this.#rt.gather(facts);
    this.#next = index + 1;
    const shell = facts.filter((f): f is ShellFact<unknown> => f.kind === 'shell');
    if (shell.some((f) => !this.#ahead.has(f))) await this.#readAhead(index);
    const values = new Array<unknown>(facts.length);
    for (const [i, f] of facts.entries()) {
      if (f.kind !== 'shell') continue;
      const result = this.#ahead.get(f)!;
      this.#ahead.delete(f);
      if (result instanceof StepFailed) throw result;
      values[i] = f.parse(result);
    }
    const api = facts.filter((f): f is ApiFact<unknown> => f.kind === 'api');
    if (!this.#changedSinceStart && api.some((f) => !this.#apiAhead.has(f))) this.#readApiAhead(index);
    for (const [i, f] of facts.entries()) {
      if (f.kind !== 'api') continue;
      const ahead = this.#apiAhead.get(f);
      this.#apiAhead.delete(f);
      const settled = ahead ? await ahead : undefined;
      values[i] = settled?.ok ? settled.value : await f.run(this.#rt.http);
    }
    return values;
  }

  /** Reads ahead from the first task, unless a task already read. */
  async start(): Promise<void> {
    if (this.#next === 0 && this.#ahead.size === 0) await this.#readAhead(0);
  }

  async apply(step: Step): Promise<boolean> {
    // Whatever the step does, facts read before it may be stale.
    this.#ahead.clear();
    this.#apiAhead.clear();
    this.#apiQueue?.clear();
    this.#changedSinceStart = true;
    return this.#rt.apply(step);
  }

  /** Starts reading the API facts of task `from` and of the tasks after it, in order, API_READ_AHEAD at a time. */
  #readApiAhead(from: number): void {
    const queue = (this.#apiQueue ??= new PQueue({ concurrency: API_READ_AHEAD }));
    for (let i = from; i < this.#tasks.length; i++) {
      for (const f of this.#tasks[i]!.facts) {
        if (f.kind !== 'api' || this.#apiAhead.has(f)) continue;
        const read = queue
          .add(() => f.run(this.#rt.http))
          .then(
            (value): Settled => ({ ok: true, value }),
            (): Settled => ({ ok: false }),
          );
        this.#apiAhead.set(f, read);
      }
    }
  }

  /** Reads the shell facts of task `from` and of the tasks after it, in one round trip. */
  async #readAhead(from: number): Promise<void> {
    const batch: ShellFact<unknown>[] = [];
    let bytes = 0;
    for (let i = from; i < this.#tasks.length; i++) {
      const shell = this.#tasks[i]!.facts.filter((f): f is ShellFact<unknown> => f.kind === 'shell' && !this.#ahead.has(f));
      const size = shell.reduce((sum, f) => sum + (this.#sizes.get(f) ?? 0), 0);
      if (i > from && this.#changedSinceStart && bytes + size > READ_AHEAD_BYTES) break;
      bytes += size;
      for (const f of shell) if (!batch.includes(f)) batch.push(f);
    }
    if (batch.length === 0) return;
    const results = await this.#rt.probe(batch);
    batch.forEach((f, j) => {
      const r = results[j]!;
      this.#ahead.set(f, r);
      if (!(r instanceof StepFailed)) this.#sizes.set(f, r.stdout.length);
    });
  }
}
