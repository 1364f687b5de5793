import type { ResolvedPlay } from '../core/executor.js';
import { taskSelected } from '../core/executor.js';
import type { Task } from '../core/task.js';

/**
 * What `--list-hosts`, `--list-tasks` and `--list-tags` print, as
 * ansible-playbook's do: per play, from the plays resolved against the
 * inventory (with --limit, --tags and --skip-tags applied), before anything
 * connects. Roles make their tasks per host, so a task not every host of the
 * play runs names the hosts that do.
 */
export interface ListOptions {
  readonly hosts: boolean;
  readonly tasks: boolean;
  readonly tags: boolean;
}

const tagList = (tags: Iterable<string>): string => `[${[...tags].join(', ')}]`;

export function listing(
  playbook: string,
  plays: readonly ResolvedPlay[],
  what: ListOptions,
  filter: { readonly tags: readonly string[]; readonly skipTags: readonly string[] },
): string {
  const out = [`playbook: ${playbook}`, ''];
  const allTags = new Set<string>();
  plays.forEach((play, i) => {
    const hosts = [...play.hosts.keys()];
    out.push(`  play #${i + 1} (${play.name}): ${hosts.length} host${hosts.length === 1 ? '' : 's'}`);
    if (what.hosts) out.push(`    hosts (${hosts.length}):`, ...hosts.map((h) => `      ${h}`));
    // role | task → the tags and the hosts that run it, in the order the first host meets them.
    const tasks = new Map<string, { tags: readonly string[]; hosts: string[] }>();
    for (const [host, roles] of play.hosts)
      for (const role of roles)
        for (const task of role.tasks) {
          if (task.kind !== 'task' || !taskSelected(task as Task<string>, filter)) continue;
          const key = `${role.name} | ${task.name}`;
          const seen = tasks.get(key);
          if (seen) seen.hosts.push(host);
          else tasks.set(key, { tags: task.tags, hosts: [host] });
        }
    const playTags = new Set([...tasks.values()].flatMap((t) => t.tags));
    playTags.forEach((t) => allTags.add(t));
    if (what.tasks) {
      out.push('    tasks:');
      for (const [key, t] of tasks)
        out.push(`      ${key}    TAGS: ${tagList(t.tags)}${t.hosts.length < hosts.length ? `    HOSTS: ${tagList(t.hosts)}` : ''}`);
    }
    if (what.tags) out.push(`    TASK TAGS: ${tagList([...playTags].sort())}`);
    out.push('');
  });
  if (what.tags) out.push(`  ALL TAGS: ${tagList([...allTags].sort())}`, '');
  return out.join('\n');
}
