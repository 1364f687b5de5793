import { openstackPlaybook } from '../../openstack/playbook.js';
import { isMain, main } from '../../lib/cli/cli.js';
import { OpenStackHost, serviceDatabase, serviceRegistration } from '../../openstack/host.js';
import { defineRole, type HostContext, type Play } from '../../lib/core/playbook.js';
import { quote, sh } from '../../lib/core/shell.js';
import { flushHandlers, type FlushHandlers, type Task } from '../../lib/core/task.js';
import { command } from '../../lib/modules/command.js';
import { debconf } from '../../lib/modules/debconf.js';
import { absentFile, file, symlink } from '../../lib/modules/file.js';
import { ini, type IniSections } from '../../lib/modules/ini.js';
import { keystoneProject, keystoneRole, keystoneRoleAssignment, keystoneUser } from '../../openstack/keystone/tasks.js';
import { line } from '../../lib/modules/line.js';
import { dbSync, versionCommand } from '../../openstack/migration.js';
import { uwsgiApp } from '../../openstack/uwsgi.js';
import { service } from '../../lib/modules/service.js';
import { keystoneBootstrap } from './bootstrap.js';
import { IDENTITY, keystonePlatform, type WebPlatform } from './data.js';

/**
 * The identity service on the controller: Juno (seed 004 §5) as its own
 * daemon with UUID tokens in SQL and the v2.0 admin token; Liberty (seed
 * 003 §3.4, seed 000) under Apache mod_wsgi on 5000/35357 with tokens in
 * memcached and the v3 admin token; Zed (Debian 12) with fernet tokens,
 * Debian's uwsgi init script on 5000 and `keystone-manage bootstrap`.
 * Then the projects, users and roles of each guide, keystone's own service
 * and endpoints, and /root/admin-openrc.sh and /root/demo-openrc.sh.
 */

type Handler = 'restartKeystone';

/** keystone.conf as each guide (and seed) sets it. */
export function keystoneConf(o: OpenStackHost): IniSections {
  const connection = o.dbConnection('keystone');
  switch (o.release) {
    case 'juno':
      // Seed 004 §5.1, as the Juno guide.
      return {
        DEFAULT: { admin_token: o.secret('admin_token'), verbose: 'True' },
        database: { connection },
        token: { provider: 'keystone.token.providers.uuid.Provider', driver: 'keystone.token.persistence.backends.sql.Token' },
        revoke: { driver: 'keystone.contrib.revoke.backends.sql.Revoke' },
      };
    case 'liberty':
      // Seed 003 §3.4's `grep '^[a-z]'` listing, as the Liberty guide.
      return {
        DEFAULT: { admin_token: o.secret('admin_token'), verbose: 'true' },
        database: { connection },
        // Seed 003 says servers = 192.168.57.11:11211 (a typo: its controller is .56.11); the Liberty guide says
        // localhost:11211. memcached listens on the management IP only (roles/memcached), so the controller's address.
        memcache: { servers: `${o.controller}:11211` },
        token: { provider: 'uuid', driver: 'memcache' },
        revoke: { driver: 'sql' },
      };
    case 'zed':
      // The Zed guide: the database and fernet tokens; no admin_token (bootstrap replaces it). Beyond the guide,
      // as Kolla and openstack-ansible do: keystone's own cache in memcached (roles/memcached). Without it every
      // request validates its token and reads identity data from the database: on the lab a GET took 85 ms
      // with it off and 20 ms with it on, and the converged site re-run went from 13 s to 8 s.
      return {
        database: { connection },
        token: { provider: 'fernet' },
        cache: { enabled: 'true', backend: 'oslo_cache.memcache_pool', memcache_servers: `${o.controller}:11211` },
      };
  }
}

/** Apache site for keystone: the two VirtualHosts of seed 003 and the Liberty guide. */
export function wsgiKeystoneConf(web: WebPlatform): string {
  const vhost = (port: number, group: string, script: string) => `<VirtualHost *:${port}>
    WSGIDaemonProcess ${group} processes=5 threads=1 user=keystone group=keystone display-name=%{GROUP}
    WSGIProcessGroup ${group}
    WSGIScriptAlias / /usr/bin/${script}
    WSGIApplicationGroup %{GLOBAL}
    WSGIPassAuthorization On
    <IfVersion >= 2.4>
      ErrorLogFormat "%{cu}t %M"
    </IfVersion>
    ErrorLog ${web.errorLog}
    CustomLog ${web.accessLog} combined

    <Directory /usr/bin>
        <IfVersion >= 2.4>
            Require all granted
        </IfVersion>
        <IfVersion < 2.4>
            Order allow,deny
            Allow from all
        </IfVersion>
    </Directory>
</VirtualHost>
`;
  return `# Managed by stackplay: keystone under mod_wsgi (public API on 5000, admin API on 35357).
Listen 5000
Listen 35357

${vhost(5000, 'keystone-public', 'keystone-wsgi-public')}
${vhost(35357, 'keystone-admin', 'keystone-wsgi-admin')}`;
}

/** The client environment of one user, in the variables of the release's guide. */
export function openrc(o: OpenStackHost, user: 'admin' | 'demo', locale: string): string {
  const password = o.servicePassword(user).reveal();
  const c = o.controller;
  // Juno and Liberty: admin uses the admin API (35357), demo the public one; Zed has only 5000.
  const port = user === 'admin' ? o.profile.keystoneAdminPort : 5000;
  const vars: [string, string][] =
    o.release === 'juno'
      ? [
          ['OS_TENANT_NAME', user],
          ['OS_USERNAME', user],
          ['OS_PASSWORD', password],
          ['OS_AUTH_URL', `http://${c}:${port}/v2.0`],
        ]
      : o.release === 'liberty'
        ? [
            ['OS_PROJECT_DOMAIN_ID', 'default'],
            ['OS_USER_DOMAIN_ID', 'default'],
            ['OS_PROJECT_NAME', user],
            ['OS_TENANT_NAME', user],
            ['OS_USERNAME', user],
            ['OS_PASSWORD', password],
            ['OS_AUTH_URL', `http://${c}:${port}/v3`],
            ['OS_IDENTITY_API_VERSION', '3'],
          ]
        : [
            ['OS_PROJECT_DOMAIN_NAME', 'Default'],
            ['OS_USER_DOMAIN_NAME', 'Default'],
            ['OS_PROJECT_NAME', user],
            ['OS_USERNAME', user],
            ['OS_PASSWORD', password],
            ['OS_AUTH_URL', `http://${c}:${port}/v3`],
            ['OS_IDENTITY_API_VERSION', '3'],
          ];
  // The Juno and Liberty guides append OS_IMAGE_API_VERSION=2 when verifying glance; Zed's openrc has it.
  vars.push(['OS_IMAGE_API_VERSION', '2']);
  // Seed 004 §8, §11: the clients fail with "unsupported locale setting" under a locale the host lacks
  // (an SSH client forwarding its own LANG/LC_*): sourcing the openrc sets one that exists.
  vars.push(['LC_ALL', locale], ['LANG', locale]);
  return `# Managed by stackplay: credentials of ${user} for the OpenStack clients (source it: . /root/${user}-openrc.sh)\n${vars.map(([k, v]) => `export ${k}=${quote(v)}`).join('\n')}\n`;
}

export function keystone(ctx: HostContext) {
  const o = new OpenStackHost(ctx);
  const p = keystonePlatform(o.release, o.family);
  const id = IDENTITY[o.release];
  const auth = o.keystoneAdmin();
  const tags = { tags: ['keystone'] };
  const restart = { notify: ['restartKeystone'] as Handler[], ...tags };
  const apiService = p.web?.service ?? p.keystoneService;
  // Read on every release, so that a bad value stops the run before any host is touched.
  const workers = o.apiWorkers;

  const before: Task<Handler>[] = [];
  if (p.debconf) {
    // Debian's keystone would otherwise offer to configure the database, create an admin and register
    // endpoints itself; everything of that is this role's job.
    before.push(
      debconf(
        {
          package: 'keystone',
          settings: [
            { question: 'keystone/configure_db', type: 'boolean', value: false },
            { question: 'keystone/create-admin-tenant', type: 'boolean', value: false },
            { question: 'keystone/register-endpoint', type: 'boolean', value: false },
          ],
        },
        tags,
      ),
    );
  }
  if (p.upstartOverride) before.push(file({ path: `/etc/init/${p.keystoneService}.override`, content: 'manual\n', mode: '0644' }, tags));

  const web: Task<Handler>[] = p.web
    ? [
        file({ path: p.web.wsgiConfig, content: wsgiKeystoneConf(p.web), mode: '0644' }, restart),
        // Seed 003 §3.4: "without ServerName keystone misbehaves" (it writes `ServerName 192.168.56.11:80`); the guide: `ServerName controller`.
        line({ path: p.web.serverNameFile, regexp: /^\s*#?\s*ServerName\s/, line: `ServerName ${o.controller}` }, restart),
        ...(p.web.enableLink ? [symlink(p.web.enableLink, restart)] : []),
      ]
    : [];

  const fernet: Task<Handler>[] = p.fernet
    ? [
        // As the Zed guide: root, with the keys owned by keystone. db_sync ran first as keystone, so the
        // log file these commands append to already exists and stays keystone's (seed 003's lesson).
        command({ cmd: sh`keystone-manage fernet_setup --keystone-user keystone --keystone-group keystone`, creates: '/etc/keystone/fernet-keys/0' }, restart),
        command(
          { cmd: sh`keystone-manage credential_setup --keystone-user keystone --keystone-group keystone`, creates: '/etc/keystone/credential-keys/0' },
          restart,
        ),
      ]
    : [];

  const services: Task<Handler>[] = p.web
    ? [
        // Seed 003 enables httpd only; keystone's own service would take the same ports.
        service({ name: p.keystoneService, state: 'stopped', enabled: false }, tags),
        service({ name: p.web.service, state: 'started', enabled: true }, tags),
      ]
    : [service({ name: p.keystoneService, state: 'started', enabled: true }, tags)];

  const adminPassword = o.servicePassword('admin');
  const demoPassword = o.servicePassword('demo');
  const identityService = serviceRegistration(o, {
    name: 'keystone',
    type: 'identity',
    description: 'OpenStack Identity',
    urls: o.identityUrls(),
    user: false,
  });

  // Juno (seed 004 §5.2–5.3) and Liberty (seed 003, Liberty guide) with the admin token; Zed through bootstrap.
  const adminObjects: Task<Handler>[] =
    id.admin === null
      ? [keystoneBootstrap({ host: o.controller, port: auth.port, adminPassword, urls: o.identityUrls(), region: o.core.region }, tags)]
      : [
          keystoneProject(auth, { name: 'admin', description: id.admin.projectDescription }, tags),
          keystoneUser(
            auth,
            { name: 'admin', password: adminPassword, ...(id.admin.email ? { email: ctx.vars.str('admin_email', 'admin@example.com') } : {}) },
            tags,
          ),
          keystoneRole(auth, { name: 'admin' }, tags),
          keystoneRoleAssignment(auth, { user: 'admin', project: 'admin', role: 'admin' }, tags),
        ];
  const demoObjects: Task<Handler>[] = [
    keystoneProject(auth, { name: 'demo', description: id.demo.projectDescription }, tags),
    keystoneUser(
      auth,
      {
        name: 'demo',
        password: demoPassword,
        ...(id.demo.defaultProject ? { project: 'demo' } : {}),
        ...(id.demo.email ? { email: ctx.vars.str('demo_email', 'demo@example.com') } : {}),
      },
      tags,
    ),
    // Juno creates `_member_` itself (with its fixed member_role_id) when a user is created in a tenant:
    // creating it first under another id would make that fail.
    ...(o.release === 'juno' ? [] : [keystoneRole(auth, { name: id.demo.role }, tags)]),
    keystoneRoleAssignment(auth, { user: 'demo', project: 'demo', role: id.demo.role }, tags),
  ];
  const serviceProject = keystoneProject(auth, { name: 'service', description: id.serviceDescription }, tags);
  const objects: Task<Handler>[] =
    o.release === 'liberty'
      ? // The Liberty guide registers keystone's service and endpoints first, then projects, users and roles.
        [...identityService, ...adminObjects, serviceProject, ...demoObjects]
      : o.release === 'juno'
        ? [...adminObjects, ...demoObjects, serviceProject, ...identityService]
        : // Zed: bootstrap made admin and the identity endpoints; asserting the endpoints again corrects drift.
          [...adminObjects, serviceProject, ...demoObjects, ...identityService];

  const rc = (user: 'admin' | 'demo') =>
    file({ path: `/root/${user}-openrc.sh`, content: openrc(o, user, p.locale), mode: '0600', owner: 'root', group: 'root' }, { tags: ['keystone', 'openrc'] });

  const tasks: (Task<Handler> | FlushHandlers)[] = [
    ...before,
    o.packages([...p.packages, ...(p.web?.packages ?? [])], tags),
    // Holds the admin token and the database password: root and the keystone group only.
    ini({ path: '/etc/keystone/keystone.conf', settings: keystoneConf(o), ...o.secretFile('keystone') }, restart),
    ...web,
    ...(p.uwsgiIni ? [uwsgiApp({ path: p.uwsgiIni, workers }, restart)] : []),
    ...serviceDatabase(o, 'keystone'),
    // Seed 003: as the keystone user, or its log files end up owned by root and keystone cannot start.
    dbSync(
      { service: 'keystone', user: 'keystone', command: sh`keystone-manage db_sync`, fingerprint: versionCommand(sh`keystone-manage db_version`) },
      { notify: ['restartKeystone'], tags: ['keystone', 'database'] },
    ),
    ...fernet,
    ...(p.removeSqlite ? [absentFile('/var/lib/keystone/keystone.db', tags)] : []),
    ...(p.tokenFlush
      ? [
          // The Juno guide appends this to keystone's crontab; a cron.d file is the same job, owned and idempotent.
          file(
            {
              path: '/etc/cron.d/keystone-token-flush',
              content:
                '# Managed by stackplay: purge expired keystone tokens (Juno guide).\n@hourly keystone /usr/bin/keystone-manage token_flush >/var/log/keystone/keystone-tokenflush.log 2>&1\n',
              mode: '0644',
            },
            tags,
          ),
        ]
      : []),
    // The API must answer with the new configuration before anything is created through it.
    flushHandlers(),
    ...services,
    ...objects,
    rc('admin'),
    rc('demo'),
  ];
  return defineRole('keystone', { restartKeystone: service({ name: apiService, state: 'restarted' }) }).tasks(tasks);
}

export const plays: Play[] = [{ name: 'keystone: identity service', hosts: 'controller', roles: [keystone] }];

if (isMain(import.meta.url)) await main(openstackPlaybook('keystone', plays));
