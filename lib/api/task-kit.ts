import { makeTask, noChange, type ApiFact, type ApiStep, type Http, type Plan, type Task, type TaskOptions } from '../core/task.js';

/**
 * What API-backed task modules share around their client: facts and steps
 * over the runtime's `http`, and plans that compare a record's fields with
 * the arguments: what differs becomes the patch and the summary.
 */

// ---- comparing fields ------------------------------------------------------

/** One field of a record a plan compares: what it is (null: unset), and what the task wants it to be. */
export interface Field<V> {
  readonly have: V | null;
  /** What it should be, and what the patch sets; undefined: not managed, never a difference. */
  readonly want: V | undefined;
  /** Whether `have` is as wanted; default `===`. */
  readonly same?: (have: V | null, want: V) => boolean;
  /** What the summary calls it, `<label> <have> → <want>`; default the field's key. */
  readonly label?: string;
  /** How values read in the summary; default as they are, null as `(none)`. */
  readonly show?: (value: V | null) => string;
  /** The whole text of the difference (`enable`, `dns → …`), instead of `<label> <have> → <want>`. */
  readonly say?: (have: V | null, want: V) => string;
}

/** The fields to compare, keyed as the patch is; their order is the order of the summary. */
export type Fields<P> = { readonly [K in keyof P]: Field<P[K]> };

/** What differs: the patch that fixes it, and one text per difference (`description "a" → "b"`, `enable`). */
export interface FieldDiff<P> {
  readonly patch: Partial<P>;
  readonly what: readonly string[];
}

const shown = (value: unknown): string => (value === null || value === undefined ? '(none)' : String(value));

export function compareFields<P extends object>(fields: Fields<P>): FieldDiff<P> {
  const patch: Partial<P> = {};
  const what: string[] = [];
  for (const key of Object.keys(fields) as (keyof P & string)[]) {
    const field: Field<P[typeof key]> = fields[key];
    const { have, want } = field;
    if (want === undefined || (field.same ? field.same(have, want) : have === want)) continue;
    patch[key] = want;
    const show = field.show ?? shown;
    what.push(field.say ? field.say(have, want) : `${field.label ?? key} ${show(have)} → ${show(want)}`);
  }
  return { patch, what };
}

/** A flag that must be set, the difference reading `enable` (or `say`). */
export const enableField = (enabled: boolean, say = 'enable'): Field<boolean> => ({ have: enabled, want: true, say: () => say });

/** The same items in the same order. */
export const sameList = <T>(a: readonly T[], b: readonly T[], same: (x: T, y: T) => boolean = (x, y) => x === y): boolean =>
  a.length === b.length && a.every((x, i) => same(x, b[i] as T));

// ---- plans and steps -------------------------------------------------------

/** A plan of API steps. */
export const changePlan = (summary: string, steps: readonly ApiStep[]): Plan => ({ action: 'change', summary, steps });

/** The texts of a plan that updates one record. */
export interface UpdateTexts {
  /** The record as summaries name it: `project demo` reads `project demo: description "" → "x"`. */
  readonly subject: string;
  /** The task's label, in the step's description: `update <label>: <what>`. */
  readonly label: string;
  /** The reason given when nothing differs. */
  readonly unchanged: string;
}

/** An API task: one fact, what `read` finds through the client, and the plan for it. */
export interface ApiTaskSpec<C, T> {
  readonly read: (client: C) => Promise<T>;
  readonly plan: (current: T) => Plan;
}

/** What a task module needs around its client: facts and steps that make one over the runtime's `http`. */
export interface ApiTaskKit<A, C> {
  /** A task of `module` against `target` (its service and credentials). */
  task<T, H extends string = never>(target: A, module: string, name: string, options: TaskOptions<H> | undefined, spec: ApiTaskSpec<C, T>): Task<H>;
  fact<T>(target: A, read: (client: C) => Promise<T>): ApiFact<T>;
  step(target: A, description: string, run: (client: C) => Promise<void>): ApiStep;
  /**
   * Something the plan needed did not exist when facts were read (check mode
   * before the task creating it ran): steps look it up again when they run.
   */
  need<T>(known: T | null, lookup: () => Promise<T | null>, what: string): Promise<T>;
  /** noChange when nothing differs, else a change with one step that sends the patch. */
  update<P>(target: A, diff: FieldDiff<P>, texts: UpdateTexts, run: (client: C, patch: Partial<P>) => Promise<void>): Plan;
}

/** `service` names the module in `<service>: <what> does not exist`. */
export function apiTaskKit<A, C>(service: string, client: (target: A, http: Http) => C): ApiTaskKit<A, C> {
  const step = (target: A, description: string, run: (client: C) => Promise<void>): ApiStep => ({
    kind: 'api',
    description,
    run: async (http) => {
      await run(client(target, http));
      return true;
    },
  });
  const fact = <T>(target: A, read: (client: C) => Promise<T>): ApiFact<T> => ({ kind: 'api', run: (http) => read(client(target, http)) });
  return {
    task: (target, module, name, options, { read, plan }) =>
      makeTask({ module, name, options, facts: { current: fact(target, read) }, plan: ({ current }) => plan(current) }),
    fact,
    step,
    async need(known, lookup, what) {
      const value = known ?? (await lookup());
      if (value === null) throw new Error(`${service}: ${what} does not exist`);
      return value;
    },
    update(target, { patch, what }, { subject, label, unchanged }, run) {
      if (what.length === 0) return noChange(unchanged);
      const text = what.join(', ');
      return changePlan(`${subject}: ${text}`, [step(target, `update ${label}: ${text}`, (c) => run(c, patch))]);
    },
  };
}
