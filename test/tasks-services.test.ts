import { expect } from 'chai';
import { describeStep } from '../lib/core/runtime.js';
import { Secret } from '../lib/core/secret.js';
import { sh, type Cmd } from '../lib/core/shell.js';
import type { ExecStep, Plan, ShellFact, Task } from '../lib/core/task.js';
import { loopDevice, lvmPhysicalVolume, lvmVolumeGroup } from '../lib/modules/lvm.js';
import { dbSync, schemaChanged, sqlFingerprint, versionCommand } from '../openstack/migration.js';
import { mysqlDatabase, mysqlUser, nativePasswordHash, parseGrantLine } from '../lib/modules/mysql.js';
import { ovsBridge, ovsPort } from '../lib/modules/ovs.js';
import { rabbitmqUser } from '../lib/modules/rabbitmq.js';
import type { ExecResult } from '../lib/transport/transport.js';
import { converge, simHost } from './support/sim.js';

/**
 * Fixtures are data: what a host printed for each probe (copied from
 * MariaDB 10.11, RabbitMQ 3.10, lvm2 2.03, util-linux 2.38 and OVS 3.1 on
 * Debian 12 unless a case says otherwise) → parse → plan → the commands as
 * the operator sees them.
 */
interface Case {
  readonly name: string;
  readonly task: () => Task<string>;
  /** One probe result per fact: stdout, or a full result. */
  readonly probes: readonly (string | ExecResult)[];
  /** Displayed commands; [] means plan 'none'. */
  readonly commands?: readonly string[];
  /** Or the plan must fail with this message. */
  readonly error?: RegExp;
}

const result = (probe: string | ExecResult): ExecResult => (typeof probe === 'string' ? { exitCode: 0, stdout: probe, stderr: '' } : probe);

function planFrom(task: Task<string>, probes: readonly (string | ExecResult)[]): Plan {
  expect(task.facts, 'one probe per fact').to.have.length(probes.length);
  return task.plan(task.facts.map((f, i) => (f as ShellFact<unknown>).parse(result(probes[i] as string | ExecResult))));
}

const commandsOf = (plan: Plan): string[] => (plan.action === 'none' ? [] : plan.steps.map(describeStep));

function runCases(cases: readonly Case[]): void {
  for (const c of cases) {
    it(c.name, () => {
      if (c.error) {
        expect(() => planFrom(c.task(), c.probes)).to.throw(c.error);
        return;
      }
      const plan = planFrom(c.task(), c.probes);
      expect(commandsOf(plan)).to.deep.equal(c.commands);
      if (c.commands?.length === 0) expect(plan.action).to.equal('none');
    });
  }
}

/**
 * The secret is masked in what anyone sees, and in what runs it appears
 * only inside here-document bodies — never on a command line, where
 * /proc/<pid>/cmdline would show it.
 */
function expectOnlyOnStdin(cmd: Cmd, secret: string): void {
  expect(cmd.display()).to.not.include(secret);
  let delimiter: string | null = null;
  let seen = false;
  for (const line of cmd.reveal().split('\n')) {
    if (delimiter !== null) {
      if (line === delimiter) delimiter = null;
      else seen ||= line.includes(secret);
      continue;
    }
    expect(line, 'secret outside a here-document').to.not.include(secret);
    delimiter = /<<'([A-Za-z0-9_]+)'$/.exec(line)?.[1] ?? null;
  }
  expect(seen, 'secret reaches the command on stdin').to.equal(true);
}

function allCmds(task: Task<string>, plan: Plan): Cmd[] {
  return [...task.facts.map((f) => (f as ShellFact<unknown>).script), ...(plan.action === 'none' ? [] : plan.steps.map((s) => (s as ExecStep).cmd))];
}

async function expectConvergesOnce(task: () => Task<string>, setup?: (h: ReturnType<typeof simHost>['sim']) => void): Promise<void> {
  const { sim, rt } = simHost();
  setup?.(sim);
  const first = await converge(rt, task());
  expect(first.action, 'first run').to.not.equal('none');
  const second = await converge(rt, task());
  expect(second, 'second run').to.deep.include({ action: 'none' });
}

describe('tasks: mysql', () => {
  const NOVA_DBPASS = new Secret('NOVA_DBPASS');
  // SELECT PASSWORD('NOVA_DBPASS') on MariaDB 10.11.
  const NOVA_HASH = '*B79B482785488AB91D97EAFCAD7BA8839EF65AD3';
  const novaUser =
    (extra: Partial<Parameters<typeof mysqlUser>[0]> = {}) =>
    () =>
      mysqlUser({ user: 'nova', host: ['localhost', '%'], password: NOVA_DBPASS, privileges: [{ database: 'nova', privileges: 'ALL' }], ...extra });

  it('hashes passwords as the server does', () => {
    expect(nativePasswordHash(new Secret('nova')).reveal()).to.equal('*0BE3B501084D35F4C66DD3AC4569EAE5EA738212');
    expect(nativePasswordHash(NOVA_DBPASS).reveal()).to.equal(NOVA_HASH);
  });

  it('reads SHOW GRANTS lines of MariaDB and MySQL 5.5', () => {
    expect(parseGrantLine('GRANT ALL PRIVILEGES ON `nova`.* TO `nova`@`localhost`')).to.deep.equal({ database: 'nova', privileges: ['ALL PRIVILEGES'] });
    expect(parseGrantLine("GRANT SELECT, INSERT ON `nova\\_api`.* TO 'nova'@'%'")).to.deep.equal({ database: 'nova_api', privileges: ['SELECT', 'INSERT'] });
    expect(parseGrantLine("GRANT USAGE ON *.* TO 'nova'@'%' IDENTIFIED BY PASSWORD '*0BE3B501084D35F4C66DD3AC4569EAE5EA738212'")).to.deep.equal({
      database: '*',
      privileges: ['USAGE'],
    });
    expect(parseGrantLine('GRANT SELECT (id) ON `nova`.`instances` TO `nova`@`%`')).to.equal(null);
  });

  runCases([
    {
      name: 'creates a missing database (seed: CREATE DATABASE nova)',
      task: () => mysqlDatabase({ name: 'nova' }),
      probes: ['@@end\n'],
      commands: ["mysql -uroot <<'SP_EOF'\nCREATE DATABASE `nova`;\nSP_EOF"],
    },
    {
      name: 'leaves an existing database; utf8mb3 is utf8',
      task: () => mysqlDatabase({ name: 'keystone', charset: 'utf8' }),
      probes: ['@@db utf8mb3\n@@end\n'],
      commands: [],
    },
    {
      name: 'changes the default character set when asked for another',
      task: () => mysqlDatabase({ name: 'nova', charset: 'utf8' }),
      probes: ['@@db latin1\n@@end\n'],
      commands: ["mysql -uroot <<'SP_EOF'\nALTER DATABASE `nova` CHARACTER SET `utf8`;\nSP_EOF"],
    },
    {
      name: 'uses the given client (Debian maintenance account)',
      task: () => mysqlDatabase({ name: 'glance', client: sh`mysql --defaults-file=/etc/mysql/debian.cnf` }),
      probes: ['@@end\n'],
      commands: ["mysql --defaults-file=/etc/mysql/debian.cnf <<'SP_EOF'\nCREATE DATABASE `glance`;\nSP_EOF"],
    },
    {
      name: 'says why when the server cannot be reached',
      task: () => mysqlDatabase({ name: 'nova' }),
      probes: [{ exitCode: 1, stdout: "ERROR 2002 (HY000): Can't connect to local server through socket '/run/mysqld/mysqld.sock' (2)\n", stderr: '' }],
      error: /cannot query MySQL for database nova \(exit 1\): ERROR 2002/,
    },
    {
      name: 'creates both accounts with the hash, and grants (seed 003/004)',
      task: novaUser(),
      probes: [
        "ERROR 1141 (42000) at line 3: There is no such grant defined for user 'nova' on host 'localhost'\nERROR 1141 (42000) at line 5: There is no such grant defined for user 'nova' on host '%'\n@@grants localhost\n@@grants %\n@@end\n",
      ],
      commands: [
        "mysql -uroot <<'SP_EOF'\n" +
          "CREATE USER 'nova'@'localhost' IDENTIFIED BY PASSWORD '***';\n" +
          "GRANT ALL PRIVILEGES ON `nova`.* TO 'nova'@'localhost';\n" +
          "CREATE USER 'nova'@'%' IDENTIFIED BY PASSWORD '***';\n" +
          "GRANT ALL PRIVILEGES ON `nova`.* TO 'nova'@'%';\n" +
          'SP_EOF',
      ],
    },
    {
      name: 'leaves accounts whose password and grants match (MariaDB 10.11)',
      task: novaUser(),
      probes: [
        `@@host localhost ${NOVA_HASH}\n@@host % ${NOVA_HASH}\n@@grants localhost\nGRANT USAGE ON *.* TO \`nova\`@\`localhost\` IDENTIFIED BY PASSWORD '${NOVA_HASH}'\nGRANT ALL PRIVILEGES ON \`nova\`.* TO \`nova\`@\`localhost\`\n@@grants %\nGRANT USAGE ON *.* TO \`nova\`@\`%\` IDENTIFIED BY PASSWORD '${NOVA_HASH}'\nGRANT ALL PRIVILEGES ON \`nova\`.* TO \`nova\`@\`%\`\n@@end\n`,
      ],
      commands: [],
    },
    {
      // MySQL/MariaDB 5.5 keep the hash in Password, not authentication_string, and quote accounts with ''.
      name: 'leaves accounts whose password and grants match (MySQL 5.5)',
      task: novaUser(),
      probes: [
        `@@host localhost \n@@host % \n@@grants localhost\nGRANT USAGE ON *.* TO 'nova'@'localhost' IDENTIFIED BY PASSWORD '${NOVA_HASH}'\nGRANT ALL PRIVILEGES ON \`nova\`.* TO 'nova'@'localhost'\n@@grants %\nGRANT USAGE ON *.* TO 'nova'@'%' IDENTIFIED BY PASSWORD '${NOVA_HASH}'\nGRANT ALL PRIVILEGES ON \`nova\`.* TO 'nova'@'%'\n@@end\n`,
      ],
      commands: [],
    },
    {
      name: 'resets a drifted password and adds the missing account',
      task: novaUser(),
      probes: [
        "ERROR 1141 (42000) at line 5: There is no such grant defined for user 'nova' on host '%'\n@@host localhost *0BE3B501084D35F4C66DD3AC4569EAE5EA738212\n@@grants localhost\nGRANT USAGE ON *.* TO `nova`@`localhost` IDENTIFIED BY PASSWORD '*0BE3B501084D35F4C66DD3AC4569EAE5EA738212'\nGRANT ALL PRIVILEGES ON `nova`.* TO `nova`@`localhost`\n@@grants %\n@@end\n",
      ],
      commands: [
        "mysql -uroot <<'SP_EOF'\n" +
          "SET PASSWORD FOR 'nova'@'localhost' = '***';\n" +
          "CREATE USER 'nova'@'%' IDENTIFIED BY PASSWORD '***';\n" +
          "GRANT ALL PRIVILEGES ON `nova`.* TO 'nova'@'%';\n" +
          'SP_EOF',
      ],
    },
    {
      name: 'adds only missing grants; escaped wildcards and *.* count',
      task: () =>
        mysqlUser({
          user: 'nova',
          host: 'localhost',
          password: NOVA_DBPASS,
          privileges: [
            { database: 'nova', privileges: 'ALL' },
            { database: 'nova_api', privileges: ['select', 'INSERT'] },
            { database: 'nova_cell0', privileges: 'ALL' },
          ],
        }),
      probes: [
        `@@host localhost ${NOVA_HASH}\n@@grants localhost\nGRANT USAGE ON *.* TO \`nova\`@\`localhost\` IDENTIFIED BY PASSWORD '${NOVA_HASH}'\nGRANT SELECT, INSERT, UPDATE ON \`nova\\\\_api\`.* TO \`nova\`@\`localhost\`\nGRANT ALL PRIVILEGES ON \`nova\`.* TO \`nova\`@\`localhost\`\n@@end\n`,
      ],
      commands: ["mysql -uroot <<'SP_EOF'\nGRANT ALL PRIVILEGES ON `nova_cell0`.* TO 'nova'@'localhost';\nSP_EOF"],
    },
    {
      name: 'a global ALL grant satisfies a database grant',
      task: () => mysqlUser({ user: 'admin', host: 'localhost', password: NOVA_DBPASS, privileges: [{ database: 'nova', privileges: 'ALL' }] }),
      probes: [
        `@@host localhost ${NOVA_HASH}\n@@grants localhost\nGRANT ALL PRIVILEGES ON *.* TO \`admin\`@\`localhost\` IDENTIFIED BY PASSWORD '${NOVA_HASH}' WITH GRANT OPTION\n@@end\n`,
      ],
      commands: [],
    },
    {
      name: 'refuses names that could end a literal',
      task: () => mysqlUser({ user: "no'va", host: '%', password: NOVA_DBPASS, privileges: [] }),
      probes: ['@@end\n'],
      error: /quotes, backslashes and control characters/,
    },
  ]);

  it('keeps the password, and its hash, off every command line', () => {
    const task = novaUser()();
    const plan = planFrom(task, ['@@grants localhost\n@@grants %\n@@end\n']);
    for (const cmd of allCmds(task, plan).slice(1)) expectOnlyOnStdin(cmd, NOVA_HASH);
    for (const cmd of allCmds(task, plan)) expect(cmd.reveal()).to.not.include('NOVA_DBPASS');
  });

  it('hands the root password to the client in a private option file', () => {
    const root = new Secret('r"oo\\t#pw');
    const task = mysqlDatabase({ name: 'nova', rootPassword: root });
    const plan = planFrom(task, ['@@end\n']);
    expect(commandsOf(plan)).to.deep.equal([
      '(\numask 077\nd=$(mktemp -d) || exit 1\ntrap \'rm -rf "$d"\' EXIT\ncat >"$d/.my.cnf" <<\'SP_EOF\'\n***\nSP_EOF\nHOME="$d" mysql -uroot <<\'SP_EOF\'\nCREATE DATABASE `nova`;\nSP_EOF\n)',
    ]);
    // Option-file escaping of quote and backslash (mysys my_default.c).
    expect(allCmds(task, plan)[1]?.reveal()).to.include('[client]\npassword="r\\"oo\\\\t#pw"\n');
    const escaped = 'r\\"oo\\\\t#pw';
    for (const cmd of allCmds(task, plan)) {
      expectOnlyOnStdin(cmd, escaped);
      expect(cmd.reveal()).to.not.include(root.reveal());
    }
  });

  it('converges on a simulated host, then has nothing to do', async () => {
    await expectConvergesOnce(() => mysqlDatabase({ name: 'nova', charset: 'utf8' }));
    await expectConvergesOnce(novaUser());
    // A password changed behind our back is reset on the next run.
    const { sim, rt } = simHost();
    await converge(rt, novaUser()());
    const drifted = await converge(rt, novaUser({ password: new Secret('OTHER') })());
    expect(drifted.action === 'change' && drifted.summary).to.equal('reset password of nova@localhost; reset password of nova@%');
    expect(sim.value('mysql:password:nova@%')).to.equal(nativePasswordHash(new Secret('OTHER')).reveal());
  });
});

describe('tasks: rabbitmq', () => {
  const RABBIT_PASS = new Secret('RABBIT_PASS');
  const openstack = () => rabbitmqUser({ user: 'openstack', password: RABBIT_PASS });
  // `rabbitmqctl -q` on 3.10 still prints table headers.
  const USERS_310 = 'user\ttags\nguest\t[administrator]\n@@list_users 0\n';
  const PERMS_310 = 'user\tconfigure\twrite\tread\nguest\t.*\t.*\t.*\n@@list_permissions 0\n';
  const evalChange = (fun: string, user: string): string =>
    '(\n' +
    'f=$(mktemp /var/lib/rabbitmq/.stackplay-XXXXXX) || exit 1\n' +
    'trap \'rm -f "$f"\' EXIT\n' +
    'cat >"$f" <<\'SP_EOF\'\n***\nSP_EOF\n' +
    'chown rabbitmq "$f" 2>/dev/null\n' +
    `rabbitmqctl -q eval 'F = "'"$f"'", P = case file:read_file(F) of {ok, B} when byte_size(B) > 0 -> binary:part(B, 0, byte_size(B) - 1) end, M = rabbit_auth_backend_internal, ok = case erlang:function_exported(M, ${fun}, 3) of true -> M:${fun}(<<"${user}">>, P, <<"stackplay">>); false -> M:${fun}(<<"${user}">>, P) end.'\n` +
    ')';

  runCases([
    {
      name: 'adds the user with its password on stdin, then permissions (Liberty+)',
      task: openstack,
      probes: [`${USERS_310}${PERMS_310}@@auth refused stdin\n`],
      commands: ["rabbitmqctl add_user openstack <<'SP_EOF'\n***\nSP_EOF", "rabbitmqctl set_permissions -p / openstack '.*' '.*' '.*'"],
    },
    {
      name: 'nothing to do when the password authenticates and permissions match',
      task: openstack,
      probes: [
        'user\ttags\nguest\t[administrator]\nopenstack\t[]\n@@list_users 0\nuser\tconfigure\twrite\tread\nopenstack\t.*\t.*\t.*\nguest\t.*\t.*\t.*\n@@list_permissions 0\n@@auth ok stdin\n',
      ],
      commands: [],
    },
    {
      name: 'resets a lost password (seed 004 §11) on stdin',
      task: openstack,
      probes: ['user\ttags\nopenstack\t[]\n@@list_users 0\nuser\tconfigure\twrite\tread\nopenstack\t.*\t.*\t.*\n@@list_permissions 0\n@@auth refused stdin\n'],
      commands: ["rabbitmqctl change_password openstack <<'SP_EOF'\n***\nSP_EOF"],
    },
    {
      // RabbitMQ 3.2 (Ubuntu 14.04, Juno): no table headers, no stdin route; the broker checked the password through eval.
      name: "Juno's guest password on an old broker goes through eval",
      task: () => rabbitmqUser({ user: 'guest', password: RABBIT_PASS, tags: ['administrator'] }),
      probes: ['guest\t[administrator]\n@@list_users 0\nguest\t.*\t.*\t.*\n@@list_permissions 0\n@@auth refused eval\n'],
      commands: [evalChange('change_password', 'guest')],
    },
    {
      name: 'an unverifiable password is reset every run, through eval',
      task: openstack,
      probes: ['openstack\t[]\n@@list_users 0\nopenstack\t.*\t.*\t.*\n@@list_permissions 0\n@@auth unknown eval\n'],
      commands: [evalChange('change_password', 'openstack')],
    },
    {
      name: 'adds a user through eval on an old broker',
      task: openstack,
      probes: ['guest\t[administrator]\n@@list_users 0\nguest\t.*\t.*\t.*\n@@list_permissions 0\n@@auth refused eval\n'],
      commands: [evalChange('add_user', 'openstack'), "rabbitmqctl set_permissions -p / openstack '.*' '.*' '.*'"],
    },
    {
      name: 'fixes permissions and tags only',
      task: () => rabbitmqUser({ user: 'openstack', password: RABBIT_PASS, vhost: '/nova', permissions: ['^$', '.*', '.*'], tags: ['monitoring'] }),
      probes: [
        'user\ttags\nopenstack\t[administrator, monitoring]\n@@list_users 0\nuser\tconfigure\twrite\tread\nopenstack\t.*\t.*\t.*\n@@list_permissions 0\n@@auth ok stdin\n',
      ],
      commands: ["rabbitmqctl set_permissions -p /nova openstack '^$' '.*' '.*'", 'rabbitmqctl set_user_tags openstack monitoring'],
    },
    {
      name: 'says so when the broker is down',
      task: openstack,
      probes: ['@@list_users 69\n@@list_permissions 69\n@@auth unknown eval\n'],
      error: /rabbitmqctl list_users failed \(exit 69\): is rabbitmq-server running\?/,
    },
  ]);

  it('refuses passwords rabbitmqctl would trim from stdin', () => {
    expect(() => rabbitmqUser({ user: 'openstack', password: new Secret(' pass') })).to.throw(/trims it/);
    expect(() => rabbitmqUser({ user: 'openstack', password: new Secret('a\nb') })).to.throw(/trims it/);
  });

  it('keeps the password off every command line, probe included', () => {
    const task = openstack();
    for (const probe of [
      'guest\t[administrator]\n@@list_users 0\n@@list_permissions 0\n@@auth refused eval\n',
      `${USERS_310}${PERMS_310}@@auth refused stdin\n`,
    ]) {
      const plan = planFrom(task, [probe]);
      for (const cmd of allCmds(task, plan).filter((c) => c.hasSecret)) expectOnlyOnStdin(cmd, 'RABBIT_PASS');
      expect(
        allCmds(task, plan)
          .filter((c) => !c.hasSecret)
          .map((c) => c.reveal())
          .join('\n'),
      ).to.not.include('RABBIT_PASS');
    }
  });

  it('converges on a simulated host, and re-asserts a changed password', async () => {
    await expectConvergesOnce(() => rabbitmqUser({ user: 'openstack', password: RABBIT_PASS, tags: ['administrator'] }));
    const { rt } = simHost();
    await converge(rt, openstack());
    const again = await converge(rt, rabbitmqUser({ user: 'openstack', password: new Secret('NEW_PASS') }));
    expect(again.action === 'change' && again.summary).to.equal('reset password of openstack');
  });
});

describe('tasks: migration', () => {
  const keystone = () =>
    dbSync({ service: 'keystone', user: 'keystone', command: sh`keystone-manage db_sync`, fingerprint: versionCommand(sh`keystone-manage db_version`) });

  const fresh = { key: '1 2', recorded: null };

  it('runs db_sync as the service user between two fingerprints, then records the gate (seed 003)', () => {
    const plan = keystone().plan([fresh]);
    expect(plan.action).to.equal('run');
    const [script = ''] = commandsOf(plan);
    expect(script.split('\n').slice(0, 6)).to.deep.equal([
      'fingerprint() {',
      "su -s /bin/sh -c 'keystone-manage db_version' keystone 2>/dev/null",
      '}',
      "before=$(fingerprint) || before='(none)'",
      "su -s /bin/sh -c 'keystone-manage db_sync' keystone || exit $?",
      "after=$(fingerprint) || after='(none)'",
    ]);
    // The record is written after the migration succeeded, atomically, then the verdict.
    expect(script).to.match(
      /mv -f \/var\/lib\/stackplay\/db-sync\/keystone\.tmp \/var\/lib\/stackplay\/db-sync\/keystone \|\| exit \$\?\nif \[ "x\$before" = "x\$after" \]/,
    );
  });

  it('runs only when the package or the schema differ from the record of the last migration', () => {
    expect(keystone().plan([{ key: '1 2', recorded: '1 2' }])).to.deep.include({ action: 'none' });
    const changed = keystone().plan([{ key: '3 4', recorded: '1 2' }]);
    expect(changed.action).to.equal('run');
    expect(changed.action === 'run' && changed.summary).to.contain('package or schema changed since the last migration');
  });

  it('fingerprints tables and version rows as root by default', () => {
    const plan = dbSync({ service: 'nova', user: 'nova', command: sh`nova-manage db sync` }).plan([fresh]);
    expect(commandsOf(plan)[0]).to.contain(
      'fingerprint() {\n' +
        "{ mysql -uroot -N -B --force 2>/dev/null <<'SP_EOF'\n" +
        "SELECT 'schema of nova';\n" +
        "SELECT table_name FROM information_schema.tables WHERE table_schema = 'nova' ORDER BY table_name;\n" +
        'SELECT * FROM `nova`.`migrate_version` ORDER BY 1;\n' +
        'SELECT * FROM `nova`.`alembic_version` ORDER BY 1;\n' +
        'SP_EOF\n' +
        '} | cksum\n' +
        '}\n' +
        "before=$(fingerprint) || before='(none)'\n" +
        "su -s /bin/sh -c 'nova-manage db sync' nova || exit $?\n",
    );
    expect(sqlFingerprint({ database: 'nova_api' }).script.display()).to.include("table_schema = 'nova_api'");
  });

  it('is changed only when the script says the schema moved', () => {
    const step = keystone().plan([fresh]);
    const changedWhen = step.action === 'run' ? (step.steps[0] as ExecStep).changedWhen : undefined;
    expect(changedWhen).to.equal(schemaChanged);
    const out = (stdout: string): ExecResult => ({ exitCode: 0, stdout, stderr: '' });
    expect(schemaChanged(out('2015-10-01 INFO migrate.versioning.api 66 -> 67...\nstackplay: schema changed\n'))).to.equal(true);
    expect(schemaChanged(out('stackplay: schema unchanged\n'))).to.equal(false);
    expect(schemaChanged(out(''))).to.equal(true);
  });

  it('refuses commands holding secrets: su -c would put them in argv', () => {
    expect(() => dbSync({ service: 'x', user: 'x', command: sh`x-manage --password ${new Secret('p')} db_sync` })).to.throw(/must not contain secrets/);
  });

  it('reports a change on the first simulated run and starts nothing on the second', async () => {
    const { rt } = simHost();
    const task = keystone();
    const first = task.plan(await rt.gather(task.facts));
    if (first.action === 'none') throw new Error('a fresh host must migrate');
    const applied: boolean[] = [];
    for (const s of first.steps) applied.push(await rt.apply(s));
    expect(applied).to.deep.equal([true]);
    expect(task.plan(await rt.gather(task.facts)).action).to.equal('none');
  });
});

describe('tasks: lvm and loop devices', () => {
  const dev = (given: string, canonical = given): string => `@@device\t${given}\t${canonical}\n`;
  runCases([
    {
      name: 'pvcreate on a fresh disk (seed 003: pvcreate /dev/sdb)',
      task: () => lvmPhysicalVolume({ device: '/dev/sdb' }),
      probes: [`${dev('/dev/sdb')}@@pvs 0\n@@vgs 0\n`],
      commands: ['pvcreate /dev/sdb'],
    },
    {
      name: 'an existing PV, named through a symlink, is left alone',
      task: () => lvmPhysicalVolume({ device: '/dev/disk/by-id/virtio-block1' }),
      probes: [`${dev('/dev/disk/by-id/virtio-block1', '/dev/vdb')}  /dev/vdb|cinder-volumes\n@@pvs 0\n  cinder-volumes\n@@vgs 0\n`],
      commands: [],
    },
    {
      name: 'creates the volume group, initializing the PV first',
      task: () => lvmVolumeGroup({ name: 'cinder-volumes', devices: ['/dev/loop2'] }),
      probes: [`${dev('/dev/loop2')}@@pvs 0\n@@vgs 0\n`],
      commands: ['pvcreate /dev/loop2', 'vgcreate cinder-volumes /dev/loop2'],
    },
    {
      name: 'extends the group with a missing device that is already a PV',
      task: () => lvmVolumeGroup({ name: 'cinder-volumes', devices: ['/dev/loop2', '/dev/loop3'] }),
      probes: [`${dev('/dev/loop2')}${dev('/dev/loop3')}  /dev/loop2|cinder-volumes\n  /dev/loop3|\n@@pvs 0\n  cinder-volumes\n@@vgs 0\n`],
      commands: ['vgextend cinder-volumes /dev/loop3'],
    },
    {
      name: 'keeps devices the group has beyond those listed',
      task: () => lvmVolumeGroup({ name: 'cinder-volumes', devices: ['/dev/loop2'] }),
      probes: [`${dev('/dev/loop2')}  /dev/loop2|cinder-volumes\n  /dev/loop3|cinder-volumes\n@@pvs 0\n  cinder-volumes\n@@vgs 0\n`],
      commands: [],
    },
    {
      name: 'refuses to take a PV from another group',
      task: () => lvmVolumeGroup({ name: 'cinder-volumes', devices: ['/dev/loop2'] }),
      probes: [`${dev('/dev/loop2')}  /dev/loop2|other\n@@pvs 0\n  other\n@@vgs 0\n`],
      error: /belongs to volume group other/,
    },
    {
      name: 'a missing device is an error, not a pvcreate',
      task: () => lvmPhysicalVolume({ device: '/dev/sdb' }),
      probes: ['@@device\t/dev/sdb\t\n@@pvs 0\n@@vgs 0\n'],
      error: /\/dev\/sdb is not a block device/,
    },
    {
      name: 'without lvm2 the probe says so',
      task: () => lvmPhysicalVolume({ device: '/dev/sdb' }),
      probes: [`${dev('/dev/sdb')}@@pvs 127\n@@vgs 127\n`],
      error: /is lvm2 installed/,
    },
    {
      name: 'creates a sparse backing file and attaches the first free loop device',
      task: () => loopDevice({ file: '/var/lib/stackplay/cinder-volumes.img', sizeMb: 2048 }),
      probes: ['@@size\n@@attached 0\n'],
      commands: [
        'mkdir -p /var/lib/stackplay && truncate -s 2048M /var/lib/stackplay/cinder-volumes.img',
        'losetup -f --show /var/lib/stackplay/cinder-volumes.img',
      ],
    },
    {
      name: 'finds an existing attachment by backing file (losetup -j)',
      task: () => loopDevice({ file: '/var/lib/stackplay/cinder-volumes.img', sizeMb: 2048, device: '/dev/loop2' }),
      probes: ['@@size 2147483648\n/dev/loop2: [65024]:2146931 (/var/lib/stackplay/cinder-volumes.img)\n@@attached 0\n@@device 0\n'],
      commands: [],
    },
    {
      name: 'attaches to the fixed device when it is free',
      task: () => loopDevice({ file: '/var/lib/stackplay/cinder-volumes.img', sizeMb: 2048, device: '/dev/loop2' }),
      probes: ['@@size 2147483648\n@@attached 0\n@@device 1\n'],
      commands: ['losetup /dev/loop2 /var/lib/stackplay/cinder-volumes.img'],
    },
    {
      name: 'grows a smaller file and tells the attached device',
      task: () => loopDevice({ file: '/var/lib/stackplay/cinder-volumes.img', sizeMb: 4096 }),
      probes: ['@@size 2147483648\n/dev/loop0: [65024]:2146931 (/var/lib/stackplay/cinder-volumes.img)\n@@attached 0\n'],
      commands: ['truncate -s 4096M /var/lib/stackplay/cinder-volumes.img', 'losetup -c /dev/loop0'],
    },
    {
      name: 'refuses a fixed device used by another file',
      task: () => loopDevice({ file: '/var/lib/stackplay/cinder-volumes.img', sizeMb: 2048, device: '/dev/loop2' }),
      probes: ['@@size 2147483648\n@@attached 0\n@@device 0\n'],
      error: /\/dev\/loop2 is in use by another file/,
    },
    {
      name: 'refuses when the file is attached to another device than asked',
      task: () => loopDevice({ file: '/var/lib/stackplay/cinder-volumes.img', sizeMb: 2048, device: '/dev/loop2' }),
      probes: ['@@size 2147483648\n/dev/loop0: [65024]:2146931 (/var/lib/stackplay/cinder-volumes.img)\n@@attached 0\n@@device 1\n'],
      error: /attached to \/dev\/loop0, not \/dev\/loop2/,
    },
  ]);

  it('converges on a simulated host, then has nothing to do', async () => {
    const { rt } = simHost();
    const tasks = [
      () => loopDevice({ file: '/var/lib/stackplay/a.img', sizeMb: 1024, device: '/dev/loop2' }),
      () => loopDevice({ file: '/var/lib/stackplay/b.img', sizeMb: 1024 }),
      () => lvmPhysicalVolume({ device: '/dev/loop2' }),
      () => lvmVolumeGroup({ name: 'cinder-volumes', devices: ['/dev/loop2', '/dev/loop0'] }),
    ];
    const first = [];
    for (const t of tasks) first.push((await converge(rt, t())).action);
    expect(first).to.deep.equal(['change', 'change', 'change', 'change']);
    for (const t of tasks) expect((await converge(rt, t())).action).to.equal('none');
  });
});

describe('tasks: ovs', () => {
  runCases([
    {
      name: 'adds a missing bridge (seed 004: ovs-vsctl add-br br-ex)',
      task: () => ovsBridge({ name: 'br-ex' }),
      probes: ['@@br-exists 2\n@@list-ports 1\n'],
      commands: ['ovs-vsctl --may-exist add-br br-ex'],
    },
    {
      name: 'leaves an existing bridge',
      task: () => ovsBridge({ name: 'br-int' }),
      probes: ['@@br-exists 0\npatch-tun\n@@list-ports 0\n'],
      commands: [],
    },
    {
      name: 'says so when ovsdb cannot be reached',
      task: () => ovsBridge({ name: 'br-ex' }),
      probes: ['@@br-exists 1\n@@list-ports 1\n'],
      error: /is ovsdb-server running/,
    },
    {
      name: 'adds the port to an existing bridge (seed 004: add-port br-ex eth0)',
      task: () => ovsPort({ bridge: 'br-ex', port: 'eth0' }),
      probes: ['@@br-exists 0\nphy-br-ex\n@@list-ports 0\n@@port-to-br \n'],
      commands: ['ovs-vsctl --may-exist add-port br-ex eth0'],
    },
    {
      name: 'creates the bridge with the port when both are missing',
      task: () => ovsPort({ bridge: 'br-ex', port: 'eth0' }),
      probes: ['@@br-exists 2\n@@list-ports 1\n@@port-to-br \n'],
      commands: ['ovs-vsctl --may-exist add-br br-ex -- --may-exist add-port br-ex eth0'],
    },
    {
      name: 'leaves a port already on the bridge',
      task: () => ovsPort({ bridge: 'br-ex', port: 'eth0' }),
      probes: ['@@br-exists 0\neth0\nphy-br-ex\n@@list-ports 0\n@@port-to-br br-ex\n'],
      commands: [],
    },
    {
      name: 'refuses to move a port from another bridge',
      task: () => ovsPort({ bridge: 'br-ex', port: 'eth0' }),
      probes: ['@@br-exists 0\n@@list-ports 0\n@@port-to-br br-eth0\n'],
      error: /eth0 is on bridge br-eth0, not br-ex/,
    },
  ]);

  it('converges on a simulated host, then has nothing to do', async () => {
    await expectConvergesOnce(() => ovsBridge({ name: 'br-int' }));
    await expectConvergesOnce(() => ovsPort({ bridge: 'br-ex', port: 'eth0' }));
  });
});
