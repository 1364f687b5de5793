import { noChange, type Plan, type Step, type Task, type TaskOptions } from '../core/task.js';

/**
 * Several tasks as one (one result, one notify): facts gathered together,
 * steps applied in order, changed when any part changes — e.g. a handler
 * that restarts every service reading one config file.
 */
export function allOf<H extends string = never>(name: string, tasks: readonly Task[], options?: TaskOptions<H>): Task<H> {
  return {
    kind: 'task',
    module: tasks[0]?.module ?? 'group',
    name: options?.name ?? name,
    tags: options?.tags ?? [],
    notify: options?.notify ?? [],
    facts: tasks.flatMap((t) => t.facts),
    plan(values): Plan {
      let at = 0;
      const plans = tasks.map((t) => {
        const p = t.plan(values.slice(at, at + t.facts.length));
        at += t.facts.length;
        return p;
      });
      const active = plans.flatMap((p) => (p.action === 'none' ? [] : [p]));
      if (active.length === 0) return noChange(plans.map((p) => (p.action === 'none' ? p.reason : '')).join('; '));
      const steps: Step[] = active.flatMap((p) => [...p.steps]);
      const summary = active.map((p) => p.summary).join('; ');
      if (active.some((p) => p.action === 'run')) return { action: 'run', summary, steps };
      const diffs = active.flatMap((p) => (p.action === 'change' && p.diffs ? [...p.diffs] : []));
      return { action: 'change', summary, steps, ...(diffs.length ? { diffs } : {}) };
    },
  };
}
