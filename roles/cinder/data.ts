import type { OsFamily, Release } from '../../openstack/release.js';

/**
 * Block Storage per release and OS, as the install guides and seeds 003/004
 * do it. One row per supported (release, OS family) pair.
 */

export interface CinderApi {
  /** Service entity name and type: cinder/volume, cinderv2/volumev2, cinderv3/volumev3. */
  readonly name: string;
  readonly type: string;
  /** Path after the port, e.g. `v1/%(tenant_id)s`. */
  readonly path: string;
}

export type TargetHelper = 'tgtadm' | 'lioadm';

export interface CinderPlatform {
  readonly controllerPackages: readonly string[];
  readonly schedulerService: string;
  readonly apiService: string;
  /** LVM tools on the storage node (before the volume group). */
  readonly lvmPackages: readonly string[];
  /** Services LVM needs running (CentOS 7: lvmetad). */
  readonly lvmServices: readonly string[];
  readonly storagePackages: readonly string[];
  /** iSCSI target service, started before cinder-volume. */
  readonly targetService: string;
  readonly volumeService: string;
  readonly targetHelper: TargetHelper;
  /** Ubuntu's packages leave an unused SQLite database the guides delete. */
  readonly sqliteLeftover: boolean;
  /** uwsgi ini files of this platform's API services that cast over RPC (openstack/uwsgi.ts). */
  readonly uwsgiApps: readonly string[];
}

export interface CinderRelease {
  readonly apis: readonly CinderApi[];
  /** Liberty on: `[oslo_concurrency] lock_path`. */
  readonly lockPath: boolean;
  /** Liberty on: `enabled_backends = lvm` and an `[lvm]` section; Juno sets the driver options in [DEFAULT]. */
  readonly backendSection: boolean;
  /** How cinder finds glance: Juno/Liberty `glance_host`, Zed `glance_api_servers`. */
  readonly glance: 'glance_host' | 'glance_api_servers';
  /** Option names of the target: `iscsi_*` until Pike, `target_*` after (the old names are deprecated aliases). */
  readonly targetOptions: { readonly helper: string; readonly protocol: string; readonly deprecated: readonly string[] };
  /** Seed 004 turns on verbose logging (an option Juno still has). */
  readonly verbose: boolean;
}

const V1_V2: readonly CinderApi[] = [
  { name: 'cinder', type: 'volume', path: 'v1/%(tenant_id)s' },
  { name: 'cinderv2', type: 'volumev2', path: 'v2/%(tenant_id)s' },
];

export const CINDER_RELEASE: Readonly<Record<Release, CinderRelease>> = {
  juno: {
    apis: V1_V2,
    lockPath: false,
    backendSection: false,
    glance: 'glance_host',
    targetOptions: { helper: 'iscsi_helper', protocol: 'iscsi_protocol', deprecated: [] },
    verbose: true,
  },
  liberty: {
    apis: V1_V2,
    lockPath: true,
    backendSection: true,
    glance: 'glance_host',
    targetOptions: { helper: 'iscsi_helper', protocol: 'iscsi_protocol', deprecated: [] },
    verbose: false,
  },
  zed: {
    // The v1 and v2 APIs are gone; the Zed guide registers only volumev3.
    apis: [{ name: 'cinderv3', type: 'volumev3', path: 'v3/%(project_id)s' }],
    lockPath: true,
    backendSection: true,
    glance: 'glance_api_servers',
    // Debian's cinder.conf ships `[lvm] iscsi_helper`/`iscsi_protocol`; left in beside the new names they only confuse.
    targetOptions: { helper: 'target_helper', protocol: 'target_protocol', deprecated: ['iscsi_helper', 'iscsi_protocol'] },
    verbose: false,
  },
};

const UBUNTU: CinderPlatform = {
  controllerPackages: ['cinder-api', 'cinder-scheduler', 'python-cinderclient'],
  schedulerService: 'cinder-scheduler',
  apiService: 'cinder-api',
  lvmPackages: ['lvm2'],
  lvmServices: [],
  storagePackages: ['cinder-volume', 'python-mysqldb'],
  targetService: 'tgt',
  volumeService: 'cinder-volume',
  targetHelper: 'tgtadm',
  sqliteLeftover: true,
  uwsgiApps: [],
};

const PLATFORMS: Readonly<Record<string, CinderPlatform>> = {
  'juno/ubuntu': UBUNTU,
  'liberty/ubuntu': UBUNTU,
  'liberty/centos': {
    controllerPackages: ['openstack-cinder', 'python-cinderclient'],
    schedulerService: 'openstack-cinder-scheduler',
    apiService: 'openstack-cinder-api',
    lvmPackages: ['lvm2'],
    lvmServices: ['lvm2-lvmetad'],
    // Seed 003 and the Liberty RDO guide: LIO through targetcli, not tgt.
    storagePackages: ['openstack-cinder', 'targetcli', 'python-oslo-policy'],
    targetService: 'target',
    volumeService: 'openstack-cinder-volume',
    targetHelper: 'lioadm',
    sqliteLeftover: false,
    uwsgiApps: [],
  },
  'zed/debian': {
    controllerPackages: ['cinder-api', 'cinder-scheduler'],
    // Debian 12 init scripts (checked in the packages): /etc/init.d/cinder-api (uwsgi), cinder-scheduler.
    schedulerService: 'cinder-scheduler',
    apiService: 'cinder-api',
    lvmPackages: ['lvm2', 'thin-provisioning-tools'],
    lvmServices: [],
    // cinder-volume depends on `tgt | open-iscsi` and ships /etc/tgt/conf.d/cinder_tgt.conf; Debian's default helper is tgtadm.
    storagePackages: ['cinder-volume', 'tgt'],
    targetService: 'tgt',
    volumeService: 'cinder-volume',
    targetHelper: 'tgtadm',
    sqliteLeftover: false,
    uwsgiApps: ['/etc/cinder/cinder-api-uwsgi.ini'],
  },
};

export function cinderPlatform(release: Release, family: OsFamily): CinderPlatform {
  const row = PLATFORMS[`${release}/${family}`];
  if (!row) throw new Error(`cinder: ${release} on ${family} is not supported (supported: ${Object.keys(PLATFORMS).join(', ')})`);
  return row;
}

/** The volume group every guide uses (and cinder's default). */
export const VOLUME_GROUP = 'cinder-volumes';
export const LOCK_PATH = '/var/lib/cinder/tmp';
