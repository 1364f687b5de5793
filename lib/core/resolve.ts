import { InputError } from './errors.js';
import { selectHosts, type Inventory, type SourcedValue } from '../inventory/inventory.js';
import type { ResolvedPlay } from './executor.js';
import type { HostContext, Play, Playbook, Role, RoleFn } from './playbook.js';
import type { SecretStore } from '../inventory/secrets-store.js';
import { closest } from './typos.js';
import { checkConnectionVars, HostVars, hostVarsOf } from '../inventory/vars.js';
import { overrideFilesFor } from '../inventory/config-overrides.js';
import { newOverrideReport, unusedOverrides, withConfigOverrides } from '../modules/ini-overrides.js';

/** Variables read outside roles (connection, simulation, CLI), so never "unread". */
export const ENGINE_VARIABLES: readonly string[] = [
  'ansible_host',
  'ansible_port',
  'ansible_user',
  'ansible_ssh_private_key_file',
  'ansible_private_key_file',
  'stackplay_known_hosts',
  'stackplay_ssh_config',
  'stackplay_jump_host',
  'ansible_ssh_common_args',
  'ansible_password',
  'ansible_ssh_pass',
  'stackplay_connect_timeout',
  'stackplay_host_key_checking',
  'stackplay_connect_retries',
  'stackplay_state_dir',
  'ansible_become',
  'ansible_become_user',
  'ansible_become_password',
  'stackplay_init',
  'stackplay_sim_virt',
  'default_password',
];

/**
 * An inventory variable no role read, one or two edits away from one that is
 * read (`openstack_relase`), is a typo that would otherwise silently fall
 * back to a default: stop with its file:line.
 */
function checkTypos(contexts: Iterable<HostContext>): void {
  const read = new Set<string>(ENGINE_VARIABLES);
  const defined = new Map<string, { file: string; line: number; host: string }>();
  for (const ctx of contexts) {
    for (const name of ctx.vars.read) read.add(name);
    for (const [name, v] of ctx.vars.values) if (!defined.has(name)) defined.set(name, { ...v.source, host: ctx.host });
  }
  for (const [name, at] of defined) {
    if (read.has(name)) continue;
    const suggestion = closest(name, read);
    if (suggestion !== undefined) throw new InputError(at.file, at.line, `unknown variable ${name} (did you mean ${suggestion}?)`, name);
  }
}

/** Each host's connection variables have their type, and no two hosts share an address. */
function checkConnections(contexts: Iterable<HostContext>): void {
  const byAddress = new Map<string, string>();
  for (const ctx of contexts) {
    if (isImplicitLocalhost(ctx.inventory, ctx.host)) continue;
    const address = checkConnectionVars(ctx.vars);
    const other = byAddress.get(address);
    if (other !== undefined) {
      const at = ctx.vars.values.get('ansible_host')?.source ?? ctx.vars.declaredAt;
      throw new InputError(at.file, at.line, `hosts ${other} and ${ctx.host} have the same address and port (${address})`);
    }
    byAddress.set(address, ctx.host);
  }
}

/** Hosts per batch of a play's `serial`: a whole number, or a percentage of its hosts (at least one). */
function serialSize(book: string, play: Play, hosts: number): number {
  const bad = () =>
    new InputError(`${book}: play "${play.name}"`, 0, `serial must be a whole number of hosts or a percentage ('25%'), not ${JSON.stringify(play.serial)}`);
  if (typeof play.serial === 'number') {
    if (!Number.isInteger(play.serial) || play.serial < 1) throw bad();
    return play.serial;
  }
  const m = /^(\d+(?:\.\d+)?)%$/.exec(String(play.serial));
  const pct = m ? Number(m[1]) : NaN;
  if (!(pct > 0 && pct <= 100)) throw bad();
  return Math.max(1, Math.floor((hosts * pct) / 100));
}

/**
 * As Ansible's implicit localhost: in no group, but with the `all` group's
 * variables and the extra variables (a day-2 playbook's `-e backup_name`
 * names its local copy too).
 */
function implicitLocalhostVars(inventory: Inventory): ReadonlyMap<string, SourcedValue> {
  return inventory.hostVars('localhost');
}

/** `localhost` when the inventory does not declare it: this machine, reached without SSH (Ansible's implicit localhost). */
export function isImplicitLocalhost(inventory: Inventory, host: string): boolean {
  return host === 'localhost' && !inventory.hosts.has(host);
}

/**
 * Turns a playbook and an inventory into, per play, each selected host's
 * instantiated roles, with the inventory's config overrides merged into the
 * tasks that write those files. All of it is pure and runs before any host
 * is contacted, so bad variables, unknown names and misspelled options stop
 * the run here; what deserves a word but not a stop goes to `warn`.
 */
export function resolvePlaybook(
  book: Playbook,
  inventory: Inventory,
  secrets: SecretStore,
  limit?: string,
  warn: (message: string) => void = () => {},
): ResolvedPlay[] {
  const overrides = newOverrideReport();
  const build = (role: RoleFn, ctx: HostContext): Role => {
    const instance = instantiate(role, ctx);
    if (!inventory.configOverrides) return instance;
    return withConfigOverrides(instance, ctx, overrideFilesFor(inventory.configOverrides, inventory, ctx.host), book.optionCatalog, overrides);
  };
  const allowed = limit ? new Set(selectHosts(inventory, limit)) : null;
  const contexts = new Map<string, HostContext>();
  const contextFor = (host: string): HostContext => {
    let ctx = contexts.get(host);
    if (!ctx) {
      const implicit = isImplicitLocalhost(inventory, host);
      ctx = {
        host,
        vars: implicit ? new HostVars(host, implicitLocalhostVars(inventory), { file: inventory.file, line: 0 }) : hostVarsOf(inventory, host),
        inventory,
        groups: implicit ? [] : inventory.hostGroups(host),
        secret: (name) => secrets.get(name),
      };
      contexts.set(host, ctx);
    }
    return ctx;
  };
  const playHosts = (play: Play): string[] => {
    // Ansible's implicit localhost: a play for `localhost` runs on this machine when the inventory has no such host.
    if (isImplicitLocalhost(inventory, play.hosts)) return allowed ? [] : ['localhost'];
    try {
      return selectHosts(inventory, play.hosts, { file: `${book.name}: play "${play.name}" hosts`, line: 0 });
    } catch (error) {
      // A play for a group this inventory does not have (no block nodes, say) simply has no hosts.
      if (error instanceof InputError && /matches no host or group|unknown/i.test(error.problem)) return [];
      throw error;
    }
  };
  const plays = book.plays.map((play) => {
    const hosts = playHosts(play);
    const selected = hosts.filter((h) => !allowed || allowed.has(h));
    return {
      name: play.name,
      hosts: new Map(selected.map((h): [string, readonly Role[]] => [h, play.roles.map((role) => build(role, contextFor(h)))])),
      ...(play.serial !== undefined ? { serial: serialSize(book.name, play, selected.length) } : {}),
    };
  });
  checkTypos(contexts.values());
  checkConnections(contexts.values());
  unusedOverrides(overrides);
  for (const message of overrides.warnings) warn(message);
  return plays;
}

/**
 * A role for one host. A role that refuses what the inventory gave it (a
 * host name that is no system host name, a device path it cannot use) throws
 * while building its tasks: that is bad input, reported at the host's line.
 */
function instantiate(role: (ctx: HostContext) => Role, ctx: HostContext): Role {
  try {
    return role(ctx);
  } catch (error) {
    // Only a plain Error is a refusal; a TypeError and its kin are bugs, to surface as such.
    if (error instanceof InputError || !(error instanceof Error) || error.constructor !== Error) throw error;
    throw new InputError(ctx.vars.declaredAt.file, ctx.vars.declaredAt.line, `host ${ctx.host}: ${error.message}`);
  }
}
