import type { Inventory } from '../lib/inventory/inventory.js';
import type { HostVars } from '../lib/inventory/vars.js';

/**
 * The releases and OS families stackplay deploys, and the variables every
 * OpenStack role relies on (`openstack_release`, `os_family`, the
 * controller's address, the region), read and checked once per host.
 */

export const RELEASES = ['juno', 'liberty', 'zed'] as const;
export type Release = (typeof RELEASES)[number];
export const OS_FAMILIES = ['ubuntu', 'centos', 'debian'] as const;
export type OsFamily = (typeof OS_FAMILIES)[number];

/** Per-release conventions of the install guides (and the seeds that follow them). */
export interface ReleaseProfile {
  /** SQLAlchemy scheme: Juno and the Liberty seeds use MySQL-python (`mysql://`); Zed uses PyMySQL. */
  readonly dbScheme: 'mysql' | 'mysql+pymysql';
  /** RabbitMQ account the services use: Juno changes guest's password, later releases add `openstack`. */
  readonly rabbitUser: 'guest' | 'openstack';
  readonly identityApi: 'v2.0' | 'v3';
  /** Keystone's ports: public (5000) and admin (35357, gone in Zed). */
  readonly keystoneAdminPort: number;
}

export const RELEASE: Readonly<Record<Release, ReleaseProfile>> = {
  juno: { dbScheme: 'mysql', rabbitUser: 'guest', identityApi: 'v2.0', keystoneAdminPort: 35357 },
  liberty: { dbScheme: 'mysql', rabbitUser: 'openstack', identityApi: 'v3', keystoneAdminPort: 35357 },
  zed: { dbScheme: 'mysql+pymysql', rabbitUser: 'openstack', identityApi: 'v3', keystoneAdminPort: 5000 },
};

/** The variables every role relies on, resolved and checked once per host. */
export interface CoreVars {
  readonly ansibleHost: string;
  readonly ansibleUser: string;
  readonly ansiblePort: number;
  readonly managementIp: string;
  readonly release: Release;
  readonly osFamily: OsFamily;
  /** Host name or address used in service URLs. */
  readonly controllerAddress: string;
  readonly region: string;
}

export const DEFAULT_OS: Record<Release, OsFamily> = { juno: 'ubuntu', liberty: 'centos', zed: 'debian' };

export function coreVars(inventory: Inventory, vars: HostVars): CoreVars {
  const release = vars.oneOf('openstack_release', RELEASES);
  const ansibleHost = vars.address('ansible_host', vars.host);
  const firstController = inventory.groups.has('controller') ? inventory.groupHosts('controller')[0] : undefined;
  return {
    ansibleHost,
    ansibleUser: vars.str('ansible_user', 'root'),
    ansiblePort: vars.int('ansible_port', 22),
    managementIp: vars.has('management_ip') ? vars.ipv4('management_ip') : ansibleHost,
    release,
    osFamily: vars.oneOf('os_family', OS_FAMILIES, DEFAULT_OS[release]),
    controllerAddress: vars.address('controller_address', firstController ?? vars.host),
    // Seed 004 and the Juno guide name the region `regionOne`; later guides `RegionOne`.
    // Keystone stores it, every service's config and endpoint carries it: a plain name.
    region: vars.matching(
      'region',
      /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/,
      'a name of letters, digits, ., _ and - (at most 64)',
      release === 'juno' ? 'regionOne' : 'RegionOne',
    ),
  };
}
