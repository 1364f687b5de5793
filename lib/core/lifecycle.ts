import { selectHosts } from '../inventory/inventory.js';
import { service, serviceStatus } from '../modules/service.js';
import { defineRole, type HostContext, type Play, type RoleFn } from './playbook.js';
import type { Task } from './task.js';

/**
 * Day-2 stop, start and status of what a playbook deploys, built from that
 * playbook's own roles: every task that keeps a service running
 * (`Task.daemon`) names a service of its host. So the order is the
 * deployment's (databases and queues before the APIs before the agents),
 * and the service names per release and OS stay where the roles keep them.
 */
export type LifecycleAction = 'start' | 'stop' | 'status';

/** The services the roles of `play` keep running on the host of `ctx`, in task order, each once. */
function daemonsOf(play: Play, ctx: HostContext): string[] {
  const names: string[] = [];
  for (const roleFn of play.roles)
    for (const task of roleFn(ctx).tasks) if (task.kind === 'task' && task.daemon !== undefined && !names.includes(task.daemon)) names.push(task.daemon);
  return names;
}

/** Whether the host of `ctx` is among the hosts of `play` (a play for a group this inventory lacks has none). */
function inPlay(play: Play, ctx: HostContext): boolean {
  try {
    return selectHosts(ctx.inventory, play.hosts).includes(ctx.host);
  } catch {
    return false;
  }
}

/**
 * The plays that start, stop or report the services `plays` deploy. A
 * service two plays keep running on a host (memcached for keystone and
 * horizon) belongs to the first: it starts there and, since stopping runs
 * the plays backwards, stops last.
 */
export function lifecyclePlays(plays: readonly Play[], action: LifecycleAction): Play[] {
  const out = plays.map((play, index): Play => {
    const role: RoleFn = (ctx) => {
      const earlier = new Set(plays.slice(0, index).flatMap((p) => (inPlay(p, ctx) ? daemonsOf(p, ctx) : [])));
      const own = daemonsOf(play, ctx).filter((name) => !earlier.has(name));
      const tasks: Task[] =
        action === 'start'
          ? own.map((name) => service({ name, state: 'started' }))
          : action === 'stop'
            ? own.reverse().map((name) => service({ name, state: 'stopped' }))
            : own.map((name) => serviceStatus(name));
      return defineRole(action).tasks(tasks);
    };
    return { name: `${action}: ${play.name}`, hosts: play.hosts, roles: [role] };
  });
  return action === 'stop' ? out.reverse() : out;
}

/** Every service `plays` keep running on the host of `ctx`, in deployment order, each once: what a restart of the whole host restarts. */
export function hostDaemons(plays: readonly Play[], ctx: HostContext): string[] {
  const names: string[] = [];
  for (const play of plays) if (inPlay(play, ctx)) for (const name of daemonsOf(play, ctx)) if (!names.includes(name)) names.push(name);
  return names;
}
