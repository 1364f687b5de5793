import type { Simulation } from '../lib/sim/hosts.js';
import type { SimNetwork } from '../lib/sim/sim.js';
import { registerSimKeystone } from './keystone/sim.js';
import { registerSimNeutron } from './neutron/sim.js';
import { DEFAULT_OS, RELEASES, type Release } from './release.js';

/** Fake services of a simulated OpenStack (`--plan`): keystone on 5000 and 35357, neutron on 9696. */
export function registerSimServices(network: SimNetwork): void {
  registerSimKeystone(network);
  registerSimNeutron(network);
}

/**
 * `--plan` for OpenStack playbooks: the fake keystone and neutron, and hosts
 * whose init system follows their OS family (Ubuntu 14.04: upstart; CentOS 7,
 * Debian 12: systemd). Values are read leniently here; the roles check them.
 */
export const openstackSimulation: Simulation = {
  services: registerSimServices,
  init(vars) {
    const release = vars.opt('openstack_release');
    const family = vars.opt('os_family') ?? (RELEASES.includes(release as Release) ? DEFAULT_OS[release as Release] : 'debian');
    return family === 'ubuntu' ? 'upstart' : 'systemd';
  },
};
