import { answer, empty, header, HttpError, json, md5Hex, obj, readRequest, sequentialId, serviceState, str } from '../../lib/sim/http-fake.js';
import type { ErrorBody, Json } from '../../lib/sim/http-fake.js';
import type { SimNetwork } from '../../lib/sim/sim.js';
import type { HttpRequest, HttpResponse } from '../../lib/transport/transport.js';

/**
 * An in-memory keystone for `--plan` and tests: exactly the v2.0 (Juno admin
 * API) and v3 calls client.ts makes, with keystone's status codes and error
 * bodies, so a simulated run shows real-looking results and a second
 * simulated run changes nothing.
 *
 * Auth is lenient where a real deployment was bootstrapped outside the
 * tasks: any v2.0 admin token is accepted, and a password login for a user
 * the sim does not know (the bootstrap `admin`) succeeds. A user created
 * through the API must log in with its stored password, so the password
 * check of keystoneUser behaves as against a real keystone.
 */

export interface SimKsUser {
  readonly id: string;
  name: string;
  domainId: string;
  /** Kept in clear: it is a simulation, and tests change it out of band. */
  password: string;
  email: string | null;
  projectId: string | null;
  enabled: boolean;
}
export interface SimKsProject {
  readonly id: string;
  name: string;
  domainId: string;
  description: string;
  enabled: boolean;
}
export interface SimKsService {
  readonly id: string;
  name: string;
  type: string;
  description: string;
  enabled: boolean;
}
export interface SimKsEndpoint {
  readonly id: string;
  interface: string;
  regionId: string;
  serviceId: string;
  url: string;
  enabled: boolean;
  /** Set for endpoints made through v2.0: the three of one v2.0 record share it (as in Juno's SQL catalog). */
  legacyId: string | null;
}

export interface SimKeystoneState {
  readonly domains: Map<string, { readonly id: string; name: string; enabled: boolean }>;
  readonly projects: Map<string, SimKsProject>;
  readonly users: Map<string, SimKsUser>;
  readonly roles: Map<string, { readonly id: string; name: string }>;
  /** `${projectId} ${userId} ${roleId}` */
  readonly grants: Set<string>;
  readonly services: Map<string, SimKsService>;
  readonly regions: Map<string, { readonly id: string; description: string }>;
  readonly endpoints: Map<string, SimKsEndpoint>;
  /** Valid issued tokens → user id. */
  readonly tokens: Map<string, string>;
  /** Every token ever issued, valid or not (to tell an expired token from an admin token). */
  readonly issued: Set<string>;
  counter: number;
}

const STATE_KEY = 'keystone';
/** Juno's default `member_role_id`: v2.0 gives it to a user created with a tenant. */
const MEMBER_ROLE_ID = '9fe2ff9ee4384b1894a90878d3e92bab';

/** The simulated keystone's data (created empty, with the `default` domain, on first use). */
export function simKeystoneState(network: SimNetwork): SimKeystoneState {
  return serviceState<SimKeystoneState>(network, STATE_KEY, () => ({
    domains: new Map([['default', { id: 'default', name: 'Default', enabled: true }]]),
    projects: new Map(),
    users: new Map(),
    roles: new Map(),
    grants: new Set(),
    services: new Map(),
    regions: new Map(),
    endpoints: new Map(),
    tokens: new Map(),
    issued: new Set(),
    counter: 0,
  }));
}

export function registerSimKeystone(network: SimNetwork, opts: { ports?: number[] } = {}): SimKeystoneState {
  const state = simKeystoneState(network);
  // Both ports serve both APIs: Juno's admin port, Liberty's admin port, Zed's single port.
  for (const port of opts.ports ?? [35357, 5000]) network.register(port, (request) => handle(state, request));
  return state;
}

/** Keystone's error body: `{"error": {"message", "code", "title"}}`. */
const errorBody: ErrorBody = (error) => ({ error: { message: error.message, code: error.status, title: error.kind } });

const notFound = (what: string, id: string) => new HttpError(404, 'Not Found', `Could not find ${what}: ${id}.`);
const conflict = (what: string, name: string) =>
  new HttpError(409, 'Conflict', `Conflict occurred attempting to store ${what} - Duplicate entry found with name ${name}.`);
const badRequest = (message: string) => new HttpError(400, 'Bad Request', message);
const unauthorized = () => new HttpError(401, 'Unauthorized', 'The request you have made requires authentication.');

/** Keystone's ids: 32 hex digits. */
const newId = (state: SimKeystoneState, kind: string): string => sequentialId(state, kind);

function required(body: Json, key: string, field: string): string {
  const v = str(body[field]);
  if (v === null || v === '')
    throw badRequest(`Expecting to find ${field} in ${key}. The server could not comply with the request since it is either malformed or otherwise incorrect.`);
  return v;
}

function handle(state: SimKeystoneState, request: HttpRequest): HttpResponse {
  return answer(errorBody, () => {
    const { url, parts, body } = readRequest(request, () => badRequest('Malformed JSON'));
    const q = (name: string) => url.searchParams.get(name);
    const route = `${request.method} ${routeOf(parts) ?? url.pathname}`;
    const at = (i: number) => parts[i] ?? '';
    if (parts[0] === 'v2.0') return v2(state, request, route, at, q, body);
    if (parts[0] === 'v3') return v3(state, request, route, at, q, body);
    throw new HttpError(404, 'Not Found', `The resource could not be found.`);
  });
}

/** The API paths the sim serves; `:` stands for an id or name. */
const PATTERNS = [
  '/v2.0/tokens',
  '/v2.0/tenants',
  '/v2.0/tenants/:',
  '/v2.0/tenants/:/users/:/roles',
  '/v2.0/tenants/:/users/:/roles/OS-KSADM/:',
  '/v2.0/users',
  '/v2.0/users/:',
  '/v2.0/users/:/OS-KSADM/password',
  '/v2.0/OS-KSADM/roles',
  '/v2.0/OS-KSADM/services',
  '/v2.0/endpoints',
  '/v2.0/endpoints/:',
  '/v3/auth/tokens',
  '/v3/domains',
  '/v3/domains/:',
  '/v3/projects',
  '/v3/projects/:',
  '/v3/projects/:/users/:/roles',
  '/v3/projects/:/users/:/roles/:',
  '/v3/users',
  '/v3/users/:',
  '/v3/roles',
  '/v3/services',
  '/v3/services/:',
  '/v3/regions',
  '/v3/regions/:',
  '/v3/endpoints',
  '/v3/endpoints/:',
].map((p) => p.split('/').filter((s) => s));

function routeOf(parts: readonly string[]): string | null {
  const hit = PATTERNS.find((segs) => segs.length === parts.length && segs.every((s, i) => s === ':' || s === parts[i]));
  return hit ? `/${hit.join('/')}` : null;
}

type At = (i: number) => string;
type Query = (name: string) => string | null;

// ---- shared helpers --------------------------------------------------------

function roleByName(state: SimKeystoneState, name: string) {
  return [...state.roles.values()].find((r) => r.name === name);
}

function must<T>(value: T | undefined, what: string, id: string): T {
  if (value === undefined) throw notFound(what, id);
  return value;
}

function createUser(state: SimKeystoneState, u: Json, domainId: string, projectKey: 'tenantId' | 'default_project_id'): SimKsUser {
  const name = required(u, 'user', 'name');
  if ([...state.users.values()].some((x) => x.name === name && x.domainId === domainId)) throw conflict('user', name);
  const projectId = str(u[projectKey]);
  if (projectId !== null && !state.projects.has(projectId) && projectKey === 'tenantId') throw notFound('project', projectId);
  const user: SimKsUser = {
    id: newId(state, 'user'),
    name,
    domainId,
    password: str(u['password']) ?? '',
    email: str(u['email']),
    projectId,
    enabled: u['enabled'] !== false,
  };
  state.users.set(user.id, user);
  return user;
}

function createProject(state: SimKeystoneState, p: Json, key: string, domainId: string): SimKsProject {
  const name = required(p, key, 'name');
  if ([...state.projects.values()].some((x) => x.name === name && x.domainId === domainId)) throw conflict('project', name);
  const project: SimKsProject = { id: newId(state, 'project'), name, domainId, description: str(p['description']) ?? '', enabled: p['enabled'] !== false };
  state.projects.set(project.id, project);
  return project;
}

function createRole(state: SimKeystoneState, r: Json, id?: string) {
  const name = required(r, 'role', 'name');
  if (roleByName(state, name)) throw conflict('role', name);
  const role = { id: id ?? newId(state, 'role'), name };
  state.roles.set(role.id, role);
  return role;
}

function createService(state: SimKeystoneState, s: Json, key: string): SimKsService {
  const service: SimKsService = {
    id: newId(state, 'service'),
    name: str(s['name']) ?? '',
    type: required(s, key, 'type'),
    description: str(s['description']) ?? '',
    enabled: s['enabled'] !== false,
  };
  state.services.set(service.id, service);
  return service;
}

function ensureRegion(state: SimKeystoneState, id: string): void {
  if (!state.regions.has(id)) state.regions.set(id, { id, description: '' });
}

function grant(state: SimKeystoneState, projectId: string, userId: string, roleId: string) {
  must(state.projects.get(projectId), 'project', projectId);
  must(state.users.get(userId), 'user', userId);
  const role = must(state.roles.get(roleId), 'role', roleId);
  state.grants.add(`${projectId} ${userId} ${roleId}`);
  return role;
}

function rolesOf(state: SimKeystoneState, projectId: string, userId: string) {
  must(state.projects.get(projectId), 'project', projectId);
  must(state.users.get(userId), 'user', userId);
  return [...state.roles.values()].filter((r) => state.grants.has(`${projectId} ${userId} ${r.id}`));
}

/** Password login: a known user must match its stored password; an unknown one is the bootstrap admin. */
function login(
  state: SimKeystoneState,
  by: { id?: string | null; name?: string | null; domainId?: string | null },
  password: string,
): { id: string; name: string } {
  const user = by.id
    ? state.users.get(by.id)
    : [...state.users.values()].find((u) => u.name === by.name && (by.domainId === undefined || by.domainId === null || u.domainId === by.domainId));
  if (user) {
    if (!user.enabled || user.password !== password) throw unauthorized();
    return user;
  }
  if (by.id || !by.name) throw unauthorized();
  return { id: md5Hex(`bootstrap:${by.name}`), name: by.name };
}

const expiry = () => new Date(Date.now() + 3600_000).toISOString();

// ---- v2.0 ------------------------------------------------------------------

const v2Project = (p: SimKsProject) => ({ id: p.id, name: p.name, description: p.description, enabled: p.enabled });
const v2User = (u: SimKsUser) => ({ id: u.id, name: u.name, username: u.name, email: u.email, tenantId: u.projectId, enabled: u.enabled });
const v2Service = (s: SimKsService) => ({ id: s.id, name: s.name, type: s.type, description: s.description });

function v2(state: SimKeystoneState, request: HttpRequest, route: string, at: At, q: Query, body: Json): HttpResponse {
  if (route === 'POST /v2.0/tokens') {
    const creds = obj(obj(body['auth'])['passwordCredentials']);
    const user = login(state, { id: str(creds['userId']), name: str(creds['username']) }, str(creds['password']) ?? '');
    const token = newId(state, 'token');
    state.tokens.set(token, user.id);
    state.issued.add(token);
    return json(200, { access: { token: { id: token, expires: expiry() }, user: { id: user.id, name: user.name, roles: [] }, serviceCatalog: [] } });
  }
  // Juno's admin API: the admin token (or any token; the sim does not check it) is enough.
  if (!header(request, 'x-auth-token')) throw unauthorized();
  const domainId = 'default';
  switch (route) {
    case 'GET /v2.0/tenants': {
      const name = q('name');
      if (name === null) return json(200, { tenants: [...state.projects.values()].map(v2Project) });
      const p = [...state.projects.values()].find((x) => x.name === name && x.domainId === domainId);
      return json(200, { tenant: v2Project(must(p, 'project', name)) });
    }
    case 'POST /v2.0/tenants':
      return json(200, { tenant: v2Project(createProject(state, obj(body['tenant']), 'tenant', domainId)) });
    case 'POST /v2.0/tenants/:': {
      const p = must(state.projects.get(at(2)), 'project', at(2));
      const t = obj(body['tenant']);
      if (str(t['name']) !== null) p.name = str(t['name']) ?? p.name;
      if (str(t['description']) !== null) p.description = str(t['description']) ?? '';
      if (typeof t['enabled'] === 'boolean') p.enabled = t['enabled'];
      return json(200, { tenant: v2Project(p) });
    }
    case 'GET /v2.0/users': {
      const name = q('name');
      if (name === null) return json(200, { users: [...state.users.values()].map(v2User) });
      const u = [...state.users.values()].find((x) => x.name === name && x.domainId === domainId);
      return json(200, { user: v2User(must(u, 'user', name)) });
    }
    case 'POST /v2.0/users': {
      const u = createUser(state, obj(body['user']), domainId, 'tenantId');
      // As Juno does: a user created with a tenant gets the member role on it.
      if (u.projectId) {
        if (!state.roles.has(MEMBER_ROLE_ID)) createRole(state, { name: '_member_' }, MEMBER_ROLE_ID);
        grant(state, u.projectId, u.id, MEMBER_ROLE_ID);
      }
      return json(200, { user: v2User(u) });
    }
    case 'PUT /v2.0/users/:': {
      const u = must(state.users.get(at(2)), 'user', at(2));
      const patch = obj(body['user']);
      if (str(patch['email']) !== null) u.email = str(patch['email']);
      if (typeof patch['enabled'] === 'boolean') u.enabled = patch['enabled'];
      const tenant = str(patch['tenantId']);
      if (tenant !== null) {
        must(state.projects.get(tenant), 'project', tenant);
        u.projectId = tenant;
      }
      return json(200, { user: v2User(u) });
    }
    case 'PUT /v2.0/users/:/OS-KSADM/password': {
      const u = must(state.users.get(at(2)), 'user', at(2));
      u.password = required(obj(body['user']), 'user', 'password');
      return json(200, { user: v2User(u) });
    }
    case 'GET /v2.0/OS-KSADM/roles':
      return json(200, { roles: [...state.roles.values()] });
    case 'POST /v2.0/OS-KSADM/roles':
      return json(200, { role: createRole(state, obj(body['role'])) });
    case 'GET /v2.0/tenants/:/users/:/roles':
      return json(200, { roles: rolesOf(state, at(2), at(4)) });
    case 'PUT /v2.0/tenants/:/users/:/roles/OS-KSADM/:':
      return json(200, { role: grant(state, at(2), at(4), at(7)) });
    case 'GET /v2.0/OS-KSADM/services':
      return json(200, { 'OS-KSADM:services': [...state.services.values()].map(v2Service) });
    case 'POST /v2.0/OS-KSADM/services':
      return json(200, { 'OS-KSADM:service': v2Service(createService(state, obj(body['OS-KSADM:service']), 'OS-KSADM:service')) });
    case 'GET /v2.0/endpoints':
      return json(200, { endpoints: v2Endpoints(state) });
    case 'POST /v2.0/endpoints': {
      const e = obj(body['endpoint']);
      const serviceId = required(e, 'endpoint', 'service_id');
      must(state.services.get(serviceId), 'service', serviceId);
      const region = str(e['region']) ?? 'regionOne';
      // Juno creates the region a v2.0 endpoint names.
      ensureRegion(state, region);
      const legacyId = newId(state, 'endpoint');
      for (const iface of ['public', 'internal', 'admin'] as const) {
        const url = str(e[`${iface}url`]);
        if (url === null) continue;
        const id = newId(state, 'endpoint');
        state.endpoints.set(id, { id, interface: iface, regionId: region, serviceId, url, enabled: true, legacyId });
      }
      return json(200, { endpoint: v2Endpoints(state).find((x) => x.id === legacyId) });
    }
    case 'DELETE /v2.0/endpoints/:': {
      const mine = [...state.endpoints.values()].filter((e) => (e.legacyId ?? e.id) === at(2));
      if (mine.length === 0) throw notFound('endpoint', at(2));
      for (const e of mine) state.endpoints.delete(e.id);
      return empty(204);
    }
  }
  throw new HttpError(404, 'Not Found', 'The resource could not be found.');
}

/** v2.0 view of the catalog: endpoints sharing a legacy id form one record. */
function v2Endpoints(state: SimKeystoneState) {
  const records = new Map<string, Record<string, string>>();
  for (const e of state.endpoints.values()) {
    const id = e.legacyId ?? e.id;
    const r = records.get(id) ?? { id, region: e.regionId, service_id: e.serviceId };
    r[`${e.interface}url`] = e.url;
    records.set(id, r);
  }
  return [...records.values()];
}

// ---- v3 --------------------------------------------------------------------

const v3Project = (p: SimKsProject) => ({ id: p.id, name: p.name, domain_id: p.domainId, description: p.description, enabled: p.enabled, links: {} });
const v3User = (u: SimKsUser) => ({
  id: u.id,
  name: u.name,
  domain_id: u.domainId,
  enabled: u.enabled,
  ...(u.email !== null ? { email: u.email } : {}),
  ...(u.projectId !== null ? { default_project_id: u.projectId } : {}),
  links: {},
});
const v3Service = (s: SimKsService) => ({ id: s.id, name: s.name, type: s.type, description: s.description, enabled: s.enabled, links: {} });
const v3Endpoint = (e: SimKsEndpoint) => ({
  id: e.id,
  interface: e.interface,
  region: e.regionId,
  region_id: e.regionId,
  service_id: e.serviceId,
  url: e.url,
  enabled: e.enabled,
  ...(e.legacyId ? { legacy_endpoint_id: e.legacyId } : {}),
  links: {},
});

function v3Domain(state: SimKeystoneState, ref: Json | undefined, fallback: string): string {
  if (!ref) return fallback;
  const id = str(ref['id']);
  if (id !== null) return must(state.domains.get(id), 'domain', id).id;
  const name = str(ref['name']) ?? '';
  return must(
    [...state.domains.values()].find((d) => d.name === name),
    'domain',
    name,
  ).id;
}

function v3(state: SimKeystoneState, request: HttpRequest, route: string, at: At, q: Query, body: Json): HttpResponse {
  if (route === 'POST /v3/auth/tokens') {
    const identity = obj(obj(body['auth'])['identity']);
    const methods = identity['methods'];
    if (!Array.isArray(methods) || !methods.includes('password')) throw unauthorized();
    const u = obj(obj(identity['password'])['user']);
    const byId = str(u['id']);
    const domainId = byId ? null : v3DomainOr401(state, obj(u['domain']));
    const user = login(state, { id: byId, name: str(u['name']), domainId }, str(u['password']) ?? '');
    const token = newId(state, 'token');
    state.tokens.set(token, user.id);
    state.issued.add(token);
    const scope = obj(obj(body['auth'])['scope'])['project'];
    return json(
      201,
      {
        token: {
          methods: ['password'],
          expires_at: expiry(),
          issued_at: new Date().toISOString(),
          user: { id: user.id, name: user.name },
          ...(scope ? { project: { name: str(obj(scope)['name']) } } : {}),
        },
      },
      { 'x-subject-token': token },
    );
  }
  const token = header(request, 'x-auth-token');
  // Tokens this keystone issued must still be valid; anything else is taken as
  // keystone.conf's admin_token (Liberty's bootstrap), which the sim cannot see.
  if (!token || (!state.tokens.has(token) && state.issued.has(token))) throw unauthorized();
  switch (route) {
    case 'GET /v3/domains': {
      const name = q('name');
      return json(200, { domains: [...state.domains.values()].filter((d) => name === null || d.name === name) });
    }
    case 'GET /v3/domains/:':
      return json(200, { domain: must(state.domains.get(at(2)), 'domain', at(2)) });
    case 'GET /v3/projects': {
      const [name, domainId] = [q('name'), q('domain_id')];
      const found = [...state.projects.values()].filter((p) => (name === null || p.name === name) && (domainId === null || p.domainId === domainId));
      return json(200, { projects: found.map(v3Project) });
    }
    case 'POST /v3/projects': {
      const p = obj(body['project']);
      const domainId = str(p['domain_id']) ?? 'default';
      must(state.domains.get(domainId), 'domain', domainId);
      return json(201, { project: v3Project(createProject(state, p, 'project', domainId)) });
    }
    case 'PATCH /v3/projects/:': {
      const p = must(state.projects.get(at(2)), 'project', at(2));
      const patch = obj(body['project']);
      if (str(patch['description']) !== null) p.description = str(patch['description']) ?? '';
      if (typeof patch['enabled'] === 'boolean') p.enabled = patch['enabled'];
      return json(200, { project: v3Project(p) });
    }
    case 'GET /v3/users': {
      const [name, domainId] = [q('name'), q('domain_id')];
      const found = [...state.users.values()].filter((u) => (name === null || u.name === name) && (domainId === null || u.domainId === domainId));
      return json(200, { users: found.map(v3User) });
    }
    case 'POST /v3/users': {
      const u = obj(body['user']);
      const domainId = str(u['domain_id']) ?? 'default';
      must(state.domains.get(domainId), 'domain', domainId);
      return json(201, { user: v3User(createUser(state, u, domainId, 'default_project_id')) });
    }
    case 'PATCH /v3/users/:': {
      const u = must(state.users.get(at(2)), 'user', at(2));
      const patch = obj(body['user']);
      if (str(patch['email']) !== null) u.email = str(patch['email']);
      if (str(patch['default_project_id']) !== null) u.projectId = str(patch['default_project_id']);
      if (str(patch['password']) !== null) u.password = str(patch['password']) ?? '';
      if (typeof patch['enabled'] === 'boolean') u.enabled = patch['enabled'];
      return json(200, { user: v3User(u) });
    }
    case 'GET /v3/roles': {
      const name = q('name');
      return json(200, { roles: [...state.roles.values()].filter((r) => name === null || r.name === name) });
    }
    case 'POST /v3/roles':
      return json(201, { role: createRole(state, obj(body['role'])) });
    case 'GET /v3/projects/:/users/:/roles':
      return json(200, { roles: rolesOf(state, at(2), at(4)) });
    case 'PUT /v3/projects/:/users/:/roles/:':
      grant(state, at(2), at(4), at(6));
      return empty(204);
    case 'GET /v3/services': {
      const [type, name] = [q('type'), q('name')];
      const found = [...state.services.values()].filter((s) => (type === null || s.type === type) && (name === null || s.name === name));
      return json(200, { services: found.map(v3Service) });
    }
    case 'POST /v3/services':
      return json(201, { service: v3Service(createService(state, obj(body['service']), 'service')) });
    case 'PATCH /v3/services/:': {
      const s = must(state.services.get(at(2)), 'service', at(2));
      const patch = obj(body['service']);
      if (str(patch['description']) !== null) s.description = str(patch['description']) ?? '';
      if (typeof patch['enabled'] === 'boolean') s.enabled = patch['enabled'];
      return json(200, { service: v3Service(s) });
    }
    case 'GET /v3/regions/:':
      return json(200, { region: must(state.regions.get(at(2)), 'region', at(2)) });
    case 'POST /v3/regions': {
      const r = obj(body['region']);
      const id = str(r['id']) ?? newId(state, 'region');
      if (state.regions.has(id)) throw new HttpError(409, 'Conflict', `Conflict occurred attempting to store region - Duplicate ID, ${id}.`);
      const region = { id, description: str(r['description']) ?? '' };
      state.regions.set(id, region);
      return json(201, { region });
    }
    case 'GET /v3/endpoints': {
      const [serviceId, regionId, iface] = [q('service_id'), q('region_id'), q('interface')];
      const found = [...state.endpoints.values()].filter(
        (e) => (serviceId === null || e.serviceId === serviceId) && (regionId === null || e.regionId === regionId) && (iface === null || e.interface === iface),
      );
      return json(200, { endpoints: found.map(v3Endpoint) });
    }
    case 'POST /v3/endpoints': {
      const e = obj(body['endpoint']);
      const serviceId = required(e, 'endpoint', 'service_id');
      if (!state.services.has(serviceId)) throw badRequest(`Could not find service: ${serviceId}.`);
      const iface = required(e, 'endpoint', 'interface');
      if (!['public', 'internal', 'admin'].includes(iface))
        throw badRequest(`Invalid input for field 'interface': '${iface}' is not one of ['admin', 'internal', 'public']`);
      let regionId = str(e['region_id']);
      if (regionId === null && str(e['region']) !== null) {
        // The legacy `region` field: keystone creates the region for it.
        regionId = str(e['region']) ?? '';
        ensureRegion(state, regionId);
      }
      if (regionId !== null && !state.regions.has(regionId))
        throw badRequest(
          `Expecting to find endpoint region_id in region table - the server could not comply with the request since it is either malformed or otherwise incorrect.`,
        );
      const endpoint: SimKsEndpoint = {
        id: newId(state, 'endpoint'),
        interface: iface,
        regionId: regionId ?? '',
        serviceId,
        url: required(e, 'endpoint', 'url'),
        enabled: e['enabled'] !== false,
        legacyId: null,
      };
      state.endpoints.set(endpoint.id, endpoint);
      return json(201, { endpoint: v3Endpoint(endpoint) });
    }
    case 'PATCH /v3/endpoints/:': {
      const e = must(state.endpoints.get(at(2)), 'endpoint', at(2));
      const patch = obj(body['endpoint']);
      if (str(patch['url']) !== null) e.url = str(patch['url']) ?? e.url;
      if (typeof patch['enabled'] === 'boolean') e.enabled = patch['enabled'];
      return json(200, { endpoint: v3Endpoint(e) });
    }
    case 'DELETE /v3/endpoints/:':
      must(state.endpoints.get(at(2)), 'endpoint', at(2));
      state.endpoints.delete(at(2));
      return empty(204);
  }
  throw new HttpError(404, 'Not Found', 'The resource could not be found.');
}

function v3DomainOr401(state: SimKeystoneState, ref: Json): string {
  try {
    return v3Domain(state, Object.keys(ref).length ? ref : undefined, 'default');
  } catch {
    throw unauthorized();
  }
}

/**
 * What `keystone-manage bootstrap` does to keystone's database, for
 * `--plan`: admin project, user (with its password) and role, the member and
 * reader roles, the admin's grant, the region, the identity service and its
 * three endpoints. Only adds what is missing; resets admin's password.
 */
export function simulateBootstrap(
  network: SimNetwork,
  args: {
    readonly adminPassword: string;
    readonly region: string;
    readonly urls: { readonly publicUrl: string; readonly internalUrl: string; readonly adminUrl: string };
  },
): void {
  const state = simKeystoneState(network);
  const byName = <T extends { name: string }>(map: Map<string, T>, name: string): T | undefined => [...map.values()].find((v) => v.name === name);
  let project = byName(state.projects, 'admin');
  if (!project) {
    project = { id: newId(state, 'project'), name: 'admin', domainId: 'default', description: 'Bootstrap project for initializing the cloud.', enabled: true };
    state.projects.set(project.id, project);
  }
  let user = byName(state.users, 'admin');
  if (!user) {
    user = { id: newId(state, 'user'), name: 'admin', domainId: 'default', password: args.adminPassword, email: null, projectId: null, enabled: true };
    state.users.set(user.id, user);
  }
  user.password = args.adminPassword;
  for (const name of ['reader', 'member', 'admin']) {
    if (!byName(state.roles, name)) {
      const id = newId(state, 'role');
      state.roles.set(id, { id, name });
    }
  }
  state.grants.add(`${project.id} ${user.id} ${byName(state.roles, 'admin')!.id}`);
  if (!state.regions.has(args.region)) state.regions.set(args.region, { id: args.region, description: '' });
  let service = [...state.services.values()].find((s) => s.type === 'identity');
  if (!service) {
    service = { id: newId(state, 'service'), name: 'keystone', type: 'identity', description: '', enabled: true };
    state.services.set(service.id, service);
  }
  for (const [iface, url] of [
    ['public', args.urls.publicUrl],
    ['internal', args.urls.internalUrl],
    ['admin', args.urls.adminUrl],
  ] as const) {
    const existing = [...state.endpoints.values()].find((e) => e.serviceId === service.id && e.interface === iface && e.regionId === args.region);
    if (existing) existing.url = url;
    else {
      const id = newId(state, 'endpoint');
      state.endpoints.set(id, { id, interface: iface, regionId: args.region, serviceId: service.id, url, enabled: true, legacyId: null });
    }
  }
}
