import { openstackPlaybook } from '../../openstack/playbook.js';
import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import { readIni } from '../../lib/modules/ini-edit.js';
import { parseInventory } from '../../lib/inventory/inventory.js';
import { type HostContext } from '../../lib/core/playbook.js';
import { Secret } from '../../lib/core/secret.js';
import { ini } from '../../lib/modules/ini.js';
import { hostVarsOf } from '../../lib/inventory/vars.js';
import { plays as networkPlays } from '../../roles/networks/index.js';
import { ml2Conf, neutronHost } from '../../roles/neutron/config.js';
import { PATHS } from '../../roles/neutron/data.js';
import { plays as neutronPlays } from '../../roles/neutron/index.js';
import { host, iniMismatches, planSite, type ExpectedIni, type HostPlan, type SitePlan } from '../support/plan.js';
import { expectIdempotent } from '../support/golden.js';
import { converge, simHost } from '../support/sim.js';
import { keystoneFixture } from '../support/keystone-fixture.js';

/**
 * Neutron and the initial networks, planned offline against the four
 * inventories of the seeds: every setting the seeds show (or, where a seed
 * is wrong for its release, what the install guide says), the seeds'
 * lessons, the API calls that create the networks, and a second run that
 * changes nothing.
 */

const book = openstackPlaybook('neutron-golden', [keystoneFixture({ projects: ['admin', 'service', 'demo'] }), ...neutronPlays, ...networkPlays]);

/** An inventory file with [all:vars] set or replaced (so a test states the values it checks). */
function inventory(path: string, extra: Readonly<Record<string, string>>): string {
  const keys = new Set(Object.keys(extra));
  const text = readFileSync(path, 'utf8')
    .split('\n')
    .filter((l) => !keys.has(l.split('=')[0]!.trim()))
    .join('\n');
  const lines = Object.entries(extra)
    .map(([k, v]) => `${k}=${v}`)
    .join('\n');
  return text.includes('[all:vars]') ? text.replace('[all:vars]', `[all:vars]\n${lines}`) : `${text}\n[all:vars]\n${lines}\n`;
}

function expectIni(plan: HostPlan, path: string, expected: ExpectedIni): void {
  expect(iniMismatches(plan, path, expected)).to.deep.equal([]);
}

/** Neutron API calls of a host, ids replaced, with the resource name or protocol they carry. */
function neutronCalls(plan: HostPlan, address: string): string[] {
  const out: string[] = [];
  for (const line of plan.commands) {
    const m = new RegExp(`^(POST|PUT|DELETE) http://${address.replace(/\./g, '\\.')}:9696(\\S+)(?: (.*))?$`).exec(line);
    if (!m) continue;
    const body = m[3] ? (JSON.parse(m[3]) as Record<string, Record<string, unknown>>) : {};
    const inner = Object.values(body)[0] ?? {};
    const label = typeof inner['name'] === 'string' ? ` ${inner['name']}` : typeof inner['protocol'] === 'string' ? ` ${inner['protocol']}` : '';
    out.push(`${m[1]} ${(m[2] ?? '').replace(/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/g, ':id')}${label}`);
  }
  return out;
}
function callBody(plan: HostPlan, pattern: RegExp): Record<string, unknown> {
  const line = plan.commands.find((l) => pattern.test(l));
  if (!line) throw new Error(`no command matches ${pattern}`);
  const json = JSON.parse(line.slice(line.indexOf(' {') + 1)) as Record<string, Record<string, unknown>>;
  return Object.values(json)[0] ?? {};
}

const OVS_HYBRID = 'neutron.agent.linux.iptables_firewall.OVSHybridIptablesFirewallDriver';
const IPTABLES = 'neutron.agent.linux.iptables_firewall.IptablesFirewallDriver';
const OVS_IFACE = 'neutron.agent.linux.interface.OVSInterfaceDriver';
const BRIDGE_IFACE = 'neutron.agent.linux.interface.BridgeInterfaceDriver';
const DNSMASQ = 'neutron.agent.linux.dhcp.Dnsmasq';

// ---- Juno, seed 004 --------------------------------------------------------------

/** Seed 004 §8.4.1: the external network 192.168.234.0/24, floating IPs .230–.239. */
const SEED_004_NETWORKS = {
  external_cidr: '192.168.234.0/24',
  external_gateway: '192.168.234.1',
  floating_start: '192.168.234.230',
  floating_end: '192.168.234.239',
};

const JUNO_AUTHTOKEN = {
  auth_uri: 'http://controller:5000/v2.0',
  identity_uri: 'http://controller:35357',
  admin_tenant_name: 'service',
  admin_user: 'neutron',
  admin_password: 'openstack',
  // Seed 004 §8: "Comment out any auth_host, auth_port, and auth_protocol options".
  auth_host: undefined,
  auth_port: undefined,
  auth_protocol: undefined,
};
/** Seed 004 §8.2.3 / §8.3.3: the network and compute nodes' neutron.conf ("这个文件好像跟网络节点上的一模一样"). */
const JUNO_AGENT_NEUTRON_CONF: ExpectedIni = {
  DEFAULT: {
    rpc_backend: 'rabbit',
    rabbit_host: 'controller',
    rabbit_password: 'openstack',
    auth_strategy: 'keystone',
    core_plugin: 'ml2',
    service_plugins: 'router',
    allow_overlapping_ips: 'True',
    verbose: 'True',
  },
  keystone_authtoken: JUNO_AUTHTOKEN,
  // "注释掉所有的数据库连接的选项，因为neutron不直接连接数据库"
  database: { connection: undefined },
};
const JUNO_ML2: ExpectedIni = {
  ml2: { type_drivers: 'flat,gre', tenant_network_types: 'gre', mechanism_drivers: 'openvswitch' },
  ml2_type_gre: { tunnel_id_ranges: '1:1000' },
  securitygroup: { enable_security_group: 'True', enable_ipset: 'True', firewall_driver: OVS_HYBRID },
};

describe('golden: neutron + networks, Juno (seed 004, hosts/juno.ini)', function () {
  this.timeout(60_000);
  let site: SitePlan;
  before(async () => {
    site = await planSite(book, inventory('hosts/juno.ini', SEED_004_NETWORKS), { text: true });
  });

  it('controller: neutron.conf of seed 004 §8.1 step 5, with the service tenant id read from keystone', () => {
    const c = host(site, 'controller');
    expectIni(c, PATHS.neutronConf, {
      DEFAULT: {
        rpc_backend: 'rabbit',
        rabbit_host: 'controller',
        rabbit_password: 'openstack',
        auth_strategy: 'keystone',
        core_plugin: 'ml2',
        service_plugins: 'router',
        allow_overlapping_ips: 'True',
        notify_nova_on_port_status_changes: 'True',
        notify_nova_on_port_data_changes: 'True',
        nova_url: 'http://controller:8774/v2',
        nova_admin_auth_url: 'http://controller:35357/v2.0',
        // Seed 004 registers endpoints in `regionOne` (the Juno default of `region`).
        nova_region_name: 'regionOne',
        nova_admin_username: 'nova',
        nova_admin_password: 'openstack',
        verbose: 'True',
      },
      keystone_authtoken: JUNO_AUTHTOKEN,
      database: { connection: 'mysql://neutron:openstack@controller/neutron' },
    });
    // `keystone tenant-get service` → SERVICE_TENANT_ID: the id keystone gave the service project.
    const tenantId = c.ini(PATHS.neutronConf).get('DEFAULT')?.get('nova_admin_tenant_id');
    const neutronUser = callBody(c, /^POST http:\/\/controller:35357\/v2\.0\/users .*"name":"neutron"/);
    expect(tenantId).to.match(/^[0-9a-f]{32}$/);
    expect(tenantId).to.equal(neutronUser['tenantId']);
  });

  it('controller: ml2_conf.ini of seed 004 §8.1 step 6, and no agent sections', () => {
    const c = host(site, 'controller');
    expectIni(c, PATHS.ml2, { ...JUNO_ML2, ovs: { local_ip: undefined, bridge_mappings: undefined } });
    expect([...c.files.keys()]).not.to.include.members([PATHS.l3, PATHS.dhcp, PATHS.metadata]);
  });

  it('controller: packages, database, db sync as neutron (`upgrade juno`), registration, neutron-server', () => {
    const cmds = host(site, 'controller').commands;
    expect(cmds.map((c) => c.split('\n').at(-1))).to.include(
      'configure_again env DEBIAN_FRONTEND=noninteractive apt-get install -y -q -o Acquire::http::Timeout=60 -o Acquire::Retries=3 -o DPkg::Lock::Timeout=300 -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold -- neutron-server neutron-plugin-ml2 python-neutronclient',
    );
    expect(cmds.some((l) => l.includes('CREATE DATABASE `neutron`'))).to.equal(true);
    expect(cmds.join('\n')).to.include(
      "su -s /bin/sh -c 'neutron-db-manage --config-file /etc/neutron/neutron.conf --config-file /etc/neutron/plugins/ml2/ml2_conf.ini upgrade juno' neutron",
    );
    expect(callBody(host(site, 'controller'), /OS-KSADM\/services /)).to.deep.include({
      name: 'neutron',
      type: 'network',
      description: 'OpenStack Networking',
    });
    expect(callBody(host(site, 'controller'), /v2\.0\/endpoints /)).to.deep.include({
      publicurl: 'http://controller:9696',
      internalurl: 'http://controller:9696',
      adminurl: 'http://controller:9696',
    });
    expect(cmds).to.include('(stop neutron-server || true) && start neutron-server');
    // nova's services belong to the nova role: neutron restarts only its own.
    expect(cmds.filter((l) => /nova-(api|scheduler|conductor)/.test(l))).to.deep.equal([]);
  });

  it('network node: sysctl, neutron.conf without a database, ML2/OVS with br-ex, L3, DHCP (MTU 1454), metadata — seed 004 §8.2', () => {
    const n = host(site, 'network');
    expectIni(n, '/etc/sysctl.conf', { '': { 'net.ipv4.ip_forward': '1', 'net.ipv4.conf.all.rp_filter': '0', 'net.ipv4.conf.default.rp_filter': '0' } });
    expectIni(n, PATHS.neutronConf, JUNO_AGENT_NEUTRON_CONF);
    expectIni(n, PATHS.ml2, {
      ...JUNO_ML2,
      ml2_type_flat: { flat_networks: 'external' },
      ovs: { local_ip: '10.0.1.21', enable_tunneling: 'True', bridge_mappings: 'external:br-ex' },
      agent: { tunnel_types: 'gre' },
    });
    expectIni(n, PATHS.l3, {
      DEFAULT: { interface_driver: OVS_IFACE, use_namespaces: 'True', external_network_bridge: 'br-ex', router_delete_namespaces: 'True', verbose: 'True' },
    });
    expectIni(n, PATHS.dhcp, {
      DEFAULT: {
        interface_driver: OVS_IFACE,
        dhcp_driver: DNSMASQ,
        use_namespaces: 'True',
        dhcp_delete_namespaces: 'True',
        verbose: 'True',
        dnsmasq_config_file: '/etc/neutron/dnsmasq-neutron.conf',
      },
    });
    // Seed 004 skips the guide's optional MTU step; the Juno guide's dnsmasq file keeps GRE instances working.
    expect(n.files.get(PATHS.dnsmasq)).to.equal('dhcp-option-force=26,1454\n');
    expectIni(n, PATHS.metadata, {
      DEFAULT: {
        auth_url: 'http://controller:5000/v2.0',
        auth_region: 'regionOne',
        admin_tenant_name: 'service',
        admin_user: 'neutron',
        admin_password: 'openstack',
        nova_metadata_ip: 'controller',
        metadata_proxy_shared_secret: 'openstack',
        verbose: 'True',
      },
    });
  });

  it('network node: packages, br-ex on the external NIC, the four agents restarted', () => {
    const cmds = host(site, 'network').commands;
    expect(cmds.find((l) => l.includes('apt-get install'))).to.match(
      / -- neutron-plugin-ml2 neutron-plugin-openvswitch-agent openvswitch-switch ipset neutron-dhcp-agent neutron-metadata-agent neutron-l3-agent$/,
    );
    expect(cmds).to.include('ovs-vsctl --may-exist add-br br-ex -- --may-exist add-port br-ex eth2');
    for (const s of ['neutron-plugin-openvswitch-agent', 'neutron-l3-agent', 'neutron-dhcp-agent', 'neutron-metadata-agent']) {
      expect(cmds, s).to.include(`(stop ${s} || true) && start ${s}`);
    }
    expect(cmds.filter((l) => l.includes('neutron-db-manage') || l.includes('mysql'))).to.deep.equal([]);
  });

  it('compute node: rp_filter (+ bridge netfilter), no database, OVS agent with its tunnel IP and no br-ex — seed 004 §8.3 and §11', () => {
    const c = host(site, 'compute1');
    expectIni(c, '/etc/sysctl.conf', {
      '': {
        'net.ipv4.conf.all.rp_filter': '0',
        'net.ipv4.conf.default.rp_filter': '0',
        'net.bridge.bridge-nf-call-iptables': '1',
        'net.bridge.bridge-nf-call-ip6tables': '1',
        'net.ipv4.ip_forward': undefined,
      },
    });
    expectIni(c, PATHS.neutronConf, JUNO_AGENT_NEUTRON_CONF);
    // §11: "Bridge br-ex for physical network external does not exist. Agent terminated!"
    expectIni(c, PATHS.ml2, {
      ...JUNO_ML2,
      ovs: { local_ip: '10.0.1.31', enable_tunneling: 'True', bridge_mappings: undefined },
      agent: { tunnel_types: 'gre' },
    });
    expect(c.commands.filter((l) => l.includes('br-ex'))).to.deep.equal([]);
    expect(c.commands.find((l) => l.includes('apt-get install'))).to.match(/ -- neutron-plugin-ml2 neutron-plugin-openvswitch-agent openvswitch-switch ipset$/);
    expect(c.commands).to.include('(stop neutron-plugin-openvswitch-agent || true) && start neutron-plugin-openvswitch-agent');
  });

  it('networks: seed 004 §8.4 through the neutron API, in order, with one v2.0 login', () => {
    const c = host(site, 'controller');
    expect(c.commands.filter((l) => l.startsWith('POST http://controller:35357/v2.0/tokens'))).to.have.length(1);
    expect(neutronCalls(c, 'controller')).to.deep.equal([
      'POST /v2.0/networks ext-net',
      'POST /v2.0/subnets ext-subnet',
      'POST /v2.0/networks demo-net',
      'POST /v2.0/subnets demo-subnet',
      'POST /v2.0/routers demo-router',
      'PUT /v2.0/routers/:id/add_router_interface',
      'PUT /v2.0/routers/:id',
      'POST /v2.0/security-group-rules icmp',
      'POST /v2.0/security-group-rules tcp',
    ]);
    // `neutron net-create ext-net --router:external True --provider:physical_network external --provider:network_type flat`
    expect(callBody(c, /9696\/v2\.0\/networks .*ext-net/)).to.deep.include({
      'router:external': true,
      'provider:network_type': 'flat',
      'provider:physical_network': 'external',
      shared: false,
    });
    // `neutron subnet-create ext-net --name ext-subnet --allocation-pool … --disable-dhcp --gateway …`
    expect(callBody(c, /9696\/v2\.0\/subnets .*ext-subnet/)).to.deep.include({
      cidr: '192.168.234.0/24',
      gateway_ip: '192.168.234.1',
      enable_dhcp: false,
      allocation_pools: [{ start: '192.168.234.230', end: '192.168.234.239' }],
    });
    // Seed 004 §8.4.2: demo-subnet 10.10.1.0/24, gateway 10.10.1.1 (hosts/juno.ini's demo_cidr).
    expect(callBody(c, /9696\/v2\.0\/subnets .*demo-subnet/)).to.deep.include({ cidr: '10.10.1.0/24', gateway_ip: '10.10.1.1', enable_dhcp: true });
    expect(callBody(c, /security-group-rules .*"tcp"/)).to.deep.include({
      direction: 'ingress',
      port_range_min: 22,
      port_range_max: 22,
      remote_ip_prefix: '0.0.0.0/0',
    });
  });

  it('second run changes nothing', () => expectIdempotent(site));
});

describe('golden: neutron, Juno with other names, addresses and passwords', function () {
  this.timeout(60_000);
  it('changes exactly those values', async () => {
    const text = `
[controller]
ctl-a ansible_host=172.16.5.11
[network]
gw-a ansible_host=172.16.5.21 tunnel_ip=172.16.6.21 external_interface=ens9
[compute]
hv-a ansible_host=172.16.5.31 tunnel_ip=172.16.6.31
[all:vars]
openstack_release=juno
default_password=Zq-9x-pass
external_cidr=198.51.100.0/24
external_gateway=198.51.100.1
floating_start=198.51.100.50
floating_end=198.51.100.60
`;
    const site = await planSite(book, text, { text: true });
    expectIdempotent(site);
    const all = [...site.hosts.values()].flatMap((h) => [...h.files.values()]).join('\n');
    for (const old of ['controller', 'openstack', '10.0.', 'eth2']) expect(all, old).not.to.include(old);
    expectIni(host(site, 'gw-a'), PATHS.ml2, { ovs: { local_ip: '172.16.6.21', bridge_mappings: 'external:br-ex' } });
    expectIni(host(site, 'gw-a'), PATHS.metadata, { DEFAULT: { nova_metadata_ip: 'ctl-a', metadata_proxy_shared_secret: 'Zq-9x-pass' } });
    expectIni(host(site, 'hv-a'), PATHS.neutronConf, {
      DEFAULT: { rabbit_host: 'ctl-a', rabbit_password: 'Zq-9x-pass' },
      keystone_authtoken: { auth_uri: 'http://ctl-a:5000/v2.0' },
    });
    expect(host(site, 'gw-a').commands).to.include('ovs-vsctl --may-exist add-br br-ex -- --may-exist add-port br-ex ens9');
    expect(neutronCalls(host(site, 'ctl-a'), 'ctl-a')[0]).to.equal('POST /v2.0/networks ext-net');
  });
});

describe('golden: neutron, the seed 004 §11 compute file is repaired', () => {
  it('removes bridge_mappings = external:br-ex from an existing compute ml2_conf.ini and keeps everything else', async () => {
    const inv = parseInventory(readFileSync('hosts/juno.ini', 'utf8'), 'hosts/juno.ini');
    const ctx: HostContext = {
      host: 'compute1',
      vars: hostVarsOf(inv, 'compute1'),
      inventory: inv,
      groups: inv.hostGroups('compute1'),
      secret: (n) => new Secret(`pw-${n}`),
    };
    const { sim, rt } = simHost('compute1');
    // What seed 004 §8.3.4 left on compute1.
    sim.writeFile(
      PATHS.ml2,
      '[ml2]\ntype_drivers = flat,gre\n# keep this comment\n\n[ovs]\nlocal_ip = 10.0.1.31\nenable_tunneling = True\nbridge_mappings = external:br-ex\n\n[agent]\ntunnel_types = gre\n',
    );
    await converge(rt, ini({ path: PATHS.ml2, settings: ml2Conf(neutronHost(ctx)) }));
    const e = sim.files.get(PATHS.ml2);
    const text = e?.type === 'file' ? e.content : '';
    expect(readIni(text).get('ovs')?.has('bridge_mappings')).to.equal(false);
    expect(readIni(text).get('ovs')?.get('local_ip')).to.equal('10.0.1.31');
    expect(text).to.include('# keep this comment');
  });
});

// ---- Liberty on CentOS 7, seed 003 ------------------------------------------------------

/** Seed 003 §4: flat network 192.168.56.0/24, pool .100–.200, gateway and DNS .2. */
const SEED_003_NETWORKS = {
  external_cidr: '192.168.56.0/24',
  external_gateway: '192.168.56.2',
  floating_start: '192.168.56.100',
  floating_end: '192.168.56.200',
  external_dns: '192.168.56.2',
};
const C3 = '192.168.56.11';

const LIBERTY_C3_AUTHTOKEN = {
  auth_uri: `http://${C3}:5000`,
  auth_url: `http://${C3}:35357`,
  auth_plugin: 'password',
  project_domain_id: 'default',
  user_domain_id: 'default',
  project_name: 'service',
  username: 'neutron',
  // Seed 003 uses the service's name as its password; the test inventory's default_password stands in.
  password: 'openstack',
};
const LIBERTY_C3_LINUXBRIDGE: ExpectedIni = {
  linux_bridge: { physical_interface_mappings: 'physnet1:eth0' },
  // Seed 003 writes `false`/`true` in lower case here; oslo.config reads both spellings the same.
  vxlan: { enable_vxlan: 'False', local_ip: undefined },
  agent: { prevent_arp_spoofing: 'True' },
  securitygroup: { firewall_driver: IPTABLES, enable_security_group: 'True' },
};

describe('golden: neutron + networks, Liberty on CentOS (seed 003, hosts/liberty-centos.ini + neutron_lbaas)', function () {
  this.timeout(60_000);
  let site: SitePlan;
  before(async () => {
    site = await planSite(book, inventory('hosts/liberty-centos.ini', { ...SEED_003_NETWORKS, neutron_lbaas: 'true' }), { text: true });
  });

  it('controller: neutron.conf of seed 003 §3.8 (service_plugins: provider network + lbaas)', () => {
    expectIni(host(site, 'linux-node1'), PATHS.neutronConf, {
      DEFAULT: {
        core_plugin: 'ml2',
        // Seed 003 says `router,lbaas`; seed 000's lesson: a provider-only install has no router plugin.
        service_plugins: 'lbaas',
        auth_strategy: 'keystone',
        notify_nova_on_port_status_changes: 'True',
        notify_nova_on_port_data_changes: 'True',
        nova_url: `http://${C3}:8774/v2`,
        rpc_backend: 'rabbit',
      },
      keystone_authtoken: LIBERTY_C3_AUTHTOKEN,
      // Seed 003 spells out :3306, MySQL's default port.
      database: { connection: `mysql://neutron:openstack@${C3}/neutron` },
      nova: {
        auth_url: `http://${C3}:35357`,
        auth_plugin: 'password',
        project_domain_id: 'default',
        user_domain_id: 'default',
        region_name: 'RegionOne',
        project_name: 'service',
        username: 'nova',
        password: 'openstack',
      },
      // Seed 003 keeps RDO's `$state_path/lock`; the Liberty guide sets /var/lib/neutron/tmp.
      oslo_concurrency: { lock_path: '/var/lib/neutron/tmp' },
      oslo_messaging_rabbit: { rabbit_host: C3, rabbit_userid: 'openstack', rabbit_password: 'openstack' },
    });
  });

  it('controller: ml2_conf.ini, linuxbridge_agent.ini, dhcp_agent.ini, metadata_agent.ini of seed 003', () => {
    const c = host(site, 'linux-node1');
    expectIni(c, PATHS.ml2, {
      // Seed 003 enables every type driver and both mechanisms; the Liberty guide's provider option is this.
      ml2: { type_drivers: 'flat,vlan', tenant_network_types: '', mechanism_drivers: 'linuxbridge', extension_drivers: 'port_security' },
      ml2_type_flat: { flat_networks: 'physnet1' },
      securitygroup: { enable_ipset: 'True' },
    });
    expectIni(c, '/etc/neutron/plugins/ml2/linuxbridge_agent.ini', LIBERTY_C3_LINUXBRIDGE);
    expectIni(c, PATHS.dhcp, {
      DEFAULT: { interface_driver: BRIDGE_IFACE, dhcp_driver: DNSMASQ, enable_isolated_metadata: 'True', dnsmasq_config_file: undefined },
    });
    expectIni(c, PATHS.metadata, {
      DEFAULT: {
        auth_uri: `http://${C3}:5000`,
        auth_url: `http://${C3}:35357`,
        auth_region: 'RegionOne',
        auth_plugin: 'password',
        project_domain_id: 'default',
        user_domain_id: 'default',
        project_name: 'service',
        username: 'neutron',
        password: 'openstack',
        nova_metadata_ip: C3,
        metadata_proxy_shared_secret: 'openstack',
      },
    });
    // Provider networks only: no L3 agent.
    expect([...c.files.keys()]).not.to.include(PATHS.l3);
    expect(c.commands.filter((l) => l.includes('neutron-l3-agent'))).to.deep.equal([]);
  });

  it('controller: LBaaS v1 with haproxy — seed 003 §10.1', () => {
    const c = host(site, 'linux-node1');
    expectIni(c, PATHS.lbaasAgent, {
      DEFAULT: {
        // Seed 003: OVSInterfaceDriver, which cannot plug into the linuxbridge agent's bridges.
        interface_driver: BRIDGE_IFACE,
        device_driver: 'neutron_lbaas.services.loadbalancer.drivers.haproxy.namespace_driver.HaproxyNSDriver',
      },
    });
    expectIni(c, PATHS.lbaasConf, {
      service_providers: {
        service_provider: 'LOADBALANCER:Haproxy:neutron_lbaas.services.loadbalancer.drivers.haproxy.plugin_driver.HaproxyOnHostPluginDriver:default',
      },
    });
    expect(c.commands.find((l) => l.startsWith('yum install'))).to.equal(
      'yum install -y -q -- openstack-neutron openstack-neutron-ml2 python-neutronclient ebtables ipset openstack-neutron-linuxbridge openstack-neutron-lbaas python-neutron-lbaas haproxy',
    );
    expect(c.commands).to.include.members(['systemctl enable neutron-lbaas-agent', 'systemctl restart neutron-lbaas-agent']);
    expect(c.commands.join('\n')).to.include(
      "su -s /bin/sh -c 'neutron-db-manage --subproject neutron-lbaas --config-file /etc/neutron/neutron.conf --config-file /etc/neutron/plugins/ml2/ml2_conf.ini upgrade head' neutron",
    );
  });

  it('controller: plugin.ini link, db sync as neutron (`upgrade head`), services started, enabled and restarted', () => {
    const cmds = host(site, 'linux-node1').commands;
    expect(cmds).to.include('ln -sfn /etc/neutron/plugins/ml2/ml2_conf.ini /etc/neutron/plugin.ini');
    expect(cmds.join('\n')).to.include(
      "su -s /bin/sh -c 'neutron-db-manage --config-file /etc/neutron/neutron.conf --config-file /etc/neutron/plugins/ml2/ml2_conf.ini upgrade head' neutron",
    );
    for (const s of ['neutron-server', 'neutron-linuxbridge-agent', 'neutron-dhcp-agent', 'neutron-metadata-agent']) {
      expect(cmds, s).to.include.members([`systemctl enable ${s}`, `systemctl restart ${s}`]);
    }
  });

  it("compute node: the controller's files without the database (seed 003 copied it with scp), plugin.ini link", () => {
    const c = host(site, 'linux-node2');
    expectIni(c, PATHS.neutronConf, {
      DEFAULT: { rpc_backend: 'rabbit', auth_strategy: 'keystone' },
      keystone_authtoken: LIBERTY_C3_AUTHTOKEN,
      database: { connection: undefined },
    });
    expectIni(c, '/etc/neutron/plugins/ml2/linuxbridge_agent.ini', LIBERTY_C3_LINUXBRIDGE);
    expectIni(c, '/etc/sysctl.conf', {
      '': { 'net.ipv4.conf.all.rp_filter': '0', 'net.bridge.bridge-nf-call-iptables': '1', 'net.ipv4.ip_forward': undefined },
    });
    expect(c.commands).to.include('ln -sfn /etc/neutron/plugins/ml2/ml2_conf.ini /etc/neutron/plugin.ini');
    expect(c.commands.find((l) => l.startsWith('yum install'))).to.equal('yum install -y -q -- openstack-neutron openstack-neutron-linuxbridge ebtables ipset');
    expect(c.commands).to.include.members(['systemctl enable neutron-linuxbridge-agent', 'systemctl restart neutron-linuxbridge-agent']);
    expect([...c.files.keys()]).not.to.include.members([PATHS.dhcp]);
  });

  it('networks: seed 003 §4, one shared flat provider network, no router', () => {
    const c = host(site, 'linux-node1');
    expect(neutronCalls(c, C3)).to.deep.equal([
      'POST /v2.0/networks flat',
      'POST /v2.0/subnets flat-subnet',
      'POST /v2.0/security-group-rules icmp',
      'POST /v2.0/security-group-rules tcp',
    ]);
    // `neutron net-create flat --shared --provider:physical_network physnet1 --provider:network_type flat`
    expect(callBody(c, /9696\/v2\.0\/networks /)).to.deep.include({ shared: true, 'provider:network_type': 'flat', 'provider:physical_network': 'physnet1' });
    expect(callBody(c, /9696\/v2\.0\/networks /)).not.to.have.property('router:external');
    expect(callBody(c, /9696\/v2\.0\/subnets /)).to.deep.include({
      cidr: '192.168.56.0/24',
      gateway_ip: '192.168.56.2',
      enable_dhcp: true,
      dns_nameservers: ['192.168.56.2'],
      allocation_pools: [{ start: '192.168.56.100', end: '192.168.56.200' }],
    });
    expect(c.commands.filter((l) => l.startsWith(`POST http://${C3}:35357/v3/auth/tokens`))).to.have.length(1);
  });

  it('second run changes nothing', () => expectIdempotent(site));
});

describe('golden: neutron, Liberty on CentOS without LBaaS (seed 000 lesson)', function () {
  this.timeout(60_000);
  it('a provider-network install has an empty service_plugins', async () => {
    const site = await planSite(book, inventory('hosts/liberty-centos.ini', { ...SEED_003_NETWORKS, neutron_lbaas: 'false' }), { text: true });
    expectIdempotent(site);
    for (const h of ['linux-node1', 'linux-node2']) expectIni(host(site, h), PATHS.neutronConf, { DEFAULT: { service_plugins: '' } });
    expect([...host(site, 'linux-node1').files.keys()]).not.to.include.members([PATHS.lbaasAgent, PATHS.lbaasConf]);
  });
});

// ---- Liberty on Ubuntu, seed 000 -----------------------------------------------------------

describe('golden: neutron + networks, Liberty on Ubuntu (seed 000, hosts/liberty-ubuntu.ini)', function () {
  this.timeout(60_000);
  let site: SitePlan;
  before(async () => {
    site = await planSite(
      book,
      inventory('hosts/liberty-ubuntu.ini', {
        external_cidr: '203.0.113.0/24',
        external_gateway: '203.0.113.1',
        floating_start: '203.0.113.101',
        floating_end: '203.0.113.200',
      }),
      {
        text: true,
      },
    );
  });

  it('controller: self-service (option 2) neutron.conf with service_plugins = router — seed 000', () => {
    expectIni(host(site, 'controller'), PATHS.neutronConf, {
      DEFAULT: {
        core_plugin: 'ml2',
        service_plugins: 'router',
        allow_overlapping_ips: 'True',
        rpc_backend: 'rabbit',
        notify_nova_on_port_status_changes: 'True',
        nova_url: 'http://controller:8774/v2',
      },
      oslo_messaging_rabbit: { rabbit_host: 'controller', rabbit_userid: 'openstack', rabbit_password: 'openstack' },
      database: { connection: 'mysql://neutron:openstack@controller/neutron' },
      nova: { auth_url: 'http://controller:35357', auth_plugin: 'password', username: 'nova', password: 'openstack' },
    });
  });

  it('controller: ML2 VXLAN + linuxbridge, L3 agent, DHCP MTU 1450 (Liberty guide, option 2)', () => {
    const c = host(site, 'controller');
    expectIni(c, PATHS.ml2, {
      ml2: {
        type_drivers: 'flat,vlan,vxlan',
        tenant_network_types: 'vxlan',
        mechanism_drivers: 'linuxbridge,l2population',
        extension_drivers: 'port_security',
      },
      ml2_type_flat: { flat_networks: 'public' },
      ml2_type_vxlan: { vni_ranges: '1:1000' },
      securitygroup: { enable_ipset: 'True' },
    });
    expectIni(c, '/etc/neutron/plugins/ml2/linuxbridge_agent.ini', {
      linux_bridge: { physical_interface_mappings: 'public:eth1' },
      vxlan: { enable_vxlan: 'True', local_ip: '10.0.0.11', l2_population: 'True' },
      agent: { prevent_arp_spoofing: 'True' },
      securitygroup: { enable_security_group: 'True', firewall_driver: IPTABLES },
    });
    expectIni(c, PATHS.l3, { DEFAULT: { interface_driver: BRIDGE_IFACE, external_network_bridge: '', verbose: 'True' } });
    expectIni(c, PATHS.dhcp, {
      DEFAULT: { interface_driver: BRIDGE_IFACE, dhcp_driver: DNSMASQ, enable_isolated_metadata: 'True', dnsmasq_config_file: PATHS.dnsmasq },
    });
    expect(c.files.get(PATHS.dnsmasq)).to.equal('dhcp-option-force=26,1450\n');
    // seed 000: "Controller中有网桥代理，Metadata代理，DHCP代理和L3代理"
    for (const s of ['neutron-server', 'neutron-plugin-linuxbridge-agent', 'neutron-l3-agent', 'neutron-dhcp-agent', 'neutron-metadata-agent']) {
      expect(c.commands, s).to.include(`(stop ${s} || true) && start ${s}`);
    }
  });

  it('compute node: only the bridge agent, VXLAN from its own address', () => {
    const c = host(site, 'compute1');
    expectIni(c, PATHS.neutronConf, { DEFAULT: { rpc_backend: 'rabbit' }, database: { connection: undefined } });
    expectIni(c, '/etc/neutron/plugins/ml2/linuxbridge_agent.ini', {
      vxlan: { enable_vxlan: 'True', local_ip: '10.0.0.31' },
      linux_bridge: { physical_interface_mappings: 'public:eth1' },
    });
    expect(c.commands.find((l) => l.includes('apt-get install'))).to.match(/ -- neutron-plugin-linuxbridge-agent conntrack$/);
  });

  it('networks: external network, demo network, router with gateway and interface (floating IPs)', () => {
    expect(neutronCalls(host(site, 'controller'), 'controller')).to.deep.equal([
      'POST /v2.0/networks ext-net',
      'POST /v2.0/subnets ext-subnet',
      'POST /v2.0/networks demo-net',
      'POST /v2.0/subnets demo-subnet',
      'POST /v2.0/routers demo-router',
      'PUT /v2.0/routers/:id/add_router_interface',
      'PUT /v2.0/routers/:id',
      'POST /v2.0/security-group-rules icmp',
      'POST /v2.0/security-group-rules tcp',
    ]);
    expect(callBody(host(site, 'controller'), /9696\/v2\.0\/networks .*ext-net/)).to.deep.include({
      shared: true,
      'router:external': true,
      'provider:physical_network': 'public',
    });
  });

  it('second run changes nothing', () => expectIdempotent(site));
});

// ---- Zed on Debian 12, the lab -----------------------------------------------------------------

describe('golden: neutron + networks, Zed on Debian 12 (hosts/lab.ini)', function () {
  this.timeout(60_000);
  let site: SitePlan;
  before(async () => {
    site = await planSite(
      book,
      inventory('hosts/lab.ini', {
        default_password: 'openstack',
        external_cidr: '203.0.113.0/24',
        external_gateway: '203.0.113.1',
        floating_start: '203.0.113.101',
        floating_end: '203.0.113.200',
      }),
      { text: true },
    );
  });

  it('controller: neutron.conf and ml2_conf.ini of the Zed guide (self-service, linuxbridge)', () => {
    const c = host(site, 'controller');
    expectIni(c, PATHS.neutronConf, {
      DEFAULT: {
        core_plugin: 'ml2',
        service_plugins: 'router',
        transport_url: 'rabbit://openstack:openstack@controller:5672/',
        auth_strategy: 'keystone',
        notify_nova_on_port_status_changes: 'true',
        notify_nova_on_port_data_changes: 'true',
        verbose: undefined,
      },
      keystone_authtoken: {
        www_authenticate_uri: 'http://controller:5000/',
        auth_url: 'http://controller:5000/',
        memcached_servers: 'controller:11211',
        auth_type: 'password',
        username: 'neutron',
        password: 'openstack',
      },
      database: { connection: 'mysql+pymysql://neutron:openstack@controller/neutron' },
      nova: {
        auth_url: 'http://controller:5000',
        auth_type: 'password',
        project_domain_name: 'Default',
        user_domain_name: 'Default',
        region_name: 'RegionOne',
        project_name: 'service',
        username: 'nova',
        password: 'openstack',
      },
      oslo_concurrency: { lock_path: '/var/lib/neutron/tmp' },
    });
    expectIni(c, PATHS.ml2, {
      ml2: {
        type_drivers: 'flat,vlan,vxlan',
        tenant_network_types: 'vxlan',
        mechanism_drivers: 'linuxbridge,l2population',
        extension_drivers: 'port_security',
      },
      ml2_type_flat: { flat_networks: 'provider' },
      ml2_type_vxlan: { vni_ranges: '1:1000' },
      securitygroup: { enable_ipset: 'true' },
    });
  });

  it('controller: Debian 12 packages and services are neutron-api + neutron-rpc-server', () => {
    const cmds = host(site, 'controller').commands;
    // neutron-api's WSGI script patches for eventlet: one native thread a uwsgi worker, no native heartbeat thread (openstack/uwsgi.ts).
    expectIni(host(site, 'controller'), '/etc/neutron/neutron-api-uwsgi.ini', { uwsgi: { threads: '1', env: undefined } });
    expectIni(host(site, 'controller'), PATHS.neutronConf, { oslo_messaging_rabbit: { heartbeat_in_pthread: undefined } });
    expect(cmds.find((l) => l.includes('apt-get install'))).to.match(/ -- neutron-api neutron-rpc-server python3-neutronclient$/);
    expect(cmds.filter((l) => /neutron-api|neutron-rpc-server/.test(l) && /restart/.test(l))).to.have.length(2);
    expect(cmds.filter((l) => l.includes('neutron-server'))).to.deep.equal([]);
    expect(cmds.join('\n')).to.include("upgrade head' neutron");
  });

  it('network node: agents, no database, metadata via nova_metadata_host', () => {
    const n = host(site, 'network');
    expectIni(n, PATHS.neutronConf, { DEFAULT: { transport_url: 'rabbit://openstack:openstack@controller:5672/' }, database: { connection: undefined } });
    // The lab's network node reaches the external network on eth1 (provider_interface; lab bridge splabx0).
    expectIni(n, '/etc/neutron/plugins/ml2/linuxbridge_agent.ini', {
      linux_bridge: { physical_interface_mappings: 'provider:eth1' },
      vxlan: { enable_vxlan: 'true', local_ip: '10.42.1.12', l2_population: 'true' },
      securitygroup: { enable_security_group: 'true', firewall_driver: IPTABLES },
      agent: { prevent_arp_spoofing: undefined },
    });
    expectIni(n, PATHS.l3, { DEFAULT: { interface_driver: 'linuxbridge', external_network_bridge: undefined } });
    expectIni(n, PATHS.dhcp, { DEFAULT: { interface_driver: 'linuxbridge', dhcp_driver: DNSMASQ, enable_isolated_metadata: 'true' } });
    expectIni(n, PATHS.metadata, { DEFAULT: { nova_metadata_host: 'controller', metadata_proxy_shared_secret: 'openstack', nova_metadata_ip: undefined } });
    expectIni(n, '/etc/sysctl.conf', {
      '': { 'net.ipv4.ip_forward': '1', 'net.bridge.bridge-nf-call-iptables': '1', 'net.bridge.bridge-nf-call-ip6tables': '1' },
    });
    expect(n.files.get(PATHS.modulesLoad)).to.include('br_netfilter');
  });

  it('compute node: linuxbridge agent with its tunnel address', () => {
    const c = host(site, 'compute1');
    expectIni(c, PATHS.neutronConf, { database: { connection: undefined } });
    expectIni(c, '/etc/neutron/plugins/ml2/linuxbridge_agent.ini', { vxlan: { local_ip: '10.42.1.21' } });
    expect(c.commands.find((l) => l.includes('apt-get install'))).to.match(/ -- neutron-linuxbridge-agent ipset$/);
  });

  it('networks: v3 login on 5000, the self-service set', () => {
    const c = host(site, 'controller');
    expect(
      c.commands.filter(
        (l) => l.startsWith('POST http://controller:5000/v3/auth/tokens') && l.includes('"project":{"name":"admin","domain":{"id":"default"}}'),
      ),
    ).to.have.length(1);
    expect(neutronCalls(c, 'controller')).to.have.length(9);
    expect(callBody(c, /9696\/v2\.0\/networks .*ext-net/)).to.deep.include({ shared: true, 'router:external': true, 'provider:physical_network': 'provider' });
  });

  it('second run changes nothing', () => expectIdempotent(site));
});
