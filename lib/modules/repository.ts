import { pathFact } from './facts.js';
import { sh } from '../core/shell.js';
import { makeTask, type Plan, type Task, type TaskOptions } from '../core/task.js';
import { planContent } from './file.js';
import { APT_MARKER } from './package.js';

/**
 * Package repositories (the Ubuntu Cloud Archive for Juno, RDO for
 * Liberty). Seed 004 §11: a node without the archive got Icehouse packages,
 * so roles put the repository on every node before any install.
 */
export function aptRepository<H extends string = never>(args: { name: string; lines: readonly string[] }, options?: TaskOptions<H>): Task<H> {
  const path = `/etc/apt/sources.list.d/${args.name}.list`;
  const content = `# Managed by stackplay\n${args.lines.join('\n')}\n`;
  return makeTask({
    module: 'repository',
    name: `apt repository ${args.name}`,
    options,
    facts: { current: pathFact(path) },
    plan: ({ current }): Plan => {
      const plan = planContent(path, current, content, { mode: '0644' }, 'repository configured');
      if (plan.action === 'none') return plan;
      // New sources make the lists stale: the next package task refreshes them.
      return { ...plan, steps: [...plan.steps, { kind: 'exec', cmd: sh`rm -f ${APT_MARKER}`, simulate: (h) => h.setValue('apt-marker', '') }] };
    },
  });
}

export interface YumRepoArgs {
  readonly name: string;
  readonly description?: string;
  readonly baseurl: string;
  readonly gpgcheck?: boolean;
  readonly gpgkey?: string;
  readonly enabled?: boolean;
}

export function yumRepository<H extends string = never>(args: YumRepoArgs, options?: TaskOptions<H>): Task<H> {
  const path = `/etc/yum.repos.d/${args.name}.repo`;
  const content = [
    `[${args.name}]`,
    `name=${args.description ?? args.name}`,
    `baseurl=${args.baseurl}`,
    `enabled=${args.enabled === false ? 0 : 1}`,
    `gpgcheck=${args.gpgcheck ? 1 : 0}`,
    ...(args.gpgkey ? [`gpgkey=${args.gpgkey}`] : []),
    '',
  ].join('\n');
  return makeTask({
    module: 'repository',
    name: `yum repository ${args.name}`,
    options,
    facts: { current: pathFact(path) },
    plan: ({ current }) => planContent(path, current, content, { mode: '0644' }, 'repository configured'),
  });
}
