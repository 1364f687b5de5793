import type { OsFamily, Release } from './release.js';
import type { PackageManager } from '../lib/modules/package.js';

/**
 * Release and OS differences as data: roles ask this table instead of
 * branching on names. One row per OS family, one per (release, family) where
 * the release matters.
 */
export interface OsPlatform {
  readonly packageManager: PackageManager;
  /** Time service package, service name and config file (chrony's names differ per family). */
  readonly timeSync: { readonly package: string; readonly service: string; readonly config: string; readonly kind: 'ntp' | 'chrony' };
  /**
   * Package installs run under a policy-rc.d that forbids starting services:
   * Debian 12's packages start every daemon from its postinst with the packaged
   * config (keystone, glance, nova… against SQLite or nothing); the roles write
   * the config and then start each service themselves. Proved on the Zed lab.
   */
  readonly holdServicesOnInstall: boolean;
  /** Path of Horizon's login page on the controller's web server (the verify playbook loads it). Seed 003 and the Liberty RDO guide: /dashboard. */
  readonly dashboardLoginPath: string;
}

export const OS: Readonly<Record<OsFamily, OsPlatform>> = {
  ubuntu: {
    packageManager: 'apt',
    timeSync: { kind: 'ntp', package: 'ntp', service: 'ntp', config: '/etc/ntp.conf' },
    holdServicesOnInstall: false,
    dashboardLoginPath: '/horizon/auth/login/',
  },
  debian: {
    packageManager: 'apt',
    timeSync: { kind: 'chrony', package: 'chrony', service: 'chrony', config: '/etc/chrony/chrony.conf' },
    holdServicesOnInstall: true,
    dashboardLoginPath: '/horizon/auth/login/',
  },
  centos: {
    packageManager: 'yum',
    timeSync: { kind: 'chrony', package: 'chrony', service: 'chronyd', config: '/etc/chrony.conf' },
    holdServicesOnInstall: false,
    dashboardLoginPath: '/dashboard/auth/login/',
  },
};

export type OpenStackRepo =
  | { readonly kind: 'none' }
  /** Ubuntu Cloud Archive: keyring package, then the list file (seed 004 §1; install guides). */
  | { readonly kind: 'apt'; readonly name: string; readonly keyringPackage: string; readonly line: string }
  /** RDO: a release package that drops the .repo files (Liberty install guide for CentOS 7). */
  | { readonly kind: 'package'; readonly packages: readonly string[] };

export function openstackRepo(release: Release, family: OsFamily): OpenStackRepo {
  if (family === 'ubuntu' && (release === 'juno' || release === 'liberty')) {
    return {
      kind: 'apt',
      name: `cloudarchive-${release}`,
      keyringPackage: 'ubuntu-cloud-keyring',
      line: `deb http://ubuntu-cloud.archive.canonical.com/ubuntu trusty-updates/${release} main`,
    };
  }
  if (family === 'centos' && release === 'liberty') return { kind: 'package', packages: [`centos-release-openstack-${release}`] };
  // Debian 12 ships Zed in its own archive.
  return { kind: 'none' };
}
