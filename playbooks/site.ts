import { openstackPlaybook } from '../openstack/playbook.js';
import { isMain, main } from '../lib/cli/cli.js';
import { type Play } from '../lib/core/playbook.js';
import { common } from '../roles/common/index.js';
import { plays as ceilometer } from '../roles/ceilometer/index.js';
import { plays as cinder } from '../roles/cinder/index.js';
import { plays as ec2 } from '../roles/ec2/index.js';
import { plays as glance } from '../roles/glance/index.js';
import { plays as heat } from '../roles/heat/index.js';
import { plays as horizon } from '../roles/horizon/index.js';
import { plays as keystone } from '../roles/keystone/index.js';
import { plays as mariadb } from '../roles/mariadb/index.js';
import { plays as memcached } from '../roles/memcached/index.js';
import { plays as networks } from '../roles/networks/index.js';
import { plays as neutron } from '../roles/neutron/index.js';
import { plays as nova } from '../roles/nova/index.js';
import { plays as prechecks } from '../roles/prechecks/index.js';
import { plays as rabbitmq } from '../roles/rabbitmq/index.js';

/**
 * The whole deployment in the order the install guides follow: read-only
 * prechecks on every host before anything changes, then every node's
 * basics first (names, repositories, time), then the controller's
 * infrastructure and identity, then each service controller-side before its
 * agents, and the initial networks last. Roles that do not apply to a
 * release (ceilometer, heat and ec2 on Zed) plan nothing there.
 */
export const sitePlays: readonly Play[] = [...prechecks, { name: 'common: names, repositories, time', hosts: 'all', roles: [common] }, ...cloudPlays()];

/** The plays of the cloud's own services, in dependency order: what day-2 stop, start and status act on (not the hosts' basics). */
export function cloudPlays(): readonly Play[] {
  return [
    ...mariadb,
    ...rabbitmq,
    ...memcached,
    ...keystone,
    ...glance,
    ...nova,
    ...neutron,
    ...horizon,
    ...cinder,
    ...ceilometer,
    ...heat,
    ...ec2,
    ...networks,
  ];
}

export const site = openstackPlaybook('site', sitePlays);

if (isMain(import.meta.url)) await main(site);
