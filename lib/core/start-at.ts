import { InputError } from './errors.js';
import type { ResolvedPlay } from './executor.js';
import type { Role } from './playbook.js';
import { closest } from './typos.js';

/**
 * `--start-at-task NAME`, as ansible-playbook's: the run begins at the first
 * play with a task named NAME (or `role | NAME`; `*` matches anything). Plays
 * before it are left out; in it, each host starts at its first such task
 * (a host without one runs nothing there); later plays run whole. Handlers
 * stay as they are: a task that runs may still notify them. Pure: it works
 * on the resolved plays, before anything connects.
 */
export function startAtTask(plays: readonly ResolvedPlay[], name: string): ResolvedPlay[] {
  const pattern = new RegExp(`^${name.split('*').map(escape).join('.*')}$`);
  const matches = (role: string, task: string) => pattern.test(task) || pattern.test(`${role} | ${task}`);
  const first = plays.findIndex((play) => [...play.hosts.values()].some((roles) => roles.some((r) => firstMatch(r, matches) !== undefined)));
  if (first < 0) {
    const names = new Set(
      plays.flatMap((p) => [...p.hosts.values()].flatMap((roles) => roles.flatMap((r) => r.tasks.flatMap((t) => (t.kind === 'task' ? [t.name] : []))))),
    );
    const near = closest(name, names, Math.max(2, Math.floor(name.length / 4)));
    throw new InputError(
      '--start-at-task',
      0,
      `no task of this run is named ${JSON.stringify(name)}${near !== undefined ? ` (did you mean ${JSON.stringify(near)}?)` : ''}`,
    );
  }
  const start = plays[first]!;
  const trimmed = new Map(
    [...start.hosts].map(([host, roles]): [string, Role[]] => {
      const at = roles.findIndex((r) => firstMatch(r, matches) !== undefined);
      if (at < 0) return [host, []];
      const role = roles[at]!;
      return [host, [{ ...role, tasks: role.tasks.slice(firstMatch(role, matches)) }, ...roles.slice(at + 1)]];
    }),
  );
  return [{ ...start, hosts: trimmed }, ...plays.slice(first + 1)];
}

function firstMatch(role: Role, matches: (role: string, task: string) => boolean): number | undefined {
  const i = role.tasks.findIndex((t) => t.kind === 'task' && matches(role.name, t.name));
  return i < 0 ? undefined : i;
}

const escape = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
