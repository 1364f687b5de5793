import type { IniValue } from '../../lib/modules/ini.js';
import type { OsFamily, Release } from '../../openstack/release.js';

/** The SQL server per release and OS, as each install guide sets it up. */
export interface MariadbPlatform {
  /** Server, client and the Python driver the services' `connection` URL needs. */
  readonly packages: readonly string[];
  readonly service: string;
  /** File holding the OpenStack `[mysqld]` options. */
  readonly config: string;
  /** `[mysqld]` options besides `bind-address` (the management IP, from the inventory). */
  readonly mysqld: Readonly<Record<string, IniValue>>;
  /** What the simulated server reports for VERSION() (`--plan` only). */
  readonly simVersion: string;
}

// Seed 004 §4.2 and the Juno and Liberty guides: exactly these five, innodb_file_per_table valueless.
const GUIDE_OPTIONS = {
  'default-storage-engine': 'innodb',
  innodb_file_per_table: null,
  'collation-server': 'utf8_general_ci',
  'init-connect': "'SET NAMES utf8'",
  'character-set-server': 'utf8',
} as const;

const PLATFORMS: Readonly<Partial<Record<`${Release}/${OsFamily}`, MariadbPlatform>>> = {
  // Seed 004 §4.2: `apt-get install mysql-server python-mysqldb`, options edited into /etc/mysql/my.cnf.
  'juno/ubuntu': {
    packages: ['mysql-server', 'python-mysqldb'],
    service: 'mysql',
    config: '/etc/mysql/my.cnf',
    mysqld: GUIDE_OPTIONS,
    simVersion: '5.5.62-0ubuntu0.14.04.1',
  },
  'liberty/centos': {
    packages: ['mariadb', 'mariadb-server', 'MySQL-python'],
    service: 'mariadb',
    // Seed 003 copies /usr/share/mysql/my-medium.cnf over /etc/my.cnf and edits its [mysqld]; the Liberty
    // guide (RDO) puts the same options in a drop-in, which leaves the packaged my.cnf alone.
    config: '/etc/my.cnf.d/mariadb_openstack.cnf',
    mysqld: GUIDE_OPTIONS,
    simVersion: '5.5.44-MariaDB',
  },
  // Seed 000 follows the Liberty guide for Ubuntu: mariadb-server python-pymysql, /etc/mysql/conf.d/mysqld_openstack.cnf.
  // python-mysqldb too: lib/openstack.ts gives Liberty `mysql://` URLs (MySQL-python), not the guide's `mysql+pymysql://`.
  'liberty/ubuntu': {
    packages: ['mariadb-server', 'python-pymysql', 'python-mysqldb'],
    service: 'mysql',
    config: '/etc/mysql/conf.d/mysqld_openstack.cnf',
    mysqld: GUIDE_OPTIONS,
    simVersion: '5.5.47-MariaDB-1ubuntu0.14.04.1',
  },
  // The Zed guide (environment-sql-database-ubuntu): 99-openstack.cnf; Debian 12's server is MariaDB 10.11
  // with the init script /etc/init.d/mariadb (checked in mariadb-server_10.11 for bookworm).
  'zed/debian': {
    packages: ['mariadb-server', 'python3-pymysql'],
    service: 'mariadb',
    config: '/etc/mysql/mariadb.conf.d/99-openstack.cnf',
    mysqld: {
      'default-storage-engine': 'innodb',
      innodb_file_per_table: 'on',
      max_connections: 4096,
      'collation-server': 'utf8_general_ci',
      'character-set-server': 'utf8',
    },
    simVersion: '10.11.6-MariaDB-0+deb12u1',
  },
};

export function mariadbPlatform(release: Release, family: OsFamily): MariadbPlatform {
  const p = PLATFORMS[`${release}/${family}`];
  if (!p) throw new Error(`mariadb: ${release} on ${family} is not a supported combination (juno/ubuntu, liberty/centos, liberty/ubuntu, zed/debian)`);
  return p;
}
