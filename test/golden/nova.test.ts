import { openstackPlaybook } from '../../openstack/playbook.js';
import { expect } from 'chai';
import { UWSGI_HEARTBEAT_ENV } from '../../openstack/uwsgi.js';
import { readFile } from 'node:fs/promises';
import { type Playbook } from '../../lib/core/playbook.js';
import type { ServiceFacts } from '../../lib/modules/service.js';
import type { Plan } from '../../lib/core/task.js';
import { plays } from '../../roles/nova/index.js';
import { daemon, virtSections } from '../../roles/nova/tasks.js';
import { iniMismatches, planSite, type ExpectedIni, type HostPlan, type SitePlan } from '../support/plan.js';
import { expectIdempotent, inventoryWith } from '../support/golden.js';
import { keystoneFixture } from '../support/keystone-fixture.js';

/**
 * Golden tables: every nova.conf setting the seeds show, on the controller
 * and on a compute node (004 → hosts/juno.ini, 003 → hosts/liberty-centos.ini,
 * 000 → hosts/liberty-ubuntu.ini, which follows the Liberty guide, and the
 * Zed guide → hosts/lab.ini), as functions of the inventory's names,
 * addresses and passwords, checked on a simulated run.
 *
 * Seed settings deliberately not written (the guide of the release wins):
 * - 004 §8.2.6 `[DEFAULT] service_metadata_proxy/metadata_proxy_shared_secret`:
 *   Juno reads them from [neutron] (checked below: absent from [DEFAULT]).
 * - 004 §11 `vif_plugging_is_fatal/vif_plugging_timeout` on compute1: a
 *   workaround for neutron not notifying nova, which the neutron role configures.
 * - 003 compute node: the controller's file copied over — `[database]
 *   connection`, `enabled_apis`, the metadata proxy secret in [neutron] —
 *   and `debug=true`, `vnc_keymap`/`rabbit_port` (defaults); the [DEFAULT]
 *   vnc names are written in [vnc], where nova 12 reads them first.
 * - 003 compute `virt_type=kvm`: their CPU had vmx; here it is the CPU fact's
 *   to decide (checked with and without vmx).
 */

const NOVA = '/etc/nova/nova.conf';
const NOVA_COMPUTE = '/etc/nova/nova-compute.conf';
const PLACEMENT = '/etc/placement/placement.conf';

const book: Playbook = openstackPlaybook('nova-golden', [keystoneFixture(), ...plays]);

interface Site {
  /** Controller name or address as it appears in URLs. */
  readonly c: string;
  readonly pw: string;
  /** Management address of the node the file belongs to. */
  readonly ip: string;
}

// ---- seed 004 (Juno): §7.1.2, §7.2.1, §8 (neutron), §10.2.2 (Telemetry on compute1) ----

const junoBoth = ({ c, pw }: Site): ExpectedIni => ({
  DEFAULT: {
    rpc_backend: 'rabbit',
    rabbit_host: c,
    rabbit_password: pw,
    auth_strategy: 'keystone',
    verbose: 'True',
    network_api_class: 'nova.network.neutronv2.api.API',
    security_group_api: 'neutron',
    linuxnet_interface_driver: 'nova.network.linux_net.LinuxOVSInterfaceDriver',
    firewall_driver: 'nova.virt.firewall.NoopFirewallDriver',
    // Seed 004 §8.2.6 writes these two here; Juno reads them from [neutron].
    service_metadata_proxy: undefined,
    metadata_proxy_shared_secret: undefined,
  },
  keystone_authtoken: {
    auth_uri: `http://${c}:5000/v2.0`,
    identity_uri: `http://${c}:35357`,
    admin_tenant_name: 'service',
    admin_user: 'nova',
    admin_password: pw,
    auth_host: undefined,
    auth_port: undefined,
    auth_protocol: undefined,
  },
  glance: { host: c },
  neutron: {
    url: `http://${c}:9696`,
    auth_strategy: 'keystone',
    admin_auth_url: `http://${c}:35357/v2.0`,
    admin_tenant_name: 'service',
    admin_username: 'neutron',
    admin_password: pw,
  },
});

const junoController = (s: Site): ExpectedIni =>
  merge(junoBoth(s), {
    database: { connection: `mysql://nova:${s.pw}@${s.c}/nova` },
    DEFAULT: { my_ip: s.ip, vncserver_listen: s.ip, vncserver_proxyclient_address: s.ip },
    neutron: { service_metadata_proxy: 'True', metadata_proxy_shared_secret: s.pw },
  });

const junoCompute = (s: Site): ExpectedIni =>
  merge(junoBoth(s), {
    database: { connection: undefined },
    DEFAULT: {
      my_ip: s.ip,
      vnc_enabled: 'True',
      vncserver_listen: '0.0.0.0',
      vncserver_proxyclient_address: s.ip,
      novncproxy_base_url: `http://${s.c}:6080/vnc_auto.html`,
      instance_usage_audit: 'True',
      instance_usage_audit_period: 'hour',
      notify_on_state_change: 'vm_and_task_state',
      notification_driver: 'messagingv2',
    },
    neutron: { service_metadata_proxy: undefined, metadata_proxy_shared_secret: undefined },
  });

// ---- seed 003 (Liberty, CentOS 7, `grep '^[a-z]'` of both nodes' nova.conf) = the Liberty guide (seed 000) ----

const libertyBoth = ({ c, pw }: Site): ExpectedIni => ({
  DEFAULT: {
    rpc_backend: 'rabbit',
    auth_strategy: 'keystone',
    network_api_class: 'nova.network.neutronv2.api.API',
    linuxnet_interface_driver: 'nova.network.linux_net.NeutronLinuxBridgeInterfaceDriver',
    security_group_api: 'neutron',
    verbose: 'True',
    firewall_driver: 'nova.virt.firewall.NoopFirewallDriver',
  },
  oslo_messaging_rabbit: { rabbit_host: c, rabbit_userid: 'openstack', rabbit_password: pw },
  keystone_authtoken: {
    auth_uri: `http://${c}:5000`,
    auth_url: `http://${c}:35357`,
    auth_plugin: 'password',
    project_domain_id: 'default',
    user_domain_id: 'default',
    project_name: 'service',
    username: 'nova',
    password: pw,
  },
  glance: { host: c },
  oslo_concurrency: { lock_path: '/var/lib/nova/tmp' },
  neutron: {
    url: `http://${c}:9696`,
    auth_url: `http://${c}:35357`,
    auth_plugin: 'password',
    project_domain_id: 'default',
    user_domain_id: 'default',
    region_name: 'RegionOne',
    project_name: 'service',
    username: 'neutron',
    password: pw,
  },
});

const libertyController = (s: Site, blockStorage: boolean): ExpectedIni =>
  merge(libertyBoth(s), {
    DEFAULT: { my_ip: s.ip, enabled_apis: 'osapi_compute,metadata' },
    database: { connection: `mysql://nova:${s.pw}@${s.c}/nova` },
    api_database: { connection: undefined },
    vnc: { vncserver_listen: '$my_ip', vncserver_proxyclient_address: '$my_ip' },
    neutron: { service_metadata_proxy: 'True', metadata_proxy_shared_secret: s.pw },
    // Seed 003 §8.2 (cinder on the controller); seed 000 has no block storage.
    cinder: { os_region_name: blockStorage ? 'RegionOne' : undefined },
  });

const libertyCompute = (s: Site): ExpectedIni =>
  merge(libertyBoth(s), {
    DEFAULT: { my_ip: s.ip, instance_usage_audit: undefined },
    database: { connection: undefined },
    vnc: { enabled: 'True', vncserver_listen: '0.0.0.0', vncserver_proxyclient_address: '$my_ip', novncproxy_base_url: `http://${s.c}:6080/vnc_auto.html` },
    neutron: { service_metadata_proxy: undefined },
  });

// ---- the Zed guide (lab.ini), with the Debian packaging's pre-filled options corrected ----

const zedBoth = ({ c, pw }: Site): ExpectedIni => ({
  DEFAULT: { transport_url: `rabbit://openstack:${pw}@${c}:5672/` },
  api: { auth_strategy: 'keystone' },
  keystone_authtoken: {
    www_authenticate_uri: `http://${c}:5000/`,
    auth_url: `http://${c}:5000/`,
    memcached_servers: `${c}:11211`,
    auth_type: 'password',
    project_domain_name: 'Default',
    user_domain_name: 'Default',
    project_name: 'service',
    username: 'nova',
    password: pw,
    region_name: 'RegionOne',
  },
  service_user: {
    send_service_user_token: 'true',
    auth_url: `http://${c}:5000/`,
    auth_type: 'password',
    project_domain_name: 'Default',
    project_name: 'service',
    user_domain_name: 'Default',
    username: 'nova',
    password: pw,
  },
  glance: { api_servers: `http://${c}:9292` },
  oslo_concurrency: { lock_path: '/var/lib/nova/tmp' },
  placement: {
    region_name: 'RegionOne',
    project_domain_name: 'Default',
    project_name: 'service',
    auth_type: 'password',
    user_domain_name: 'Default',
    auth_url: `http://${c}:5000/v3`,
    username: 'placement',
    password: pw,
  },
  neutron: {
    auth_url: `http://${c}:5000`,
    auth_type: 'password',
    project_domain_name: 'Default',
    user_domain_name: 'Default',
    region_name: 'RegionOne',
    project_name: 'service',
    username: 'neutron',
    password: pw,
  },
  spice: { enabled: 'false' },
});

const zedController = (s: Site): ExpectedIni =>
  merge(zedBoth(s), {
    DEFAULT: { my_ip: s.ip },
    api_database: { connection: `mysql+pymysql://nova:${s.pw}@${s.c}/nova_api` },
    database: { connection: `mysql+pymysql://nova:${s.pw}@${s.c}/nova` },
    vnc: { enabled: 'true', server_listen: '$my_ip', server_proxyclient_address: '$my_ip' },
    neutron: { service_metadata_proxy: 'true', metadata_proxy_shared_secret: s.pw },
    cinder: { os_region_name: 'RegionOne' },
  });

const zedCompute = (s: Site): ExpectedIni =>
  merge(zedBoth(s), {
    DEFAULT: { my_ip: s.ip },
    database: { connection: undefined },
    vnc: { enabled: 'true', server_listen: '0.0.0.0', server_proxyclient_address: '$my_ip', novncproxy_base_url: `http://${s.c}:6080/vnc_auto.html` },
    neutron: { service_metadata_proxy: undefined, metadata_proxy_shared_secret: undefined },
  });

const zedPlacement = ({ c, pw }: Site): ExpectedIni => ({
  placement_database: { connection: `mysql+pymysql://placement:${pw}@${c}/placement` },
  api: { auth_strategy: 'keystone' },
  keystone_authtoken: {
    auth_type: 'password',
    project_domain_name: 'Default',
    user_domain_name: 'Default',
    project_name: 'service',
    username: 'placement',
    password: pw,
    region_name: 'RegionOne',
  },
});

// ---- helpers ----

function merge(...parts: ExpectedIni[]): ExpectedIni {
  const out: Record<string, Record<string, string | null | undefined>> = {};
  for (const p of parts) for (const [s, keys] of Object.entries(p)) out[s] = { ...out[s], ...keys };
  return out;
}

const ran = (plan: HostPlan, text: string): number => plan.commands.findIndex((c) => c.includes(text));

describe('golden: nova', function () {
  this.timeout(60000);

  describe('seed 004: Juno on Ubuntu 14.04 (hosts/juno.ini)', () => {
    let site: SitePlan;
    before(async () => (site = await planSite(book, 'hosts/juno.ini')));

    it('writes every nova.conf setting on the controller and on compute1', () => {
      expect(iniMismatches(site.hosts.get('controller')!, NOVA, junoController({ c: 'controller', pw: 'openstack', ip: '10.0.0.11' }))).to.deep.equal([]);
      expect(iniMismatches(site.hosts.get('compute1')!, NOVA, junoCompute({ c: 'controller', pw: 'openstack', ip: '10.0.0.31' }))).to.deep.equal([]);
    });

    it('no vmx/svm on the simulated compute1: [libvirt] virt_type = qemu in nova-compute.conf (§7.2.2)', () => {
      expect(iniMismatches(site.hosts.get('compute1')!, NOVA_COMPUTE, { libvirt: { virt_type: 'qemu' } })).to.deep.equal([]);
    });

    it('syncs as nova, registers compute v2 endpoints, restarts the six services, drops the SQLite files', () => {
      const ctl = site.hosts.get('controller')!;
      expect(ran(ctl, `su -s /bin/sh -c 'nova-manage db sync' nova`)).to.be.greaterThan(-1);
      expect(ran(ctl, 'api_db sync')).to.equal(-1);
      const url = 'http://controller:8774/v2/%(tenant_id)s';
      expect(ctl.commands.find((c) => c.startsWith('POST http://controller:35357/v2.0/endpoints')))
        .to.include(`"publicurl":"${url}"`)
        .and.include(`"internalurl":"${url}"`)
        .and.include(`"adminurl":"${url}"`);
      for (const s of ['nova-api', 'nova-cert', 'nova-consoleauth', 'nova-scheduler', 'nova-conductor', 'nova-novncproxy'])
        expect(ctl.commands).to.include(`(stop ${s} || true) && start ${s}`);
      expect(site.hosts.get('compute1')!.commands).to.include('(stop nova-compute || true) && start nova-compute').and.include('initctl start libvirt-bin');
      const sqlite = site.results.filter((r) => r.task === 'absent /var/lib/nova/nova.sqlite').map((r) => r.host);
      expect(sqlite).to.have.members(['controller', 'compute1']);
    });

    it('a second run changes nothing', () => expectIdempotent(site));

    it('with vmx (stackplay_sim_virt=yes) the package default virt_type stays', async () => {
      const text = await inventoryWith('hosts/juno.ini', '', (t) => t.replace(/^(compute1 .*)$/m, '$1 stackplay_sim_virt=yes'));
      const vmx = await planSite(book, text, { text: true });
      expect(vmx.hosts.get('compute1')!.files.has(NOVA_COMPUTE)).to.equal(false);
      const r = vmx.results.find((x) => x.host === 'compute1' && x.task.includes('virt_type'));
      expect(r?.status).to.equal('ok');
      expect(r?.reason).to.match(/vmx\/svm/);
    });

    it('takes names, addresses and passwords from the inventory only', async () => {
      const text = (await readFile('hosts/juno.ini', 'utf8'))
        .replace(/^controller ansible_host=10\.0\.0\.11$/m, 'ctl9 ansible_host=10.9.9.9')
        .replace(/^compute1 ansible_host=10\.0\.0\.31/m, 'cpu7 ansible_host=10.9.9.31')
        .replace('default_password=openstack', 'default_password=Xy7-pass');
      const other = await planSite(book, text, { text: true });
      expect(iniMismatches(other.hosts.get('ctl9')!, NOVA, junoController({ c: 'ctl9', pw: 'Xy7-pass', ip: '10.9.9.9' }))).to.deep.equal([]);
      expect(iniMismatches(other.hosts.get('cpu7')!, NOVA, junoCompute({ c: 'ctl9', pw: 'Xy7-pass', ip: '10.9.9.31' }))).to.deep.equal([]);
      for (const h of ['ctl9', 'cpu7']) expect(other.hosts.get(h)!.files.get(NOVA)).to.not.match(/controller|openstack|10\.0\.0\./);
    });
  });

  for (const [seed, inventory, ctlName, ctlIp, cmpName, cmpIp, c, blockStorage] of [
    ['003: Liberty on CentOS 7', 'hosts/liberty-centos.ini', 'linux-node1', '192.168.56.11', 'linux-node2', '192.168.56.12', '192.168.56.11', true],
    ['000: Liberty on Ubuntu 14.04', 'hosts/liberty-ubuntu.ini', 'controller', '10.0.0.11', 'compute1', '10.0.0.31', 'controller', false],
  ] as const) {
    describe(`seed ${seed} (${inventory})`, () => {
      const centos = inventory.includes('centos');
      const virtConf = centos ? NOVA : NOVA_COMPUTE;
      let site: SitePlan;
      before(async () => (site = await planSite(book, inventory)));

      it('writes every nova.conf setting on the controller and on the compute node', () => {
        expect(iniMismatches(site.hosts.get(ctlName)!, NOVA, libertyController({ c, pw: 'openstack', ip: ctlIp }, blockStorage))).to.deep.equal([]);
        expect(iniMismatches(site.hosts.get(cmpName)!, NOVA, libertyCompute({ c, pw: 'openstack', ip: cmpIp }))).to.deep.equal([]);
      });

      it(`no vmx/svm: [libvirt] virt_type = qemu in ${virtConf}`, () => {
        expect(iniMismatches(site.hosts.get(cmpName)!, virtConf, { libvirt: { virt_type: 'qemu' } })).to.deep.equal([]);
      });

      it('syncs as nova (no API database in Liberty), registers compute v2 endpoints, restarts the services', () => {
        const ctl = site.hosts.get(ctlName)!;
        expect(ran(ctl, `su -s /bin/sh -c 'nova-manage db sync' nova`)).to.be.greaterThan(-1);
        expect(ran(ctl, 'api_db')).to.equal(-1);
        for (const iface of ['public', 'internal', 'admin'])
          expect(ran(ctl, `"interface":"${iface}","url":"http://${c}:8774/v2/%(tenant_id)s"`), iface).to.be.greaterThan(-1);
        const restart = centos ? (s: string) => `systemctl restart openstack-nova-${s}` : (s: string) => `(stop nova-${s} || true) && start nova-${s}`;
        for (const s of ['api', 'cert', 'consoleauth', 'scheduler', 'conductor', 'novncproxy']) expect(ctl.commands).to.include(restart(s));
        expect(site.hosts.get(cmpName)!.commands).to.include(restart('compute'));
        if (centos) expect(site.hosts.get(cmpName)!.commands).to.include('systemctl enable libvirtd');
      });

      it('a second run changes nothing', () => expectIdempotent(site));

      it('with vmx the compute node keeps the default virt_type (seed 003: kvm)', async () => {
        const text = await inventoryWith(inventory, '', (t) => t.replace(new RegExp(`^(${cmpName} ansible_host=.*)$`, 'm'), '$1 stackplay_sim_virt=yes'));
        const vmx = await planSite(book, text, { text: true });
        const cmp = vmx.hosts.get(cmpName)!;
        if (centos) expect(iniMismatches(cmp, NOVA, { libvirt: { virt_type: undefined } })).to.deep.equal([]);
        else expect(cmp.files.has(NOVA_COMPUTE)).to.equal(false);
      });
    });
  }

  describe('Zed on Debian 12 (hosts/lab.ini)', () => {
    const s = { c: 'controller', pw: 'Lab-pw1' };
    let site: SitePlan;
    before(async () => (site = await planSite(book, await inventoryWith('hosts/lab.ini', 'default_password=Lab-pw1'), { text: true })));

    it('writes every nova.conf setting on the controller and compute1, and placement.conf', () => {
      const ctl = site.hosts.get('controller')!;
      expect(iniMismatches(ctl, NOVA, zedController({ ...s, ip: '10.42.0.11' }))).to.deep.equal([]);
      expect(iniMismatches(site.hosts.get('compute1')!, NOVA, zedCompute({ ...s, ip: '10.42.0.21' }))).to.deep.equal([]);
      expect(iniMismatches(ctl, PLACEMENT, zedPlacement({ ...s, ip: '10.42.0.11' }))).to.deep.equal([]);
      expect(ctl.files.get('/etc/default/nova-consoleproxy')).to.equal('NOVA_CONSOLE_PROXY_TYPE=novnc\n');
    });

    it('no vmx/svm in the lab: [libvirt] virt_type = qemu in nova-compute.conf', () => {
      expect(
        iniMismatches(site.hosts.get('compute1')!, NOVA_COMPUTE, { libvirt: { virt_type: 'qemu' }, DEFAULT: { compute_driver: undefined } }),
      ).to.deep.equal([]);
    });

    it('sets up the databases as the guide orders: api_db sync, cell0, cell1, db sync; then maps compute hosts', () => {
      const ctl = site.hosts.get('controller')!;
      const steps = [
        `su -s /bin/sh -c 'placement-manage db sync' placement`,
        `su -s /bin/sh -c 'nova-manage api_db sync' nova`,
        `su -s /bin/sh -c 'nova-manage cell_v2 map_cell0' nova`,
        `su -s /bin/sh -c 'nova-manage cell_v2 create_cell --name=cell1 --verbose' nova`,
        `su -s /bin/sh -c 'nova-manage db sync' nova`,
        'systemctl restart nova-api',
        `su -s /bin/sh -c 'nova-manage cell_v2 discover_hosts --verbose' nova`,
      ].map((t) => ran(ctl, t));
      expect(
        steps.every((i) => i >= 0),
        JSON.stringify(steps),
      ).to.equal(true);
      expect([...steps].sort((a, b) => a - b)).to.deep.equal(steps);
    });

    it('keeps the AMQP heartbeat of the uwsgi APIs alive through uwsgi env, never in nova.conf the eventlet daemons share', () => {
      const ctl = site.hosts.get('controller')!;
      const uwsgiInis = [...ctl.files.keys()].filter((f) => f.startsWith('/etc/nova/') && f.endsWith('-uwsgi.ini')).sort();
      expect(uwsgiInis).to.deep.equal(['/etc/nova/nova-api-metadata-uwsgi.ini', '/etc/nova/nova-api-uwsgi.ini']);
      for (const ini of uwsgiInis) expect(ctl.ini(ini).get('uwsgi')?.get('env'), ini).to.equal(UWSGI_HEARTBEAT_ENV);
      expect(ctl.ini('/etc/nova/nova.conf').get('oslo_messaging_rabbit')?.get('heartbeat_in_pthread')).to.equal(undefined);
    });

    it('sizes the uwsgi APIs (nova-api, metadata, placement) to the host: one worker per CPU, not Debian’s 16 and 8', () => {
      const ctl = site.hosts.get('controller')!;
      for (const ini of ['/etc/nova/nova-api-uwsgi.ini', '/etc/nova/nova-api-metadata-uwsgi.ini', '/etc/placement/placement-api-uwsgi.ini']) {
        expect(ctl.ini(ini).get('uwsgi')?.get('processes'), ini).to.equal('2');
      }
    });

    it('registers placement (:8778) and compute (:8774/v2.1) endpoints', () => {
      const ctl = site.hosts.get('controller')!;
      for (const url of ['http://controller:8778', 'http://controller:8774/v2.1']) {
        expect(
          ctl.commands.filter((c) => c.startsWith('POST http://controller:5000/v3/endpoints') && c.includes(`"url":"${url}"`)),
          url,
        ).to.have.length(3);
      }
      for (const svc of ['placement-api', 'nova-api', 'nova-api-metadata', 'nova-scheduler', 'nova-conductor', 'nova-novncproxy'])
        expect(ctl.commands).to.include(`systemctl restart ${svc}`);
      // Lab hosts run systemd: libvirtd has a unit there (its binary is started directly only where it has neither unit nor init script).
      expect(site.hosts.get('compute1')!.commands).to.include('systemctl start libvirtd').and.include('systemctl restart nova-compute');
    });

    it('a second run changes nothing, the cell commands and discover_hosts included', () => {
      expectIdempotent(site);
      const discover = site.results.filter((r) => r.task === 'nova-manage cell_v2 discover_hosts');
      expect(discover.map((r) => r.status)).to.deep.equal(['ok']);
    });

    it('nova_compute_driver=fake: compute_driver = fake.FakeDriver and no virt_type', async () => {
      const fake = await planSite(book, await inventoryWith('hosts/lab.ini', 'default_password=Lab-pw1\nnova_compute_driver=fake'), { text: true });
      expect(
        iniMismatches(fake.hosts.get('compute1')!, NOVA_COMPUTE, { DEFAULT: { compute_driver: 'fake.FakeDriver' }, libvirt: { virt_type: undefined } }),
      ).to.deep.equal([]);
      expectIdempotent(fake);
    });

    it('nova_virt_type from the inventory wins over the CPU flags', async () => {
      const kvm = await planSite(book, await inventoryWith('hosts/lab.ini', 'default_password=Lab-pw1\nnova_virt_type=kvm'), { text: true });
      expect(iniMismatches(kvm.hosts.get('compute1')!, NOVA_COMPUTE, { libvirt: { virt_type: 'kvm' } })).to.deep.equal([]);
    });
  });

  describe('compute-node pieces', () => {
    it('virt settings follow the CPU flags unless the inventory says', () => {
      const cases = [
        { choice: { hardwareVirt: false }, want: { libvirt: { virt_type: 'qemu' } } },
        { choice: { hardwareVirt: true }, want: null },
        { choice: { hardwareVirt: true, virtType: 'qemu' }, want: { libvirt: { virt_type: 'qemu' } } },
        { choice: { hardwareVirt: false, computeDriver: 'fake.FakeDriver' }, want: { DEFAULT: { compute_driver: 'fake.FakeDriver' } } },
        {
          choice: { hardwareVirt: false, computeDriver: 'libvirt.LibvirtDriver' },
          want: { DEFAULT: { compute_driver: 'libvirt.LibvirtDriver' }, libvirt: { virt_type: 'qemu' } },
        },
      ];
      for (const { choice, want } of cases) expect(virtSections(choice), JSON.stringify(choice)).to.deep.equal(want);
    });

    it('libvirtd without init script or unit (the Debian lab) is started directly, once', () => {
      const task = daemon({ service: 'libvirtd', binary: '/usr/sbin/libvirtd' });
      const svc = (init: ServiceFacts['init'], exists: boolean, running = false): ServiceFacts => ({ init, exists, running, enabled: false });
      const steps = (p: Plan) => (p.action === 'none' ? [] : p.steps.map((s) => (s.kind === 'exec' ? s.cmd.display() : s.kind)));
      expect(steps(task.plan([svc('sysv', false), { exitCode: 1, stdout: '' }]))).to.deep.equal(['/usr/sbin/libvirtd -d']);
      expect(task.plan([svc('sysv', false), { exitCode: 0, stdout: '' }]).action).to.equal('none');
      expect(steps(task.plan([svc('systemd', true), { exitCode: 1, stdout: '' }]))).to.deep.equal(['systemctl start libvirtd', 'systemctl enable libvirtd']);
    });
  });
});
