import { StepFailed, type HostRuntime } from './runtime.js';
import type { Fact, Http, ShellFact, Step, Task } from './task.js';
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
 * API facts are never read ahead (an API's state may follow from earlier
 * API calls the executor cannot see); they are read when their task runs.
 */

/** What a runtime needs to be prefetched: raw probe results, one round trip for many facts. */
export interface ProbingRuntime extends HostRuntime {
  readonly http: Http;
  probe(facts: readonly ShellFact<unknown>[]): Promise<(ExecResult | StepFailed)[]>;
}

const READ_AHEAD_BYTES = 256 * 1024;

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
    for (const [i, f] of facts.entries()) if (f.kind === 'api') values[i] = await f.run(this.#rt.http);
    return values;
  }

  /** Reads ahead from the first task, unless a task already read. */
  async start(): Promise<void> {
    if (this.#next === 0 && this.#ahead.size === 0) await this.#readAhead(0);
  }

  async apply(step: Step): Promise<boolean> {
    // Whatever the step does, facts read before it may be stale.
    this.#ahead.clear();
    this.#changedSinceStart = true;
    return this.#rt.apply(step);
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
