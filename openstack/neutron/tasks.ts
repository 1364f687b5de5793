import {
  ApiError,
  apiTaskKit,
  changePlan as change,
  credentialKey,
  JsonApi,
  jsonReader,
  num,
  retryPolicy,
  str,
  TokenCache,
  tokenExpiry,
  v3Token,
  type ApiReply,
  type CachedToken,
  type CallOptions,
  type Json,
  type RetryOptions,
} from '../../lib/api/json-api.js';
import { Secret } from '../../lib/core/secret.js';
import { makeTask, noChange, type Http, type Plan, type Task, type TaskOptions } from '../../lib/core/task.js';
import type { HttpRequest } from '../../lib/transport/transport.js';
import { KeystoneClient, type KeystoneAuth } from '../keystone/tasks.js';

/**
 * Neutron resources (networks, subnets, routers, router gateways and
 * interfaces, security group rules) over the networking API v2.0, as seen
 * from the host the task runs on — what `neutron net-create …` does in the
 * guides' "create initial networks" sections. Neutron wants a real keystone
 * token (keystone's admin_token is not one), so the tasks log in as a user:
 * v2.0 password auth for Juno, v3 for Liberty and Zed. Facts only read
 * (GET), except that login; project names are resolved through keystone.
 */

export interface NeutronApi {
  /** neutron-server as the host sees it (the controller, 9696). */
  readonly host: string;
  readonly port: number;
  readonly identity: {
    readonly version: 'v2.0' | 'v3';
    readonly host: string;
    /** 35357 (Juno, Liberty) or 5000 (Zed). */
    readonly port: number;
    readonly username: string;
    readonly password: Secret;
    /** Project (v2.0 tenant) the token is scoped to, e.g. admin. */
    readonly project: string;
    /** v3: domain of the user and of every project named here; default `default`. */
    readonly domain?: string;
  };
}

/** Neutron or keystone answered with an error status; the message holds no token or password. */
export class NeutronError extends ApiError {
  override readonly name = 'NeutronError';
}

/** Waits between attempts while neutron-server or keystone (re)starts; default ~30 s in total. */
export type NeutronClientOptions = RetryOptions;

// neutron-server is restarted by the neutron role's handlers just before the
// networks role runs, and takes a few seconds to listen again.
const RETRY_DELAYS_MS = [250, 500, 1000, 2000, 4000, 4000, 4000, 4000, 5000, 5000];
const enc = encodeURIComponent;
const { obj, list, id } = jsonReader('neutron');

// ---- resources ---------------------------------------------------------------

export interface NeutronNetwork {
  readonly id: string;
  readonly name: string;
  readonly tenantId: string;
  readonly shared: boolean;
  readonly external: boolean;
  readonly networkType: string | null;
  readonly physicalNetwork: string | null;
}
export interface AllocationPool {
  readonly start: string;
  readonly end: string;
}
export interface NeutronSubnet {
  readonly id: string;
  readonly name: string;
  readonly networkId: string;
  readonly tenantId: string;
  readonly cidr: string;
  readonly gatewayIp: string | null;
  readonly enableDhcp: boolean;
  readonly allocationPools: readonly AllocationPool[];
  readonly dnsNameservers: readonly string[];
}
export interface NeutronRouter {
  readonly id: string;
  readonly name: string;
  readonly tenantId: string;
  readonly gatewayNetworkId: string | null;
}
export interface NeutronRule {
  readonly id: string;
  readonly direction: string;
  readonly ethertype: string;
  readonly protocol: string | null;
  readonly portMin: number | null;
  readonly portMax: number | null;
  readonly remoteIpPrefix: string | null;
  readonly remoteGroupId: string | null;
}
export interface NeutronSecurityGroup {
  readonly id: string;
  readonly name: string;
  readonly tenantId: string;
  readonly rules: readonly NeutronRule[];
}

const network = (o: Json): NeutronNetwork => ({
  id: id(o, 'network'),
  name: str(o['name']) ?? '',
  tenantId: str(o['tenant_id']) ?? str(o['project_id']) ?? '',
  shared: o['shared'] === true,
  external: o['router:external'] === true,
  networkType: str(o['provider:network_type']),
  physicalNetwork: str(o['provider:physical_network']),
});
const subnet = (o: Json): NeutronSubnet => ({
  id: id(o, 'subnet'),
  name: str(o['name']) ?? '',
  networkId: str(o['network_id']) ?? '',
  tenantId: str(o['tenant_id']) ?? str(o['project_id']) ?? '',
  cidr: str(o['cidr']) ?? '',
  gatewayIp: str(o['gateway_ip']),
  enableDhcp: o['enable_dhcp'] !== false,
  allocationPools: Array.isArray(o['allocation_pools'])
    ? list(o['allocation_pools'], 'allocation_pools').map((p) => ({ start: str(p['start']) ?? '', end: str(p['end']) ?? '' }))
    : [],
  dnsNameservers: Array.isArray(o['dns_nameservers']) ? o['dns_nameservers'].filter((d): d is string => typeof d === 'string') : [],
});
const router = (o: Json): NeutronRouter => {
  const gw = o['external_gateway_info'];
  return {
    id: id(o, 'router'),
    name: str(o['name']) ?? '',
    tenantId: str(o['tenant_id']) ?? str(o['project_id']) ?? '',
    gatewayNetworkId: gw !== null && typeof gw === 'object' ? str((gw as Json)['network_id']) : null,
  };
};
const rule = (o: Json): NeutronRule => ({
  id: id(o, 'security group rule'),
  direction: str(o['direction']) ?? '',
  ethertype: str(o['ethertype']) ?? '',
  protocol: str(o['protocol']),
  portMin: num(o['port_range_min']),
  portMax: num(o['port_range_max']),
  remoteIpPrefix: str(o['remote_ip_prefix']),
  remoteGroupId: str(o['remote_group_id']),
});
const securityGroup = (o: Json): NeutronSecurityGroup => ({
  id: id(o, 'security group'),
  name: str(o['name']) ?? '',
  tenantId: str(o['tenant_id']) ?? str(o['project_id']) ?? '',
  rules: Array.isArray(o['security_group_rules']) ? list(o['security_group_rules'], 'security_group_rules').map(rule) : [],
});

// ---- client ------------------------------------------------------------------

/** Tokens per runtime (`http`) and credentials: the tasks of one run log in once; one that waited on a login that failed tries its own. */
const tokens = new TokenCache(true);

function tokenKey(api: NeutronApi): string {
  const i = api.identity;
  return credentialKey([i.version, i.host, i.port, i.domain ?? '', i.username, i.project], i.password);
}

export class NeutronClient {
  readonly #api: JsonApi;
  /** Keystone, where the client logs in (no token of its own). */
  readonly #identity: JsonApi;

  constructor(
    readonly api: NeutronApi,
    readonly http: Http,
    options: NeutronClientOptions = {},
  ) {
    const retry = retryPolicy(RETRY_DELAYS_MS, options);
    const i = api.identity;
    const common = {
      http,
      retry,
      service: 'neutron',
      secrets: [i.password],
      // Neutron: {"NeutronError": {"type", "message", "detail"}}; keystone: {"error": {"title", "message"}}.
      errorObject: (body: Json) => body['NeutronError'] ?? body['error'] ?? body,
      errorClass: NeutronError,
    };
    this.#identity = new JsonApi({ ...common, host: i.host, port: i.port, where: `keystone ${i.host}:${i.port}`, unanswered: `${i.host}:${i.port}` });
    this.#api = new JsonApi({
      ...common,
      host: api.host,
      port: api.port,
      unanswered: `${api.host}:${api.port}`,
      auth: { header: 'x-auth-token', token: () => this.#token(), forget: () => tokens.forget(http, tokenKey(api)) },
    });
  }

  async #login(): Promise<CachedToken> {
    const i = this.api.identity;
    if (i.version === 'v2.0') {
      const reply = await this.#identity.call('POST', '/v2.0/tokens', {
        body: { auth: { tenantName: i.project, passwordCredentials: { username: i.username, password: i.password.reveal() } } },
      });
      const token = obj(obj(reply.json['access'], 'access')['token'], 'token');
      return { value: id(token, 'token'), expiresAt: tokenExpiry(str(token['expires'])) };
    }
    const domain = i.domain === undefined || i.domain === 'default' ? { id: 'default' } : { name: i.domain };
    const reply = await this.#identity.call('POST', '/v3/auth/tokens', {
      body: {
        auth: {
          identity: { methods: ['password'], password: { user: { name: i.username, domain, password: i.password.reveal() } } },
          scope: { project: { name: i.project, domain } },
        },
      },
    });
    return v3Token(this.#identity, reply);
  }

  #token(): Promise<{ value: string; cached: boolean }> {
    return tokens.get(this.http, tokenKey(this.api), () => this.#login());
  }

  /** One neutron call, with a token; see JsonApi.call. */
  call(method: HttpRequest['method'], path: string, options?: CallOptions): Promise<ApiReply> {
    return this.#api.call(method, path, options);
  }

  /** A project's id by name, through keystone with the same token; null when it does not exist. */
  async projectId(name: string): Promise<string | null> {
    const { value: token } = await this.#token();
    const i = this.api.identity;
    const auth: KeystoneAuth =
      i.version === 'v2.0'
        ? { version: 'v2.0', host: i.host, port: i.port, adminToken: new Secret(token) }
        : { version: 'v3', host: i.host, port: i.port, adminToken: new Secret(token) };
    const ks = new KeystoneClient(auth, this.http, { retryDelaysMs: this.#api.retry.delaysMs, sleep: this.#api.retry.sleep });
    const domainId = await ks.domainId(i.domain);
    return (await ks.findProject(name, domainId))?.id ?? null;
  }

  async #one<T>(path: string, key: string, what: string, parse: (o: Json) => T): Promise<T | null> {
    const found = list((await this.call('GET', path)).json[key], key).map(parse);
    if (found.length > 1) throw new Error(`neutron: ${found.length} ${what}s match ${decodeURIComponent(path)}; remove the duplicates`);
    return found[0] ?? null;
  }

  findNetwork(name: string, tenantId: string | null): Promise<NeutronNetwork | null> {
    const tenant = tenantId === null ? '' : `&tenant_id=${enc(tenantId)}`;
    return this.#one(`/v2.0/networks?name=${enc(name)}${tenant}`, 'networks', 'network', network);
  }
  findSubnet(name: string, networkId: string): Promise<NeutronSubnet | null> {
    return this.#one(`/v2.0/subnets?name=${enc(name)}&network_id=${enc(networkId)}`, 'subnets', 'subnet', subnet);
  }
  findRouter(name: string, tenantId: string): Promise<NeutronRouter | null> {
    return this.#one(`/v2.0/routers?name=${enc(name)}&tenant_id=${enc(tenantId)}`, 'routers', 'router', router);
  }
  /** Subnets the router has an interface on. */
  async routerSubnets(routerId: string): Promise<Set<string>> {
    const ports = list(
      (await this.call('GET', `/v2.0/ports?device_id=${enc(routerId)}&device_owner=${enc('network:router_interface')}`)).json['ports'],
      'ports',
    );
    const out = new Set<string>();
    for (const p of ports)
      for (const ip of Array.isArray(p['fixed_ips']) ? list(p['fixed_ips'], 'fixed_ips') : []) if (str(ip['subnet_id'])) out.add(str(ip['subnet_id']) ?? '');
    return out;
  }
  /** A project's security group; listing with tenant_id makes neutron create the project's `default` group. */
  findSecurityGroup(name: string, tenantId: string): Promise<NeutronSecurityGroup | null> {
    return this.#one(`/v2.0/security-groups?name=${enc(name)}&tenant_id=${enc(tenantId)}`, 'security_groups', 'security group', securityGroup);
  }

  async createNetwork(fields: Json): Promise<NeutronNetwork> {
    return network(obj((await this.call('POST', '/v2.0/networks', { body: { network: fields } })).json['network'], 'network'));
  }
  async updateNetwork(networkId: string, patch: Json): Promise<void> {
    await this.call('PUT', `/v2.0/networks/${enc(networkId)}`, { body: { network: patch } });
  }
  async createSubnet(fields: Json): Promise<NeutronSubnet> {
    return subnet(obj((await this.call('POST', '/v2.0/subnets', { body: { subnet: fields } })).json['subnet'], 'subnet'));
  }
  async updateSubnet(subnetId: string, patch: Json): Promise<void> {
    await this.call('PUT', `/v2.0/subnets/${enc(subnetId)}`, { body: { subnet: patch } });
  }
  async createRouter(fields: Json): Promise<NeutronRouter> {
    return router(obj((await this.call('POST', '/v2.0/routers', { body: { router: fields } })).json['router'], 'router'));
  }
  /** `neutron router-gateway-set`. */
  async setRouterGateway(routerId: string, networkId: string): Promise<void> {
    await this.call('PUT', `/v2.0/routers/${enc(routerId)}`, { body: { router: { external_gateway_info: { network_id: networkId } } } });
  }
  /** `neutron router-interface-add`. */
  async addRouterInterface(routerId: string, subnetId: string): Promise<void> {
    await this.call('PUT', `/v2.0/routers/${enc(routerId)}/add_router_interface`, { body: { subnet_id: subnetId } });
  }
  async createRule(fields: Json): Promise<void> {
    await this.call('POST', '/v2.0/security-group-rules', { body: { security_group_rule: fields } });
  }
}

// ---- task plumbing -----------------------------------------------------------------

const { fact: apiFact, step: apiStep, need } = apiTaskKit('neutron', (target: NeutronApi, http) => new NeutronClient(target, http));
const projectOf = (n: NeutronClient, project: string) => () => n.projectId(project);
const sameList = (a: readonly string[], b: readonly string[]) => a.length === b.length && a.every((x, i) => x === b[i]);

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
  return makeTask({
    module: 'neutron_network',
    name: label,
    options,
    facts: {
      current: apiFact(api, async (n) => {
        const tenantId = await n.projectId(args.project);
        return { tenantId, net: tenantId === null ? null : await n.findNetwork(args.name, tenantId) };
      }),
    },
    plan: ({ current: { tenantId, net } }): Plan => {
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
      const patch: Json = {};
      const what: string[] = [];
      if (net.shared !== shared) {
        patch['shared'] = shared;
        what.push(`shared ${net.shared} → ${shared}`);
      }
      if (net.external !== external) {
        patch['router:external'] = external;
        what.push(`router:external ${net.external} → ${external}`);
      }
      if (what.length === 0) return noChange(`network ${args.name} exists (${net.id})`);
      return change(`network ${args.name}: ${what.join(', ')}`, [apiStep(api, `update ${label}: ${what.join(', ')}`, (n) => n.updateNetwork(net.id, patch))]);
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
  return makeTask({
    module: 'neutron_subnet',
    name: label,
    options,
    facts: {
      current: apiFact(api, async (n) => {
        const tenantId = await n.projectId(args.project);
        const net = tenantId === null ? null : await n.findNetwork(args.network, tenantId);
        return { tenantId, net, sub: net === null ? null : await n.findSubnet(args.name, net.id) };
      }),
    },
    plan: ({ current: { tenantId, net, sub } }): Plan => {
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
      const patch: Json = {};
      const what: string[] = [];
      if (sub.gatewayIp !== args.gateway) {
        patch['gateway_ip'] = args.gateway;
        what.push(`gateway ${sub.gatewayIp ?? '(none)'} → ${args.gateway}`);
      }
      if (sub.enableDhcp !== dhcp) {
        patch['enable_dhcp'] = dhcp;
        what.push(`dhcp ${sub.enableDhcp} → ${dhcp}`);
      }
      const pool = args.allocationPool;
      if (pool && !(sub.allocationPools.length === 1 && sub.allocationPools[0]?.start === pool.start && sub.allocationPools[0]?.end === pool.end)) {
        patch['allocation_pools'] = [pool];
        what.push(`allocation pool → ${pool.start}-${pool.end}`);
      }
      if (args.dnsNameservers !== undefined && !sameList(sub.dnsNameservers, dns)) {
        patch['dns_nameservers'] = dns;
        what.push(`dns → ${dns.join(',') || '(none)'}`);
      }
      if (what.length === 0) return noChange(`subnet ${args.name} ${sub.cidr} exists (${sub.id})`);
      return change(`subnet ${args.name}: ${what.join(', ')}`, [apiStep(api, `update ${label}: ${what.join(', ')}`, (n) => n.updateSubnet(sub.id, patch))]);
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
  return makeTask({
    module: 'neutron_router',
    name: label,
    options,
    facts: {
      current: apiFact(api, async (n) => {
        const tenantId = await n.projectId(args.project);
        return { tenantId, r: tenantId === null ? null : await n.findRouter(args.name, tenantId) };
      }),
    },
    plan: ({ current: { tenantId, r } }): Plan =>
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
  return makeTask({
    module: 'neutron_router_gateway',
    name: label,
    options,
    facts: { current: apiFact(api, lookup) },
    plan: ({ current: { r, net } }): Plan => {
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
  return makeTask({
    module: 'neutron_router_interface',
    name: label,
    options,
    facts: { current: apiFact(api, lookup) },
    plan: ({ current: { attached } }): Plan =>
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
  return makeTask({
    module: 'neutron_security_group_rule',
    name: label,
    options,
    facts: { current: apiFact(api, lookup) },
    plan: ({ current: sg }): Plan => {
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
