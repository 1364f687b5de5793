import type { Mechanism } from '../../openstack/topology.js';
import { InputError } from '../../lib/core/errors.js';
import type { HostVars } from '../../lib/inventory/vars.js';
import type { OsFamily, Release } from '../../openstack/release.js';

/**
 * Neutron's differences between releases, OS families and network modes,
 * as data. The role asks these tables; it never branches on a name.
 */

// ---- packages and services -------------------------------------------------

export interface NeutronPlatform {
  readonly packages: {
    readonly server: readonly string[];
    /** L2 agent per mechanism; null: not packaged for this platform in its guide. */
    readonly agent: Readonly<Record<Mechanism, readonly string[] | null>>;
    /** DHCP + metadata agents of a network node. */
    readonly networkAgents: readonly string[];
    readonly l3: readonly string[];
    /** LBaaS v1 with haproxy (seed 003); null: not supported here. */
    readonly lbaas: readonly string[] | null;
  };
  readonly services: {
    readonly server: readonly string[];
    readonly agent: Readonly<Record<Mechanism, string>>;
    readonly l3: string;
    readonly dhcp: string;
    readonly metadata: string;
    readonly lbaas: string;
    /** ovsdb-server + ovs-vswitchd. */
    readonly openvswitch: string;
  };
  /** CentOS: the services read /etc/neutron/plugin.ini, a link to ml2_conf.ini (seed 003). */
  readonly pluginIniLink: boolean;
  /** /etc/modules-load.d is read at boot (systemd hosts); Ubuntu 14.04 has only /etc/modules. */
  readonly modulesLoadD: boolean;
  /** The uwsgi ini file of neutron-api where the platform runs it under uwsgi (openstack/uwsgi.ts uwsgiEventletApp). */
  readonly uwsgiApi: string | null;
  /**
   * ebtables is ebtables-nft 1.8.9, which cannot delete the linuxbridge agent's --among-src MAC rules by
   * spec: the agent gets the shim of openstack/neutron/ebtables-among.ts ahead of it on its PATH.
   */
  readonly ebtablesAmongShim: boolean;
}

const UBUNTU_COMMON = { networkAgents: ['neutron-dhcp-agent', 'neutron-metadata-agent'], l3: ['neutron-l3-agent'] } as const;
const AGENT_SERVICES = { l3: 'neutron-l3-agent', dhcp: 'neutron-dhcp-agent', metadata: 'neutron-metadata-agent', lbaas: 'neutron-lbaas-agent' } as const;

const PLATFORMS: Readonly<Record<string, NeutronPlatform>> = {
  // Seed 004 §8; `ipset` because enable_ipset = True needs it (later Juno guide revisions install it).
  'juno/ubuntu': {
    packages: {
      server: ['neutron-server', 'neutron-plugin-ml2', 'python-neutronclient'],
      agent: { openvswitch: ['neutron-plugin-ml2', 'neutron-plugin-openvswitch-agent', 'openvswitch-switch', 'ipset'], linuxbridge: null },
      ...UBUNTU_COMMON,
      lbaas: null,
    },
    services: {
      server: ['neutron-server'],
      agent: { openvswitch: 'neutron-plugin-openvswitch-agent', linuxbridge: 'neutron-plugin-linuxbridge-agent' },
      ...AGENT_SERVICES,
      openvswitch: 'openvswitch-switch',
    },
    pluginIniLink: false,
    modulesLoadD: false,
    uwsgiApi: null,
    ebtablesAmongShim: false,
  },
  // Seed 003 §2.3 (RDO packages: one openstack-neutron package carries server, DHCP, L3 and metadata agents).
  'liberty/centos': {
    packages: {
      server: ['openstack-neutron', 'openstack-neutron-ml2', 'python-neutronclient', 'ebtables', 'ipset'],
      agent: {
        openvswitch: ['openstack-neutron', 'openstack-neutron-ml2', 'openstack-neutron-openvswitch', 'ipset'],
        linuxbridge: ['openstack-neutron', 'openstack-neutron-linuxbridge', 'ebtables', 'ipset'],
      },
      networkAgents: [],
      l3: [],
      // Seed 003 §10.1; haproxy is what the HaproxyNSDriver runs.
      lbaas: ['openstack-neutron-lbaas', 'python-neutron-lbaas', 'haproxy'],
    },
    services: {
      server: ['neutron-server'],
      agent: { openvswitch: 'neutron-openvswitch-agent', linuxbridge: 'neutron-linuxbridge-agent' },
      ...AGENT_SERVICES,
      openvswitch: 'openvswitch',
    },
    pluginIniLink: true,
    modulesLoadD: true,
    uwsgiApi: null,
    ebtablesAmongShim: false,
  },
  // Liberty guide for Ubuntu (seed 000): the agents still carry Kilo's `neutron-plugin-` names.
  'liberty/ubuntu': {
    packages: {
      server: ['neutron-server', 'neutron-plugin-ml2', 'python-neutronclient'],
      agent: {
        openvswitch: ['neutron-plugin-ml2', 'neutron-plugin-openvswitch-agent', 'openvswitch-switch', 'ipset'],
        linuxbridge: ['neutron-plugin-linuxbridge-agent', 'conntrack'],
      },
      ...UBUNTU_COMMON,
      lbaas: null,
    },
    services: {
      server: ['neutron-server'],
      agent: { openvswitch: 'neutron-plugin-openvswitch-agent', linuxbridge: 'neutron-plugin-linuxbridge-agent' },
      ...AGENT_SERVICES,
      openvswitch: 'openvswitch-switch',
    },
    pluginIniLink: false,
    modulesLoadD: false,
    uwsgiApi: null,
    ebtablesAmongShim: false,
  },
  // Debian 12 (neutron 2:21.0.0, checked with apt-get download + dpkg-deb -c): `neutron-server` is only a
  // metapackage for neutron-api (uwsgi, /etc/init.d/neutron-api) and neutron-rpc-server; there is no
  // neutron-plugin-ml2 package (ML2 is in python3-neutron). The init scripts find ml2_conf.ini from core_plugin.
  'zed/debian': {
    packages: {
      server: ['neutron-api', 'neutron-rpc-server', 'python3-neutronclient'],
      agent: { openvswitch: ['neutron-openvswitch-agent', 'openvswitch-switch', 'ipset'], linuxbridge: ['neutron-linuxbridge-agent', 'ipset'] },
      ...UBUNTU_COMMON,
      lbaas: null,
    },
    // The Zed guide (Debian) says `service neutron-server restart`; Debian 12's packages say neutron-api
    // (uwsgi) + neutron-rpc-server: neutron-server is only the metapackage pulling both in.
    services: {
      server: ['neutron-api', 'neutron-rpc-server'],
      agent: { openvswitch: 'neutron-openvswitch-agent', linuxbridge: 'neutron-linuxbridge-agent' },
      ...AGENT_SERVICES,
      openvswitch: 'openvswitch-switch',
    },
    pluginIniLink: false,
    modulesLoadD: true,
    uwsgiApi: '/etc/neutron/neutron-api-uwsgi.ini',
    ebtablesAmongShim: true,
  },
};

export function neutronPlatform(vars: HostVars, release: Release, family: OsFamily): NeutronPlatform {
  const p = PLATFORMS[`${release}/${family}`];
  if (!p) throw new InputError(vars.declaredAt.file, vars.declaredAt.line, `host ${vars.host}: neutron is not described for ${release} on ${family}`);
  return p;
}

// ---- config files ------------------------------------------------------------

export const PATHS = {
  neutronConf: '/etc/neutron/neutron.conf',
  ml2: '/etc/neutron/plugins/ml2/ml2_conf.ini',
  pluginIni: '/etc/neutron/plugin.ini',
  l3: '/etc/neutron/l3_agent.ini',
  dhcp: '/etc/neutron/dhcp_agent.ini',
  dnsmasq: '/etc/neutron/dnsmasq-neutron.conf',
  metadata: '/etc/neutron/metadata_agent.ini',
  lbaasAgent: '/etc/neutron/lbaas_agent.ini',
  lbaasConf: '/etc/neutron/neutron_lbaas.conf',
  modulesLoad: '/etc/modules-load.d/neutron-bridge.conf',
} as const;

/** Where the L2 agent's options live: Juno reads [ovs]/[agent] from ml2_conf.ini; Liberty split them out. */
export function agentConfigPath(release: Release, mechanism: Mechanism): string {
  if (release === 'juno') return PATHS.ml2;
  return mechanism === 'openvswitch' ? '/etc/neutron/plugins/ml2/openvswitch_agent.ini' : '/etc/neutron/plugins/ml2/linuxbridge_agent.ini';
}

export interface ReleaseStyle {
  /** How the guide writes booleans. */
  readonly yes: string;
  readonly no: string;
  /** `verbose = True` (removed after Mitaka). */
  readonly verbose: boolean;
  /** Interface drivers: full class paths (Juno, Liberty) or Zed's short aliases. */
  readonly interfaceDriver: Readonly<Record<Mechanism, string>>;
  readonly firewallDriver: Readonly<Record<Mechanism, string>>;
  /** `neutron-db-manage … upgrade <target>`: Juno's guide upgrades to `juno`. */
  readonly dbTarget: string;
  /** Instance MTU pushed by dnsmasq on tunnel networks (Juno, Liberty guides); Zed sets network MTUs itself. */
  readonly dnsmasqMtu: Readonly<Partial<Record<'gre' | 'vxlan', number>>>;
  /** Mechanisms this release marks experimental: neutron.conf `[experimental] <mechanism> = true` where they are used. */
  readonly experimental: readonly Mechanism[];
}

const FULL_IFACE = {
  openvswitch: 'neutron.agent.linux.interface.OVSInterfaceDriver',
  linuxbridge: 'neutron.agent.linux.interface.BridgeInterfaceDriver',
} as const;
const FULL_FW = {
  openvswitch: 'neutron.agent.linux.iptables_firewall.OVSHybridIptablesFirewallDriver',
  linuxbridge: 'neutron.agent.linux.iptables_firewall.IptablesFirewallDriver',
} as const;

export const STYLE: Readonly<Record<Release, ReleaseStyle>> = {
  juno: {
    yes: 'True',
    no: 'False',
    verbose: true,
    interfaceDriver: FULL_IFACE,
    firewallDriver: FULL_FW,
    dbTarget: 'juno',
    dnsmasqMtu: { gre: 1454, vxlan: 1450 },
    experimental: [],
  },
  liberty: {
    yes: 'True',
    no: 'False',
    verbose: true,
    interfaceDriver: FULL_IFACE,
    firewallDriver: FULL_FW,
    dbTarget: 'head',
    dnsmasqMtu: { gre: 1454, vxlan: 1450 },
    experimental: [],
  },
  zed: {
    yes: 'true',
    no: 'false',
    verbose: false,
    interfaceDriver: { openvswitch: 'openvswitch', linuxbridge: 'linuxbridge' },
    firewallDriver: { openvswitch: 'iptables_hybrid', linuxbridge: 'neutron.agent.linux.iptables_firewall.IptablesFirewallDriver' },
    dbTarget: 'head',
    dnsmasqMtu: {},
    // Neutron 21 (Zed) refuses to load the linuxbridge mechanism driver without `[experimental] linuxbridge = true`
    // ("Feature 'linuxbridge' is experimental and has to be explicitly enabled"): neutron-api's uwsgi workers died
    // in a loop on the lab controller. The Zed install guide predates the flag.
    experimental: ['linuxbridge'],
  },
};

/** Seed 003 §10.1 (neutron-lbaas on Liberty): the v1 haproxy drivers. */
export const LBAAS = {
  // Seed 003 says neutron.services.loadbalancer.drivers.haproxy.namespace_driver.HaproxyNSDriver (the pre-Kilo
  // path); the Liberty LBaaS docs say neutron_lbaas.…, where Liberty's neutron-lbaas package has it.
  deviceDriver: 'neutron_lbaas.services.loadbalancer.drivers.haproxy.namespace_driver.HaproxyNSDriver',
  serviceProvider: 'LOADBALANCER:Haproxy:neutron_lbaas.services.loadbalancer.drivers.haproxy.plugin_driver.HaproxyOnHostPluginDriver:default',
} as const;
