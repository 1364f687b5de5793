import type { OsFamily, Release } from '../../openstack/release.js';

/**
 * The Image service per release and OS, as the install guides and seeds
 * 003/004 do it. One row per supported (release, OS family) pair.
 */

export interface GlanceRelease {
  /** glance-registry exists until Queens; the Zed guide installs only glance-api. */
  readonly registry: boolean;
  /** Keystone service description, as each guide spells it. */
  readonly description: string;
  /** `[DEFAULT] notification_driver` and `verbose` (Juno, Liberty): options later releases dropped. */
  readonly legacyDefaults: boolean;
  /** `[glance_store] stores` (Zed: `file,http`); Juno and Liberty leave the default list. */
  readonly stores: string | null;
}

export const GLANCE_RELEASE: Readonly<Record<Release, GlanceRelease>> = {
  juno: { registry: true, description: 'OpenStack Image Service', legacyDefaults: true, stores: null },
  liberty: { registry: true, description: 'OpenStack Image service', legacyDefaults: true, stores: null },
  zed: { registry: false, description: 'OpenStack Image', legacyDefaults: false, stores: 'file,http' },
};

export interface GlancePlatform {
  readonly packages: readonly string[];
  readonly apiService: string;
  readonly registryService: string;
  /** Ubuntu's packages leave an unused SQLite database the guides delete. */
  readonly sqliteLeftover: boolean;
  /**
   * Debian's packaged glance-api.conf pre-fills `[keystone_authtoken]
   * region_name = regionOne`; left alone it points keystonemiddleware at a
   * region the catalog does not have (regions are case-sensitive).
   */
  readonly authtokenRegion: boolean;
}

const UBUNTU: GlancePlatform = {
  packages: ['glance', 'python-glanceclient'],
  apiService: 'glance-api',
  registryService: 'glance-registry',
  sqliteLeftover: true,
  authtokenRegion: false,
};

const PLATFORMS: Readonly<Record<string, GlancePlatform>> = {
  'juno/ubuntu': UBUNTU,
  'liberty/ubuntu': UBUNTU,
  'liberty/centos': {
    // Seed 003 and the Liberty RDO guide.
    packages: ['openstack-glance', 'python-glance', 'python-glanceclient'],
    apiService: 'openstack-glance-api',
    registryService: 'openstack-glance-registry',
    sqliteLeftover: false,
    authtokenRegion: false,
  },
  'zed/debian': {
    // `glance` depends on glance-api (checked in the Debian 12 packages: /etc/init.d/glance-api, under uwsgi).
    packages: ['glance'],
    apiService: 'glance-api',
    registryService: 'glance-registry',
    sqliteLeftover: false,
    authtokenRegion: true,
  },
};

export function glancePlatform(release: Release, family: OsFamily): GlancePlatform {
  const row = PLATFORMS[`${release}/${family}`];
  if (!row) throw new Error(`glance: ${release} on ${family} is not supported (supported: ${Object.keys(PLATFORMS).join(', ')})`);
  return row;
}

export const API_CONF = '/etc/glance/glance-api.conf';
export const REGISTRY_CONF = '/etc/glance/glance-registry.conf';
export const IMAGES_DIR = '/var/lib/glance/images/';
export const SQLITE_LEFTOVER = '/var/lib/glance/glance.sqlite';
export const API_PORT = 9292;
