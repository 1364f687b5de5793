import type { OsFamily, Release } from '../../openstack/release.js';

/**
 * Keystone per release and OS: who serves the API (keystone's own daemon,
 * or Apache mod_wsgi in Liberty), package names, paths — as data.
 */
export interface KeystonePlatform {
  readonly packages: readonly string[];
  /** keystone's own init script / unit. */
  readonly keystoneService: string;
  /** Liberty: Apache serves keystone through mod_wsgi; keystone's own service stays stopped and disabled. */
  readonly web: WebPlatform | null;
  /**
   * Liberty on Ubuntu 14.04: `echo manual > /etc/init/keystone.override` before the package, so
   * its postinst does not start keystone on 5000/35357 before Apache can (Liberty guide for Ubuntu).
   */
  readonly upstartOverride: boolean;
  /** The Ubuntu package leaves a SQLite database the guides delete (`rm -f /var/lib/keystone/keystone.db`). */
  readonly removeSqlite: boolean;
  /** Juno keeps UUID tokens in SQL: the guide flushes expired ones hourly. */
  readonly tokenFlush: boolean;
  /** Zed: fernet tokens and credential keys (`keystone-manage fernet_setup`, `credential_setup`). */
  readonly fernet: boolean;
  /** The uwsgi ini file keystone runs from where the platform runs it under uwsgi (openstack/uwsgi.ts). */
  readonly uwsgiIni: string | null;
  /** Zed on Debian: the package asks debconf questions; they are preseeded to "no". */
  readonly debconf: boolean;
  /**
   * Locale the openrc files export. Seed 004 §11 hit `unsupported locale setting` and exported
   * en_US.UTF-8, which exists only where it was generated; C.UTF-8 is built into Ubuntu's and
   * Debian's libc. CentOS 7 has no C.UTF-8 but ships en_US.UTF-8 in glibc-common's locale archive.
   */
  readonly locale: string;
}

export interface WebPlatform {
  readonly packages: readonly string[];
  readonly service: string;
  /** Main server config, where `ServerName` goes. */
  readonly serverNameFile: string;
  readonly wsgiConfig: string;
  /** Ubuntu: the site is enabled with a link in sites-enabled. */
  readonly enableLink: { readonly path: string; readonly target: string } | null;
  readonly errorLog: string;
  readonly accessLog: string;
}

const base = { upstartOverride: false, removeSqlite: false, tokenFlush: false, fernet: false, debconf: false, uwsgiIni: null } as const;

const PLATFORMS: Readonly<Partial<Record<`${Release}/${OsFamily}`, KeystonePlatform>>> = {
  // Seed 004 §5.1: `apt-get install keystone python-keystoneclient`; keystone runs as its own upstart job.
  'juno/ubuntu': {
    ...base,
    packages: ['keystone', 'python-keystoneclient'],
    keystoneService: 'keystone',
    web: null,
    removeSqlite: true,
    tokenFlush: true,
    locale: 'C.UTF-8',
  },
  // Seed 003 §2.3.1: `yum install openstack-keystone httpd mod_wsgi memcached python-memcached` (memcached: its own role).
  'liberty/centos': {
    ...base,
    packages: ['openstack-keystone', 'python-openstackclient'],
    keystoneService: 'openstack-keystone',
    web: {
      packages: ['httpd', 'mod_wsgi'],
      service: 'httpd',
      serverNameFile: '/etc/httpd/conf/httpd.conf',
      wsgiConfig: '/etc/httpd/conf.d/wsgi-keystone.conf',
      enableLink: null,
      errorLog: '/var/log/httpd/keystone-error.log',
      accessLog: '/var/log/httpd/keystone-access.log',
    },
    locale: 'en_US.UTF-8',
  },
  // Seed 000 follows the Liberty guide for Ubuntu (keystone-install): keystone apache2 libapache2-mod-wsgi.
  'liberty/ubuntu': {
    ...base,
    packages: ['keystone', 'python-openstackclient'],
    keystoneService: 'keystone',
    web: {
      packages: ['apache2', 'libapache2-mod-wsgi'],
      service: 'apache2',
      serverNameFile: '/etc/apache2/apache2.conf',
      wsgiConfig: '/etc/apache2/sites-available/wsgi-keystone.conf',
      enableLink: { path: '/etc/apache2/sites-enabled/wsgi-keystone.conf', target: '/etc/apache2/sites-available/wsgi-keystone.conf' },
      errorLog: '/var/log/apache2/keystone.log',
      accessLog: '/var/log/apache2/keystone_access.log',
    },
    upstartOverride: true,
    removeSqlite: true,
    locale: 'C.UTF-8',
  },
  // Debian 12's keystone (22.0.2, Zed) runs uwsgi on 5000 from /etc/init.d/keystone (checked in the bookworm
  // package); the Zed guide's Apache site is Ubuntu's packaging. Its postinst asks keystone/configure_db,
  // keystone/create-admin-tenant and keystone/register-endpoint.
  'zed/debian': {
    ...base,
    packages: ['keystone', 'python3-openstackclient'],
    keystoneService: 'keystone',
    web: null,
    fernet: true,
    debconf: true,
    uwsgiIni: '/etc/keystone/keystone-uwsgi.ini',
    locale: 'C.UTF-8',
  },
};

export function keystonePlatform(release: Release, family: OsFamily): KeystonePlatform {
  const p = PLATFORMS[`${release}/${family}`];
  if (!p) throw new Error(`keystone: ${release} on ${family} is not a supported combination (juno/ubuntu, liberty/centos, liberty/ubuntu, zed/debian)`);
  return p;
}

/** Users, projects and roles each guide creates after keystone itself. */
export interface IdentityData {
  /** null: `keystone-manage bootstrap` makes admin (Zed). */
  readonly admin: { readonly projectDescription: string; readonly email: boolean } | null;
  readonly demo: { readonly projectDescription: string; readonly role: string; readonly email: boolean; readonly defaultProject: boolean };
  readonly serviceDescription: string;
}

export const IDENTITY: Readonly<Record<Release, IdentityData>> = {
  // Seed 004 §5.2: tenants with descriptions, users with e-mail, demo created in its tenant (Juno gives it `_member_`).
  juno: {
    admin: { projectDescription: 'Admin Tenant', email: true },
    demo: { projectDescription: 'Demo Tenant', role: '_member_', email: true, defaultProject: true },
    serviceDescription: 'Service Tenant',
  },
  // Seed 003 §3.4 and the Liberty guide: role `user` for demo.
  liberty: {
    admin: { projectDescription: 'Admin Project', email: false },
    demo: { projectDescription: 'Demo Project', role: 'user', email: false, defaultProject: false },
    serviceDescription: 'Service Project',
  },
  // The Zed guide names them myproject/myuser/myrole; stackplay keeps demo (as the openrc and the other
  // releases) with `member`, the role keystone-manage bootstrap creates and Horizon's default role.
  zed: {
    admin: null,
    demo: { projectDescription: 'Demo Project', role: 'member', email: false, defaultProject: false },
    serviceDescription: 'Service Project',
  },
};
