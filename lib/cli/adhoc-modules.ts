import { readFileSync } from 'node:fs';
import { InputError } from '../core/errors.js';
import { raw, sh, joinCmds, quote, type Cmd } from '../core/shell.js';
import { skip, type Task } from '../core/task.js';
import { closest } from '../core/typos.js';
import { command } from '../modules/command.js';
import { absentFile, directory, file, symlink } from '../modules/file.js';
import { ABSENT, ini } from '../modules/ini.js';
import { line } from '../modules/line.js';
import { packages, type PackageManager } from '../modules/package.js';
import { service } from '../modules/service.js';

/**
 * The modules an ad-hoc run (`playbooks/exec.ts --module NAME key=value …`)
 * can name, as `ansible -m NAME -a 'key=value …'` does, mapped onto the
 * generic modules of lib/modules: they read the host first and change only
 * what differs, so a second `--module service name=x state=started` reports
 * ok. Arguments are checked before any host is contacted: an unknown module
 * or argument, a missing or bad value is an InputError naming `--module`.
 */

/** How an argument's value is checked: `text` is not empty, `any` may be (a file's content, an option's value). */
type ArgKind = 'text' | 'any' | 'path' | 'bool' | 'mode' | 'list' | readonly string[];

interface ModuleSpec {
  readonly args: Readonly<Record<string, { readonly kind: ArgKind; readonly required?: boolean }>>;
  /** What the words after `--` are: a command's argv (each word quoted), shell text (joined as typed), or not taken. */
  readonly freeForm?: 'argv' | 'shell';
  /** One line for --help. */
  readonly about: string;
  /** The task; `check`: the run is --check. Called once per host (and once to check the arguments). */
  build(args: Args, command: Cmd | undefined, check: boolean): Task;
}

/** An ad-hoc module with its arguments checked: builds the task each host runs. */
export interface AdhocTask {
  readonly module: string;
  /** What runs, for the play's header: the command, or `name key=value …`. */
  readonly describe: string;
  build(check: boolean): Task;
}

/** Checked arguments with typed getters. */
class Args {
  constructor(
    readonly module: string,
    readonly values: ReadonlyMap<string, string>,
  ) {}
  opt(name: string): string | undefined {
    return this.values.get(name);
  }
  str(name: string): string {
    const v = this.values.get(name);
    if (v === undefined) throw bad(this.module, `argument ${name} is required`);
    return v;
  }
  bool(name: string): boolean | undefined {
    const v = this.values.get(name);
    return v === undefined ? undefined : TRUE.includes(v.toLowerCase());
  }
  list(name: string): string[] {
    return this.str(name)
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean);
  }
}

// Ansible's booleans.
const TRUE = ['yes', 'true', 'on', '1'];
const FALSE = ['no', 'false', 'off', '0'];

const bad = (module: string, problem: string, text?: string): InputError => new InputError(`--module ${module}`, 0, problem, text);

/** `cd DIR && command` when `chdir` is given. */
const inDir = (args: Args, cmd: Cmd): Cmd => {
  const dir = args.opt('chdir');
  return dir === undefined ? cmd : sh`cd ${dir} && ${cmd}`;
};

/** A command task; in check mode it is skipped, as Ansible's command module is, unless creates/removes already settle it. */
function adhocCommand(args: Args, cmd: Cmd | undefined, check: boolean): Task {
  if (cmd === undefined) throw bad(args.module, 'nothing to run: give the command after --', undefined);
  const task = command({
    cmd: inDir(args, cmd),
    reportOutput: true,
    ...(args.opt('creates') !== undefined ? { creates: args.str('creates') } : {}),
    ...(args.opt('removes') !== undefined ? { removes: args.str('removes') } : {}),
  });
  if (!check) return task;
  return {
    ...task,
    plan: (facts) => {
      const plan = task.plan(facts);
      return plan.action === 'none' ? plan : skip('not run in check mode: only running it tells what it does');
    },
  };
}

const commandArgs = { creates: { kind: 'path' }, removes: { kind: 'path' }, chdir: { kind: 'path' } } as const;

const packageModule = (manager?: PackageManager): ModuleSpec => ({
  about: `packages present or absent${manager ? ` (${manager})` : ' (manager=apt|yum, default apt)'}`,
  args: { name: { kind: 'list', required: true }, state: { kind: ['present', 'absent'] }, ...(manager ? {} : { manager: { kind: ['apt', 'yum'] } }) },
  build: (args) =>
    packages({
      names: args.list('name'),
      manager: manager ?? (args.opt('manager') as PackageManager | undefined) ?? 'apt',
      state: (args.opt('state') as 'present' | 'absent' | undefined) ?? 'present',
    }),
});

const serviceModule: ModuleSpec = {
  about: 'a service started, stopped, restarted or reloaded, enabled or not (systemd, upstart, sysv)',
  args: { name: { kind: 'text', required: true }, state: { kind: ['started', 'stopped', 'restarted', 'reloaded'] }, enabled: { kind: 'bool' } },
  build(args) {
    const state = args.opt('state') as 'started' | 'stopped' | 'restarted' | 'reloaded' | undefined;
    const enabled = args.bool('enabled');
    if (state === undefined && enabled === undefined) throw bad(args.module, 'give state=… or enabled=… (or both)');
    return service({ name: args.str('name'), ...(state ? { state } : {}), ...(enabled !== undefined ? { enabled } : {}) });
  },
};

const lineModule: ModuleSpec = {
  about: 'a line present in a file (replacing the last match of regexp) or absent',
  args: {
    path: { kind: 'path', required: true },
    line: { kind: 'any' },
    regexp: { kind: 'text' },
    state: { kind: ['present', 'absent'] },
    create: { kind: 'bool' },
    mode: { kind: 'mode' },
  },
  build(args) {
    const source = args.opt('regexp');
    let regexp: RegExp | undefined;
    try {
      regexp = source === undefined ? undefined : new RegExp(source);
    } catch (error) {
      throw bad(args.module, `regexp is no regular expression (${error instanceof Error ? error.message : String(error)})`, source);
    }
    const state = (args.opt('state') as 'present' | 'absent' | undefined) ?? 'present';
    if (state === 'present' && args.opt('line') === undefined) throw bad(args.module, 'state=present needs line=…');
    if (state === 'absent' && args.opt('line') === undefined && regexp === undefined) throw bad(args.module, 'state=absent needs line=… or regexp=…');
    const create = args.bool('create');
    const mode = args.opt('mode');
    return line({
      path: args.str('path'),
      state,
      ...(args.opt('line') !== undefined ? { line: args.str('line') } : {}),
      ...(regexp ? { regexp } : {}),
      ...(create !== undefined ? { create } : {}),
      ...(mode ? { mode } : {}),
    });
  },
};

const iniModule: ModuleSpec = {
  about: 'one option of an INI file set (value=…) or absent; everything else in the file stays byte for byte',
  args: {
    path: { kind: 'path', required: true },
    section: { kind: 'text', required: true },
    option: { kind: 'text', required: true },
    value: { kind: 'any' },
    state: { kind: ['present', 'absent'] },
    mode: { kind: 'mode' },
  },
  build(args) {
    const absent = args.opt('state') === 'absent';
    if (!absent && args.opt('value') === undefined) throw bad(args.module, 'state=present needs value=…');
    const mode = args.opt('mode');
    return ini({
      path: args.str('path'),
      settings: { [args.str('section')]: { [args.str('option')]: absent ? ABSENT : args.str('value') } },
      ...(mode ? { mode } : {}),
    });
  },
};

const attributes = { mode: { kind: 'mode' }, owner: { kind: 'text' }, group: { kind: 'text' } } as const;
const ownership = (args: Args) => ({
  ...(args.opt('mode') !== undefined ? { mode: args.str('mode') } : {}),
  ...(args.opt('owner') !== undefined ? { owner: args.str('owner') } : {}),
  ...(args.opt('group') !== undefined ? { group: args.str('group') } : {}),
});

const MODULES: Readonly<Record<string, ModuleSpec>> = {
  command: { about: 'the command after -- (each word passed as is; no shell syntax)', args: commandArgs, freeForm: 'argv', build: adhocCommand },
  shell: { about: 'the shell text after -- (pipes, redirections, variables)', args: commandArgs, freeForm: 'shell', build: adhocCommand },
  service: serviceModule,
  systemd: serviceModule,
  package: packageModule(),
  apt: packageModule('apt'),
  yum: packageModule('yum'),
  file: {
    about: 'a directory, a symbolic link (src=…) or nothing at path',
    args: { path: { kind: 'path', required: true }, state: { kind: ['directory', 'link', 'absent'], required: true }, src: { kind: 'text' }, ...attributes },
    build(args) {
      const path = args.str('path');
      switch (args.str('state')) {
        case 'directory':
          return directory({ path, ...ownership(args) });
        case 'link':
          return symlink({ path, target: args.str('src') });
        default:
          return absentFile(path);
      }
    },
  },
  copy: {
    about: 'a file at dest with content=… (or the content of the local file src=…)',
    args: { dest: { kind: 'path', required: true }, content: { kind: 'any' }, src: { kind: 'text' }, ...attributes },
    build(args) {
      const src = args.opt('src');
      if ((src === undefined) === (args.opt('content') === undefined)) throw bad(args.module, 'give exactly one of content=… and src=…');
      let content = args.opt('content') ?? '';
      if (src !== undefined) {
        try {
          content = readFileSync(src, 'utf8');
        } catch (error) {
          throw bad(args.module, `cannot read src (${(error as NodeJS.ErrnoException).code ?? String(error)})`, src);
        }
      }
      return file({ path: args.str('dest'), content, ...ownership(args) });
    },
  },
  ini_file: iniModule,
  ini: iniModule,
  lineinfile: lineModule,
  line: lineModule,
};

/** Module names and what each does, for --help. */
export function moduleHelp(): string {
  // Aliases (systemd for service, line for lineinfile) share one entry.
  const names = new Map<ModuleSpec, string[]>();
  for (const [name, spec] of Object.entries(MODULES)) names.set(spec, [...(names.get(spec) ?? []), name]);
  return [...names].map(([spec, aliases]) => `  ${aliases.join(', ')}: ${spec.about}\n      ${Object.keys(spec.args).join(' ')}`).join('\n');
}

/** What is wrong with `value` for an argument of this kind, or undefined. */
function valueProblem(name: string, kind: ArgKind, value: string): string | undefined {
  if (typeof kind !== 'string') return kind.includes(value) ? undefined : `${name} must be one of ${kind.join(', ')}${suggest(value, kind)}`;
  switch (kind) {
    case 'bool':
      return [...TRUE, ...FALSE].includes(value.toLowerCase()) ? undefined : `${name} must be yes or no (true/false)`;
    case 'mode':
      return /^0?[0-7]{3}$/.test(value) ? undefined : `${name} must be an octal mode such as 0644`;
    case 'path':
      return value.startsWith('/') ? undefined : `${name} must be an absolute path`;
    case 'list':
      return value.split(',').every((s) => s.trim() === '') ? `${name} is empty` : undefined;
    case 'text':
      return value === '' ? `${name} is empty` : undefined;
    case 'any':
      return undefined;
  }
}

const suggest = (name: string, candidates: Iterable<string>): string => {
  const near = closest(name, candidates);
  return near === undefined ? '' : ` (did you mean ${near}?)`;
};

/**
 * Checks `--module NAME` with its `key=value` words and the words after `--`,
 * and returns what builds the task. Throws InputError on anything wrong.
 */
export function adhocTask(module: string, words: readonly string[], command: readonly string[]): AdhocTask {
  const spec = MODULES[module];
  if (spec === undefined) {
    throw new InputError('--module', 0, `unknown module ${module}${suggest(module, Object.keys(MODULES)) || ` (modules: ${Object.keys(MODULES).join(', ')})`}`);
  }
  const values = new Map<string, string>();
  for (const word of words) {
    const eq = word.indexOf('=');
    if (eq <= 0) throw bad(module, 'expected key=value', word);
    const [name, value] = [word.slice(0, eq), word.slice(eq + 1)];
    const arg = spec.args[name];
    if (arg === undefined) {
      const known = Object.keys(spec.args);
      throw bad(module, `unknown argument ${name}${suggest(name, known) || (known.length > 0 ? ` (arguments: ${known.join(', ')})` : '')}`);
    }
    if (values.has(name)) throw bad(module, `argument ${name} is given twice`);
    const problem = valueProblem(name, arg.kind, value);
    if (problem !== undefined) throw bad(module, problem, word);
    values.set(name, value);
  }
  for (const [name, arg] of Object.entries(spec.args)) if (arg.required && !values.has(name)) throw bad(module, `argument ${name} is required`);
  if (command.length > 0 && spec.freeForm === undefined) throw bad(module, 'takes no command after --; give its key=value arguments', command.join(' '));
  const cmd =
    command.length === 0
      ? undefined
      : spec.freeForm === 'shell'
        ? sh`${raw(command.join(' '))}`
        : joinCmds(
            command.map((w) => sh`${w}`),
            ' ',
          );
  const args = new Args(module, values);
  const build = (check: boolean): Task => spec.build(args, cmd, check);
  // Build once now: what the module itself refuses (a bad package name) is bad input too, before any host is contacted.
  try {
    build(false);
  } catch (error) {
    if (error instanceof InputError || !(error instanceof Error) || error.constructor !== Error) throw error;
    throw bad(module, error.message);
  }
  const describe = cmd !== undefined ? cmd.display() : `${module} ${[...values].map(([k, v]) => `${k}=${quote(v)}`).join(' ')}`;
  return { module, describe, build };
}
