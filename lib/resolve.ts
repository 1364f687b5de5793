import { InputError } from './errors.js';
import { selectHosts, type Inventory } from './inventory.js';
import type { ResolvedPlay } from './executor.js';
import type { HostContext, Playbook, Role } from './playbook.js';
import type { SecretStore } from './secrets-store.js';
import { hostVarsOf } from './vars.js';

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
      ctx = {
        host,
        vars: hostVarsOf(inventory, host),
        inventory,
        groups: inventory.hostGroups(host),
        secret: (name) => secrets.get(name),
      };
      contexts.set(host, ctx);
    }
    return ctx;
  };
  return book.plays.map((play) => {
    let hosts: string[];
    try {
      hosts = selectHosts(inventory, play.hosts, { file: `${book.name}: play "${play.name}" hosts`, line: 0 });
    } catch (error) {
      // A play for a group this inventory does not have (no block nodes, say) simply has no hosts.
      if (error instanceof InputError && /matches no host or group|unknown/i.test(error.problem)) hosts = [];
      else throw error;
    }
    const selected = hosts.filter((h) => !allowed || allowed.has(h));
    return {
      name: play.name,
      hosts: new Map(selected.map((h): [string, readonly Role[]] => [h, play.roles.map((role) => role(contextFor(h)))])),
    };
  });
}
