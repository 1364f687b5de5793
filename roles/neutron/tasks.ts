import { pathFact } from '../../lib/modules/facts.js';
import { editIni } from '../../lib/modules/ini-edit.js';
import { makeTask, noChange, type ApiFact, type Plan, type Step, type Task, type TaskOptions } from '../../lib/core/task.js';
import { planContent } from '../../lib/modules/file.js';
import { toIniSettings, type IniSections } from '../../lib/modules/ini.js';

/**
 * Two small task builders the neutron role needs and lib/tasks does not
 * have: an `ini` whose values depend on an API fact (Juno's
 * `nova_admin_tenant_id` is the service tenant's id), and one task made of
 * several (restarting neutron-api and neutron-rpc-server as one handler).
 */

/** Like `ini`, with settings computed from a fact read in the same round (e.g. an id from keystone). */
export function iniFromFact<T, H extends string = never>(
  args: { readonly path: string; readonly fact: ApiFact<T>; readonly settings: (value: T) => IniSections; readonly sections: readonly string[] },
  options?: TaskOptions<H>,
): Task<H> {
  return makeTask({
    module: 'ini',
    name: `ini ${args.path} [${args.sections.join('] [')}]`,
    options,
    facts: { current: pathFact(args.path), value: args.fact },
    plan: ({ current, value }) => {
      const settings = toIniSettings(args.settings(value as T));
      const before = current?.type === 'file' ? current.content : '';
      const { text } = editIni(before, settings);
      return planContent(args.path, current, text, {}, `${settings.length} option(s) already set`);
    },
  });
}

/** Several tasks as one: facts gathered together, steps applied in order, changed when any part changes. */
export function allOf<H extends string = never>(name: string, tasks: readonly Task[], options?: TaskOptions<H>): Task<H> {
  const counts = tasks.map((t) => t.facts.length);
  return {
    kind: 'task',
    module: tasks[0]?.module ?? 'group',
    name,
    tags: options?.tags ?? [],
    notify: options?.notify ?? [],
    facts: tasks.flatMap((t) => t.facts),
    plan(values): Plan {
      let at = 0;
      const plans = tasks.map((t, i) => {
        const n = counts[i] ?? 0;
        const p = t.plan(values.slice(at, at + n));
        at += n;
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
