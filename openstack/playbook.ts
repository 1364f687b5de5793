import { playbook, type Play, type Playbook } from '../lib/core/playbook.js';
import { openstackSimulation } from './simulation.js';

/** A playbook of OpenStack roles: `--plan` simulates keystone and neutron and each host's init system. */
export const openstackPlaybook = (name: string, plays: readonly Play[]): Playbook => playbook(name, plays, openstackSimulation);
