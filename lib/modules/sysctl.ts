import { pathFact } from './facts.js';
import { joinCmds, sh } from '../core/shell.js';
import { makeTask, noChange, type Plan, type ShellFact, type Step, type Task, type TaskOptions } from '../core/task.js';
import { planContent } from './file.js';
import { editLines } from './line.js';

/** Kernel parameters: persisted in a sysctl file and applied to the running kernel, each only when it differs. */
export interface SysctlArgs {
  readonly settings: Readonly<Record<string, string | number>>;
  /** default /etc/sysctl.conf, as in the install guides. */
  readonly file?: string;
}

const NAME = /^[a-z0-9_.-]+(\/[a-z0-9_.-]+)*$/i;

function currentValues(names: readonly string[]): ShellFact<ReadonlyMap<string, string>> {
  return {
    kind: 'shell',
    script: joinCmds(
      names.map((n) => sh`printf '%s\\t%s\\n' ${n} "$(sysctl -n ${n} 2>/dev/null)"`),
      '\n',
    ),
    parse: ({ stdout }) =>
      new Map(
        stdout
          .split('\n')
          .filter(Boolean)
          .map((l) => {
            const [k = '', v = ''] = l.split('\t');
            return [k, v.replace(/\s+/g, ' ').trim()];
          }),
      ),
    simulate: (h) => new Map(names.map((n) => [n, h.value(`sysctl:${n}`) ?? ''])),
    absorb: (h, values) => values.forEach((v, n) => h.setValue(`sysctl:${n}`, v)),
  };
}

export function sysctl<H extends string = never>(args: SysctlArgs, options?: TaskOptions<H>): Task<H> {
  const path = args.file ?? '/etc/sysctl.conf';
  const entries = Object.entries(args.settings).map(([k, v]) => [k, String(v)] as const);
  const bad = entries.find(([k, v]) => !NAME.test(k) || /[\n]/.test(v));
  if (bad) throw new Error(`sysctl: invalid setting ${bad[0]}`);
  return makeTask({
    module: 'sysctl',
    name: `sysctl ${entries.map(([k, v]) => `${k}=${v}`).join(' ')}`,
    options,
    facts: { current: pathFact(path), live: currentValues(entries.map(([k]) => k)) },
    plan: ({ current, live }): Plan => {
      let content = current?.type === 'file' ? current.content : '';
      for (const [k, v] of entries) {
        const key = new RegExp(`^\\s*${k.replace(/[.]/g, '\\.')}\\s*=`);
        // The last assignment wins in sysctl files; leave it alone when it already says v.
        const last = content
          .split('\n')
          .filter((l) => key.test(l))
          .pop();
        if (last !== undefined && last.slice(last.indexOf('=') + 1).trim() === v.trim()) continue;
        content = editLines(content, { path, line: `${k} = ${v}`, regexp: key });
      }
      const filePlan = planContent(path, current, content, {});
      const steps: Step[] = filePlan.action === 'none' ? [] : [...filePlan.steps];
      const stale = entries.filter(([k, v]) => live.get(k) !== v.replace(/\s+/g, ' ').trim());
      for (const [k, v] of stale) steps.push({ kind: 'exec', cmd: sh`sysctl -q -w ${`${k}=${v}`}`, simulate: (h) => h.setValue(`sysctl:${k}`, v) });
      if (steps.length === 0) return noChange('persisted and live values match');
      return {
        action: 'change',
        summary: [filePlan.action === 'none' ? '' : `persist in ${path}`, stale.length ? `apply ${stale.map(([k]) => k).join(' ')}` : '']
          .filter(Boolean)
          .join('; '),
        steps,
        ...(filePlan.action === 'change' && filePlan.diffs ? { diffs: filePlan.diffs } : {}),
      };
    },
  });
}
