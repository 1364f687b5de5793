import { pathFact } from './facts.js';
import { editIni, type IniSetting } from './ini-edit.js';
import { Secret } from '../core/secret.js';
import { makeTask, type Task, type TaskOptions } from '../core/task.js';
import { planContent } from './file.js';

/** Marks an option that must not be set (e.g. Juno's `auth_host` in `[keystone_authtoken]`). */
export const ABSENT = Symbol('absent');

/** `null` writes a bare key (my.cnf's `innodb_file_per_table`). */
export type IniValue = string | number | boolean | Secret | null | typeof ABSENT;

/** Options grouped by section: `{ database: { connection: url }, DEFAULT: { debug: false } }`. */
export type IniSections = Readonly<Record<string, Readonly<Record<string, IniValue>>>>;

export interface IniArgs {
  readonly path: string;
  readonly settings: IniSections;
  readonly mode?: string;
  readonly owner?: string;
  readonly group?: string;
  /** Separator for new lines; default ' = ' (oslo.config style). */
  readonly separator?: string;
}

export function toIniSettings(sections: IniSections): IniSetting[] {
  return Object.entries(sections).flatMap(([section, options]) =>
    Object.entries(options).map(([key, value]): IniSetting => {
      if (value === ABSENT) return { section, key, state: 'absent' };
      if (value === null) return { section, key, value: null };
      const text = value instanceof Secret ? value.reveal() : typeof value === 'boolean' ? (value ? 'true' : 'false') : String(value);
      return { section, key, value: text };
    }),
  );
}

/**
 * A task that writes options into one INI file and can be rebuilt to write
 * more (config overrides, ini-overrides.ts). `ini` is one; a module that
 * computes its options from facts (nova's virt settings) can be one too.
 */
export interface IniFileTask<H extends string = never> extends Task<H> {
  readonly iniFile: {
    readonly path: string;
    /** The file's mode as the task sets it (undefined: left as it is, 0644 when created). */
    readonly mode: string | undefined;
    /** The options the task writes (or may write), by section. */
    readonly settings: IniSections;
    /** The same task (same name, same notify) writing `extra` too, which wins key by key. */
    withSettings(extra: IniSections): Task<H>;
  };
}

export const isIniFileTask = (task: { readonly kind: string }): task is IniFileTask<string> => 'iniFile' in task;

/**
 * Many options of one INI file in one task and one diff. Everything not
 * named — comments, blank lines, other keys — stays byte for byte.
 */
export function ini<H extends string = never>(args: IniArgs, options?: TaskOptions<H>): IniFileTask<H> {
  const settings = toIniSettings(args.settings);
  const sections = Object.keys(args.settings);
  const task = makeTask({
    module: 'ini',
    name: `ini ${args.path} [${sections.join('] [')}]`,
    options,
    facts: { current: pathFact(args.path) },
    plan: ({ current }) => {
      const before = current?.type === 'file' ? current.content : '';
      const { text } = editIni(before, settings, args.separator ? { separator: args.separator } : undefined);
      const onlyAbsent = settings.every((s) => s.state === 'absent');
      // Removing options from a file that does not exist is already done.
      if (!current && onlyAbsent) return { action: 'none', reason: `${args.path} does not exist` };
      return planContent(args.path, current, text, args, `${settings.length} option(s) already set`);
    },
  });
  const withSettings = (extra: IniSections) => ini({ ...args, settings: mergeSections(args.settings, extra) }, { ...options, name: task.name });
  return { ...task, iniFile: { path: args.path, mode: args.mode, settings: args.settings, withSettings } };
}

/**
 * Section-wise union of option tables; later parts win key by key. `[DEFAULT]`
 * comes first (as in oslo's sample files, so a newly written file reads like
 * one) and sections left empty are dropped.
 */
export function mergeSections(...parts: readonly IniSections[]): IniSections {
  const out: Record<string, Record<string, IniValue>> = { DEFAULT: {} };
  for (const part of parts) for (const [section, options] of Object.entries(part)) out[section] = { ...out[section], ...options };
  return Object.fromEntries(Object.entries(out).filter(([, options]) => Object.keys(options).length > 0));
}
