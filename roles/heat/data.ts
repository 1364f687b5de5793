import type { OsFamily, Release } from '../../openstack/release.js';

/** Orchestration per release and OS (the Juno and Liberty install guides; no seed installs heat, seed 002 lists it). */

export interface HeatPlatform {
  readonly packages: readonly string[];
  readonly apiService: string;
  readonly cfnService: string;
  readonly engineService: string;
  /** Ubuntu's packages leave an unused SQLite database the guides delete. */
  readonly sqliteLeftover: boolean;
}

const UBUNTU: HeatPlatform = {
  packages: ['heat-api', 'heat-api-cfn', 'heat-engine', 'python-heatclient'],
  apiService: 'heat-api',
  cfnService: 'heat-api-cfn',
  engineService: 'heat-engine',
  sqliteLeftover: true,
};

const PLATFORMS: Readonly<Record<string, HeatPlatform>> = {
  'juno/ubuntu': UBUNTU,
  'liberty/ubuntu': UBUNTU,
  'liberty/centos': {
    packages: ['openstack-heat-api', 'openstack-heat-api-cfn', 'openstack-heat-engine', 'python-heatclient'],
    apiService: 'openstack-heat-api',
    cfnService: 'openstack-heat-api-cfn',
    engineService: 'openstack-heat-engine',
    sqliteLeftover: false,
  },
};

/**
 * Null for Zed: its guide makes heat depend on a `heat` keystone domain with
 * a domain-scoped admin (`heat_domain_admin`), which the keystone tasks
 * cannot create yet (no domain or domain-role-assignment task); without it
 * stacks that create users fail. No seed installs heat on Zed.
 */
export function heatPlatform(release: Release, family: OsFamily): HeatPlatform | null {
  if (release === 'zed') return null;
  const row = PLATFORMS[`${release}/${family}`];
  if (!row) throw new Error(`heat: ${release} on ${family} is not supported (supported: ${Object.keys(PLATFORMS).join(', ')}; zed: none)`);
  return row;
}
