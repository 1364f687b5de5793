import { pathFact } from './facts.js';
import { makeTask, type Task, type TaskOptions } from '../core/task.js';
import { planContent } from './file.js';

/**
 * /etc/hosts entries for every inventory host, in a marked block. Names we
 * manage are removed from other lines (Ubuntu's `127.0.1.1 controller` makes
 * services resolve themselves to loopback), other names are left alone.
 */
export interface HostsEntry {
  readonly address: string;
  readonly names: readonly string[];
}

const BEGIN = '# BEGIN stackplay managed hosts';
const END = '# END stackplay managed hosts';

export function renderHosts(content: string, entries: readonly HostsEntry[]): string {
  const managed = new Set(entries.flatMap((e) => e.names));
  const lines = content === '' ? [] : content.replace(/\n$/, '').split('\n');
  const out: string[] = [];
  let inBlock = false;
  let blockAt = -1;
  for (const l of lines) {
    if (l === BEGIN) {
      inBlock = true;
      blockAt = out.length;
      continue;
    }
    if (l === END) {
      inBlock = false;
      continue;
    }
    if (inBlock) continue;
    const m = /^(\s*)(\S+)(\s+)([^#]*?)(\s*#.*)?$/.exec(l);
    if (!m || l.trimStart().startsWith('#')) {
      out.push(l);
      continue;
    }
    const names = (m[4] ?? '').split(/\s+/).filter(Boolean);
    const kept = names.filter((n) => !managed.has(n));
    if (kept.length === names.length) out.push(l);
    else if (kept.length > 0) out.push(`${m[1]}${m[2]}${m[3]}${kept.join(' ')}${m[5] ?? ''}`);
  }
  const block = [BEGIN, ...entries.map((e) => `${e.address} ${e.names.join(' ')}`), END];
  if (blockAt < 0) out.push(...block);
  else out.splice(blockAt, 0, ...block);
  return `${out.join('\n')}\n`;
}

export function hostsEntries<H extends string = never>(args: { entries: readonly HostsEntry[]; path?: string }, options?: TaskOptions<H>): Task<H> {
  const path = args.path ?? '/etc/hosts';
  return makeTask({
    module: 'hosts',
    name: `${path}: ${args.entries.length} entries`,
    options,
    facts: { current: pathFact(path) },
    plan: ({ current }) => planContent(path, current, renderHosts(current?.type === 'file' ? current.content : '', args.entries), {}, 'entries present'),
  });
}
