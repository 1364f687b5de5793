import { SimHost, SimNetwork } from '../sim/sim.js';
import type { Simulation } from '../sim/hosts.js';
import { StateTracker } from '../sim/tracked-state.js';
import { ForwardError, type HttpRequest, type HttpResponse } from '../transport/transport.js';
import type { ApiFact, Fact, Http, ShellFact, Step, Task } from './task.js';

/**
 * Check mode that follows its own predictions. A real run changes the host
 * task by task, and each task reads the host as the earlier ones left it;
 * check mode changes nothing, so left alone every task would read the
 * untouched host (a service "not installed" whose package an earlier task
 * would install). Here each host gets an overlay: a simulated host on
 * which every predicted step has its simulated effect (the same `simulate`
 * `--plan` uses). A fact is answered by the real host unless what it reads
 * was predicted; then the real answer is absorbed into the overlay around
 * the predicted parts, and the overlay answers.
 *
 * Software the run would install cannot answer yet (no `mysql` to ask for
 * databases, no keystone listening): once a host has a predicted package
 * install, a fact the real host cannot answer is answered by the overlay,
 * and an API the host cannot reach by the playbook's simulated services,
 * which the predicted steps have set up (keystone bootstrapped, …).
 */

const key = (request: HttpRequest): string => `${request.host}:${request.port}`;

/** The run's predictions: an overlay per host, one simulated network for the services the run would bring up. */
export class Prediction {
  readonly network = new SimNetwork();
  readonly #hosts = new Map<string, HostPrediction>();
  /** host:port of services that did not answer for real: the simulation answers from then on. */
  readonly simulated = new Set<string>();

  constructor(simulation: Simulation = {}) {
    simulation.services?.(this.network);
  }

  forHost(host: string): HostPrediction {
    let p = this.#hosts.get(host);
    if (!p) this.#hosts.set(host, (p = new HostPrediction(host, this)));
    return p;
  }

  /** Whether some host would install software: then what cannot answer yet is answered by the simulation. */
  get installing(): boolean {
    return [...this.#hosts.values()].some((h) => h.installing);
  }

  /** The simulated service, as a host would reach it. */
  readonly simulatedHttp: Http = async (request) => this.network.request(request);
}

export class HostPrediction {
  readonly tracker = new StateTracker();
  readonly overlay: SimHost;
  readonly #world: Prediction;
  readonly #tasks = new WeakMap<Task<string>, Task<string>>();
  readonly #routed = new WeakMap<Http, Http>();
  /** What the overlay answered that the real host could not, since last taken: said with the task's result. */
  #notes: string[] = [];
  /** Why real answers read since last taken may not hold once the predicted installs ran. */
  #uncertain: string[] = [];

  constructor(host: string, world: Prediction) {
    this.#world = world;
    this.overlay = new SimHost(host, world.network, {}, this.tracker);
  }

  /** Whether a step was predicted on this host. */
  get anyPredicted(): boolean {
    return this.tracker.anyPredicted;
  }

  /** Whether a package install was predicted on this host. */
  get installing(): boolean {
    return this.tracker.isPredicted('set\0packages\0*');
  }

  /** `task` with facts that follow this host's predictions (the same object each time: read-ahead matches tasks by their facts). */
  task<T extends Task<string>>(task: T): T {
    let wrapped = this.#tasks.get(task);
    if (!wrapped) {
      wrapped = { ...task, facts: task.facts.map((f) => this.#fact(f)) };
      this.#tasks.set(task, wrapped);
    }
    return wrapped as T;
  }

  /** Notes on facts the overlay answered for the task just gathered. */
  takeNotes(): readonly string[] {
    const notes = this.#notes;
    this.#notes = [];
    return notes;
  }

  /** Why the task just gathered might find the host otherwise than its facts say (packages this run installs); taken once. */
  takeUncertain(): readonly string[] {
    const uncertain = this.#uncertain;
    this.#uncertain = [];
    return uncertain;
  }

  /** Lays the steps' effects on the overlay. Predicting never fails: a step whose effect is not modelled leaves it as it is. */
  async predict(steps: readonly Step[]): Promise<void> {
    for (const step of steps) {
      try {
        if (step.kind === 'exec') step.simulate?.(this.overlay);
        else if (step.kind === 'write') this.overlay.writeFile(step.path, step.content, { mode: step.mode, owner: step.owner, group: step.group });
        // An API step never reaches a real service: it changes the simulated one, which answers when the real one cannot
        // (on a fresh deployment, what an empty or absent service lacks is what the run would create).
        else await step.run(this.#world.simulatedHttp);
      } catch {
        // Not modelled, or the simulated service lacks what the step builds on (it exists only for real): nothing to lay over.
      }
    }
  }

  #fact(fact: Fact<unknown>): Fact<unknown> {
    if (fact.kind === 'shell') return this.#shell(fact);
    if (fact.kind === 'api') return this.#api(fact);
    return fact;
  }

  #shell<T>(fact: ShellFact<T>): ShellFact<T> {
    return {
      ...fact,
      parse: (result) => this.#answer(fact, () => fact.parse(result)),
      simulate: (host) => this.#answer(fact, () => fact.simulate(host)),
    };
  }

  #answer<T>(fact: ShellFact<T>, real: () => T): T {
    const { overlay, tracker } = this;
    let value: { readonly real: T } | undefined;
    let failure: unknown;
    try {
      value = { real: real() };
    } catch (error) {
      failure = error;
    }
    // Every real answer is kept (around predictions), so later predictions build on the host as it is: a rewritten file keeps its mode.
    if (value && fact.absorb) tracker.absorbing(() => fact.absorb!(overlay, value.real));
    let simulated: { readonly answer: T } | undefined;
    let reads: ReadonlySet<string> = new Set();
    try {
      reads = tracker.readsOf(() => (simulated = { answer: fact.simulate(overlay) }));
    } catch {
      // A simulation that cannot answer reads nothing useful: the real answer stands.
    }
    if (simulated && [...reads].some((k) => tracker.isPredicted(k))) return simulated.answer;
    if (value) {
      const why = this.installing ? fact.mayChangeByInstall?.(value.real) : undefined;
      if (why !== undefined) this.#uncertain.push(why);
      return value.real;
    }
    if (!this.installing) throw failure;
    if (!simulated) throw failure;
    this.#notes.push(`predicted from what this run would install (the host cannot answer yet: ${firstLine(failure)})`);
    return simulated.answer;
  }

  #api<T>(fact: ApiFact<T>): ApiFact<T> {
    return {
      kind: 'api',
      run: async (http) => {
        try {
          return await fact.run(this.#routedHttp(http));
        } catch (error) {
          if (!this.#world.installing) throw error;
          // The service cannot answer this yet (empty, or lacking what earlier predicted API steps create): this fact
          // alone is answered by the simulation those steps changed; later ones try the real service again.
          this.#notes.push(`predicted against a simulated service (the real one cannot answer yet: ${firstLine(error)})`);
          return fact.run(this.#world.simulatedHttp);
        }
      },
    };
  }

  /** `http`, except for services the simulation answers for; one function per `http`, so API tokens stay cached. */
  #routedHttp(http: Http): Http {
    let routed = this.#routed.get(http);
    if (!routed) {
      const world = this.#world;
      routed = async (request): Promise<HttpResponse> => {
        const k = key(request);
        if (world.simulated.has(k)) return world.simulatedHttp(request);
        try {
          return await http(request);
        } catch (error) {
          // Nothing listens there, and the run would install software: the simulated service answers, at once
          // (not after the client's retries for a service that is only restarting) and from now on.
          if (!(error instanceof ForwardError && error.reason === 'refused' && world.installing && world.network.has(request.port))) throw error;
          world.simulated.add(k);
          this.#notes.push(`predicted against a simulated service (nothing listens on ${k} yet)`);
          return world.simulatedHttp(request);
        }
      };
      this.#routed.set(http, routed);
    }
    return routed;
  }
}

const firstLine = (error: unknown): string => (error instanceof Error ? error.message : String(error)).split('\n')[0]!.slice(0, 200);
