import type { SimNetwork } from './sim.js';

/** Fake services every simulated network offers (`--plan`). */
export function registerSimServices(network: SimNetwork): void {
  void network;
}
