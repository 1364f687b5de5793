import type { Inventory } from '../inventory/inventory.js';
import { hostVarsOf, type HostVars } from '../inventory/vars.js';
import { SimRuntime, type HostRuntime } from '../core/runtime.js';
import { SimHost, SimNetwork } from './sim.js';

/**
 * What a playbook's domain adds to `--plan`'s simulated world: the fake
 * services its API modules call (an OpenStack playbook brings keystone and
 * neutron), and the init system a host has when the inventory does not say
 * (`stackplay_init`). The engine knows no domain: the playbook hands it this.
 */
export interface Simulation {
  /** Registers fake HTTP services on the simulated network. */
  readonly services?: (network: SimNetwork) => void;
  /** Init system of a simulated host (`systemd`, `upstart`, `sysv`) when `stackplay_init` is not set; default systemd. */
  readonly init?: (vars: HostVars) => string;
}

export interface SimulatedHosts {
  readonly hosts: ReadonlyMap<string, SimHost>;
  readonly connect: (host: string) => Promise<HostRuntime>;
}

/**
 * Every inventory host (and any other a play names, e.g. localhost) as a
 * simulated host on one simulated network; hosts find each other by name and address.
 */
export function simulatedHosts(inventory: Inventory, simulation: Simulation = {}): SimulatedHosts {
  const network = new SimNetwork();
  simulation.services?.(network);
  const hosts = new Map<string, SimHost>();
  const byAddress = new Map<string, SimHost>();
  for (const name of inventory.hosts.keys()) {
    const vars = hostVarsOf(inventory, name);
    const init = vars.opt('stackplay_init') ?? simulation.init?.(vars) ?? 'systemd';
    const sim = new SimHost(name, network, { init, virt: vars.opt('stackplay_sim_virt') ?? 'no' });
    hosts.set(name, sim);
    for (const a of [name, vars.opt('ansible_host'), vars.opt('management_ip')]) if (a && !byAddress.has(a)) byAddress.set(a, sim);
  }
  return {
    hosts,
    connect: async (host) => {
      // A host the inventory does not declare (the implicit localhost) is simulated as a bare machine.
      let sim = hosts.get(host);
      if (!sim) hosts.set(host, (sim = new SimHost(host, network, { init: 'systemd', virt: 'no' })));
      return new SimRuntime(sim, (address) => byAddress.get(address));
    },
  };
}
