import { playbook, type Play, type Playbook } from '../lib/core/playbook.js';
import { openstackSimulation } from './simulation.js';
import { OpenStackOptionCatalog } from './config-catalog.js';

const optionCatalog = new OpenStackOptionCatalog();

/**
 * A playbook of OpenStack roles: `--plan` simulates keystone and neutron and
 * each host's init system; config overrides are checked against the option
 * names of each release's sample configs.
 */
export const openstackPlaybook = (name: string, plays: readonly Play[]): Playbook => playbook(name, plays, openstackSimulation, optionCatalog);
