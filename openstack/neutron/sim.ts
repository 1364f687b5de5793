import { simKeystoneState } from '../keystone/sim.js';
import { answer, asUuid, header, HttpError, json, num, obj, readRequest, sequentialId, serviceState, str } from '../../lib/sim/http-fake.js';
import type { ErrorBody, Json } from '../../lib/sim/http-fake.js';
import type { SimNetwork } from '../../lib/sim/sim.js';
import type { HttpRequest, HttpResponse } from '../../lib/transport/transport.js';

/**
 * An in-memory neutron-server (networking API v2.0) for `--plan` and tests:
 * exactly the calls client.ts makes, with neutron's status codes and error
 * bodies. Tokens must be ones the simulated keystone issued —
 * neutron does not accept keystone's admin_token, and neither does the sim.
 * Like neutron, listing security groups with a `tenant_id` filter creates
 * that project's `default` group.
 */

export interface SimNetworkRecord {
  readonly id: string;
  name: string;
  readonly tenant_id: string;
  shared: boolean;
  'router:external': boolean;
  readonly 'provider:network_type': string;
  readonly 'provider:physical_network': string | null;
  readonly 'provider:segmentation_id': number | null;
  admin_state_up: boolean;
  status: string;
  subnets: string[];
}
export interface SimSubnetRecord {
  readonly id: string;
  name: string;
  readonly network_id: string;
  readonly tenant_id: string;
  readonly ip_version: number;
  readonly cidr: string;
  gateway_ip: string | null;
  enable_dhcp: boolean;
  allocation_pools: { start: string; end: string }[];
  dns_nameservers: string[];
}
export interface SimRouterRecord {
  readonly id: string;
  name: string;
  readonly tenant_id: string;
  admin_state_up: boolean;
  status: string;
  external_gateway_info: { network_id: string } | null;
}
export interface SimPortRecord {
  readonly id: string;
  readonly network_id: string;
  readonly tenant_id: string;
  readonly device_id: string;
  readonly device_owner: string;
  readonly fixed_ips: { subnet_id: string; ip_address: string }[];
}
export interface SimRuleRecord {
  readonly id: string;
  readonly security_group_id: string;
  readonly tenant_id: string;
  readonly direction: string;
  readonly ethertype: string;
  readonly protocol: string | null;
  readonly port_range_min: number | null;
  readonly port_range_max: number | null;
  readonly remote_ip_prefix: string | null;
  readonly remote_group_id: string | null;
}
export interface SimGroupRecord {
  readonly id: string;
  readonly name: string;
  readonly tenant_id: string;
  readonly description: string;
}

export interface SimNeutronState {
  readonly networks: Map<string, SimNetworkRecord>;
  readonly subnets: Map<string, SimSubnetRecord>;
  readonly routers: Map<string, SimRouterRecord>;
  readonly ports: Map<string, SimPortRecord>;
  readonly groups: Map<string, SimGroupRecord>;
  readonly rules: Map<string, SimRuleRecord>;
  counter: number;
}

const STATE_KEY = 'neutron';

export function simNeutronState(network: SimNetwork): SimNeutronState {
  return serviceState<SimNeutronState>(network, STATE_KEY, () => ({
    networks: new Map(),
    subnets: new Map(),
    routers: new Map(),
    ports: new Map(),
    groups: new Map(),
    rules: new Map(),
    counter: 0,
  }));
}

export function registerSimNeutron(network: SimNetwork, opts: { port?: number } = {}): SimNeutronState {
  const state = simNeutronState(network);
  network.register(opts.port ?? 9696, (request) => handle(state, network, request));
  return state;
}

/** Neutron's error body: `{"NeutronError": {"type", "message", "detail"}}`. */
const errorBody: ErrorBody = (error) => ({ NeutronError: { type: error.kind, message: error.message, detail: '' } });
const notFound = (what: string, id: string) => new HttpError(404, `${what}NotFound`, `${what} ${id} could not be found.`);
const badRequest = (message: string) => new HttpError(400, 'HTTPBadRequest', message);

/** Neutron's UUID-looking ids. */
const newId = (state: SimNeutronState, kind: string): string => asUuid(sequentialId(state, `neutron:${kind}`));

// ---- IPv4 helpers ------------------------------------------------------------

function ipToInt(ip: string): number | null {
  const parts = ip.split('.');
  if (parts.length !== 4 || parts.some((p) => !/^\d{1,3}$/.test(p) || Number(p) > 255)) return null;
  return parts.reduce((acc, p) => acc * 256 + Number(p), 0);
}
const intToIp = (n: number): string => [24, 16, 8, 0].map((s) => Math.floor(n / 2 ** s) % 256).join('.');

function parseCidr(cidr: string): { base: number; size: number } {
  const [ip = '', bits = ''] = cidr.split('/');
  const addr = ipToInt(ip);
  const prefix = Number(bits);
  if (addr === null || !/^\d{1,2}$/.test(bits) || prefix > 30) throw badRequest(`Invalid input for cidr. Reason: '${cidr}' is not a valid IP subnet.`);
  const size = 2 ** (32 - prefix);
  return { base: addr - (addr % size), size };
}
function inCidr(ip: string, cidr: { base: number; size: number }): boolean {
  const n = ipToInt(ip);
  return n !== null && n > cidr.base && n < cidr.base + cidr.size - 1;
}

// ---- routing -------------------------------------------------------------------

function handle(state: SimNeutronState, network: SimNetwork, request: HttpRequest): HttpResponse {
  return answer(errorBody, () => {
    const token = header(request, 'x-auth-token');
    if (!token || !simKeystoneState(network).tokens.has(token)) {
      return { status: 401, headers: { 'content-type': 'text/plain' }, body: 'Authentication required' };
    }
    const { url, parts, body } = readRequest(request, () => badRequest('Malformed request body'));
    if (parts[0] !== 'v2.0') throw new HttpError(404, 'HTTPNotFound', 'The resource could not be found.');
    const [, collection = '', id, action] = parts;
    const filters = [...url.searchParams.entries()];
    const listOf = <T extends object>(items: Iterable<T>) =>
      [...items].filter((item) => filters.every(([k, v]) => String((item as Record<string, unknown>)[k]) === v));
    const route = `${request.method} ${collection}${id === undefined ? '' : '/:'}${action === undefined ? '' : `/${action}`}`;
    switch (route) {
      case 'GET networks':
        return json(200, { networks: listOf(state.networks.values()) });
      case 'POST networks':
        return json(201, { network: createNetwork(state, obj(body['network'])) });
      case 'PUT networks/:': {
        const n = must(state.networks.get(id ?? ''), 'Network', id);
        const patch = obj(body['network']);
        if (typeof patch['shared'] === 'boolean') n.shared = patch['shared'];
        if (typeof patch['router:external'] === 'boolean') n['router:external'] = patch['router:external'];
        if (str(patch['name']) !== null) n.name = str(patch['name']) ?? n.name;
        return json(200, { network: n });
      }
      case 'GET subnets':
        return json(200, { subnets: listOf(state.subnets.values()) });
      case 'POST subnets':
        return json(201, { subnet: createSubnet(state, obj(body['subnet'])) });
      case 'PUT subnets/:':
        return json(200, { subnet: updateSubnet(state, must(state.subnets.get(id ?? ''), 'Subnet', id), obj(body['subnet'])) });
      case 'GET routers':
        return json(200, { routers: listOf(state.routers.values()) });
      case 'POST routers':
        return json(201, { router: createRouter(state, obj(body['router'])) });
      case 'PUT routers/:': {
        const r = must(state.routers.get(id ?? ''), 'Router', id);
        const patch = obj(body['router']);
        if ('external_gateway_info' in patch) r.external_gateway_info = gatewayInfo(state, patch['external_gateway_info']);
        if (str(patch['name']) !== null) r.name = str(patch['name']) ?? r.name;
        return json(200, { router: r });
      }
      case 'PUT routers/:/add_router_interface':
        return json(200, addInterface(state, must(state.routers.get(id ?? ''), 'Router', id), body));
      case 'GET ports':
        return json(200, { ports: listOf(state.ports.values()) });
      case 'GET security-groups': {
        const tenant = url.searchParams.get('tenant_id');
        if (tenant !== null) ensureDefaultGroup(state, tenant);
        return json(200, {
          security_groups: listOf(state.groups.values()).map((g) => ({
            ...g,
            security_group_rules: [...state.rules.values()].filter((r) => r.security_group_id === g.id),
          })),
        });
      }
      case 'GET security-group-rules':
        return json(200, { security_group_rules: listOf(state.rules.values()) });
      case 'POST security-group-rules':
        return json(201, { security_group_rule: createRule(state, obj(body['security_group_rule'])) });
    }
    throw new HttpError(404, 'HTTPNotFound', 'The resource could not be found.');
  });
}

function must<T>(value: T | undefined, what: string, id: string | undefined): T {
  if (value === undefined) throw notFound(what, id ?? '');
  return value;
}

function tenantOf(fields: Json): string {
  const t = str(fields['tenant_id']) ?? str(fields['project_id']);
  // The sim has no token → project mapping; the tasks always name the owner.
  if (t === null || t === '') throw badRequest('tenant_id is required by the simulated neutron');
  return t;
}

function ensureDefaultGroup(state: SimNeutronState, tenantId: string): SimGroupRecord {
  const existing = [...state.groups.values()].find((g) => g.tenant_id === tenantId && g.name === 'default');
  if (existing) return existing;
  const g: SimGroupRecord = { id: newId(state, 'sg'), name: 'default', tenant_id: tenantId, description: 'Default security group' };
  state.groups.set(g.id, g);
  // Neutron's default group: all egress, and ingress from members of the group.
  for (const ethertype of ['IPv4', 'IPv6']) {
    for (const direction of ['egress', 'ingress']) {
      const r: SimRuleRecord = {
        id: newId(state, 'rule'),
        security_group_id: g.id,
        tenant_id: tenantId,
        direction,
        ethertype,
        protocol: null,
        port_range_min: null,
        port_range_max: null,
        remote_ip_prefix: null,
        remote_group_id: direction === 'ingress' ? g.id : null,
      };
      state.rules.set(r.id, r);
    }
  }
  return g;
}

function createNetwork(state: SimNeutronState, fields: Json): SimNetworkRecord {
  const tenant = tenantOf(fields);
  const type = str(fields['provider:network_type']);
  const physnet = str(fields['provider:physical_network']);
  if ((type === 'flat' || type === 'vlan') && physnet === null) throw badRequest(`physical_network required for ${type} provider network`);
  const n: SimNetworkRecord = {
    id: newId(state, 'network'),
    name: str(fields['name']) ?? '',
    tenant_id: tenant,
    shared: fields['shared'] === true,
    'router:external': fields['router:external'] === true,
    // A tenant network gets the first of tenant_network_types; the sim calls it what neutron shows without one.
    'provider:network_type': type ?? 'local',
    'provider:physical_network': physnet,
    'provider:segmentation_id': num(fields['provider:segmentation_id']),
    admin_state_up: fields['admin_state_up'] !== false,
    status: 'ACTIVE',
    subnets: [],
  };
  state.networks.set(n.id, n);
  ensureDefaultGroup(state, tenant);
  return n;
}

function poolsOf(
  fields: Json,
  cidr: { base: number; size: number },
  gateway: string | null,
  fallback: { start: string; end: string }[],
): { start: string; end: string }[] {
  if (!Array.isArray(fields['allocation_pools'])) return fallback;
  return fields['allocation_pools'].map((p) => {
    const start = str(obj(p)['start']) ?? '';
    const end = str(obj(p)['end']) ?? '';
    const [s, e] = [ipToInt(start), ipToInt(end)];
    if (s === null || e === null || s > e || !inCidr(start, cidr) || !inCidr(end, cidr))
      throw badRequest(`The allocation pool ${start}-${end} spans beyond the subnet cidr.`);
    if (gateway !== null) {
      const g = ipToInt(gateway) ?? -1;
      if (g >= s && g <= e) throw badRequest(`Gateway ip ${gateway} conflicts with allocation pool ${start}-${end}`);
    }
    return { start, end };
  });
}

function createSubnet(state: SimNeutronState, fields: Json): SimSubnetRecord {
  const networkId = str(fields['network_id']) ?? '';
  const net = must(state.networks.get(networkId), 'Network', networkId);
  const cidrText = str(fields['cidr']) ?? '';
  const cidr = parseCidr(cidrText);
  const gateway = 'gateway_ip' in fields ? str(fields['gateway_ip']) : intToIp(cidr.base + 1);
  if (gateway !== null && !inCidr(gateway, cidr)) throw badRequest(`Gateway IP ${gateway} is not in subnet ${cidrText}`);
  const g = gateway === null ? null : (ipToInt(gateway) ?? 0);
  const first = cidr.base + 1;
  const last = cidr.base + cidr.size - 2;
  const fallback =
    g === first
      ? [{ start: intToIp(first + 1), end: intToIp(last) }]
      : g === last
        ? [{ start: intToIp(first), end: intToIp(last - 1) }]
        : [{ start: intToIp(first), end: intToIp(last) }];
  const s: SimSubnetRecord = {
    id: newId(state, 'subnet'),
    name: str(fields['name']) ?? '',
    network_id: net.id,
    tenant_id: tenantOf(fields),
    ip_version: 4,
    cidr: `${intToIp(cidr.base)}/${cidrText.split('/')[1] ?? ''}`,
    gateway_ip: gateway,
    enable_dhcp: fields['enable_dhcp'] !== false,
    allocation_pools: poolsOf(fields, cidr, gateway, fallback),
    dns_nameservers: Array.isArray(fields['dns_nameservers']) ? fields['dns_nameservers'].filter((d): d is string => typeof d === 'string') : [],
  };
  state.subnets.set(s.id, s);
  net.subnets.push(s.id);
  return s;
}

function updateSubnet(state: SimNeutronState, s: SimSubnetRecord, patch: Json): SimSubnetRecord {
  const cidr = parseCidr(s.cidr);
  if ('gateway_ip' in patch) {
    const gw = str(patch['gateway_ip']);
    if (gw !== null && !inCidr(gw, cidr)) throw badRequest(`Gateway IP ${gw} is not in subnet ${s.cidr}`);
    s.gateway_ip = gw;
  }
  if (typeof patch['enable_dhcp'] === 'boolean') s.enable_dhcp = patch['enable_dhcp'];
  if (Array.isArray(patch['dns_nameservers'])) s.dns_nameservers = patch['dns_nameservers'].filter((d): d is string => typeof d === 'string');
  if ('allocation_pools' in patch) s.allocation_pools = poolsOf(patch, cidr, s.gateway_ip, s.allocation_pools);
  if (str(patch['name']) !== null) s.name = str(patch['name']) ?? s.name;
  void state;
  return s;
}

function gatewayInfo(state: SimNeutronState, info: unknown): { network_id: string } | null {
  if (info === null || info === undefined || Object.keys(obj(info)).length === 0) return null;
  const networkId = str(obj(info)['network_id']) ?? '';
  const net = must(state.networks.get(networkId), 'Network', networkId);
  if (!net['router:external']) throw badRequest(`Bad router request: Network ${networkId} is not an external network.`);
  if (net.subnets.length === 0) throw badRequest(`Bad router request: No subnets defined on network ${networkId}.`);
  return { network_id: networkId };
}

function createRouter(state: SimNeutronState, fields: Json): SimRouterRecord {
  const r: SimRouterRecord = {
    id: newId(state, 'router'),
    name: str(fields['name']) ?? '',
    tenant_id: tenantOf(fields),
    admin_state_up: fields['admin_state_up'] !== false,
    status: 'ACTIVE',
    external_gateway_info: gatewayInfo(state, fields['external_gateway_info']),
  };
  state.routers.set(r.id, r);
  return r;
}

function addInterface(state: SimNeutronState, r: SimRouterRecord, body: Json): Json {
  const subnetId = str(body['subnet_id']) ?? '';
  const s = must(state.subnets.get(subnetId), 'Subnet', subnetId);
  if (s.gateway_ip === null) throw badRequest(`Bad router request: Subnet ${subnetId} does not have a gateway IP.`);
  const mine = [...state.ports.values()].filter((p) => p.device_id === r.id && p.device_owner === 'network:router_interface');
  if (mine.some((p) => p.fixed_ips.some((ip) => ip.subnet_id === subnetId))) {
    throw badRequest(`Bad router request: Router already has a port on subnet ${subnetId}.`);
  }
  const port: SimPortRecord = {
    id: newId(state, 'port'),
    network_id: s.network_id,
    tenant_id: r.tenant_id,
    device_id: r.id,
    device_owner: 'network:router_interface',
    fixed_ips: [{ subnet_id: subnetId, ip_address: s.gateway_ip }],
  };
  state.ports.set(port.id, port);
  return { id: r.id, tenant_id: r.tenant_id, port_id: port.id, subnet_id: subnetId };
}

function createRule(state: SimNeutronState, fields: Json): SimRuleRecord {
  const groupId = str(fields['security_group_id']) ?? '';
  const g = must(state.groups.get(groupId), 'SecurityGroup', groupId);
  const protocol = str(fields['protocol']);
  const r: SimRuleRecord = {
    id: newId(state, 'rule'),
    security_group_id: g.id,
    tenant_id: g.tenant_id,
    direction: str(fields['direction']) ?? 'ingress',
    ethertype: str(fields['ethertype']) ?? 'IPv4',
    protocol,
    port_range_min: num(fields['port_range_min']),
    port_range_max: num(fields['port_range_max']),
    remote_ip_prefix: str(fields['remote_ip_prefix']),
    remote_group_id: str(fields['remote_group_id']),
  };
  const same = [...state.rules.values()].find(
    (x) =>
      x.security_group_id === r.security_group_id &&
      x.direction === r.direction &&
      x.ethertype === r.ethertype &&
      x.protocol === r.protocol &&
      x.port_range_min === r.port_range_min &&
      x.port_range_max === r.port_range_max &&
      x.remote_ip_prefix === r.remote_ip_prefix &&
      x.remote_group_id === r.remote_group_id,
  );
  if (same) return conflictRule(same.id);
  state.rules.set(r.id, r);
  return r;
}

function conflictRule(id: string): never {
  throw new HttpError(409, 'SecurityGroupRuleExists', `Security group rule already exists. Rule id is ${id}.`);
}
