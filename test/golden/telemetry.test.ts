import { openstackPlaybook } from '../../openstack/playbook.js';
import { expect } from 'chai';
import { readFile } from 'node:fs/promises';
import { Secret } from '../../lib/core/secret.js';
import type { ExecStep } from '../../lib/core/task.js';
import { plays as ceilometerPlays } from '../../roles/ceilometer/index.js';
import { mongoUser, mongoUserCheckScript, mongoUserEnsureScript, type MongoUserArgs } from '../../roles/ceilometer/mongodb.js';
import { plays as ec2Plays } from '../../roles/ec2/index.js';
import { plays as heatPlays } from '../../roles/heat/index.js';
import { commandsWith, host, iniMismatches, planSite, type ExpectedIni, type SitePlan } from '../support/plan.js';
import { expectIdempotent } from '../support/golden.js';
import { keystoneFixture } from '../support/keystone-fixture.js';

/**
 * Telemetry (ceilometer + MongoDB, seed 004 §10), Orchestration (heat, the
 * Juno and Liberty guides) and the EC2 endpoint (seed 004 §13).
 */

const book = openstackPlaybook('telemetry-test', [
  keystoneFixture({ projects: ['service', 'demo'], demoUser: true }),
  ...ceilometerPlays,
  ...heatPlays,
  ...ec2Plays,
]);
const CEILOMETER = '/etc/ceilometer/ceilometer.conf';
const HEAT = '/etc/heat/heat.conf';

describe('golden: telemetry, orchestration, EC2', () => {
  describe('seed 004 (juno, Ubuntu 14.04)', () => {
    let plan: SitePlan;
    before(async () => {
      plan = await planSite(book, 'hosts/juno.ini');
    });

    const keystone: ExpectedIni = {
      DEFAULT: { rpc_backend: 'rabbit', rabbit_host: 'controller', rabbit_password: 'openstack', auth_strategy: 'keystone', verbose: 'true' },
      keystone_authtoken: {
        auth_uri: 'http://controller:5000/v2.0',
        identity_uri: 'http://controller:35357',
        admin_tenant_name: 'service',
        admin_user: 'ceilometer',
        admin_password: 'openstack',
        auth_host: undefined,
      },
      service_credentials: {
        os_auth_url: 'http://controller:5000/v2.0',
        os_username: 'ceilometer',
        os_tenant_name: 'service',
        os_password: 'openstack',
        os_endpoint_type: 'internalURL',
        // Seed 004 writes regionOne, the region its endpoints are in.
        os_region_name: 'regionOne',
      },
      publisher: { metering_secret: 'openstack', telemetry_secret: undefined },
    };

    it('configures MongoDB as §10.1.1', () => {
      const ctl = host(plan, 'controller');
      expect(iniMismatches(ctl, '/etc/mongodb.conf', { '': { bind_ip: '10.0.0.11', smallfiles: 'true' } })).to.deep.equal([]);
      // After the journal setting: stop, drop the preallocated journal, start (the guide's three commands),
      // before the user is created. (A simulated package leaves mongodb stopped: nothing to stop.)
      const handlers = plan.results.filter((r) => r.host === 'controller' && r.handler && /mongodb|prealloc/.test(r.task)).map((r) => r.task);
      expect(handlers).to.deep.equal(['service mongodb stopped', 'rm -f /var/lib/mongodb/journal/prealloc.*', 'service mongodb started']);
      const rm = ctl.commands.indexOf('rm -f /var/lib/mongodb/journal/prealloc.*');
      expect(ctl.commands.slice(rm, rm + 2)).to.deep.equal(['rm -f /var/lib/mongodb/journal/prealloc.*', 'initctl start mongodb']);
      expect(ctl.commands.findIndex((c) => c.includes('mongo --quiet'))).to.be.greaterThan(rm);
    });

    it('creates the ceilometer MongoDB user with the password on stdin only', () => {
      const create = host(plan, 'controller').commands.filter((c) => c.includes('mongo --quiet --norc --host controller <<'));
      expect(create).to.have.length(1);
      expect(create[0]).not.to.include('openstack');
      expect(create[0]).to.include('***');
    });

    it('configures ceilometer on the controller as §10.1.2', () => {
      expect(
        iniMismatches(host(plan, 'controller'), CEILOMETER, {
          ...keystone,
          database: { connection: 'mongodb://ceilometer:openstack@controller:27017/ceilometer' },
        }),
      ).to.deep.equal([]);
      const ctl = host(plan, 'controller');
      expect(commandsWith(ctl, '"type":"metering"')).to.have.length(1);
      expect(
        commandsWith(ctl, '"publicurl":"http://controller:8777","internalurl":"http://controller:8777","adminurl":"http://controller:8777"'),
      ).to.have.length(1);
      for (const s of [
        'ceilometer-agent-central',
        'ceilometer-agent-notification',
        'ceilometer-api',
        'ceilometer-collector',
        'ceilometer-alarm-evaluator',
        'ceilometer-alarm-notifier',
      ]) {
        expect(ctl.commands, s).to.include(`initctl start ${s}`);
      }
    });

    it('configures the compute agent as §10.2.1', () => {
      const compute = host(plan, 'compute1');
      expect(iniMismatches(compute, CEILOMETER, { ...keystone, database: { connection: undefined } })).to.deep.equal([]);
      expect(compute.commands).to.include('initctl start ceilometer-agent-compute');
      expect(compute.files.has('/etc/nova/nova.conf'), 'nova.conf is the nova role’s').to.equal(false);
    });

    it('configures heat as the Juno guide', () => {
      const expected: ExpectedIni = {
        database: { connection: 'mysql://heat:openstack@controller/heat' },
        DEFAULT: {
          rpc_backend: 'rabbit',
          rabbit_host: 'controller',
          rabbit_password: 'openstack',
          heat_metadata_server_url: 'http://controller:8000',
          heat_waitcondition_server_url: 'http://controller:8000/v1/waitcondition',
          auth_strategy: 'keystone',
        },
        keystone_authtoken: {
          auth_uri: 'http://controller:5000/v2.0',
          identity_uri: 'http://controller:35357',
          admin_tenant_name: 'service',
          admin_user: 'heat',
          admin_password: 'openstack',
        },
        ec2authtoken: { auth_uri: 'http://controller:5000/v2.0' },
      };
      const ctl = host(plan, 'controller');
      expect(iniMismatches(ctl, HEAT, expected)).to.deep.equal([]);
      expect(ctl.commands.some((c) => c.includes(`su -s /bin/sh -c 'heat-manage db_sync' heat`))).to.equal(true);
      expect(commandsWith(ctl, '"publicurl":"http://controller:8004/v1/%(tenant_id)s"')).to.have.length(1);
      expect(commandsWith(ctl, '"type":"cloudformation"')).to.have.length(1);
      expect(commandsWith(ctl, '"publicurl":"http://controller:8000/v1"')).to.have.length(1);
      expect(commandsWith(ctl, '{"role":{"name":"heat_stack_owner"}}')).to.have.length(1);
      expect(commandsWith(ctl, '{"role":{"name":"heat_stack_user"}}')).to.have.length(1);
      for (const s of ['heat-api', 'heat-api-cfn', 'heat-engine']) expect(ctl.commands, s).to.include(`initctl start ${s}`);
    });

    it('registers the EC2 API as §13', () => {
      const ctl = host(plan, 'controller');
      expect(commandsWith(ctl, '"name":"ec2","type":"ec2","description":"EC2 Compatibility Layer"')).to.have.length(1);
      expect(
        commandsWith(
          ctl,
          '"publicurl":"http://controller:8773/services/Cloud","internalurl":"http://controller:8773/services/Cloud","adminurl":"http://controller:8773/services/Admin"',
        ),
      ).to.have.length(1);
      // No user of its own: nova-api serves EC2.
      expect(commandsWith(ctl, '"user":{"name":"ec2"')).to.deep.equal([]);
    });

    it('changes nothing on a second run', () => expectIdempotent(plan));
  });

  describe('seed 003 (liberty, CentOS 7)', () => {
    let plan: SitePlan;
    before(async () => {
      plan = await planSite(book, 'hosts/liberty-centos.ini');
    });
    const c = '192.168.56.11';

    it('configures mongod and ceilometer on the controller', () => {
      const ctl = host(plan, 'linux-node1');
      expect(iniMismatches(ctl, '/etc/mongod.conf', { '': { bind_ip: c, smallfiles: 'true' } })).to.deep.equal([]);
      expect(
        iniMismatches(ctl, CEILOMETER, {
          database: { connection: `mongodb://ceilometer:openstack@${c}:27017/ceilometer` },
          DEFAULT: { rpc_backend: 'rabbit', auth_strategy: 'keystone', verbose: undefined },
          oslo_messaging_rabbit: { rabbit_host: c, rabbit_userid: 'openstack', rabbit_password: 'openstack' },
          keystone_authtoken: {
            auth_uri: `http://${c}:5000`,
            auth_url: `http://${c}:35357`,
            auth_plugin: 'password',
            username: 'ceilometer',
            password: 'openstack',
          },
          service_credentials: { os_auth_url: `http://${c}:5000/v2.0`, os_username: 'ceilometer', os_tenant_name: 'service', os_password: 'openstack' },
          publisher: { telemetry_secret: 'openstack', metering_secret: undefined },
        }),
      ).to.deep.equal([]);
      expect(ctl.commands).to.include.members([
        'systemctl start mongod',
        'systemctl start openstack-ceilometer-api',
        'systemctl start openstack-ceilometer-central',
      ]);
      expect(ctl.commands.some((cmd) => cmd.includes('alarm'))).to.equal(false);
    });

    it('configures the compute agent on linux-node2', () => {
      const node2 = host(plan, 'linux-node2');
      expect(iniMismatches(node2, CEILOMETER, { publisher: { telemetry_secret: 'openstack' }, database: { connection: undefined } })).to.deep.equal([]);
      expect(node2.commands.some((cmd) => cmd.endsWith('yum install -y -q -- openstack-ceilometer-compute python-ceilometerclient python-pecan'))).to.equal(
        true,
      );
      expect(node2.commands).to.include('systemctl start openstack-ceilometer-compute');
    });

    it('configures heat as the Liberty guide (without the heat domain)', () => {
      const ctl = host(plan, 'linux-node1');
      expect(
        iniMismatches(ctl, HEAT, {
          database: { connection: `mysql://heat:openstack@${c}/heat` },
          DEFAULT: {
            heat_metadata_server_url: `http://${c}:8000`,
            heat_waitcondition_server_url: `http://${c}:8000/v1/waitcondition`,
            stack_domain_admin: undefined,
          },
          keystone_authtoken: { auth_uri: `http://${c}:5000`, auth_url: `http://${c}:35357`, username: 'heat', password: 'openstack' },
          trustee: { auth_plugin: 'password', auth_url: `http://${c}:35357`, username: 'heat', password: 'openstack', user_domain_id: 'default' },
          clients_keystone: { auth_uri: `http://${c}:5000` },
          ec2authtoken: { auth_uri: `http://${c}:5000/v2.0` },
        }),
      ).to.deep.equal([]);
      expect(commandsWith(ctl, `"url":"http://${c}:8004/v1/%(tenant_id)s"`)).to.have.length(3);
      expect(commandsWith(ctl, `"url":"http://${c}:8000/v1"`)).to.have.length(3);
      expect(ctl.commands).to.include.members([
        'systemctl start openstack-heat-api',
        'systemctl start openstack-heat-api-cfn',
        'systemctl start openstack-heat-engine',
      ]);
      // EC2 is registered for Juno only.
      expect(commandsWith(ctl, '"type":"ec2"')).to.deep.equal([]);
    });

    it('changes nothing on a second run', () => expectIdempotent(plan));
  });

  describe('seed 000 (liberty, Ubuntu 14.04)', () => {
    let plan: SitePlan;
    before(async () => {
      plan = await planSite(book, 'hosts/liberty-ubuntu.ini');
    });

    it('uses Ubuntu’s MongoDB and service names', () => {
      const ctl = host(plan, 'controller');
      expect(iniMismatches(ctl, '/etc/mongodb.conf', { '': { bind_ip: '10.0.0.11', smallfiles: 'true' } })).to.deep.equal([]);
      expect(ctl.commands).to.include.members(['initctl start mongodb', 'initctl start ceilometer-api', 'initctl start heat-engine']);
      expect(host(plan, 'compute1').commands).to.include('initctl start ceilometer-agent-compute');
    });

    it('changes nothing on a second run', () => expectIdempotent(plan));
  });

  describe('zed (Debian 12, lab)', () => {
    it('does nothing: Zed telemetry needs gnocchi, heat a keystone domain', async () => {
      const plan = await planSite(book, 'hosts/lab.ini');
      for (const [name, h] of plan.hosts) {
        const ours = h.commands.filter((c) => /ceilometer|mongo|heat|ec2/.test(c));
        expect(ours, name).to.deep.equal([]);
      }
      expectIdempotent(plan);
    });
  });

  it('follows the inventory: other names, addresses and passwords change exactly those', async () => {
    const text = (await readFile('hosts/juno.ini', 'utf8'))
      .replace('controller ansible_host=10.0.0.11', 'ctl9 ansible_host=10.9.0.11')
      .replace('default_password=openstack', 'default_password=p@ss:w/rd');
    const plan = await planSite(book, `${text}\n[controller:vars]\ncontroller_public_address=203.0.113.5\n`, { text: true });
    const ctl = host(plan, 'ctl9');
    expect(
      iniMismatches(ctl, CEILOMETER, {
        database: { connection: 'mongodb://ceilometer:p%40ss%3Aw%2Frd@ctl9:27017/ceilometer' },
        service_credentials: { os_password: 'p@ss:w/rd' },
      }),
    ).to.deep.equal([]);
    expect(iniMismatches(ctl, '/etc/mongodb.conf', { '': { bind_ip: '10.9.0.11' } })).to.deep.equal([]);
    expect(commandsWith(ctl, '"publicurl":"http://203.0.113.5:8773/services/Cloud","internalurl":"http://ctl9:8773/services/Cloud"')).to.have.length(1);
    for (const [name, h] of plan.hosts)
      for (const [path, content] of h.files) expect(content, `${name}:${path}`).not.to.match(/controller|openstack|10\.0\.0\./);
    expectIdempotent(plan);
  });
});

describe('mongoUser', () => {
  const task = mongoUser({
    host: 'controller',
    database: 'ceilometer',
    user: 'ceilometer',
    password: new Secret('s3"cr\'et'),
    roles: ['readWrite', 'dbAdmin'],
  });

  it('keeps the password out of argv and out of what is shown', () => {
    // Facts: creates, removes, unless (user not as wanted), onlyIf.
    const plan = task.plan([null, null, false, true]);
    expect(plan.action).to.equal('change');
    const step = (plan as { steps: readonly ExecStep[] }).steps[0]!;
    const [beforeStdin, stdin = ''] = step.cmd.reveal().split(`mongo --quiet --norc --host controller <<'SP_EOF'\n`);
    expect(beforeStdin).not.to.include('s3');
    expect(stdin).to.include(`pwd: "s3\\"cr'et"`);
    expect(step.cmd.display()).not.to.include('s3');
    expect(step.cmd.display()).to.include('***');
  });

  it('does nothing when the check says the user is as wanted', () => {
    expect(task.plan([null, null, true, true]).action).to.equal('none');
  });
});

/**
 * The shell scripts run against a stand-in for the mongo shell: MongoDB 2.4's
 * (Ubuntu 14.04: addUser upserts, users in system.users with role names) and
 * 2.6's (EPEL: createUser/updateUser/getUser with role documents).
 */
describe('mongo shell scripts', () => {
  interface User {
    pwd: string;
    roles: string[];
  }
  function shell(version: '2.4' | '2.6', users: Map<string, User>) {
    const d: Record<string, unknown> = {
      auth: (name: string, pwd: string) => (users.get(name)?.pwd === pwd ? 1 : 0),
      system: { users: { findOne: (q: { user: string }) => (users.has(q.user) ? { user: q.user, roles: users.get(q.user)!.roles } : null) } },
    };
    if (version === '2.4') d['addUser'] = (spec: { user: string; pwd: string; roles: string[] }) => users.set(spec.user, { pwd: spec.pwd, roles: spec.roles });
    else {
      d['getUser'] = (name: string) => (users.has(name) ? { user: name, roles: users.get(name)!.roles.map((role) => ({ role, db: 'ceilometer' })) } : null);
      d['createUser'] = (spec: { user: string; pwd: string; roles: string[] }) => {
        if (users.has(spec.user)) throw new Error('User already exists');
        users.set(spec.user, { pwd: spec.pwd, roles: spec.roles });
      };
      d['updateUser'] = (name: string, patch: { pwd: string; roles: string[] }) => users.set(name, { ...patch });
    }
    return (script: Secret): number => {
      let code: number | null = null;
      const quit = (n: number) => {
        code ??= n;
        throw new Error('quit');
      };
      try {
        new Function('db', 'quit', 'print', script.reveal())({ getSiblingDB: () => d }, quit, () => {});
      } catch {
        // quit() ends the script, as it ends the real shell.
      }
      return code ?? 0;
    };
  }
  const args: MongoUserArgs = { host: 'controller', database: 'ceilometer', user: 'ceilometer', password: new Secret('pw1'), roles: ['readWrite', 'dbAdmin'] };

  for (const version of ['2.4', '2.6'] as const) {
    it(`creates, checks and repairs the user with the ${version} shell`, () => {
      const users = new Map<string, User>();
      const run = shell(version, users);
      expect(run(mongoUserCheckScript(args)), 'missing').to.equal(3);
      expect(run(mongoUserEnsureScript(args)), 'create').to.equal(0);
      expect(run(mongoUserCheckScript(args)), 'created').to.equal(0);
      users.set('ceilometer', { pwd: 'old', roles: ['dbAdmin', 'readWrite'] });
      expect(run(mongoUserCheckScript(args)), 'wrong password').to.equal(4);
      users.set('ceilometer', { pwd: 'pw1', roles: ['read'] });
      expect(run(mongoUserCheckScript(args)), 'wrong roles').to.equal(3);
      expect(run(mongoUserEnsureScript(args)), 'repair').to.equal(0);
      expect(users.get('ceilometer')).to.deep.equal({ pwd: 'pw1', roles: ['readWrite', 'dbAdmin'] });
      expect(run(mongoUserCheckScript(args)), 'repaired').to.equal(0);
    });
  }
});
