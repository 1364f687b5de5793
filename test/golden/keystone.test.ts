import { openstackPlaybook } from '../../openstack/playbook.js';
import { expect } from 'chai';
import { type Play } from '../../lib/core/playbook.js';
import { describeStep } from '../../lib/core/runtime.js';
import { Secret } from '../../lib/core/secret.js';
import { registerSimKeystone } from '../../openstack/keystone/sim.js';
import { SimNetwork } from '../../lib/sim/sim.js';
import type { Plan } from '../../lib/core/task.js';
import { common } from '../../roles/common/index.js';
import { BOOTSTRAP_MARKER, keystoneBootstrap } from '../../roles/keystone/bootstrap.js';
import { plays as keystonePlays } from '../../roles/keystone/index.js';
import { plays as mariadbPlays } from '../../roles/mariadb/index.js';
import { plays as memcachedPlays } from '../../roles/memcached/index.js';
import { plays as rabbitmqPlays } from '../../roles/rabbitmq/index.js';
import { iniMismatches, planSite, type ExpectedIni, type HostPlan } from '../support/plan.js';
import { expectIdempotent } from '../support/golden.js';
import { converge, planOn, simHost } from '../support/sim.js';
import { inventoryWithPassword, SEED_SITES, seedSitePlans, type SeedSite } from '../support/seed-sites.js';

/**
 * Keystone per seed: keystone.conf, how it is served, the database and
 * db_sync, the projects/users/roles/catalog created through its API (as
 * the simulated keystone logs them), and the openrc files.
 */

/** Distinct from every word in the plans, so finding it anywhere but in a file is a leak. */
const PASSWORD = 'Kx4-seed-pw-90d2';

const inventoryText = (path: string, replace: readonly [RegExp, string][] = []): string => inventoryWithPassword(path, PASSWORD, replace);

const allPlays: Play[] = [{ name: 'common', hosts: 'all', roles: [common] }, ...mariadbPlays, ...rabbitmqPlays, ...memcachedPlays, ...keystonePlays];

const SITES = SEED_SITES;
type Site = SeedSite;
const { site, controller } = seedSitePlans('keystone', allPlays, PASSWORD);

/** API calls in order, keystone's generated ids replaced by `:id`. */
const apiCalls = (plan: HostPlan): string[] =>
  plan.commands.filter((c) => /^(POST|PUT|PATCH|DELETE) http/.test(c)).map((c) => c.replace(/\b[0-9a-f]{32}\b/g, ':id'));

// ---- keystone.conf, per seed ---------------------------------------------------------------

const KEYSTONE_CONF: Record<Site, ExpectedIni> = {
  // Seed 004 §5.1.
  juno: {
    DEFAULT: { admin_token: PASSWORD, verbose: 'True' },
    database: { connection: `mysql://keystone:${PASSWORD}@controller/keystone` },
    token: { provider: 'keystone.token.providers.uuid.Provider', driver: 'keystone.token.persistence.backends.sql.Token' },
    revoke: { driver: 'keystone.contrib.revoke.backends.sql.Revoke' },
  },
  // Seed 003 §3.4's `grep '^[a-z]'` listing (memcache servers: the controller's address, see the role).
  libertyCentos: {
    DEFAULT: { admin_token: PASSWORD, verbose: 'true' },
    database: { connection: `mysql://keystone:${PASSWORD}@192.168.56.11/keystone` },
    memcache: { servers: '192.168.56.11:11211' },
    token: { provider: 'uuid', driver: 'memcache' },
    revoke: { driver: 'sql' },
  },
  libertyUbuntu: {
    DEFAULT: { admin_token: PASSWORD, verbose: 'true' },
    database: { connection: `mysql://keystone:${PASSWORD}@controller/keystone` },
    memcache: { servers: 'controller:11211' },
    token: { provider: 'uuid', driver: 'memcache' },
    revoke: { driver: 'sql' },
  },
  // The Zed guide: PyMySQL and fernet; no admin token. Beyond it: keystone's cache in memcached (as Kolla).
  zed: {
    DEFAULT: { admin_token: undefined },
    database: { connection: `mysql+pymysql://keystone:${PASSWORD}@controller/keystone` },
    token: { provider: 'fernet', driver: undefined },
    cache: { enabled: 'true', backend: 'oslo_cache.memcache_pool', memcache_servers: 'controller:11211' },
  },
};

// ---- the API calls, per seed --------------------------------------------------------------

const V2 = 'http://controller:35357/v2.0';
const JUNO_CALLS = [
  // Seed 004 §5.2.2
  `POST ${V2}/tenants {"tenant":{"name":"admin","enabled":true,"description":"Admin Tenant"}}`,
  `POST ${V2}/users {"user":{"name":"admin","password":"***","enabled":true,"email":"admin@example.com"}}`,
  `POST ${V2}/OS-KSADM/roles {"role":{"name":"admin"}}`,
  `PUT ${V2}/tenants/:id/users/:id/roles/OS-KSADM/:id`,
  `POST ${V2}/tenants {"tenant":{"name":"demo","enabled":true,"description":"Demo Tenant"}}`,
  // `user-create --tenant demo`: Juno grants _member_ itself, so no separate grant call follows.
  `POST ${V2}/users {"user":{"name":"demo","password":"***","enabled":true,"email":"demo@example.com","tenantId":":id"}}`,
  `POST ${V2}/tenants {"tenant":{"name":"service","enabled":true,"description":"Service Tenant"}}`,
  // §5.3
  `POST ${V2}/OS-KSADM/services {"OS-KSADM:service":{"name":"keystone","type":"identity","description":"OpenStack Identity"}}`,
  `POST ${V2}/endpoints {"endpoint":{"service_id":":id","region":"regionOne","publicurl":"http://controller:5000/v2.0","internalurl":"http://controller:5000/v2.0","adminurl":"http://controller:35357/v2.0"}}`,
];

const libertyCalls = (c: string): string[] => {
  const v3 = `http://${c}:35357/v3`;
  return [
    // The Liberty guide's order: keystone's service and endpoints (seed 003 shows the same URLs), then the accounts.
    `POST ${v3}/services {"service":{"name":"keystone","type":"identity","description":"OpenStack Identity","enabled":true}}`,
    `POST ${v3}/regions {"region":{"id":"RegionOne"}}`,
    `POST ${v3}/endpoints {"endpoint":{"service_id":":id","region_id":"RegionOne","interface":"public","url":"http://${c}:5000/v2.0","enabled":true}}`,
    `POST ${v3}/endpoints {"endpoint":{"service_id":":id","region_id":"RegionOne","interface":"internal","url":"http://${c}:5000/v2.0","enabled":true}}`,
    `POST ${v3}/endpoints {"endpoint":{"service_id":":id","region_id":"RegionOne","interface":"admin","url":"http://${c}:35357/v2.0","enabled":true}}`,
    `POST ${v3}/projects {"project":{"name":"admin","enabled":true,"description":"Admin Project","domain_id":"default"}}`,
    `POST ${v3}/users {"user":{"name":"admin","password":"***","enabled":true,"domain_id":"default"}}`,
    `POST ${v3}/roles {"role":{"name":"admin"}}`,
    `PUT ${v3}/projects/:id/users/:id/roles/:id`,
    `POST ${v3}/projects {"project":{"name":"service","enabled":true,"description":"Service Project","domain_id":"default"}}`,
    `POST ${v3}/projects {"project":{"name":"demo","enabled":true,"description":"Demo Project","domain_id":"default"}}`,
    `POST ${v3}/users {"user":{"name":"demo","password":"***","enabled":true,"domain_id":"default"}}`,
    `POST ${v3}/roles {"role":{"name":"user"}}`,
    `PUT ${v3}/projects/:id/users/:id/roles/:id`,
  ];
};

const Z = 'http://controller:5000/v3';
const ZED_CALLS = [
  // The bootstrap task's check that admin logs in (before and independent of bootstrap).
  `POST ${Z}/auth/tokens {"auth":{"identity":{"methods":["password"],"password":{"user":{"name":"admin","domain":{"id":"default"},"password":"***"}}},"scope":{"project":{"name":"admin","domain":{"id":"default"}}}}}`,
  // The keystone tasks' own login as admin (o.keystoneAdmin()).
  `POST ${Z}/auth/tokens {"auth":{"identity":{"methods":["password"],"password":{"user":{"name":"admin","domain":{"name":"Default"},"password":"***"}}},"scope":{"project":{"name":"admin","domain":{"name":"Default"}}}}}`,
  `POST ${Z}/projects {"project":{"name":"service","enabled":true,"description":"Service Project","domain_id":"default"}}`,
  `POST ${Z}/projects {"project":{"name":"demo","enabled":true,"description":"Demo Project","domain_id":"default"}}`,
  `POST ${Z}/users {"user":{"name":"demo","password":"***","enabled":true,"domain_id":"default"}}`,
  // Bootstrap made the member role, the identity service (without a description) and its endpoints:
  // the tasks find them (the simulated keystone applies bootstrap too) and only add what the guide adds.
  `PUT ${Z}/projects/:id/users/:id/roles/:id`,
  `PATCH ${Z}/services/:id {"service":{"description":"OpenStack Identity"}}`,
];

const API_CALLS: Record<Site, string[]> = {
  juno: JUNO_CALLS,
  libertyCentos: libertyCalls('192.168.56.11'),
  libertyUbuntu: libertyCalls('controller'),
  zed: ZED_CALLS,
};

// ---- openrc, per release ------------------------------------------------------------------

const rc = (lines: readonly string[], user: string) =>
  `# Managed by stackplay: credentials of ${user} for the OpenStack clients (source it: . /root/${user}-openrc.sh)\n${lines.map((l) => `export ${l}`).join('\n')}\n`;
const libertyRc = (c: string, user: 'admin' | 'demo', locale: string) =>
  rc(
    [
      'OS_PROJECT_DOMAIN_ID=default',
      'OS_USER_DOMAIN_ID=default',
      `OS_PROJECT_NAME=${user}`,
      `OS_TENANT_NAME=${user}`,
      `OS_USERNAME=${user}`,
      `OS_PASSWORD=${PASSWORD}`,
      `OS_AUTH_URL=http://${c}:${user === 'admin' ? 35357 : 5000}/v3`,
      'OS_IDENTITY_API_VERSION=3',
      'OS_IMAGE_API_VERSION=2',
      `LC_ALL=${locale}`,
      `LANG=${locale}`,
    ],
    user,
  );
const OPENRC: Record<Site, { admin: string; demo: string }> = {
  // Seed 004 §5.5 (v2.0 variables), plus the image API version and a locale (§11).
  juno: {
    admin: rc(
      [
        'OS_TENANT_NAME=admin',
        'OS_USERNAME=admin',
        `OS_PASSWORD=${PASSWORD}`,
        'OS_AUTH_URL=http://controller:35357/v2.0',
        'OS_IMAGE_API_VERSION=2',
        'LC_ALL=C.UTF-8',
        'LANG=C.UTF-8',
      ],
      'admin',
    ),
    demo: rc(
      [
        'OS_TENANT_NAME=demo',
        'OS_USERNAME=demo',
        `OS_PASSWORD=${PASSWORD}`,
        'OS_AUTH_URL=http://controller:5000/v2.0',
        'OS_IMAGE_API_VERSION=2',
        'LC_ALL=C.UTF-8',
        'LANG=C.UTF-8',
      ],
      'demo',
    ),
  },
  // Seed 003 §3.4's admin-openrc.sh / demo-openrc.sh.
  libertyCentos: { admin: libertyRc('192.168.56.11', 'admin', 'en_US.UTF-8'), demo: libertyRc('192.168.56.11', 'demo', 'en_US.UTF-8') },
  libertyUbuntu: { admin: libertyRc('controller', 'admin', 'C.UTF-8'), demo: libertyRc('controller', 'demo', 'C.UTF-8') },
  // The Zed guide's admin-openrc / demo-openrc.
  zed: {
    admin: rc(
      [
        'OS_PROJECT_DOMAIN_NAME=Default',
        'OS_USER_DOMAIN_NAME=Default',
        'OS_PROJECT_NAME=admin',
        'OS_USERNAME=admin',
        `OS_PASSWORD=${PASSWORD}`,
        'OS_AUTH_URL=http://controller:5000/v3',
        'OS_IDENTITY_API_VERSION=3',
        'OS_IMAGE_API_VERSION=2',
        'LC_ALL=C.UTF-8',
        'LANG=C.UTF-8',
      ],
      'admin',
    ),
    demo: rc(
      [
        'OS_PROJECT_DOMAIN_NAME=Default',
        'OS_USER_DOMAIN_NAME=Default',
        'OS_PROJECT_NAME=demo',
        'OS_USERNAME=demo',
        `OS_PASSWORD=${PASSWORD}`,
        'OS_AUTH_URL=http://controller:5000/v3',
        'OS_IDENTITY_API_VERSION=3',
        'OS_IMAGE_API_VERSION=2',
        'LC_ALL=C.UTF-8',
        'LANG=C.UTF-8',
      ],
      'demo',
    ),
  },
};

const PACKAGES: Record<Site, string> = {
  juno: 'keystone python-keystoneclient',
  libertyCentos: 'openstack-keystone python-openstackclient httpd mod_wsgi',
  libertyUbuntu: 'keystone python-openstackclient apache2 libapache2-mod-wsgi',
  zed: 'keystone python3-openstackclient',
};

/** The service that serves keystone's API and is restarted when its config changes. */
const API_SERVICE: Record<Site, { name: string; start: string; enable: string }> = {
  juno: { name: 'keystone', start: 'initctl start keystone', enable: 'rm -f /etc/init/keystone.override' },
  libertyCentos: { name: 'httpd', start: 'systemctl start httpd', enable: 'systemctl enable httpd' },
  libertyUbuntu: { name: 'apache2', start: 'initctl start apache2', enable: 'rm -f /etc/init/apache2.override' },
  zed: { name: 'keystone', start: 'systemctl start keystone', enable: 'systemctl enable keystone' },
};

describe('golden: keystone', function () {
  this.timeout(60000);

  for (const name of Object.keys(SITES) as Site[]) {
    describe(`${name} (${SITES[name]})`, () => {
      it('installs the packages and writes keystone.conf as the seed shows (0640 root:keystone)', async () => {
        const plan = await controller(name);
        expect(
          plan.commands.some((c) => c.endsWith(`-- ${PACKAGES[name]}`)),
          PACKAGES[name],
        ).to.equal(true);
        expect(iniMismatches(plan, '/etc/keystone/keystone.conf', KEYSTONE_CONF[name])).to.deep.equal([]);
        expect(plan.commands).to.include('write /etc/keystone/keystone.conf mode=0640 owner=root group=keystone');
      });

      it('creates the keystone database and account, then runs db_sync as the keystone user', async () => {
        const plan = await controller(name);
        expect(plan.commands).to.include("mysql -uroot <<'SP_EOF'\nCREATE DATABASE `keystone`;\nSP_EOF");
        expect(plan.commands).to.include(
          "mysql -uroot <<'SP_EOF'\nCREATE USER 'keystone'@'localhost' IDENTIFIED BY PASSWORD '***';\nGRANT ALL PRIVILEGES ON `keystone`.* TO 'keystone'@'localhost';\nCREATE USER 'keystone'@'%' IDENTIFIED BY PASSWORD '***';\nGRANT ALL PRIVILEGES ON `keystone`.* TO 'keystone'@'%';\nSP_EOF",
        );
        const sync = plan.commands.findIndex((c) => c.includes("su -s /bin/sh -c 'keystone-manage db_sync' keystone"));
        expect(sync).to.be.greaterThan(plan.commands.indexOf("mysql -uroot <<'SP_EOF'\nCREATE DATABASE `keystone`;\nSP_EOF"));
      });

      it(`serves the API with ${API_SERVICE[name].name}, started and enabled before the first API call`, async () => {
        const plan = await controller(name);
        const s = API_SERVICE[name];
        const firstCall = plan.commands.findIndex((c) => /^(POST|PUT) http/.test(c));
        expect(plan.commands.indexOf(s.start)).to.be.within(0, firstCall);
        expect(plan.commands.indexOf(s.enable)).to.be.within(0, firstCall);
        const results = (await site(name)).results;
        if (name.startsWith('liberty')) {
          // keystone's own service stays stopped and disabled in favour of Apache.
          const own = name === 'libertyCentos' ? 'openstack-keystone' : 'keystone';
          expect(results.some((r) => r.task === `service ${own} stopped, disabled` && r.status !== 'failed')).to.equal(true);
        }
      });

      it('creates the projects, users, roles and identity endpoints through the API, as the seed', async () => {
        expect(apiCalls(await controller(name))).to.deep.equal(API_CALLS[name]);
      });

      it('writes /root/admin-openrc.sh and /root/demo-openrc.sh, 0600, with the release’s variables and a locale', async () => {
        const plan = await controller(name);
        for (const user of ['admin', 'demo'] as const) {
          expect(plan.files.get(`/root/${user}-openrc.sh`), user).to.equal(OPENRC[name][user]);
          expect(plan.commands).to.include(`write /root/${user}-openrc.sh mode=0600 owner=root group=root`);
        }
      });

      it('never puts a password in a command or step, only in the files that need it', async () => {
        const s = await site(name);
        for (const [host, plan] of s.hosts) for (const c of plan.commands) expect(c, `${host}: ${c}`).not.to.include(PASSWORD);
        for (const r of s.results) for (const step of r.steps ?? []) expect(step).not.to.include(PASSWORD);
        for (const r of s.results) expect(JSON.stringify(r.summary ?? '')).not.to.include(PASSWORD);
        expect((await controller(name)).files.get('/etc/keystone/keystone.conf')).to.include(PASSWORD);
      });

      it('changes nothing on a second run, on every host', async () => expectIdempotent(await site(name)));
    });
  }

  describe('juno specifics (seed 004 §5)', () => {
    it('removes the SQLite database and flushes expired tokens hourly', async () => {
      const s = await site('juno');
      expect(s.results.some((r) => r.task === 'absent /var/lib/keystone/keystone.db')).to.equal(true);
      expect((await controller('juno')).files.get('/etc/cron.d/keystone-token-flush')).to.include('@hourly keystone /usr/bin/keystone-manage token_flush');
    });

    it('keeps `_member_` for demo (Juno creates it with the user) instead of creating the role first', async () => {
      const s = await site('juno');
      const grant = s.results.find((r) => r.task === 'keystone role _member_ for user demo on project demo');
      expect(grant?.status).to.equal('ok');
      expect(s.results.some((r) => r.task === 'keystone role _member_')).to.equal(false);
    });
  });

  describe('liberty specifics (seed 003 §3.4, Liberty guide for Ubuntu)', () => {
    it('puts keystone under mod_wsgi: two VirtualHosts on 5000 and 35357, and a ServerName', async () => {
      const centos = await controller('libertyCentos');
      const conf = centos.files.get('/etc/httpd/conf.d/wsgi-keystone.conf') ?? '';
      expect(conf)
        .to.match(/^Listen 5000$/m)
        .and.match(/^Listen 35357$/m);
      expect(conf).to.include('<VirtualHost *:5000>').and.include('<VirtualHost *:35357>');
      expect(conf).to.include('WSGIDaemonProcess keystone-public processes=5 threads=1 user=keystone group=keystone display-name=%{GROUP}');
      expect(conf).to.include('WSGIScriptAlias / /usr/bin/keystone-wsgi-public').and.include('WSGIScriptAlias / /usr/bin/keystone-wsgi-admin');
      expect(conf).to.include('ErrorLog /var/log/httpd/keystone-error.log').and.include('CustomLog /var/log/httpd/keystone-access.log combined');
      expect(centos.files.get('/etc/httpd/conf/httpd.conf')).to.equal('ServerName 192.168.56.11\n');

      const ubuntu = await controller('libertyUbuntu');
      expect(ubuntu.files.get('/etc/apache2/sites-available/wsgi-keystone.conf')).to.include('ErrorLog /var/log/apache2/keystone.log');
      expect(ubuntu.commands).to.include('ln -sfn /etc/apache2/sites-available/wsgi-keystone.conf /etc/apache2/sites-enabled/wsgi-keystone.conf');
      expect(ubuntu.files.get('/etc/apache2/apache2.conf')).to.equal('ServerName controller\n');
    });

    it('Ubuntu: keystone.override says manual before the package is installed', async () => {
      const plan = await controller('libertyUbuntu');
      expect(plan.files.get('/etc/init/keystone.override')).to.equal('manual\n');
      const override = plan.commands.indexOf('write /etc/init/keystone.override mode=0644');
      expect(override).to.be.greaterThan(-1);
      expect(override).to.be.lessThan(plan.commands.findIndex((c) => c.endsWith(`-- ${PACKAGES.libertyUbuntu}`)));
    });
  });

  describe('zed specifics (Debian 12)', () => {
    it('preseeds the package’s debconf questions to "no" before installing it', async () => {
      const plan = await controller('zed');
      const preseed =
        "debconf-set-selections <<'SP_EOF'\nkeystone keystone/configure_db boolean false\nkeystone keystone/create-admin-tenant boolean false\nkeystone keystone/register-endpoint boolean false\nSP_EOF";
      expect(plan.commands.indexOf(preseed)).to.be.within(
        0,
        plan.commands.findIndex((c) => c.endsWith(`-- ${PACKAGES.zed}`)),
      );
    });

    it('sets up fernet and credential keys once, after db_sync', async () => {
      const plan = await controller('zed');
      const sync = plan.commands.findIndex((c) => c.includes("'keystone-manage db_sync'"));
      expect(plan.commands.indexOf('keystone-manage fernet_setup --keystone-user keystone --keystone-group keystone')).to.be.greaterThan(sync);
      expect(plan.commands.indexOf('keystone-manage credential_setup --keystone-user keystone --keystone-group keystone')).to.be.greaterThan(sync);
    });

    it('bootstraps with the password in the environment, read from a here-document: never in argv', async () => {
      const plan = await controller('zed');
      const boot = plan.commands.filter((c) => c.includes('keystone-manage bootstrap'));
      expect(boot).to.deep.equal([
        [
          "IFS= read -r OS_BOOTSTRAP_PASSWORD <<'SP_EOF'",
          '***',
          'SP_EOF',
          'export OS_BOOTSTRAP_PASSWORD',
          'keystone-manage bootstrap --bootstrap-admin-url http://controller:5000/v3/ --bootstrap-internal-url http://controller:5000/v3/ --bootstrap-public-url http://controller:5000/v3/ --bootstrap-region-id RegionOne || exit $?',
          'unset OS_BOOTSTRAP_PASSWORD',
          `mkdir -p /var/lib/keystone && touch ${BOOTSTRAP_MARKER}`,
        ].join('\n'),
      ]);
      expect(boot[0]).not.to.include('--bootstrap-password');
      // The service is up before bootstrap's login check, which comes before any other API call.
      expect(plan.commands.indexOf('systemctl start keystone')).to.be.lessThan(plan.commands.indexOf(boot[0] as string));
    });
  });

  describe('bootstrap re-asserts admin’s password (a real keystone, simulated)', () => {
    const args = {
      host: '10.42.0.11',
      port: 5000,
      adminPassword: new Secret('right-pw'),
      urls: { publicUrl: 'http://controller:5000/v3/', internalUrl: 'http://controller:5000/v3/', adminUrl: 'http://controller:5000/v3/' },
      region: 'RegionOne',
    };
    const steps = (plan: Plan) => (plan.action === 'none' ? [] : plan.steps.map(describeStep));

    it('runs when not bootstrapped yet, then not again while admin logs in', async () => {
      const network = new SimNetwork();
      registerSimKeystone(network);
      const { rt } = simHost('controller', {}, network);
      const task = keystoneBootstrap(args);
      const first = await converge(rt, task);
      expect(first.action).to.equal('change');
      if (first.action !== 'none') expect(first.summary).to.include('not bootstrapped yet');
      expect((await planOn(rt, task)).action).to.equal('none');
    });

    it('runs again when admin’s password stopped working', async () => {
      const network = new SimNetwork();
      const state = registerSimKeystone(network);
      state.users.set('u1', { id: 'u1', name: 'admin', domainId: 'default', password: 'changed-by-hand', email: null, projectId: null, enabled: true });
      const { sim, rt } = simHost('controller', {}, network);
      sim.materialize(BOOTSTRAP_MARKER);
      const plan = await planOn(rt, keystoneBootstrap(args));
      expect(plan.action).to.equal('change');
      if (plan.action !== 'none') expect(plan.summary).to.include('does not work');
      expect(steps(plan)[0]).to.include('keystone-manage bootstrap').and.not.include('right-pw');
    });
  });

  it('follows the inventory: another controller name and address change every URL, and nothing else does', async () => {
    const s = await planSite(
      openstackPlaybook('keystone-renamed', allPlays),
      inventoryText('hosts/juno.ini', [[/^controller ansible_host=10\.0\.0\.11$/m, 'ctl7 ansible_host=10.9.8.7']]),
      { text: true },
    );
    const plan = s.hosts.get('ctl7') as HostPlan;
    expect(iniMismatches(plan, '/etc/keystone/keystone.conf', { database: { connection: `mysql://keystone:${PASSWORD}@ctl7/keystone` } })).to.deep.equal([]);
    expect(plan.files.get('/root/admin-openrc.sh')).to.include('OS_AUTH_URL=http://ctl7:35357/v2.0');
    expect(apiCalls(plan).every((c) => c.includes('http://ctl7:35357/v2.0/'))).to.equal(true);
    for (const [path, text] of plan.files) if (path !== '/etc/hosts') expect(text, path).not.to.match(/10\.0\.0\.11|\bcontroller\b/);
    for (const c of plan.commands) expect(c).not.to.match(/\bcontroller\b/);
  });
});
