import { ApiError, JsonApi, jsonReader, num, retryPolicy, str, type ApiReply, type CallOptions, type Json, type RetryOptions } from '../../lib/api/json-api.js';
import { credentialKey, TokenCache, type CachedToken } from '../../lib/api/tokens.js';
import { Secret } from '../../lib/core/secret.js';
import type { Http } from '../../lib/core/task.js';
import type { HttpRequest } from '../../lib/transport/transport.js';
import { KeystoneClient, type KeystoneAuth } from '../keystone/client.js';
import { v2PasswordLogin, v3PasswordLogin } from '../keystone/tokens.js';

/**
 * The neutron client of the tasks: networks, subnets, routers, router
 * gateways and interfaces, security group rules over the networking API
 * v2.0, as seen from the host the task runs on. Neutron wants a real keystone
 * token (keystone's admin_token is not one), so the client logs in as a user:
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
    if (i.version === 'v2.0') return v2PasswordLogin(this.#identity, { username: i.username, password: i.password, tenant: i.project });
    const domain = i.domain ?? 'default';
    return v3PasswordLogin(this.#identity, { username: i.username, password: i.password, userDomain: domain, project: i.project, projectDomain: domain });
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
