import type { OsFamily, Release } from '../../openstack/release.js';

/** memcached per OS: keystone's token store (Liberty) and Horizon's session cache (Liberty, Zed). */
export interface MemcachedPlatform {
  /** The daemon and the Python client the guides install with it. */
  readonly packages: readonly string[];
  readonly service: string;
  /** Where the listen address is set: a `-l` line of memcached.conf, or OPTIONS in /etc/sysconfig/memcached. */
  readonly listen: { readonly kind: 'conf'; readonly path: string } | { readonly kind: 'sysconfig'; readonly path: string };
}

const PLATFORMS: Readonly<Record<OsFamily, MemcachedPlatform>> = {
  // Liberty guide for Ubuntu (keystone-install): memcached python-memcache; Debian's default file says `-l 127.0.0.1`.
  ubuntu: { packages: ['memcached', 'python-memcache'], service: 'memcached', listen: { kind: 'conf', path: '/etc/memcached.conf' } },
  // Seed 003: `yum install … memcached python-memcached`, `systemctl enable memcached`.
  centos: { packages: ['memcached', 'python-memcached'], service: 'memcached', listen: { kind: 'sysconfig', path: '/etc/sysconfig/memcached' } },
  // Zed guide (environment-memcached): memcached python3-memcache, `-l` = the management IP. Debian 12's
  // postinst copies /usr/share/memcached/memcached.conf.default (`-l 127.0.0.1`) to /etc/memcached.conf;
  // the init script is /etc/init.d/memcached (checked in memcached_1.6.18 for bookworm).
  debian: { packages: ['memcached', 'python3-memcache'], service: 'memcached', listen: { kind: 'conf', path: '/etc/memcached.conf' } },
};

/** Juno's guide has no memcached (keystone keeps UUID tokens in SQL, Horizon uses local memory). */
export const usesMemcached = (release: Release): boolean => release !== 'juno';

export const memcachedPlatform = (family: OsFamily): MemcachedPlatform => PLATFORMS[family];
