import { pathFact } from './facts.js';
import { makeTask, type Task, type TaskOptions } from '../core/task.js';
import { planContent } from './file.js';

/**
 * Ansible's lineinfile: a line present (replacing the last line matching
 * `regexp`, else appended) or absent (every line matching `regexp`, or equal
 * to `line`). For key=value files that are not INI, like /etc/default/*.
 */
export interface LineArgs {
  readonly path: string;
  readonly line?: string;
  readonly regexp?: RegExp;
  readonly state?: 'present' | 'absent';
  /** Create the file when missing (default true for present). */
  readonly create?: boolean;
  readonly mode?: string;
}

export function editLines(content: string, args: LineArgs): string {
  const state = args.state ?? 'present';
  const lines = content === '' ? [] : content.replace(/\n$/, '').split('\n');
  const matches = (l: string) => (args.regexp ? args.regexp.test(l) : l === args.line);
  if (state === 'absent') {
    const kept = lines.filter((l) => !matches(l));
    return kept.length === lines.length ? content : kept.length ? `${kept.join('\n')}\n` : '';
  }
  if (args.line === undefined) throw new Error(`line: 'line' is required for state=present (${args.path})`);
  let last = -1;
  lines.forEach((l, i) => matches(l) && (last = i));
  if (last < 0 && lines.includes(args.line)) return content;
  if (last >= 0) lines[last] = args.line;
  else lines.push(args.line);
  return `${lines.join('\n')}\n`;
}

export function line<H extends string = never>(args: LineArgs, options?: TaskOptions<H>): Task<H> {
  if (args.regexp?.global || args.regexp?.sticky) throw new Error(`line: regexp for ${args.path} must not use the g or y flag`);
  return makeTask({
    module: 'line',
    name: `line ${args.path}: ${args.state === 'absent' ? 'absent' : (args.line ?? '')}`,
    options,
    facts: { current: pathFact(args.path) },
    plan: ({ current }) => {
      const before = current?.type === 'file' ? current.content : '';
      if (!current && (args.state === 'absent' || args.create === false)) return { action: 'none', reason: `${args.path} does not exist` };
      const after = editLines(before, args);
      return planContent(args.path, current, after, args, args.state === 'absent' ? 'no such line' : 'line present');
    },
  });
}
