import { openstackPlaybook } from '../../openstack/playbook.js';
import { expect } from 'chai';
import { readFile } from 'node:fs/promises';
import { plays } from '../../roles/cinder/index.js';
import { lvmAcceptFilter, readLvmOption, setLvmOption } from '../../roles/cinder/lvm-conf.js';
import { commandsWith, host, iniMismatches, planSite, type ExpectedIni, type SitePlan } from '../support/plan.js';
import { expectIdempotent } from '../support/golden.js';
import { keystoneFixture } from '../support/keystone-fixture.js';

/**
 * Block Storage as the seeds show it: cinder.conf on the controller and the
 * storage node, lvm.conf's filter, the keystone catalog, db sync as cinder,
 * and a second simulated run that changes nothing.
 */

const book = openstackPlaybook('cinder-test', [keystoneFixture(), ...plays]);
const CONF = '/etc/cinder/cinder.conf';
const LVM = '/etc/lvm/lvm.conf';

/** lvm.conf source without whitespace outside strings, to compare values however they are spaced. */
const compact = (value: string | undefined) => value?.replace(/\s+(?=(?:[^"]*"[^"]*")*[^"]*$)/g, '');

describe('golden: cinder', () => {
  describe('seed 004 (juno, Ubuntu 14.04)', () => {
    let plan: SitePlan;
    before(async () => {
      plan = await planSite(book, 'hosts/juno.ini');
    });

    const shared: ExpectedIni = {
      database: { connection: 'mysql://cinder:openstack@controller/cinder' },
      DEFAULT: { rpc_backend: 'rabbit', rabbit_host: 'controller', rabbit_password: 'openstack', auth_strategy: 'keystone', verbose: 'true' },
      keystone_authtoken: {
        auth_uri: 'http://controller:5000/v2.0',
        identity_uri: 'http://controller:35357',
        admin_tenant_name: 'service',
        admin_user: 'cinder',
        admin_password: 'openstack',
        auth_host: undefined,
        auth_port: undefined,
        auth_protocol: undefined,
      },
    };

    it('configures the controller as §12.1', () => {
      expect(iniMismatches(host(plan, 'controller'), CONF, { ...shared, DEFAULT: { ...shared['DEFAULT'], my_ip: '10.0.0.11' } })).to.deep.equal([]);
    });

    it('configures block1 as §12.2, with tgt as the target', () => {
      const expected: ExpectedIni = {
        ...shared,
        DEFAULT: {
          ...shared['DEFAULT'],
          my_ip: '10.0.0.41',
          glance_host: 'controller',
          volume_group: 'cinder-volumes',
          iscsi_helper: 'tgtadm',
          enabled_backends: undefined,
        },
      };
      expect(iniMismatches(host(plan, 'block1'), CONF, expected)).to.deep.equal([]);
      expect(compact(readLvmOption(host(plan, 'block1').files.get(LVM) ?? '', 'devices', 'filter'))).to.equal('["a/sdb/","r/.*/"]');
      const cmds = host(plan, 'block1').commands;
      expect(cmds).to.include.members(['pvcreate /dev/sdb', 'vgcreate cinder-volumes /dev/sdb', 'initctl start tgt', 'initctl start cinder-volume']);
    });

    it('syncs the database as cinder and registers volume v1 and volumev2', () => {
      const ctl = host(plan, 'controller');
      expect(ctl.commands.some((c) => c.includes(`su -s /bin/sh -c 'cinder-manage db sync' cinder`))).to.equal(true);
      expect(commandsWith(ctl, '"type":"volume"')).to.have.length(1);
      expect(commandsWith(ctl, '"type":"volumev2"')).to.have.length(1);
      expect(commandsWith(ctl, '"publicurl":"http://controller:8776/v1/%(tenant_id)s"')).to.have.length(1);
      expect(commandsWith(ctl, '"adminurl":"http://controller:8776/v2/%(tenant_id)s"')).to.have.length(1);
      // One cinder user, shared by both entities.
      expect(commandsWith(ctl, '/v2.0/users {"user":{"name":"cinder"')).to.have.length(1);
    });

    it('changes nothing on a second run', () => expectIdempotent(plan));
  });

  describe('seed 003 (liberty, CentOS 7: linux-node2 is compute and block)', () => {
    let plan: SitePlan;
    before(async () => {
      plan = await planSite(book, 'hosts/liberty-centos.ini');
    });

    const c = '192.168.56.11';
    const shared: ExpectedIni = {
      DEFAULT: { glance_host: c, auth_strategy: 'keystone', rpc_backend: 'rabbit' },
      database: { connection: `mysql://cinder:openstack@${c}/cinder` },
      keystone_authtoken: {
        auth_uri: `http://${c}:5000`,
        auth_url: `http://${c}:35357`,
        auth_plugin: 'password',
        project_domain_id: 'default',
        user_domain_id: 'default',
        project_name: 'service',
        username: 'cinder',
        password: 'openstack',
      },
      oslo_concurrency: { lock_path: '/var/lib/cinder/tmp' },
      oslo_messaging_rabbit: { rabbit_host: c, rabbit_userid: 'openstack', rabbit_password: 'openstack' },
    };

    it('configures linux-node1 as §8.2', () => {
      expect(iniMismatches(host(plan, 'linux-node1'), CONF, { ...shared, DEFAULT: { ...shared['DEFAULT'], my_ip: c } })).to.deep.equal([]);
    });

    it('configures linux-node2 as §8.3: LVM back end over LIO', () => {
      const expected: ExpectedIni = {
        ...shared,
        DEFAULT: { ...shared['DEFAULT'], my_ip: '192.168.56.12', enabled_backends: 'lvm' },
        lvm: { volume_driver: 'cinder.volume.drivers.lvm.LVMVolumeDriver', volume_group: 'cinder-volumes', iscsi_protocol: 'iscsi', iscsi_helper: 'lioadm' },
      };
      const node2 = host(plan, 'linux-node2');
      expect(iniMismatches(node2, CONF, expected)).to.deep.equal([]);
      expect(compact(readLvmOption(node2.files.get(LVM) ?? '', 'devices', 'filter'))).to.equal('["a/sdb/","r/.*/"]');
      expect(node2.commands.some((cmd) => cmd.includes('yum install -y -q -- openstack-cinder targetcli python-oslo-policy'))).to.equal(true);
      expect(node2.commands).to.include.members([
        'systemctl start target',
        'systemctl enable target',
        'systemctl start openstack-cinder-volume',
        'systemctl enable openstack-cinder-volume',
        'systemctl start lvm2-lvmetad',
      ]);
    });

    it('registers v1 and v2 at the controller address with v3 calls', () => {
      const ctl = host(plan, 'linux-node1');
      for (const iface of ['public', 'internal', 'admin']) {
        expect(commandsWith(ctl, `"interface":"${iface}","url":"http://${c}:8776/v1/%(tenant_id)s"`), iface).to.have.length(1);
        expect(commandsWith(ctl, `"interface":"${iface}","url":"http://${c}:8776/v2/%(tenant_id)s"`), iface).to.have.length(1);
      }
      expect(ctl.commands).to.include.members(['systemctl start openstack-cinder-api', 'systemctl start openstack-cinder-scheduler']);
    });

    it('changes nothing on a second run', () => expectIdempotent(plan));
  });

  describe('seed 000 (liberty, Ubuntu 14.04) with a block node added', () => {
    let plan: SitePlan;
    before(async () => {
      const text = `${await readFile('hosts/liberty-ubuntu.ini', 'utf8')}\n[block]\ncompute1 cinder_devices=/dev/sdc\n`;
      plan = await planSite(book, text, { text: true });
    });

    it('uses tgt on Ubuntu', () => {
      const expected: ExpectedIni = {
        DEFAULT: { my_ip: '10.0.0.31', enabled_backends: 'lvm', glance_host: 'controller' },
        lvm: { volume_group: 'cinder-volumes', iscsi_protocol: 'iscsi', iscsi_helper: 'tgtadm' },
        oslo_messaging_rabbit: { rabbit_host: 'controller', rabbit_userid: 'openstack' },
      };
      expect(iniMismatches(host(plan, 'compute1'), CONF, expected)).to.deep.equal([]);
      expect(compact(readLvmOption(host(plan, 'compute1').files.get(LVM) ?? '', 'devices', 'filter'))).to.equal('["a/sdc/","r/.*/"]');
      expect(host(plan, 'compute1').commands).to.include.members(['initctl start tgt', 'initctl start cinder-volume']);
    });

    it('changes nothing on a second run', () => expectIdempotent(plan));
  });

  describe('zed (Debian 12, lab) with a loop-backed volume group', () => {
    let plan: SitePlan;
    before(async () => {
      const text = `${await readFile('hosts/lab.ini', 'utf8')}
[all:vars]
default_password=zedpass

[block:vars]
cinder_loop_file=/var/lib/cinder-volumes.img
cinder_loop_size_mb=2048
cinder_devices=/dev/loop7
`;
      plan = await planSite(book, text, { text: true });
    });

    const shared: ExpectedIni = {
      DEFAULT: { transport_url: 'rabbit://openstack:zedpass@controller:5672/', glance_api_servers: 'http://controller:9292', rpc_backend: undefined },
      database: { connection: 'mysql+pymysql://cinder:zedpass@controller/cinder' },
      keystone_authtoken: {
        www_authenticate_uri: 'http://controller:5000/',
        auth_url: 'http://controller:5000/',
        memcached_servers: 'controller:11211',
        auth_type: 'password',
        username: 'cinder',
        password: 'zedpass',
        region_name: 'RegionOne',
      },
      oslo_concurrency: { lock_path: '/var/lib/cinder/tmp' },
    };

    it('configures the controller and registers only volumev3', () => {
      const ctl = host(plan, 'controller');
      expect(iniMismatches(ctl, CONF, { ...shared, DEFAULT: { ...shared['DEFAULT'], my_ip: '10.42.0.11' } })).to.deep.equal([]);
      expect(commandsWith(ctl, '"type":"volumev3"')).to.have.length(1);
      expect(commandsWith(ctl, '"url":"http://controller:8776/v3/%(project_id)s"')).to.have.length(3);
      expect(commandsWith(ctl, '"type":"volume"').concat(commandsWith(ctl, '"type":"volumev2"'))).to.deep.equal([]);
    });

    it('configures block1 with target_* options over tgt and a loop device', () => {
      const b = host(plan, 'block1');
      const expected: ExpectedIni = {
        ...shared,
        DEFAULT: { ...shared['DEFAULT'], my_ip: '10.42.0.31', enabled_backends: 'lvm' },
        lvm: {
          volume_driver: 'cinder.volume.drivers.lvm.LVMVolumeDriver',
          volume_group: 'cinder-volumes',
          target_protocol: 'iscsi',
          target_helper: 'tgtadm',
          iscsi_helper: undefined,
          iscsi_protocol: undefined,
        },
      };
      expect(iniMismatches(b, CONF, expected)).to.deep.equal([]);
      expect(b.commands).to.include.members([
        'mkdir -p /var/lib && truncate -s 2048M /var/lib/cinder-volumes.img',
        'losetup /dev/loop7 /var/lib/cinder-volumes.img',
        'pvcreate /dev/loop7',
        'vgcreate cinder-volumes /dev/loop7',
      ]);
      expect(compact(readLvmOption(b.files.get(LVM) ?? '', 'devices', 'filter'))).to.equal('["a/loop7/","r/.*/"]');
    });

    it('changes nothing on a second run', () => expectIdempotent(plan));
  });

  it('follows the inventory: other names, addresses and passwords change exactly those', async () => {
    const text = (await readFile('hosts/juno.ini', 'utf8'))
      .replace('controller ansible_host=10.0.0.11', 'ctl9 ansible_host=10.9.0.11')
      .replace('block1 ansible_host=10.0.0.41 cinder_devices=/dev/sdb', 'stor7 ansible_host=10.9.0.41 cinder_devices=/dev/vdc')
      .replace('default_password=openstack', 'default_password=Xy7-secret');
    const plan = await planSite(book, text, { text: true });
    expect(
      iniMismatches(host(plan, 'stor7'), CONF, {
        database: { connection: 'mysql://cinder:Xy7-secret@ctl9/cinder' },
        DEFAULT: { my_ip: '10.9.0.41', glance_host: 'ctl9', rabbit_host: 'ctl9' },
      }),
    ).to.deep.equal([]);
    for (const [name, h] of plan.hosts)
      for (const [path, content] of h.files) expect(content, `${name}:${path}`).not.to.match(/controller|openstack|10\.0\.0\./);
    expectIdempotent(plan);
  });

  it('refuses a storage node without devices', async () => {
    const text = (await readFile('hosts/juno.ini', 'utf8')).replace(' cinder_devices=/dev/sdb', '');
    let error: unknown;
    await planSite(book, text, { text: true }).catch((e: unknown) => (error = e));
    expect(String(error)).to.match(/cinder_devices is not set/);
  });
});

describe('lvm.conf editor', () => {
  const ubuntu = `# This is an example configuration file for the LVM2 system.
devices {

    # By default we accept every block device:
    filter = [ "a/.*/" ]

    # Exclude the cdrom drive
    # filter = [ "r|/dev/cdrom|" ]
    cache_dir = "/run/lvm"
}

global {
    umask = 077
    # filter = [ "a/never/" ]
}
`;
  const centos = `devices {
\tdir = "/dev"
\t# Example
\t# filter = [ "a|loop|", "r|.*|" ]
\t# This configuration option has an automatic default value.
\t# filter = [ "a|.*/|" ]
\tscan = [ "/dev" ]
}
activation {
\tudev_sync = 1
}
`;
  const sdb = lvmAcceptFilter(['/dev/sdb']);

  it('renders the guide filter from device paths', () => {
    expect(sdb).to.equal('[ "a/sdb/", "r/.*/" ]');
    expect(lvmAcceptFilter(['xvda', '/dev/xvdb'])).to.equal('[ "a/xvda/", "a/xvdb/", "r/.*/" ]');
    expect(() => lvmAcceptFilter(['/dev/disk/by-id/x'])).to.throw(/directly under \/dev/);
    expect(() => lvmAcceptFilter([])).to.throw(/no devices/);
  });

  it('replaces the active filter inside devices {} only, keeping comments', () => {
    const out = setLvmOption(ubuntu, 'devices', 'filter', sdb);
    expect(out).to.equal(ubuntu.replace('    filter = [ "a/.*/" ]', `    filter = ${sdb}`));
    expect(out).to.contain('    # filter = [ "a/never/" ]');
  });

  it('adds a missing filter after the last commented example, with its indentation', () => {
    const out = setLvmOption(centos, 'devices', 'filter', sdb);
    expect(out).to.equal(centos.replace('\t# filter = [ "a|.*/|" ]\n', `\t# filter = [ "a|.*/|" ]\n\tfilter = ${sdb}\n`));
  });

  it('changes nothing when the filter is already set', () => {
    const once = setLvmOption(centos, 'devices', 'filter', sdb);
    expect(setLvmOption(once, 'devices', 'filter', sdb)).to.equal(once);
    const unterminated = 'devices {\n\tfilter = [ "a/sdb/", "r/.*/" ]\n}';
    expect(setLvmOption(unterminated, 'devices', 'filter', sdb)).to.equal(unterminated);
  });

  it('replaces a multi-line filter and drops duplicates', () => {
    const text = 'devices {\n  filter = [ "a/sda/",\n             "r/.*/" ] # old\n  types = [ "fd", 16 ]\n  filter = [ "a/x/" ]\n}\n';
    expect(setLvmOption(text, 'devices', 'filter', sdb)).to.equal(`devices {\n  filter = ${sdb}\n  types = [ "fd", 16 ]\n}\n`);
  });

  it('creates the section when there is none, and refuses layouts it cannot read', () => {
    expect(setLvmOption('', 'devices', 'filter', sdb)).to.equal(`devices {\n\tfilter = ${sdb}\n}\n`);
    expect(setLvmOption('global {\n}\n', 'devices', 'filter', sdb)).to.equal(`global {\n}\n\ndevices {\n\tfilter = ${sdb}\n}\n`);
    expect(() => setLvmOption('devices { filter = [ "a/.*/" ] }\n', 'devices', 'filter', sdb)).to.throw(/refusing to edit/);
    expect(() => setLvmOption('devices {\n', 'devices', 'filter', sdb)).to.throw(/not closed/);
  });

  it('does not mistake braces and hashes inside strings', () => {
    const text = 'devices {\n\tfilter = [ "a|#{x}|" ]\n}\n';
    expect(readLvmOption(text, 'devices', 'filter')).to.equal('[ "a|#{x}|" ]');
    expect(setLvmOption(text, 'devices', 'filter', sdb)).to.equal(`devices {\n\tfilter = ${sdb}\n}\n`);
  });
});
