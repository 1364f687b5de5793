import { execute, type RunOutcome, type TaskResult } from '../../lib/core/executor.js';
import type { Playbook } from '../../lib/core/playbook.js';
import { resolvePlaybook } from '../../lib/core/resolve.js';
import type { Inventory } from '../../lib/inventory/inventory.js';
import type { SecretStore } from '../../lib/inventory/secrets-store.js';
import { simulatedHosts } from '../../lib/sim/hosts.js';
import { site } from '../../playbooks/site.js';

export interface SimRun {
  readonly outcome: RunOutcome;
  readonly results: readonly TaskResult[];
}

/**
 * The simulated hosts of `inventory`, kept from run to run: playbooks run on
 * them one after another, as on a deployed cloud (day-2 tests). Each run may
 * resolve against another inventory (the cloud before a host joined), other
 * secrets (a rotation) or a --limit.
 */
export function simulatedCloud(inventory: Inventory, secrets: SecretStore) {
  const sim = simulatedHosts(inventory, site.simulation);
  return async (book: Playbook, options: { limit?: string; inventory?: Inventory; secrets?: SecretStore } = {}): Promise<SimRun> => {
    const results: TaskResult[] = [];
    const plays = resolvePlaybook(book, options.inventory ?? inventory, options.secrets ?? secrets, options.limit);
    const outcome = await execute(plays, {
      check: false,
      forks: 50,
      tags: [],
      skipTags: [],
      connect: sim.connect,
      emit: (e) => void (e.type === 'task' && results.push(e.result)),
    });
    return { outcome, results };
  };
}
