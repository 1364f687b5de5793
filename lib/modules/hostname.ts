import { pathFact } from './facts.js';
import { sh } from '../core/shell.js';
import { makeTask, noChange, type Plan, type ShellFact, type Step, type Task, type TaskOptions } from '../core/task.js';
import { planContent } from './file.js';

/**
 * The host's name, persisted and live. Seed 004 §11: services registered as
 * `localhost` because the name was set after they were installed, so roles
 * run this first.
 */
export function hostname<H extends string = never>(args: { name: string }, options?: TaskOptions<H>): Task<H> {
  if (!/^[A-Za-z0-9][A-Za-z0-9.-]{0,62}$/.test(args.name)) throw new Error(`invalid host name ${JSON.stringify(args.name)}`);
  const live: ShellFact<string> = {
    kind: 'shell',
    script: sh`hostname`,
    parse: ({ stdout }) => stdout.trim(),
    simulate: (h) => h.value('hostname') ?? 'localhost',
    absorb: (h, name) => h.setValue('hostname', name),
  };
  return makeTask({
    module: 'hostname',
    name: `hostname ${args.name}`,
    options,
    facts: { live, file: pathFact('/etc/hostname') },
    plan: ({ live: current, file }): Plan => {
      const persisted = planContent('/etc/hostname', file, `${args.name}\n`, {});
      const steps: Step[] = persisted.action === 'none' ? [] : [...persisted.steps];
      if (current !== args.name) steps.push({ kind: 'exec', cmd: sh`hostname ${args.name}`, simulate: (h) => h.setValue('hostname', args.name) });
      if (steps.length === 0) return noChange(`host name is ${args.name}`);
      return {
        action: 'change',
        summary: `set host name ${current} → ${args.name}`,
        steps,
        ...(persisted.action === 'change' && persisted.diffs ? { diffs: persisted.diffs } : {}),
      };
    },
  });
}
