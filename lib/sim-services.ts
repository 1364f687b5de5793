import { registerSimKeystone } from './sim-keystone.js';
import { registerSimNeutron } from './sim-neutron.js';
import type { SimNetwork } from './sim.js';

/** Fake services every simulated network offers (`--plan`): keystone on 5000 and 35357. */
export function registerSimServices(network: SimNetwork): void {
  registerSimKeystone(network);
  registerSimNeutron(network);
}
