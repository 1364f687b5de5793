/**
 * Config overrides: INI files beside the inventory that add options to (or
 * replace options in) the config files the roles write, per inventory, group
 * or host, as kolla-ansible's /etc/kolla/config does. The tree mirrors the
 * hosts' own paths, so a file says by its place which file it changes:
 *
 *   hosts/lab.d/all/etc/nova/nova.conf                every host that writes /etc/nova/nova.conf
 *   hosts/lab.d/group_compute/etc/nova/nova.conf      hosts of group compute (and its children)
 *   hosts/lab.d/host_compute1/etc/nova/nova.conf      one host
 *
 * Precedence is Ansible's for variables: all < groups (parent < child, then
 * by name) < host. Everything here runs when the inventory is loaded, before
 * any host is touched; what an option may be called is the domain's
 * (`OptionCatalog`), checked when the playbook is resolved.
 */
import { lstat, readdir, readFile } from 'node:fs/promises';
import { basename, dirname, join, relative, sep } from 'node:path';
import { InputError } from '../core/errors.js';
import { closest } from '../core/typos.js';
import type { HostContext } from '../core/playbook.js';
import type { Inventory, VarSource } from './inventory.js';

/** A value naming a secret of the secrets store: `!secret NAME` (generated once, kept in the secrets file). */
export interface SecretRef {
  readonly secret: string;
}

export interface OverrideOption {
  readonly section: string;
  readonly key: string;
  readonly value: string | SecretRef;
  readonly source: VarSource;
}

export interface OverrideFile {
  /** `all`, `group_<name>` or `host_<name>`. */
  readonly scope: string;
  /** The host's file it changes: `/etc/nova/nova.conf`. */
  readonly target: string;
  /** The override file itself, for messages. */
  readonly file: string;
  readonly options: readonly OverrideOption[];
}

export interface ConfigOverrides {
  /** `hosts/lab.d` for `hosts/lab.ini`. */
  readonly dir: string;
  readonly files: readonly OverrideFile[];
}

/** What a domain knows of one config file's option names (already normalized), or why it knows none. */
export type CatalogAnswer =
  | { readonly known: true; readonly source: string; readonly sections: ReadonlyMap<string, ReadonlySet<string>> }
  | { readonly known: false; readonly reason: string };

/** The option names a config file accepts on a host (its release, its OS), for checking overrides. */
export interface OptionCatalog {
  lookup(ctx: HostContext, path: string): CatalogAnswer;
  /** Spellings the service reads as one (oslo.config: `-` and `_`). */
  normalize(name: string): string;
}

/**
 * An option whose name says it holds a secret: its value must come from the
 * secrets store (`!secret NAME`), never stand in a file that is committed
 * with the inventory and shown in reviews.
 */
export const SECRET_OPTION = /(?:^|_)(?:pass|passwd|password|secret|token|key|credential|credentials)$/i;
/** `scheme://user:password@host`: a password inside a URL (`connection`, `transport_url`). */
const URL_CREDENTIALS = /:\/\/[^\s/@:]*:[^\s/@]+@/;
const SECRET_REF = /^!secret\s+([A-Za-z0-9_.-]+)$/;
const SCOPE = /^(all|group_(.+)|host_(.+))$/;

/** `hosts/lab.d` beside `hosts/lab.ini` (the secrets file's naming: `hosts/lab.secrets.ini`). */
export const overridesDirOf = (inventoryPath: string): string => join(dirname(inventoryPath), `${basename(inventoryPath).replace(/\.(ini|cfg|txt)$/, '')}.d`);

/**
 * Reads every override file under the inventory's `.d` directory; none when
 * it does not exist. A scope naming no group or host of the inventory, a
 * symlink, a malformed line, a secret in plain text: InputError at file:line.
 */
export async function loadConfigOverrides(inventoryPath: string, inventory: Inventory): Promise<ConfigOverrides | undefined> {
  const dir = overridesDirOf(inventoryPath);
  const top = await lstat(dir).catch(() => undefined);
  if (!top) return undefined;
  if (!top.isDirectory()) throw new InputError(dir, 0, 'config overrides must be a directory (scopes all, group_<group>, host_<host>)');
  const files: OverrideFile[] = [];
  for (const entry of (await readdir(dir, { withFileTypes: true })).sort((a, b) => a.name.localeCompare(b.name))) {
    const at = join(dir, entry.name);
    checkScope(entry.name, at, inventory);
    if (!entry.isDirectory()) throw new InputError(at, 0, 'a scope must be a directory holding the hosts’ paths (e.g. etc/nova/nova.conf)');
    for (const file of await filesUnder(at)) {
      files.push({
        scope: entry.name,
        target: `/${relative(at, file).split(sep).join('/')}`,
        file,
        options: parseOverrideIni(await readFile(file, 'utf8'), file),
      });
    }
  }
  return { dir, files };
}

function checkScope(name: string, at: string, inventory: Inventory): void {
  const m = SCOPE.exec(name);
  if (!m) throw new InputError(at, 0, 'unknown scope (use all, group_<group> or host_<host>)', name);
  const [, , group, host] = m;
  if (group !== undefined && !inventory.groups.has(group)) {
    const hint = closest(group, inventory.groups.keys());
    throw new InputError(at, 0, `no group ${group} in ${inventory.file}${hint ? ` (did you mean group_${hint}?)` : ''}`);
  }
  if (host !== undefined && !inventory.hosts.has(host)) {
    const hint = closest(host, inventory.hosts.keys());
    throw new InputError(at, 0, `no host ${host} in ${inventory.file}${hint ? ` (did you mean host_${hint}?)` : ''}`);
  }
}

async function filesUnder(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const entry of (await readdir(dir, { withFileTypes: true })).sort((a, b) => a.name.localeCompare(b.name))) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...(await filesUnder(path)));
    else if (entry.isFile()) out.push(path);
    // A symlink could point anywhere (and change meaning under the operator's feet): only plain files.
    else throw new InputError(path, 0, 'not a regular file (symlinks and special files are refused)');
  }
  return out;
}

/**
 * One override file: `[section]` headers and `key = value` lines, `#` and
 * `;` comments, blank lines. Stricter than oslo.config on purpose: an option
 * before any section, one set twice, a continuation line, an empty name, a
 * password in plain text are mistakes to fix before anything runs.
 */
export function parseOverrideIni(text: string, file: string): OverrideOption[] {
  const options: OverrideOption[] = [];
  const seen = new Map<string, number>();
  let section: string | undefined;
  const lines = text.split(/\r?\n/);
  lines.forEach((raw, i) => {
    const line = i + 1;
    const trimmed = raw.trim();
    if (trimmed === '' || trimmed.startsWith('#') || trimmed.startsWith(';')) return;
    if (/[\x00-\x08\x0b-\x1f\x7f]/.test(raw)) throw new InputError(file, line, 'control character in line', raw);
    const header = /^\[([^\]\s]+)\]$/.exec(trimmed);
    if (header) {
      section = header[1]!;
      return;
    }
    if (/^\s/.test(raw)) throw new InputError(file, line, 'indented line (continuation lines are not supported; put the value on one line)', raw);
    const kv = /^([A-Za-z0-9_.-]+)\s*=\s*(.*)$/.exec(trimmed);
    if (!kv) throw new InputError(file, line, 'expected [section] or name = value', raw);
    if (section === undefined) throw new InputError(file, line, 'option before any [section] (options of the DEFAULT section go under [DEFAULT])', raw);
    const key = kv[1]!;
    const rawValue = kv[2]!;
    const id = `${section}\0${key.replace(/-/g, '_')}`;
    const earlier = seen.get(id);
    if (earlier !== undefined) throw new InputError(file, line, `[${section}] ${key} is already set at line ${earlier}`, raw);
    seen.set(id, line);
    const ref = SECRET_REF.exec(rawValue);
    if (ref) {
      options.push({ section, key, value: { secret: ref[1]! }, source: { file, line } });
      return;
    }
    if (SECRET_OPTION.test(key)) {
      throw new InputError(
        file,
        line,
        `[${section}] ${key} holds a secret: write \`${key} = !secret <name>\` and keep the value in the inventory's secrets file`,
        key,
      );
    }
    if (URL_CREDENTIALS.test(rawValue)) {
      throw new InputError(
        file,
        line,
        `[${section}] ${key}: a password inside a URL is a secret in plain text (the roles write connection URLs themselves)`,
        key,
      );
    }
    options.push({ section, key, value: rawValue, source: { file, line } });
  });
  return options;
}

/** Rank of a scope for one host: all < groups in the inventory's precedence < host. */
function scopeRank(scope: string, groupOrder: readonly string[]): number {
  if (scope === 'all') return 0;
  if (scope.startsWith('host_')) return groupOrder.length + 2;
  return 1 + groupOrder.indexOf(scope.slice('group_'.length));
}

/** The override files that apply to `host`, lowest precedence first. */
export function overrideFilesFor(overrides: ConfigOverrides, inventory: Inventory, host: string): OverrideFile[] {
  if (!inventory.hosts.has(host)) return [];
  const order = inventory.groupPrecedence(host);
  return overrides.files
    .filter((f) => f.scope === 'all' || f.scope === `host_${host}` || (f.scope.startsWith('group_') && order.includes(f.scope.slice('group_'.length))))
    .sort((a, b) => scopeRank(a.scope, order) - scopeRank(b.scope, order));
}
