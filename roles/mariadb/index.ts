import { openstackPlaybook } from '../../openstack/playbook.js';
import { isMain, main } from '../../lib/cli/cli.js';
import { OpenStackHost } from '../../openstack/host.js';
import { defineRole, type HostContext, type Play } from '../../lib/core/playbook.js';
import { flushHandlers } from '../../lib/core/task.js';
import { ini } from '../../lib/modules/ini.js';
import { service } from '../../lib/modules/service.js';
import { mariadbPlatform } from './data.js';
import { mysqlSecureInstallation } from './secure.js';

/**
 * The SQL server on the controller (seed 004 §4.2, seed 003 §3.2, the
 * Zed guide): packages, the OpenStack `[mysqld]` options bound to the
 * management IP, the service, then mysql_secure_installation's clean-up
 * with root reachable only through the unix socket (see secure.ts): no
 * root password exists, so none is ever typed, stored or put in argv.
 * Databases and accounts are made by each service's role (`serviceDatabase`).
 */
export function mariadb(ctx: HostContext) {
  const o = new OpenStackHost(ctx);
  const p = mariadbPlatform(o.release, o.family);
  return defineRole('mariadb', {
    restartMysql: service({ name: p.service, state: 'restarted' }),
  }).tasks([
    o.packages(p.packages, { tags: ['mariadb'] }),
    ini(
      {
        path: p.config,
        // Seed 004 §4.2: bind-address = the controller's management IP (10.0.0.11), so other nodes reach it.
        settings: { mysqld: { 'bind-address': o.core.managementIp, ...p.mysqld } },
        mode: '0644',
      },
      { notify: ['restartMysql'], tags: ['mariadb'] },
    ),
    service({ name: p.service, state: 'started', enabled: true }, { tags: ['mariadb'] }),
    // The clean-up talks to the server: it must run with the new options.
    flushHandlers(),
    mysqlSecureInstallation({ simVersion: p.simVersion }, { tags: ['mariadb'] }),
  ]);
}

export const plays: Play[] = [{ name: 'mariadb: SQL database', hosts: 'controller', roles: [mariadb] }];

if (isMain(import.meta.url)) await main(openstackPlaybook('mariadb', plays));
