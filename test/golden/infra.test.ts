import { openstackPlaybook } from '../../openstack/playbook.js';
import { expect } from 'chai';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseInventory } from '../../lib/inventory/inventory.js';
import { type Play, type Role } from '../../lib/core/playbook.js';
import { resolvePlaybook } from '../../lib/core/resolve.js';
import { describeStep } from '../../lib/core/runtime.js';
import { Redactor, Secret } from '../../lib/core/secret.js';
import { SecretStore } from '../../lib/inventory/secrets-store.js';
import type { ExecStep, Plan, ShellFact, Task } from '../../lib/core/task.js';
import { debconf, type DebconfArgs } from '../../lib/modules/debconf.js';
import { common } from '../../roles/common/index.js';
import { plays as mariadbPlays } from '../../roles/mariadb/index.js';
import { mysqlSecureInstallation } from '../../roles/mariadb/secure.js';
import { plays as memcachedPlays } from '../../roles/memcached/index.js';
import { plays as rabbitmqPlays } from '../../roles/rabbitmq/index.js';
import { iniMismatches, planSite, type ExpectedIni, type HostPlan } from '../support/plan.js';
import { expectIdempotent } from '../support/golden.js';
import { converge, planOn, simHost } from '../support/sim.js';
import { inventoryWithPassword, SEED_SITES, seedSitePlans, type SeedSite } from '../support/seed-sites.js';

/**
 * The controller's infrastructure (seed 004 §4, seed 003 §3.2–3.4, seed
 * 000 via the Liberty guide, the Zed guide on Debian 12): the SQL server,
 * the message broker and memcached, planned offline twice per inventory.
 */

/** Distinct from every word in the plans, so finding it anywhere but in a file is a leak. */
const PASSWORD = 'Zq7-seed-pw-41c9';

const inventoryText = (path: string, replace: readonly [RegExp, string][] = []): string => inventoryWithPassword(path, PASSWORD, replace);

const commonPlays: Play[] = [{ name: 'common', hosts: 'all', roles: [common] }];
const infraPlays: Play[] = [...commonPlays, ...mariadbPlays, ...rabbitmqPlays, ...memcachedPlays];

const SITES = SEED_SITES;
type Site = SeedSite;
const { site, controller } = seedSitePlans('infra', infraPlays, PASSWORD);
const has = (commands: readonly string[], needle: string | RegExp): boolean =>
  commands.some((c) => (typeof needle === 'string' ? c.includes(needle) : needle.test(c)));

// ---- the [mysqld] options, per seed ----------------------------------------------------------

const GUIDE_MYSQLD = {
  'default-storage-engine': 'innodb',
  innodb_file_per_table: null,
  'collation-server': 'utf8_general_ci',
  'init-connect': "'SET NAMES utf8'",
  'character-set-server': 'utf8',
} as const;

const MYSQL: Record<Site, { path: string; expected: ExpectedIni; packages: string; service: string }> = {
  // Seed 004 §4.2: exactly as the seed shows, in /etc/mysql/my.cnf.
  juno: {
    path: '/etc/mysql/my.cnf',
    expected: { mysqld: { 'bind-address': '10.0.0.11', ...GUIDE_MYSQLD } },
    packages: 'mysql-server python-mysqldb',
    service: 'mysql',
  },
  // Seed 003 §3.2 (its five options) plus the Liberty guide's bind-address, in the guide's drop-in.
  libertyCentos: {
    path: '/etc/my.cnf.d/mariadb_openstack.cnf',
    expected: { mysqld: { 'bind-address': '192.168.56.11', ...GUIDE_MYSQLD } },
    packages: 'mariadb mariadb-server MySQL-python',
    service: 'mariadb',
  },
  libertyUbuntu: {
    path: '/etc/mysql/conf.d/mysqld_openstack.cnf',
    expected: { mysqld: { 'bind-address': '10.0.0.11', ...GUIDE_MYSQLD } },
    packages: 'mariadb-server python-pymysql python-mysqldb',
    service: 'mysql',
  },
  // The Zed guide's 99-openstack.cnf.
  zed: {
    path: '/etc/mysql/mariadb.conf.d/99-openstack.cnf',
    expected: {
      mysqld: {
        'bind-address': '10.42.0.11',
        'default-storage-engine': 'innodb',
        innodb_file_per_table: 'on',
        max_connections: '4096',
        'collation-server': 'utf8_general_ci',
        'character-set-server': 'utf8',
        'init-connect': undefined,
      },
    },
    packages: 'mariadb-server python3-pymysql',
    service: 'mariadb',
  },
};

// ---- the broker and memcached, per seed ------------------------------------------------------

const RABBIT: Record<Site, { user: string }> = {
  // Seed 004 §4.3: `rabbitmqctl change_password guest RABBIT_PASS`.
  juno: { user: 'guest' },
  // Seed 003 §3.3: `rabbitmqctl add_user openstack openstack`, `set_permissions openstack ".*" ".*" ".*"`.
  libertyCentos: { user: 'openstack' },
  libertyUbuntu: { user: 'openstack' },
  zed: { user: 'openstack' },
};

const MEMCACHED: Record<Site, { path: string; line: string; packages: string } | null> = {
  juno: null,
  libertyCentos: { path: '/etc/sysconfig/memcached', line: 'OPTIONS="-l 192.168.56.11"', packages: 'memcached python-memcached' },
  libertyUbuntu: { path: '/etc/memcached.conf', line: '-l 10.0.0.11', packages: 'memcached python-memcache' },
  zed: { path: '/etc/memcached.conf', line: '-l 10.42.0.11', packages: 'memcached python3-memcache' },
};

/** How each init system starts a service, as the simulated hosts report it (upstart on Ubuntu 14.04, systemd on CentOS 7 and on the lab's Debian 12). */
const START: Record<Site, (s: string) => string> = {
  juno: (s) => `initctl start ${s}`,
  libertyCentos: (s) => `systemctl start ${s}`,
  libertyUbuntu: (s) => `initctl start ${s}`,
  zed: (s) => `systemctl start ${s}`,
};
const ENABLE: Record<Site, (s: string) => string> = {
  juno: (s) => `rm -f /etc/init/${s}.override`,
  libertyCentos: (s) => `systemctl enable ${s}`,
  libertyUbuntu: (s) => `rm -f /etc/init/${s}.override`,
  zed: (s) => `systemctl enable ${s}`,
};

describe('golden: mariadb, rabbitmq, memcached on the controller', function () {
  this.timeout(60000);

  for (const name of Object.keys(SITES) as Site[]) {
    describe(`${name} (${SITES[name]})`, () => {
      it('writes every [mysqld] option the seed shows, bound to the management IP', async () => {
        const plan = await controller(name);
        const m = MYSQL[name];
        expect(iniMismatches(plan, m.path, m.expected)).to.deep.equal([]);
        expect(has(plan.commands, `-- ${m.packages}`), m.packages).to.equal(true);
        expect(has(plan.commands, START[name](m.service))).to.equal(true);
        expect(has(plan.commands, ENABLE[name](m.service))).to.equal(true);
      });

      it('secures the server without a root password: root through the socket, no anonymous accounts or test database', async () => {
        const plan = await controller(name);
        const sql = plan.commands.filter((c) => c.startsWith('mysql -uroot') && c.includes('DROP'));
        if (name === 'zed') {
          // Debian's MariaDB 10.11 already authenticates root through unix_socket and has neither.
          expect(sql).to.deep.equal([]);
          return;
        }
        expect(sql).to.have.length(1);
        const plugin = name === 'juno' ? 'auth_socket' : 'unix_socket';
        expect(sql[0]).to.include("DROP USER ''@'localhost';").and.include("DROP USER 'root'@'127.0.0.1';").and.include('DROP DATABASE `test`;');
        expect(sql[0]).to.include(`UPDATE mysql.user SET plugin = '${plugin}', Password = '' WHERE User = 'root' AND Host = 'localhost';`);
        expect(sql[0]).not.to.match(/IDENTIFIED BY|PASSWORD\(|-p/);
        // The clean-up runs after the server restarted with the new options.
        const restart = plan.commands.findIndex(
          (c) =>
            c === `systemctl restart ${MYSQL[name].service}` ||
            c === `service ${MYSQL[name].service} restart` ||
            c === `(stop ${MYSQL[name].service} || true) && start ${MYSQL[name].service}`,
        );
        expect(restart, 'restart handler flushed before the clean-up').to.be.greaterThan(-1);
        expect(restart).to.be.lessThan(plan.commands.indexOf(sql[0] as string));
      });

      it(`gives the ${RABBIT[name].user} account its password through stdin and ".*" ".*" ".*" on /`, async () => {
        const plan = await controller(name);
        const user = RABBIT[name].user;
        expect(has(plan.commands, `-- rabbitmq-server`)).to.equal(true);
        expect(has(plan.commands, START[name]('rabbitmq-server'))).to.equal(true);
        expect(has(plan.commands, `rabbitmqctl add_user ${user} <<'SP_EOF'\n***\nSP_EOF`)).to.equal(true);
        expect(has(plan.commands, `rabbitmqctl set_permissions -p / ${user} '.*' '.*' '.*'`)).to.equal(true);
        // Juno's guide lets guest log in from other nodes (RabbitMQ >= 3.3).
        if (name === 'juno') expect(plan.files.get('/etc/rabbitmq/rabbitmq.config')).to.include('[{rabbit, [{loopback_users, []}]}].');
        else expect(plan.files.has('/etc/rabbitmq/rabbitmq.config')).to.equal(false);
      });

      it('makes memcached listen on the management IP (Liberty, Zed) and leaves Juno without it', async () => {
        const plan = await controller(name);
        const m = MEMCACHED[name];
        if (!m) {
          expect(has(plan.commands, 'memcached')).to.equal(false);
          return;
        }
        expect(has(plan.commands, `-- ${m.packages}`)).to.equal(true);
        expect(plan.files.get(m.path)?.split('\n')).to.include(m.line);
        expect(plan.files.get(m.path)).not.to.match(/^-l 127\.0\.0\.1$/m);
        expect(has(plan.commands, START[name]('memcached'))).to.equal(true);
        expect(has(plan.commands, ENABLE[name]('memcached'))).to.equal(true);
      });

      it('never puts a password in a command, only in the files that need it', async () => {
        const s = await site(name);
        for (const [host, plan] of s.hosts) for (const c of plan.commands) expect(c, `${host}: ${c}`).not.to.include(PASSWORD);
        for (const r of s.results) for (const step of r.steps ?? []) expect(step).not.to.include(PASSWORD);
      });

      it('changes nothing on a second run, on every host', async () => expectIdempotent(await site(name)));
    });
  }

  it('renames and re-addresses with the inventory: no controller name or address is a literal', async () => {
    const s = await planSite(
      openstackPlaybook('infra-renamed', infraPlays),
      inventoryText('hosts/juno.ini', [[/^controller ansible_host=10\.0\.0\.11$/m, 'ctl7 ansible_host=10.9.8.7']]),
      { text: true },
    );
    const plan = s.hosts.get('ctl7');
    expect(plan).to.not.equal(undefined);
    expect(iniMismatches(plan as HostPlan, '/etc/mysql/my.cnf', { mysqld: { 'bind-address': '10.9.8.7' } })).to.deep.equal([]);
    for (const [path, text] of (plan as HostPlan).files) if (path !== '/etc/hosts') expect(text, path).not.to.match(/10\.0\.0\.11|\bcontroller\b/);
  });
});

// ---- seed 004 §11: guest's password lost after a broker restart -----------------------------------

/** The roles of one host of an inventory, instantiated as the executor would. */
async function rolesOf(inventory: string, plays: readonly Play[], host: string): Promise<readonly Role[]> {
  const dir = await mkdtemp(join(tmpdir(), 'sp-infra-'));
  try {
    const inv = parseInventory(inventory, join(dir, 'inventory.ini'));
    const secrets = new SecretStore(join(dir, 'secrets.ini'), new Redactor(), PASSWORD);
    const resolved = resolvePlaybook(openstackPlaybook('t', plays), inv, secrets);
    return resolved.flatMap((p) => [...(p.hosts.get(host) ?? [])]);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
const taskOf = (roles: readonly Role[], module: string): Task<string> => {
  for (const r of roles) for (const t of r.tasks) if (t.kind === 'task' && t.module === module) return t;
  throw new Error(`no ${module} task`);
};
const execs = (plan: Plan): string[] => (plan.action === 'none' ? [] : plan.steps.map(describeStep));

describe('golden: rabbitmq keeps asserting the password (seed 004 §11)', () => {
  it('Juno: guest exists with another password (lost after a restart) → change_password guest, on stdin', async () => {
    const roles = await rolesOf(inventoryText('hosts/juno.ini'), rabbitmqPlays, 'controller');
    const task = taskOf(roles, 'rabbitmq');
    const { sim, rt } = simHost('controller');
    sim.set('rabbitmq:users').add('guest');
    sim.setValue('rabbitmq:password:guest', 'digest-of-guest');
    sim.set('rabbitmq:permissions:/').add('guest\t.*\t.*\t.*');
    const plan = await converge(rt, task);
    expect(execs(plan)).to.deep.equal(["rabbitmqctl change_password guest <<'SP_EOF'\n***\nSP_EOF"]);
    expect((await planOn(rt, task)).action).to.equal('none');
    // And again after the next "restart" loses it.
    sim.setValue('rabbitmq:password:guest', 'digest-of-guest');
    expect(execs(await planOn(rt, task))).to.deep.equal(["rabbitmqctl change_password guest <<'SP_EOF'\n***\nSP_EOF"]);
  });

  it('Liberty: rabbitmq_management=true enables the plugin and tags openstack administrator (seed 003 §3.3)', async () => {
    const inv = inventoryText('hosts/liberty-centos.ini').replace('[all:vars]', '[all:vars]\nrabbitmq_management=true');
    const s = await planSite(openstackPlaybook('mgmt', rabbitmqPlays), inv, { text: true });
    const cmds = s.hosts.get('linux-node1')?.commands ?? [];
    expect(cmds).to.include('rabbitmq-plugins enable rabbitmq_management');
    expect(cmds).to.include('rabbitmqctl set_user_tags openstack administrator');
    expect(cmds.indexOf('systemctl restart rabbitmq-server')).to.be.greaterThan(cmds.indexOf('rabbitmq-plugins enable rabbitmq_management'));
    for (const [, r] of s.second.recap) expect(r.changed).to.equal(0);
  });
});

// ---- mysql_secure_installation, from raw probe output ----------------------------------------------

const secure = mysqlSecureInstallation({ simVersion: '5.5.62' });
function securePlan(stdout: string): Plan {
  const fact = secure.facts[0] as ShellFact<unknown>;
  return secure.plan([fact.parse({ exitCode: 0, stdout, stderr: '' })]);
}

describe('golden: mysql secure installation without a root password', () => {
  it('MySQL 5.5 (Ubuntu 14.04) as installed: drops anonymous and remote root accounts and test, switches root to auth_socket', () => {
    const plan = securePlan(
      [
        '@@version 5.5.62-0ubuntu0.14.04.1',
        '@@anon localhost',
        '@@anon controller',
        '@@root localhost ',
        '@@root controller ',
        '@@root 127.0.0.1 ',
        '@@root ::1 ',
        '@@testdb test',
        '@@testgrants 2',
        '@@plugindir /usr/lib/mysql/plugin/',
        '@@grants',
        "GRANT ALL PRIVILEGES ON *.* TO 'root'@'localhost' WITH GRANT OPTION",
        '@@end',
        '@@socketlib yes',
      ].join('\n'),
    );
    expect(execs(plan)).to.deep.equal([
      [
        "mysql -uroot <<'SP_EOF'",
        "DROP USER ''@'localhost';",
        "DROP USER ''@'controller';",
        "DROP USER 'root'@'controller';",
        "DROP USER 'root'@'127.0.0.1';",
        "DROP USER 'root'@'::1';",
        'DROP DATABASE `test`;',
        "DELETE FROM mysql.db WHERE Db = 'test' OR Db = 'test\\\\_%';",
        "INSTALL PLUGIN auth_socket SONAME 'auth_socket.so';",
        "UPDATE mysql.user SET plugin = 'auth_socket', Password = '' WHERE User = 'root' AND Host = 'localhost';",
        'FLUSH PRIVILEGES;',
        'SP_EOF',
      ].join('\n'),
    ]);
  });

  it('MariaDB 10.11 (Debian 12): root already uses unix_socket, nothing to do', () => {
    const plan = securePlan(
      [
        '@@version 10.11.6-MariaDB-0+deb12u1',
        '@@root localhost mysql_native_password',
        '@@testgrants 0',
        '@@plugin unix_socket',
        '@@plugindir /usr/lib/mysql/plugin/',
        '@@grants',
        "GRANT ALL PRIVILEGES ON *.* TO `root`@`localhost` IDENTIFIED VIA mysql_native_password USING 'invalid' OR unix_socket WITH GRANT OPTION",
        '@@end',
        '@@socketlib yes',
      ].join('\n'),
    );
    expect(plan.action).to.equal('none');
  });

  it('MariaDB 5.5 with unix_socket already active and no auth_socket.so: no INSTALL, and no switch without the plugin', () => {
    const active = securePlan(['@@version 5.5.44-MariaDB', '@@root localhost ', '@@testgrants 0', '@@plugin unix_socket', '@@grants', '@@end'].join('\n'));
    expect(execs(active)[0]).to.include("UPDATE mysql.user SET plugin = 'unix_socket'").and.not.include('INSTALL PLUGIN');
    const none = securePlan(['@@version 5.5.44-MariaDB', '@@root localhost ', '@@testgrants 0', '@@grants', '@@end'].join('\n'));
    expect(none.action).to.equal('none');
    if (none.action === 'none') expect(none.reason).to.include('no auth_socket.so');
  });

  it('fails when root cannot reach the server (no end marker), naming what the client said', () => {
    expect(() => securePlan("ERROR 1045 (28000): Access denied for user 'root'@'localhost' (using password: NO)\n")).to.throw(/Access denied/);
  });

  it('refuses an account host it cannot quote safely', () => {
    expect(() => securePlan(['@@version 5.5.62', "@@anon evil'host", '@@testgrants 0', '@@grants', '@@end'].join('\n'))).to.throw(/refusing/);
  });
});

// ---- lib/tasks/debconf.ts ------------------------------------------------------------------

const KS_ARGS: DebconfArgs = {
  package: 'keystone',
  settings: [
    { question: 'keystone/configure_db', type: 'boolean', value: false },
    { question: 'keystone/register-endpoint', type: 'boolean', value: false },
    { question: 'keystone/admin-password', type: 'password', value: new Secret('s3cret pw') },
  ],
};

function debconfPlan(args: DebconfArgs, stdout: string): Plan {
  const task = debconf(args);
  const fact = task.facts[0] as ShellFact<unknown>;
  return task.plan([fact.parse({ exitCode: 0, stdout, stderr: '' })]);
}

describe('golden: debconf task module', () => {
  it('probes with debconf-communicate GET, one question per line, in a here-document', () => {
    const task = debconf(KS_ARGS);
    expect((task.facts[0] as ShellFact<unknown>).script.display()).to.equal(
      "debconf-communicate keystone 2>/dev/null <<'SP_EOF'\nGET keystone/configure_db\nGET keystone/register-endpoint\nGET keystone/admin-password\nSP_EOF\necho @@end",
    );
    expect(task.name).to.equal('debconf keystone: keystone/configure_db keystone/register-endpoint keystone/admin-password');
  });

  it('sets the answers that differ through debconf-set-selections on stdin, the password masked', () => {
    const plan = debconfPlan(KS_ARGS, "0 true\n0 false\n10 keystone/admin-password doesn't exist\n@@end\n");
    expect(plan.action).to.equal('change');
    expect(execs(plan)).to.deep.equal([
      "debconf-set-selections <<'SP_EOF'\nkeystone keystone/configure_db boolean false\nkeystone keystone/admin-password password ***\nSP_EOF",
    ]);
    const step = (plan.action === 'change' ? plan.steps[0] : undefined) as ExecStep;
    expect(step.cmd.reveal()).to.include('keystone keystone/admin-password password s3cret pw\n');
    if (plan.action === 'change') expect(plan.summary).to.equal('keystone/configure_db = false, keystone/admin-password = ***');
  });

  it('compares passwords by hash: the same password is no change, another is', () => {
    expect(debconfPlan(KS_ARGS, '0 false\n0 false\n0 s3cret pw\n@@end\n').action).to.equal('none');
    expect(execs(debconfPlan(KS_ARGS, '0 false\n0 false\n0 old pw\n@@end\n'))).to.deep.equal([
      "debconf-set-selections <<'SP_EOF'\nkeystone keystone/admin-password password ***\nSP_EOF",
    ]);
  });

  it('a missing debconf (no end marker) is an error, not "everything differs"', () => {
    expect(() => debconfPlan(KS_ARGS, '')).to.throw(/cut short/);
  });

  it('rejects values debconf cannot hold and passwords that are not Secrets', () => {
    expect(() => debconf({ package: 'keystone', settings: [{ question: 'keystone/region-name', type: 'string', value: 'a\nb' }] })).to.throw(/newlines/);
    expect(() => debconf({ package: 'keystone', settings: [{ question: 'keystone/admin-password', type: 'password', value: 'clear' }] })).to.throw(/Secret/);
    expect(() => debconf({ package: 'keystone', settings: [{ question: 'keystone/configure_db', type: 'boolean', value: 'maybe' }] })).to.throw(/boolean/);
    expect(() => debconf({ package: 'Key stone', settings: [{ question: 'keystone/x', type: 'string', value: 'v' }] })).to.throw(/package/);
    expect(() => debconf({ package: 'keystone', settings: [{ question: 'no-slash', type: 'string', value: 'v' }] })).to.throw(/question/);
  });

  it('converges on a simulated host: set once, then nothing', async () => {
    const { rt } = simHost();
    const task = debconf(KS_ARGS);
    expect((await converge(rt, task)).action).to.equal('change');
    expect((await planOn(rt, task)).action).to.equal('none');
  });
});

// ---- the packaged files, edited in place ---------------------------------------------------------

describe('golden: memcached edits the packaged file in place', () => {
  async function edited(inventory: string, host: string, path: string, before: string): Promise<string> {
    const roles = await rolesOf(inventory, memcachedPlays, host);
    const { sim, rt } = simHost(host);
    sim.writeFile(path, before);
    for (const r of roles) for (const t of r.tasks) if (t.kind === 'task' && t.module === 'line') await converge(rt, t);
    for (const r of roles) for (const t of r.tasks) if (t.kind === 'task' && t.module === 'line') expect((await planOn(rt, t)).action, t.name).to.equal('none');
    const e = sim.files.get(path);
    return e?.type === 'file' ? e.content : '';
  }

  it('Debian 12: /etc/memcached.conf from memcached.conf.default keeps everything but `-l 127.0.0.1`', async () => {
    const debianDefault =
      '# memcached default config file\n-d\nlogfile /var/log/memcached.log\n-m 64\n-p 11211\n-u memcache\n-l 127.0.0.1\n-P /var/run/memcached/memcached.pid\n';
    expect(await edited(inventoryText('hosts/lab.ini'), 'controller', '/etc/memcached.conf', debianDefault)).to.equal(
      debianDefault.replace('-l 127.0.0.1', '-l 10.42.0.11'),
    );
    // Newer packagings listen on ::1 too: one listener remains.
    const both = '-m 64\n-l 127.0.0.1\n-l ::1\n';
    expect(await edited(inventoryText('hosts/lab.ini'), 'controller', '/etc/memcached.conf', both)).to.equal('-m 64\n-l 10.42.0.11\n');
  });

  it('CentOS 7: /etc/sysconfig/memcached OPTIONS', async () => {
    const centos = 'PORT="11211"\nUSER="memcached"\nMAXCONN="1024"\nCACHESIZE="64"\nOPTIONS=""\n';
    expect(await edited(inventoryText('hosts/liberty-centos.ini'), 'linux-node1', '/etc/sysconfig/memcached', centos)).to.equal(
      centos.replace('OPTIONS=""', 'OPTIONS="-l 192.168.56.11"'),
    );
  });
});
