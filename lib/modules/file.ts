import { pathFact, type PathInfo } from './facts.js';
import { sh } from '../core/shell.js';
import { makeTask, noChange, type Plan, type Step, type Task, type TaskOptions } from '../core/task.js';

/**
 * Whole-file content, mode and owner (Ansible's copy/template: roles render
 * content with TypeScript template literals). Written atomically by the
 * executor; an unchanged file is never rewritten.
 */
export interface FileArgs {
  readonly path: string;
  readonly content: string;
  readonly mode?: string;
  readonly owner?: string;
  readonly group?: string;
}

/** Attribute fixes needed on an existing path: the steps, and a phrase for the summary. */
export function attributeSteps(
  path: string,
  current: PathInfo,
  want: { mode?: string | undefined; owner?: string | undefined; group?: string | undefined },
): { steps: Step[]; what: string[] } {
  if (!current || current.type === 'link') return { steps: [], what: [] };
  const steps: Step[] = [];
  const what: string[] = [];
  if ((want.owner && want.owner !== current.owner) || (want.group && want.group !== current.group)) {
    const spec = `${want.owner ?? current.owner}:${want.group ?? current.group}`;
    steps.push({
      kind: 'exec',
      cmd: sh`chown ${spec} ${path}`,
      simulate: (h) => {
        const e = h.files.get(path);
        if (e && e.type !== 'link') h.files.set(path, { ...e, owner: want.owner ?? e.owner, group: want.group ?? e.group });
      },
    });
    what.push(`owner ${current.owner}:${current.group} → ${spec}`);
  }
  if (want.mode && want.mode.padStart(4, '0') !== current.mode) {
    steps.push({
      kind: 'exec',
      cmd: sh`chmod ${want.mode} ${path}`,
      simulate: (h) => {
        const e = h.files.get(path);
        if (e && e.type !== 'link') h.files.set(path, { ...e, mode: want.mode!.padStart(4, '0') });
      },
    });
    what.push(`mode ${current.mode} → ${want.mode}`);
  }
  return { steps, what };
}

/** Plan for "this path must hold exactly `content`": shared by file, ini, line, hosts and friends. */
export function planContent(
  path: string,
  current: PathInfo,
  content: string,
  attrs: { mode?: string | undefined; owner?: string | undefined; group?: string | undefined },
  unchangedReason = 'content and attributes match',
): Plan {
  if (current && current.type !== 'file') throw new Error(`${path} is a ${current.type}, not a file`);
  if (!current) {
    return {
      action: 'change',
      summary: `create ${path}`,
      steps: [
        {
          kind: 'write',
          path,
          content,
          mode: attrs.mode ?? '0644',
          ...(attrs.owner ? { owner: attrs.owner } : {}),
          ...(attrs.group ? { group: attrs.group } : {}),
        },
      ],
      diffs: [{ path, before: null, after: content }],
    };
  }
  if (current.content !== content) {
    return {
      action: 'change',
      summary: `update ${path}`,
      steps: [
        {
          kind: 'write',
          path,
          content,
          ...(attrs.mode ? { mode: attrs.mode } : {}),
          ...(attrs.owner ? { owner: attrs.owner } : {}),
          ...(attrs.group ? { group: attrs.group } : {}),
        },
      ],
      diffs: [{ path, before: current.content, after: content }],
    };
  }
  const fix = attributeSteps(path, current, attrs);
  if (fix.steps.length === 0) return noChange(unchangedReason);
  return { action: 'change', summary: `${path}: ${fix.what.join(', ')}`, steps: fix.steps };
}

export function file<H extends string = never>(args: FileArgs, options?: TaskOptions<H>): Task<H> {
  return makeTask({
    module: 'file',
    name: `file ${args.path}`,
    options,
    facts: { current: pathFact(args.path) },
    plan: ({ current }) => planContent(args.path, current, args.content, args),
  });
}

/** A file that must not exist. */
export function absentFile<H extends string = never>(path: string, options?: TaskOptions<H>): Task<H> {
  return makeTask({
    module: 'file',
    name: `absent ${path}`,
    options,
    facts: { current: pathFact(path) },
    plan: ({ current }): Plan =>
      current === null
        ? noChange(`${path} does not exist`)
        : {
            action: 'change',
            summary: `remove ${path}`,
            steps: [{ kind: 'exec', cmd: sh`rm -f ${path}`, simulate: (h) => h.remove(path) }],
            ...(current.type === 'file' ? { diffs: [{ path, before: current.content, after: null }] } : {}),
          },
  });
}

export function directory<H extends string = never>(args: { path: string; mode?: string; owner?: string; group?: string }, options?: TaskOptions<H>): Task<H> {
  return makeTask({
    module: 'file',
    name: `directory ${args.path}`,
    options,
    facts: { current: pathFact(args.path) },
    plan: ({ current }): Plan => {
      if (current && current.type !== 'dir') throw new Error(`${args.path} exists and is a ${current.type}, not a directory`);
      if (!current) {
        const own = args.owner || args.group ? sh` && chown ${`${args.owner ?? 'root'}:${args.group ?? args.owner ?? 'root'}`} ${args.path}` : sh``;
        const mode = args.mode ? sh` && chmod ${args.mode} ${args.path}` : sh``;
        return {
          action: 'change',
          summary: `create directory ${args.path}`,
          steps: [
            {
              kind: 'exec',
              cmd: sh`mkdir -p ${args.path}${own}${mode}`,
              simulate: (h) => {
                h.mkdirp(args.path);
                const e = h.files.get(args.path);
                // Set, not changed in place: check mode sees the directory as predicted.
                if (e && e.type === 'dir')
                  h.files.set(args.path, {
                    ...e,
                    ...(args.mode ? { mode: args.mode.padStart(4, '0') } : {}),
                    ...(args.owner ? { owner: args.owner } : {}),
                    ...(args.group ? { group: args.group } : {}),
                  });
              },
            },
          ],
        };
      }
      const fix = attributeSteps(args.path, current, args);
      return fix.steps.length === 0
        ? noChange('directory exists with the wanted attributes')
        : { action: 'change', summary: `${args.path}: ${fix.what.join(', ')}`, steps: fix.steps };
    },
  });
}

/** A symbolic link `path` → `target` (e.g. /etc/neutron/plugin.ini → ml2_conf.ini on CentOS). */
export function symlink<H extends string = never>(args: { path: string; target: string }, options?: TaskOptions<H>): Task<H> {
  return makeTask({
    module: 'symlink',
    name: `symlink ${args.path} → ${args.target}`,
    options,
    facts: { current: pathFact(args.path) },
    plan: ({ current }): Plan => {
      if (current?.type === 'link' && current.target === args.target) return noChange('link points to the target');
      if (current?.type === 'dir') throw new Error(`${args.path} is a directory; refusing to replace it with a link`);
      return {
        action: 'change',
        summary: current ? `relink ${args.path} → ${args.target}` : `link ${args.path} → ${args.target}`,
        steps: [{ kind: 'exec', cmd: sh`ln -sfn ${args.target} ${args.path}`, simulate: (h) => h.link(args.path, args.target) }],
      };
    },
  });
}
