import { apiTaskKit, changePlan as change, compareFields, sameList } from '../../lib/api/task-kit.js';
import { noChange, type Plan, type Task, type TaskOptions } from '../../lib/core/task.js';
import { NeutronClient, type AllocationPool, type NeutronApi, type NeutronRule } from './client.js';

/**
 * Neutron task modules: networks, subnets, routers, router gateways and
 * interfaces, security group rules — what `neutron net-create …` does in the
 * guides' "create initial networks" sections. Facts read through
 * NeutronClient; plans compare fields and update what differs.
 */

// ---- task plumbing -----------------------------------------------------------------

const { task, step: apiStep, need, update } = apiTaskKit('neutron', (target: NeutronApi, http) => new NeutronClient(target, http));
const projectOf = (n: NeutronClient, project: string) => () => n.projectId(project);
const samePool = (a: AllocationPool, b: AllocationPool) => a.start === b.start && a.end === b.end;

// ---- networks ----------------------------------------------------------------------

export interface NeutronNetworkArgs {
  readonly name: string;
  /** Owning project (keystone name). */
  readonly project: string;
  readonly shared?: boolean;
  /** `router:external`: floating IPs and router gateways come from it. */
  readonly external?: boolean;
  /** Provider attributes (admin only); absent: a tenant network of the default type. */
  readonly provider?: { readonly type: 'flat' | 'vlan' | 'vxlan' | 'gre'; readonly physicalNetwork?: string; readonly segmentationId?: number };
}

export function neutronNetwork<H extends string = never>(api: NeutronApi, args: NeutronNetworkArgs, options?: TaskOptions<H>): Task<H> {
  const label = `neutron network ${args.name} (project ${args.project})`;
  const shared = args.shared ?? false;
  const external = args.external ?? false;
  return task(api, 'neutron_network', label, options, {
    read: async (n) => {
      const tenantId = await n.projectId(args.project);
      return { tenantId, net: tenantId === null ? null : await n.findNetwork(args.name, tenantId) };
    },
    plan: ({ tenantId, net }): Plan => {
      if (!net) {
        const fields = (tid: string) => ({
          name: args.name,
          tenant_id: tid,
          admin_state_up: true,
          shared,
          ...(external ? { 'router:external': true } : {}),
          ...(args.provider
            ? {
                'provider:network_type': args.provider.type,
                ...(args.provider.physicalNetwork !== undefined ? { 'provider:physical_network': args.provider.physicalNetwork } : {}),
                ...(args.provider.segmentationId !== undefined ? { 'provider:segmentation_id': args.provider.segmentationId } : {}),
              }
            : {}),
        });
        const what = [
          shared ? 'shared' : '',
          external ? 'external' : '',
          args.provider ? `${args.provider.type}${args.provider.physicalNetwork ? ` on ${args.provider.physicalNetwork}` : ''}` : '',
        ]
          .filter(Boolean)
          .join(', ');
        return change(`create network ${args.name}${what ? ` (${what})` : ''}`, [
          apiStep(api, `create ${label}`, async (n) => {
            await n.createNetwork(fields(await need(tenantId, projectOf(n, args.project), `project ${args.project}`)));
          }),
        ]);
      }
      if (args.provider) {
        const p = args.provider;
        if (net.networkType !== null && (net.networkType !== p.type || (p.physicalNetwork !== undefined && net.physicalNetwork !== p.physicalNetwork))) {
          throw new Error(
            `network ${args.name} (${net.id}) is ${net.networkType}${net.physicalNetwork ? ` on ${net.physicalNetwork}` : ''}, not ${p.type}${p.physicalNetwork ? ` on ${p.physicalNetwork}` : ''}; provider attributes cannot change: delete it first`,
          );
        }
      }
      const diff = compareFields({ shared: { have: net.shared, want: shared }, 'router:external': { have: net.external, want: external } });
      return update(api, diff, { subject: `network ${args.name}`, label, unchanged: `network ${args.name} exists (${net.id})` }, (n, patch) =>
        n.updateNetwork(net.id, patch),
      );
    },
  });
}

// ---- subnets -----------------------------------------------------------------------

export interface NeutronSubnetArgs {
  readonly name: string;
  readonly network: string;
  /** Project owning the network and the subnet. */
  readonly project: string;
  readonly cidr: string;
  readonly gateway: string;
  readonly enableDhcp?: boolean;
  readonly allocationPool?: AllocationPool;
  readonly dnsNameservers?: readonly string[];
}

export function neutronSubnet<H extends string = never>(api: NeutronApi, args: NeutronSubnetArgs, options?: TaskOptions<H>): Task<H> {
  const label = `neutron subnet ${args.name} of ${args.network}`;
  const dhcp = args.enableDhcp ?? true;
  const dns = args.dnsNameservers ?? [];
  const lookupNet = (n: NeutronClient, tid: string | null) => async () => {
    const t = await need(tid, projectOf(n, args.project), `project ${args.project}`);
    return n.findNetwork(args.network, t);
  };
  return task(api, 'neutron_subnet', label, options, {
    read: async (n) => {
      const tenantId = await n.projectId(args.project);
      const net = tenantId === null ? null : await n.findNetwork(args.network, tenantId);
      return { tenantId, net, sub: net === null ? null : await n.findSubnet(args.name, net.id) };
    },
    plan: ({ tenantId, net, sub }): Plan => {
      if (!sub) {
        return change(`create subnet ${args.name} ${args.cidr} on ${args.network}${net ? '' : ' (once the network exists)'}`, [
          apiStep(api, `create ${label} ${args.cidr}`, async (n) => {
            const t = await need(tenantId, projectOf(n, args.project), `project ${args.project}`);
            const nw = await need(net, lookupNet(n, t), `network ${args.network}`);
            await n.createSubnet({
              name: args.name,
              network_id: nw.id,
              tenant_id: t,
              ip_version: 4,
              cidr: args.cidr,
              gateway_ip: args.gateway,
              enable_dhcp: dhcp,
              ...(args.allocationPool ? { allocation_pools: [args.allocationPool] } : {}),
              ...(dns.length ? { dns_nameservers: dns } : {}),
            });
          }),
        ]);
      }
      if (sub.cidr !== args.cidr)
        throw new Error(`subnet ${args.name} (${sub.id}) is ${sub.cidr}, not ${args.cidr}; a subnet's CIDR cannot change: delete it first`);
      const diff = compareFields({
        gateway_ip: { have: sub.gatewayIp, want: args.gateway, label: 'gateway' },
        enable_dhcp: { have: sub.enableDhcp, want: dhcp, label: 'dhcp' },
        allocation_pools: {
          have: sub.allocationPools,
          want: args.allocationPool && [args.allocationPool],
          same: (have, want) => sameList(have ?? [], want, samePool),
          say: (_, want) => `allocation pool → ${want.map((p) => `${p.start}-${p.end}`).join(',')}`,
        },
        dns_nameservers: {
          have: sub.dnsNameservers,
          want: args.dnsNameservers && dns,
          same: (have, want) => sameList(have ?? [], want),
          say: (_, want) => `dns → ${want.join(',') || '(none)'}`,
        },
      });
      return update(api, diff, { subject: `subnet ${args.name}`, label, unchanged: `subnet ${args.name} ${sub.cidr} exists (${sub.id})` }, (n, patch) =>
        n.updateSubnet(sub.id, patch),
      );
    },
  });
}

// ---- routers -----------------------------------------------------------------------

export function neutronRouter<H extends string = never>(
  api: NeutronApi,
  args: { readonly name: string; readonly project: string },
  options?: TaskOptions<H>,
): Task<H> {
  const label = `neutron router ${args.name} (project ${args.project})`;
  return task(api, 'neutron_router', label, options, {
    read: async (n) => {
      const tenantId = await n.projectId(args.project);
      return { tenantId, r: tenantId === null ? null : await n.findRouter(args.name, tenantId) };
    },
    plan: ({ tenantId, r }): Plan =>
      r
        ? noChange(`router ${args.name} exists (${r.id})`)
        : change(`create router ${args.name}`, [
            apiStep(api, `create ${label}`, async (n) => {
              await n.createRouter({
                name: args.name,
                tenant_id: await need(tenantId, projectOf(n, args.project), `project ${args.project}`),
                admin_state_up: true,
              });
            }),
          ]),
  });
}

export interface NeutronRouterGatewayArgs {
  readonly router: string;
  readonly project: string;
  /** External network (router:external), looked up by name in any project. */
  readonly network: string;
}

/** `neutron router-gateway-set ROUTER NETWORK`. */
export function neutronRouterGateway<H extends string = never>(api: NeutronApi, args: NeutronRouterGatewayArgs, options?: TaskOptions<H>): Task<H> {
  const label = `neutron router ${args.router} gateway on ${args.network}`;
  const lookup = async (n: NeutronClient) => {
    const tenantId = await n.projectId(args.project);
    return { r: tenantId === null ? null : await n.findRouter(args.router, tenantId), net: await n.findNetwork(args.network, null) };
  };
  return task(api, 'neutron_router_gateway', label, options, {
    read: lookup,
    plan: ({ r, net }): Plan => {
      if (r && net && r.gatewayNetworkId === net.id) return noChange(`router ${args.router} has its gateway on ${args.network}`);
      const from = r?.gatewayNetworkId ? ` (was ${r.gatewayNetworkId})` : '';
      return change(`set gateway of router ${args.router} to ${args.network}${from}`, [
        apiStep(api, `set ${label}`, async (n) => {
          const now = await lookup(n);
          const rr = await need(now.r, async () => null, `router ${args.router}`);
          const nn = await need(now.net, async () => null, `network ${args.network}`);
          await n.setRouterGateway(rr.id, nn.id);
        }),
      ]);
    },
  });
}

export interface NeutronRouterInterfaceArgs {
  readonly router: string;
  readonly project: string;
  readonly subnet: string;
  /** Network of the subnet, in the same project. */
  readonly network: string;
}

/** `neutron router-interface-add ROUTER SUBNET`. */
export function neutronRouterInterface<H extends string = never>(api: NeutronApi, args: NeutronRouterInterfaceArgs, options?: TaskOptions<H>): Task<H> {
  const label = `neutron router ${args.router} interface on ${args.subnet}`;
  const lookup = async (n: NeutronClient) => {
    const tenantId = await n.projectId(args.project);
    if (tenantId === null) return { r: null, sub: null, attached: false };
    const r = await n.findRouter(args.router, tenantId);
    const net = await n.findNetwork(args.network, tenantId);
    const sub = net === null ? null : await n.findSubnet(args.subnet, net.id);
    return { r, sub, attached: r !== null && sub !== null && (await n.routerSubnets(r.id)).has(sub.id) };
  };
  return task(api, 'neutron_router_interface', label, options, {
    read: lookup,
    plan: ({ attached }): Plan =>
      attached
        ? noChange(`router ${args.router} has an interface on ${args.subnet}`)
        : change(`add interface on ${args.subnet} to router ${args.router}`, [
            apiStep(api, `add ${label}`, async (n) => {
              const now = await lookup(n);
              if (now.attached) return;
              const rr = await need(now.r, async () => null, `router ${args.router}`);
              const ss = await need(now.sub, async () => null, `subnet ${args.subnet}`);
              await n.addRouterInterface(rr.id, ss.id);
            }),
          ]),
  });
}

// ---- security group rules ------------------------------------------------------------

export interface NeutronSecurityGroupRuleArgs {
  readonly project: string;
  /** Default `default`, the group every project gets. */
  readonly group?: string;
  readonly direction?: 'ingress' | 'egress';
  readonly ethertype?: 'IPv4' | 'IPv6';
  readonly protocol: 'icmp' | 'tcp' | 'udp';
  readonly portMin?: number;
  readonly portMax?: number;
  readonly remoteIpPrefix?: string;
}

export function neutronSecurityGroupRule<H extends string = never>(api: NeutronApi, args: NeutronSecurityGroupRuleArgs, options?: TaskOptions<H>): Task<H> {
  const group = args.group ?? 'default';
  const direction = args.direction ?? 'ingress';
  const ethertype = args.ethertype ?? 'IPv4';
  const prefix = args.remoteIpPrefix ?? '0.0.0.0/0';
  const ports = args.portMin === undefined ? '' : ` ${args.portMin}${args.portMax !== undefined && args.portMax !== args.portMin ? `-${args.portMax}` : ''}`;
  const label = `neutron rule ${direction} ${args.protocol}${ports} from ${prefix} in ${group} (project ${args.project})`;
  const matches = (r: NeutronRule) =>
    r.direction === direction &&
    r.ethertype === ethertype &&
    r.protocol === args.protocol &&
    r.portMin === (args.portMin ?? null) &&
    r.portMax === (args.portMax ?? args.portMin ?? null) &&
    r.remoteGroupId === null &&
    (r.remoteIpPrefix ?? '0.0.0.0/0') === prefix;
  const lookup = async (n: NeutronClient) => {
    const tenantId = await n.projectId(args.project);
    return tenantId === null ? null : n.findSecurityGroup(group, tenantId);
  };
  return task(api, 'neutron_security_group_rule', label, options, {
    read: lookup,
    plan: (sg): Plan => {
      const found = sg?.rules.find(matches);
      if (found) return noChange(`rule exists (${found.id})`);
      return change(`add ${label.slice('neutron '.length)}`, [
        apiStep(api, `add ${label}`, async (n) => {
          const g = await need(sg, () => lookup(n), `security group ${group} of project ${args.project}`);
          await n.createRule({
            security_group_id: g.id,
            direction,
            ethertype,
            protocol: args.protocol,
            remote_ip_prefix: prefix,
            ...(args.portMin !== undefined ? { port_range_min: args.portMin, port_range_max: args.portMax ?? args.portMin } : {}),
          });
        }),
      ]);
    },
  });
}
