/**
 * Merges config overrides (lib/inventory/config-overrides.ts) into the tasks
 * that write the same INI files (`IniFileTask`: `ini`, and modules like it):
 * the role's task for /etc/nova/nova.conf on compute1 gets compute1's
 * overrides of that file, so the file changes in one task, with one diff,
 * and only that task's handlers (the service that reads the file) run. Each option is checked against the option names the
 * playbook's catalog knows for that file on that host, and the options the
 * role itself writes there.
 */
import { InputError } from '../core/errors.js';
import type { HostContext, Role } from '../core/playbook.js';
import type { FlushHandlers, Task } from '../core/task.js';
import { closest } from '../core/typos.js';
import type { CatalogAnswer, OptionCatalog, OverrideFile, OverrideOption } from '../inventory/config-overrides.js';
import { isIniFileTask, type IniFileTask, type IniSections, type IniValue } from './ini.js';

export interface OverrideReport {
  /** Each override file that applied to a host of this run, and whether some task took it there. */
  readonly applied: Map<OverrideFile, { readonly hosts: Set<string>; readonly used: Set<string> }>;
  /** Every path an INI-file task of the run writes (for "did you mean" on a path nothing writes). */
  readonly written: Set<string>;
  readonly warnings: Set<string>;
}

export const newOverrideReport = (): OverrideReport => ({ applied: new Map(), written: new Set(), warnings: new Set() });

/** `role` with each of its INI-file tasks carrying the host's overrides of that task's file (lowest precedence first). */
export function withConfigOverrides(
  role: Role,
  ctx: HostContext,
  files: readonly OverrideFile[],
  catalog: OptionCatalog | undefined,
  report: OverrideReport,
): Role {
  for (const f of files) {
    const entry = report.applied.get(f) ?? { hosts: new Set<string>(), used: new Set<string>() };
    entry.hosts.add(ctx.host);
    report.applied.set(f, entry);
  }
  const tasks = role.tasks.map((task): Task<string> | FlushHandlers => {
    if (task.kind !== 'task' || !isIniFileTask(task)) return task;
    const path = task.iniFile.path;
    report.written.add(path);
    const mine = files.filter((f) => f.target === path);
    if (mine.length === 0) return task;
    for (const f of mine) report.applied.get(f)!.used.add(ctx.host);
    return rebuilt(task, ctx, mine, catalog, report);
  });
  return { ...role, tasks };
}

function rebuilt(
  task: IniFileTask<string>,
  ctx: HostContext,
  files: readonly OverrideFile[],
  catalog: OptionCatalog | undefined,
  report: OverrideReport,
): Task<string> {
  const { path, mode, settings } = task.iniFile;
  const answer: CatalogAnswer = catalog ? catalog.lookup(ctx, path) : { known: false, reason: 'this playbook declares no option catalog' };
  const normalize = catalog ? (n: string) => catalog.normalize(n) : (n: string) => n;
  const extra: Record<string, Record<string, IniValue>> = {};
  for (const f of files) {
    if (!answer.known) report.warnings.add(`${f.file}: option names not checked: ${answer.reason}`);
    for (const o of f.options) {
      if (answer.known) checkOption(o, settings, answer, normalize, path);
      const value = typeof o.value === 'string' ? o.value : secretValue(o, ctx, mode);
      // Written as the role spells it when the role sets it too, so one line holds it.
      const own = Object.keys(settings[o.section] ?? {}).find((k) => normalize(k) === normalize(o.key));
      (extra[o.section] ??= {})[own ?? o.key] = value;
    }
  }
  return task.iniFile.withSettings(extra);
}

function secretValue(o: OverrideOption, ctx: HostContext, mode: string | undefined): IniValue {
  // Only a file the role already keeps from other users may take a secret (promise 8: 0640 root:<service>).
  if (mode === undefined || !/0$/.test(mode)) {
    throw new InputError(
      o.source.file,
      o.source.line,
      `[${o.section}] ${o.key}: this file is readable by every user of the host (mode ${mode ?? 'default'}), so it takes no secret`,
    );
  }
  return ctx.secret(typeof o.value === 'string' ? o.value : o.value.secret);
}

/** An option the file's catalog does not know (nor the role writes) is a typo: stop at its file:line with the nearest name. */
function checkOption(
  o: OverrideOption,
  roleSettings: IniSections,
  answer: CatalogAnswer & { known: true },
  normalize: (n: string) => string,
  path: string,
): void {
  const roleKeys = new Set(Object.keys(roleSettings[o.section] ?? {}).map(normalize));
  const names = answer.sections.get(o.section);
  if (names === undefined && !(o.section in roleSettings)) {
    const hint = closest(o.section, [...answer.sections.keys(), ...Object.keys(roleSettings)]);
    throw new InputError(
      o.source.file,
      o.source.line,
      `${path} has no section [${o.section}]${hint ? ` (did you mean [${hint}]?)` : ''} (names from ${answer.source})`,
      o.section,
    );
  }
  const key = normalize(o.key);
  if (names?.has(key) || roleKeys.has(key)) return;
  const candidates = [...(names ?? []), ...roleKeys];
  const hint = closest(key, candidates, Math.max(2, Math.floor(key.length / 5)));
  const elsewhere = [...answer.sections].filter(([, set]) => set.has(key)).map(([s]) => `[${s}]`);
  const where = elsewhere.length > 0 ? ` (it is an option of ${elsewhere.slice(0, 3).join(', ')})` : hint ? ` (did you mean ${hint}?)` : '';
  throw new InputError(o.source.file, o.source.line, `[${o.section}] ${o.key} is no option of ${path}${where} (names from ${answer.source})`, o.key);
}

/**
 * After every host's roles are built: an override file that applied to hosts
 * of this run but that no task took (no role writes that file there) did
 * nothing. A path one or two edits from a written one is a typo (error);
 * otherwise it is said as a warning (a role run alone writes only its files).
 */
export function unusedOverrides(report: OverrideReport): void {
  for (const [f, { hosts, used }] of report.applied) {
    if (used.size > 0) continue;
    const hint = closest(f.target, report.written);
    if (hint !== undefined) throw new InputError(f.file, 0, `no task writes ${f.target} (did you mean ${hint}?)`);
    report.warnings.add(`${f.file}: not applied: no task of this run writes ${f.target} on ${[...hosts].join(', ')}`);
  }
}
