import { InputError } from './errors.js';
import { selectHosts, type Inventory } from '../inventory/inventory.js';
import type { ResolvedPlay } from './executor.js';
import type { HostContext, Play, Playbook, Role } from './playbook.js';
import type { SecretStore } from '../inventory/secrets-store.js';
import { closest } from './typos.js';
import { HostVars, hostVarsOf } from '../inventory/vars.js';

/** Variables read outside roles (connection, simulation, CLI), so never "unread". */
export const ENGINE_VARIABLES: readonly string[] = [
  'ansible_host',
  'ansible_port',
  'ansible_user',
  'ansible_ssh_private_key_file',
  'ansible_private_key_file',
  'stackplay_known_hosts',
  'stackplay_connect_timeout',
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

/** `localhost` when the inventory does not declare it: this machine, reached without SSH (Ansible's implicit localhost). */
export function isImplicitLocalhost(inventory: Inventory, host: string): boolean {
  return host === 'localhost' && !inventory.hosts.has(host);
}

/**
 * Turns a playbook and an inventory into, per play, each selected host's
 * instantiated roles. All of it is pure and runs before any host is
 * contacted, so bad variables and unknown names stop the run here.
 */
export function resolvePlaybook(book: Playbook, inventory: Inventory, secrets: SecretStore, limit?: string): ResolvedPlay[] {
  const allowed = limit ? new Set(selectHosts(inventory, limit)) : null;
  const contexts = new Map<string, HostContext>();
  const contextFor = (host: string): HostContext => {
    let ctx = contexts.get(host);
    if (!ctx) {
      const implicit = isImplicitLocalhost(inventory, host);
      ctx = {
        host,
        vars: implicit ? new HostVars(host, new Map(), { file: inventory.file, line: 0 }) : hostVarsOf(inventory, host),
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
      hosts: new Map(selected.map((h): [string, readonly Role[]] => [h, play.roles.map((role) => role(contextFor(h)))])),
    };
  });
  checkTypos(contexts.values());
  return plays;
}
