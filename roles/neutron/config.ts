import { InputError } from '../../lib/core/errors.js';
import type { HostContext } from '../../lib/core/playbook.js';
import { OpenStackHost } from '../../openstack/host.js';
import { ABSENT, type IniSections, type IniValue, mergeSections } from '../../lib/modules/ini.js';
import { LBAAS, STYLE, agentConfigPath, neutronPlatform, type NeutronPlatform, type ReleaseStyle } from './data.js';
import { defaultPhysnet, networkMode, networkNodes, type ModeInfo } from '../../openstack/topology.js';

/**
 * What neutron looks like on one host: which parts it plays (server,
 * network node, compute agent) and every config file's settings, as pure
 * functions of the inventory. One host's files are computed once from all
 * its parts, so a host playing several parts (Liberty's controller, an
 * all-in-one) gets one consistent neutron.conf.
 */

export interface Parts {
  readonly server: boolean;
  readonly network: boolean;
  readonly compute: boolean;
}

export interface NeutronHost {
  readonly o: OpenStackHost;
  readonly parts: Parts;
  readonly mode: ModeInfo;
  readonly platform: NeutronPlatform;
  readonly style: ReleaseStyle;
  /** The host runs an L2 agent (network node or compute). */
  readonly agent: boolean;
  readonly lbaas: boolean;
  /** Physical network of the external/provider network. */
  readonly physnet: string;
  /** OVS bridge of the external network, br-ex in every guide. */
  readonly externalBridge: string;
}

export function neutronHost(ctx: HostContext): NeutronHost {
  const o = new OpenStackHost(ctx);
  const mode = networkMode(ctx.vars, o.release);
  const parts: Parts = { server: o.inGroup('controller'), network: networkNodes(ctx.inventory).includes(ctx.host), compute: o.inGroup('compute') };
  const platform = neutronPlatform(ctx.vars, o.release, o.family);
  const lbaas = ctx.vars.bool('neutron_lbaas', false);
  if (lbaas && platform.packages.lbaas === null) {
    const at = ctx.vars.values.get('neutron_lbaas')?.source ?? ctx.vars.declaredAt;
    throw new InputError(at.file, at.line, `host ${ctx.host}: neutron_lbaas (LBaaS v1 with haproxy, seed 003) is described only for Liberty on CentOS`);
  }
  return {
    o,
    parts,
    mode,
    platform,
    style: STYLE[o.release],
    agent: parts.network || parts.compute,
    lbaas,
    physnet: ctx.vars.str('physical_network', defaultPhysnet(o.release, mode)),
    externalBridge: ctx.vars.str('external_bridge', 'br-ex'),
  };
}

const bridgeOf = (mapping: string): string => mapping.slice(mapping.indexOf(':') + 1);
const physnetOf = (mapping: string): string => mapping.slice(0, mapping.indexOf(':'));

/**
 * OVS `bridge_mappings` of this host. The network node maps the external
 * physical network to br-ex; a compute node must not (seed 004 §11: "Bridge
 * br-ex for physical network external does not exist. Agent terminated!"),
 * so its mappings are only the inventory's `bridge_mappings` minus br-ex.
 */
export function bridgeMappings(h: NeutronHost): string[] {
  const extra = h.o.ctx.vars.list('bridge_mappings');
  if (!h.parts.network) return extra.filter((m) => bridgeOf(m) !== h.externalBridge);
  const external = `${h.physnet}:${h.externalBridge}`;
  return [external, ...extra.filter((m) => physnetOf(m) !== h.physnet && m !== external)];
}

/** Overlay endpoint: `tunnel_ip`, or the management address as in the Liberty and Zed guides. */
export const tunnelIp = (h: NeutronHost): string => h.o.ctx.vars.ipv4('tunnel_ip', h.o.core.managementIp);

// ---- neutron.conf --------------------------------------------------------------

export function servicePlugins(h: NeutronHost): string {
  // Seed 003 says service_plugins = router (router,lbaas with LBaaS); the Liberty guide's provider-network
  // option says empty, and self-service needs `router` (seed 000's lesson).
  return [...(h.mode.router ? ['router'] : []), ...(h.lbaas ? ['lbaas'] : [])].join(',');
}

/** How neutron-server tells nova about port changes, by release. `serviceTenantId` only matters for Juno. */
function novaNotifications(h: NeutronHost, serviceTenantId: string): IniSections {
  const { o, style } = h;
  const c = o.controller;
  const notify = { notify_nova_on_port_status_changes: style.yes, notify_nova_on_port_data_changes: style.yes };
  const password = o.servicePassword('nova');
  switch (o.release) {
    case 'juno':
      return {
        DEFAULT: {
          ...notify,
          nova_url: `http://${c}:8774/v2`,
          nova_admin_auth_url: `http://${c}:35357/v2.0`,
          nova_region_name: o.core.region,
          nova_admin_username: 'nova',
          // The guide: `keystone tenant-get service`, then paste its id here.
          nova_admin_tenant_id: serviceTenantId,
          nova_admin_password: password,
        },
      };
    case 'liberty':
      return {
        DEFAULT: { ...notify, nova_url: `http://${c}:8774/v2` },
        nova: {
          auth_url: `http://${c}:35357`,
          auth_plugin: 'password',
          project_domain_id: 'default',
          user_domain_id: 'default',
          region_name: o.core.region,
          project_name: 'service',
          username: 'nova',
          password,
        },
      };
    case 'zed':
      return {
        DEFAULT: notify,
        nova: {
          auth_url: `http://${c}:5000`,
          auth_type: 'password',
          project_domain_name: 'Default',
          user_domain_name: 'Default',
          region_name: o.core.region,
          project_name: 'service',
          username: 'nova',
          password,
        },
      };
  }
}

export function neutronConf(h: NeutronHost, serviceTenantId: string): IniSections {
  const { o, style } = h;
  return mergeSections(
    {
      DEFAULT: {
        core_plugin: 'ml2',
        service_plugins: servicePlugins(h),
        allow_overlapping_ips: style.yes,
        ...(style.verbose ? { verbose: style.yes } : {}),
      },
    },
    o.messaging(),
    // Zed's authtoken() has no [DEFAULT] auth_strategy; the Zed neutron guide still sets it.
    { DEFAULT: { auth_strategy: 'keystone' } },
    // Every neutron process of the host reads neutron.conf: the server loads the mechanism driver, later releases' agents check too.
    style.experimental.includes(h.mode.mechanism) ? { experimental: { [h.mode.mechanism]: style.yes } } : {},
    o.authtoken('neutron'),
    // Seed 003 says lock_path = $state_path/lock; the Liberty guide says /var/lib/neutron/tmp (so does Zed's).
    o.release === 'juno' ? {} : { oslo_concurrency: { lock_path: '/var/lib/neutron/tmp' } },
    h.parts.server
      ? mergeSections({ database: { connection: o.dbConnection('neutron') } }, novaNotifications(h, serviceTenantId))
      : // Seed 004 §8.2/8.3: network and compute nodes do not access the database; a connection left
        // there (Debian ships a sqlite one, seed 003 copied the controller's file) must go.
        { database: { connection: ABSENT } },
  );
}

// ---- ml2_conf.ini and the L2 agent ---------------------------------------------------

export function ml2Conf(h: NeutronHost): IniSections {
  const { o, mode, style } = h;
  const vars = o.ctx.vars;
  const ml2: Record<string, IniValue> = (() => {
    switch (mode.mode) {
      case 'ovs-gre':
        return { type_drivers: 'flat,gre', tenant_network_types: 'gre', mechanism_drivers: 'openvswitch' };
      case 'ovs-vlan':
        return { type_drivers: 'flat,vlan', tenant_network_types: 'vlan', mechanism_drivers: 'openvswitch' };
      case 'linuxbridge-flat':
        // Seed 003 says type_drivers = flat,vlan,gre,vxlan,geneve, tenant_network_types = vlan,gre,vxlan,geneve,
        // mechanism_drivers = openvswitch,linuxbridge (with no ranges for any of them); the Liberty guide (provider
        // networks) says type_drivers = flat,vlan, tenant_network_types empty, mechanism_drivers = linuxbridge.
        return { type_drivers: 'flat,vlan', tenant_network_types: '', mechanism_drivers: 'linuxbridge' };
      case 'linuxbridge-vxlan':
        return { type_drivers: 'flat,vlan,vxlan', tenant_network_types: 'vxlan', mechanism_drivers: 'linuxbridge,l2population' };
    }
  })();
  const juno = o.release === 'juno';
  return mergeSections(
    { ml2: { ...ml2, ...(juno ? {} : { extension_drivers: 'port_security' }) } },
    // Seed 004 writes flat_networks on the network node only; the server validates `neutron net-create
    // --provider:physical_network external` against its own file, so every node gets it.
    { ml2_type_flat: { flat_networks: h.physnet } },
    mode.tenantType === 'gre' ? { ml2_type_gre: { tunnel_id_ranges: vars.str('tunnel_id_ranges', '1:1000') } } : {},
    mode.tenantType === 'vxlan' ? { ml2_type_vxlan: { vni_ranges: vars.str('vni_ranges', '1:1000') } } : {},
    // Seed 002's `network_vlan_ranges = physnet1,physnet2:101:110`.
    mode.tenantType === 'vlan' ? { ml2_type_vlan: { network_vlan_ranges: vars.str('network_vlan_ranges') } } : {},
    juno
      ? { securitygroup: { enable_security_group: style.yes, enable_ipset: style.yes, firewall_driver: style.firewallDriver.openvswitch } }
      : { securitygroup: { enable_ipset: style.yes } },
    // Juno's OVS agent reads its [ovs] and [agent] sections from ml2_conf.ini.
    juno && h.agent ? agentConf(h) : {},
  );
}

/** The L2 agent's options (Juno: part of ml2_conf.ini; later: openvswitch_agent.ini / linuxbridge_agent.ini). */
export function agentConf(h: NeutronHost): IniSections {
  const { o, mode, style } = h;
  const juno = o.release === 'juno';
  const tunnel = mode.tenantType === 'gre' || mode.tenantType === 'vxlan';
  if (mode.mechanism === 'openvswitch') {
    const mappings = bridgeMappings(h);
    return mergeSections(
      {
        ovs: {
          ...(tunnel ? { local_ip: tunnelIp(h), ...(juno ? { enable_tunneling: style.yes } : {}) } : {}),
          // Seed 004 says bridge_mappings = external:br-ex on the compute node too; the Juno guide says it only for
          // the network node (§11: the agent dies without br-ex). ABSENT also removes a line left there.
          bridge_mappings: mappings.length > 0 ? mappings.join(',') : ABSENT,
        },
      },
      tunnel ? { agent: { tunnel_types: mode.tenantType ?? '' } } : {},
      juno ? {} : { securitygroup: { enable_security_group: style.yes, firewall_driver: style.firewallDriver.openvswitch } },
    );
  }
  const providerInterface = o.ctx.vars.str('provider_interface', 'eth0');
  return mergeSections(
    // Seed 003: physnet1:eth0, the host's only NIC (the lab's hosts, too, have only eth0).
    { linux_bridge: { physical_interface_mappings: `${h.physnet}:${providerInterface}` } },
    { vxlan: tunnel ? { enable_vxlan: style.yes, local_ip: tunnelIp(h), l2_population: style.yes } : { enable_vxlan: style.no } },
    // Liberty's guide enables ARP spoofing protection; the option is gone by Zed (always on).
    o.release === 'liberty' ? { agent: { prevent_arp_spoofing: style.yes } } : {},
    { securitygroup: { enable_security_group: style.yes, firewall_driver: style.firewallDriver.linuxbridge } },
  );
}

export const agentPath = (h: NeutronHost): string => agentConfigPath(h.o.release, h.mode.mechanism);

// ---- network node agents ------------------------------------------------------------------

export function l3Conf(h: NeutronHost): IniSections {
  const { o, style, mode } = h;
  const driver = style.interfaceDriver[mode.mechanism];
  switch (o.release) {
    case 'juno':
      return {
        DEFAULT: {
          interface_driver: driver,
          use_namespaces: style.yes,
          external_network_bridge: h.externalBridge,
          router_delete_namespaces: style.yes,
          verbose: style.yes,
        },
      };
    case 'liberty':
      // The Liberty guide: "intentionally lacks a value" so the external network's provider mapping is used.
      return { DEFAULT: { interface_driver: driver, external_network_bridge: '', verbose: style.yes } };
    case 'zed':
      return { DEFAULT: { interface_driver: driver } };
  }
}

/** Instance MTU dnsmasq pushes on tunnel networks (DHCP option 26), or null. */
export function dnsmasqMtu(h: NeutronHost): number | null {
  const t = h.mode.tenantType;
  return t === 'gre' || t === 'vxlan' ? (h.style.dnsmasqMtu[t] ?? null) : null;
}

export function dhcpConf(h: NeutronHost, dnsmasqPath: string): IniSections {
  const { o, style, mode } = h;
  const base = { interface_driver: style.interfaceDriver[mode.mechanism], dhcp_driver: 'neutron.agent.linux.dhcp.Dnsmasq' };
  const mtu = dnsmasqMtu(h) === null ? {} : { dnsmasq_config_file: dnsmasqPath };
  switch (o.release) {
    case 'juno':
      return { DEFAULT: { ...base, use_namespaces: style.yes, dhcp_delete_namespaces: style.yes, verbose: style.yes, ...mtu } };
    case 'liberty':
      return { DEFAULT: { ...base, enable_isolated_metadata: style.yes, verbose: style.yes, ...mtu } };
    case 'zed':
      return { DEFAULT: { ...base, enable_isolated_metadata: style.yes, ...mtu } };
  }
}

export function metadataConf(h: NeutronHost): IniSections {
  const { o, style } = h;
  const c = o.controller;
  const secret = o.secret('metadata_secret');
  const password = o.servicePassword('neutron');
  switch (o.release) {
    case 'juno':
      return {
        DEFAULT: {
          auth_url: `http://${c}:5000/v2.0`,
          auth_region: o.core.region,
          admin_tenant_name: 'service',
          admin_user: 'neutron',
          admin_password: password,
          nova_metadata_ip: c,
          metadata_proxy_shared_secret: secret,
          verbose: style.yes,
        },
      };
    case 'liberty':
      return {
        DEFAULT: {
          auth_uri: `http://${c}:5000`,
          auth_url: `http://${c}:35357`,
          auth_region: o.core.region,
          auth_plugin: 'password',
          project_domain_id: 'default',
          user_domain_id: 'default',
          project_name: 'service',
          username: 'neutron',
          password,
          nova_metadata_ip: c,
          metadata_proxy_shared_secret: secret,
          verbose: style.yes,
        },
      };
    case 'zed':
      // nova_metadata_ip was renamed nova_metadata_host (Queens); the Zed guide uses the new name.
      return { DEFAULT: { nova_metadata_host: c, metadata_proxy_shared_secret: secret } };
  }
}

/** Seed 003 §10.1. */
export function lbaasAgentConf(h: NeutronHost): IniSections {
  // Seed 003 says interface_driver = OVSInterfaceDriver; the Liberty networking guide (LBaaS) says the driver of
  // the L2 agent in use — BridgeInterfaceDriver with linuxbridge, whose bridges OVS ports cannot join.
  return { DEFAULT: { interface_driver: h.style.interfaceDriver[h.mode.mechanism], device_driver: LBAAS.deviceDriver } };
}
export const lbaasConf = (): IniSections => ({ service_providers: { service_provider: LBAAS.serviceProvider } });

// ---- kernel ------------------------------------------------------------------------

/** Bridged instance traffic must pass iptables for security groups (Zed guide; OVS hybrid and linuxbridge drivers). */
export const needsBridgeFilter = (h: NeutronHost): boolean => h.parts.compute || (h.parts.network && h.mode.mechanism === 'linuxbridge');

export function sysctlSettings(h: NeutronHost): Record<string, string> {
  const out: Record<string, string> = {};
  // Seed 004 §8.2.1 (network node) and §8.3.1 (compute node).
  if (h.parts.network) out['net.ipv4.ip_forward'] = '1';
  if (h.agent) {
    out['net.ipv4.conf.all.rp_filter'] = '0';
    out['net.ipv4.conf.default.rp_filter'] = '0';
  }
  // Seed 004 and Juno's guide list only rp_filter for compute nodes; later guides (and the Zed guide's
  // linuxbridge section) require bridge netfilter, which the hybrid OVS firewall relies on as well.
  if (needsBridgeFilter(h)) {
    out['net.bridge.bridge-nf-call-iptables'] = '1';
    out['net.bridge.bridge-nf-call-ip6tables'] = '1';
  }
  return out;
}
