import type { DebconfSetting } from '../../lib/modules/debconf.js';
import type { OsFamily, Release } from '../../openstack/release.js';

/** The dashboard per release and OS (seed 004 §9, seed 003 §7, the install guides). */

export interface HorizonPlatform {
  readonly packages: readonly string[];
  /** Packages the guide removes (Ubuntu's theme hides parts of the dashboard). */
  readonly remove: readonly string[];
  readonly settingsPath: string;
  /** The web server that runs the dashboard under mod_wsgi. */
  readonly webService: string;
  /** Enabled-site links the role removes (sites-enabled/<name>.conf) before the web server starts. */
  readonly disableSites: readonly string[];
  /** Debconf answers given before the packages ask (Debian's openstack-dashboard-apache). */
  readonly debconf: { readonly package: string; readonly settings: readonly DebconfSetting[] } | null;
  /**
   * The package's settings snippets, read after `settingsPath`, that assign
   * CACHES: the role writes its CACHES there too, or the snippet's wins.
   */
  readonly cacheSnippets: readonly string[];
}

export interface HorizonRelease {
  /** The role the dashboard gives users it creates: Juno's `_member_`, Liberty's `user`, Zed's `member`. */
  readonly defaultRole: string;
  /** Liberty on: log in with keystone v3, with domains. */
  readonly identityV3: boolean;
  readonly apiVersions: Readonly<Record<string, number>> | null;
  readonly cacheBackend: string;
  /** Zed's guide keeps sessions in the cache too. */
  readonly sessionEngine: string | null;
  /** Domain the login form assumes: keystone's first domain, by id (Liberty) or name (Zed), as the guides write it. */
  readonly defaultDomain: string | null;
}

/**
 * Where the dashboard finds memcached, which runs on the controller beside it.
 * Juno: the dashboard installs memcached itself (seed 004 §9) and Ubuntu's
 * listens on 127.0.0.1 only, the address seed 004 and the Juno guide use.
 * Liberty and Zed: the memcached role installs it and binds it to the
 * management address only (what keystone's and the services'
 * `memcached_servers` use), so `controller:11211`, as seed 003 writes it.
 */
export type MemcachedAddress = 'loopback' | 'controller';

const PLATFORMS: Readonly<Record<string, HorizonPlatform & { readonly memcached: MemcachedAddress }>> = {
  'juno/ubuntu': {
    packages: ['openstack-dashboard', 'apache2', 'libapache2-mod-wsgi', 'memcached', 'python-memcache'],
    remove: ['openstack-dashboard-ubuntu-theme'],
    settingsPath: '/etc/openstack-dashboard/local_settings.py',
    webService: 'apache2',
    debconf: null,
    disableSites: [],
    cacheSnippets: [],
    memcached: 'loopback',
  },
  'liberty/ubuntu': {
    packages: ['openstack-dashboard'],
    remove: ['openstack-dashboard-ubuntu-theme'],
    settingsPath: '/etc/openstack-dashboard/local_settings.py',
    webService: 'apache2',
    debconf: null,
    disableSites: [],
    cacheSnippets: [],
    // The Liberty Ubuntu guide says 127.0.0.1:11211; memcached no longer listens there (see MemcachedAddress).
    memcached: 'controller',
  },
  'liberty/centos': {
    packages: ['openstack-dashboard'],
    remove: [],
    // Not .py on CentOS: /usr/share/openstack-dashboard/openstack_dashboard/local/local_settings.py links here.
    settingsPath: '/etc/openstack-dashboard/local_settings',
    webService: 'httpd',
    debconf: null,
    disableSites: [],
    cacheSnippets: [],
    memcached: 'controller',
  },
  'zed/debian': {
    // openstack-dashboard-apache pulls in apache2 and mod_wsgi and enables the dashboard's site.
    packages: ['openstack-dashboard-apache'],
    remove: [],
    // Debian's postinst copies examples/local_settings.py here once (checked in the 23.0.0 package).
    settingsPath: '/etc/openstack-dashboard/local_settings.py',
    webService: 'apache2',
    // openstack-dashboard-apache's postinst (23.0.0, bookworm): horizon/activate_vhost false (its default) keeps
    // Apache's default site and serves the dashboard at /horizon (openstack-dashboard-alias-only.conf), as the
    // guide's URL; true would replace the default site and, with horizon/use_ssl (default true), force HTTPS.
    // With activate_vhost false the same postinst also runs `a2ensite default-ssl.conf` without enabling mod_ssl;
    // Debian 12's apache2 (2.4.6x) no longer wraps that site in <IfModule mod_ssl.c>, so Apache refused to start
    // ("Invalid command 'SSLEngine'") on the lab controller. The dashboard is served over HTTP as in the guide.
    disableSites: ['default-ssl'],
    debconf: {
      package: 'openstack-dashboard-apache',
      settings: [
        { question: 'horizon/activate_vhost', type: 'boolean', value: false },
        { question: 'horizon/use_ssl', type: 'boolean', value: false },
      ],
    },
    // openstack-dashboard's postinst copies its snippets into local_settings.d once (23.0.0); _0006 sets
    // CACHES to a LocMemCache, each Apache process its own, which with the guide's cache-backed sessions
    // lost the login whenever the next request reached the other mod_wsgi process (verify's Horizon
    // check found it: logged in, then sent back to the login page). Its own comment says to edit it.
    cacheSnippets: ['/etc/openstack-dashboard/local_settings.d/_0006_debian_cache.py'],
    memcached: 'controller',
  },
};

export function horizonPlatform(release: Release, family: OsFamily): HorizonPlatform & { readonly memcached: MemcachedAddress } {
  const row = PLATFORMS[`${release}/${family}`];
  if (!row) throw new Error(`horizon: ${release} on ${family} is not supported (supported: ${Object.keys(PLATFORMS).join(', ')})`);
  return row;
}

export const HORIZON_RELEASE: Readonly<Record<Release, HorizonRelease>> = {
  juno: {
    defaultRole: '_member_',
    identityV3: false,
    apiVersions: null,
    cacheBackend: 'django.core.cache.backends.memcached.MemcachedCache',
    sessionEngine: null,
    defaultDomain: null,
  },
  // As the Liberty guide: {"identity": 3, "volume": 2} (no "image" key before Mitaka's guide).
  liberty: {
    defaultRole: 'user',
    identityV3: true,
    apiVersions: { identity: 3, volume: 2 },
    cacheBackend: 'django.core.cache.backends.memcached.MemcachedCache',
    sessionEngine: null,
    defaultDomain: 'default',
  },
  zed: {
    // The Zed guide says "user", a role no step of it creates; `keystone-manage bootstrap` creates `member`.
    defaultRole: 'member',
    identityV3: true,
    apiVersions: { identity: 3, image: 2, volume: 3 },
    // The Zed guide says PyMemcacheCache; Debian 12's horizon depends on python3-memcache, not pymemcache.
    cacheBackend: 'django.core.cache.backends.memcached.MemcachedCache',
    sessionEngine: 'django.contrib.sessions.backends.cache',
    defaultDomain: 'Default',
  },
};
