import {
  ApiError,
  apiTaskKit,
  changePlan as change,
  credentialKey,
  JsonApi,
  jsonReader,
  retryPolicy,
  str,
  TokenCache,
  v3Token,
  type ApiReply,
  type CachedToken,
  type CallOptions,
  type Json,
  type RetryOptions,
} from '../../lib/api/json-api.js';
import type { Secret } from '../../lib/core/secret.js';
import { makeTask, noChange, type ApiStep, type Http, type Plan, type Task, type TaskOptions } from '../../lib/core/task.js';
import type { HttpRequest } from '../../lib/transport/transport.js';

/**
 * Keystone resources (projects, users, roles, grants, services, endpoints)
 * over its HTTP API, as seen from the host the task runs on. Two dialects:
 * v2.0 with the admin token (Juno, the `keystone` CLI's behaviour) and v3
 * with password auth (Liberty … Zed, the `openstack` CLI's behaviour).
 * Facts only read (GET), except authentication and the password check of
 * `keystoneUser`, which keystone only offers as POST.
 */

export type KeystoneAuth =
  | {
      readonly version: 'v2.0';
      readonly host: string;
      /** The admin API, normally 35357. */
      readonly port: number;
      readonly adminToken: Secret;
    }
  /** Liberty's bootstrap: the `admin_token` of keystone.conf against /v3 (OS_TOKEN + OS_URL in the guide). */
  | {
      readonly version: 'v3';
      readonly host: string;
      readonly port: number;
      readonly adminToken: Secret;
    }
  | {
      readonly version: 'v3';
      readonly host: string;
      /** 5000 (Zed) or 35357 (Liberty's admin endpoint). */
      readonly port: number;
      readonly adminToken?: never;
      readonly username: string;
      readonly password: Secret;
      readonly project: string;
      /** Domain name, or the id `default`; default 'Default'. */
      readonly userDomain?: string;
      /** Default: the user's domain. */
      readonly projectDomain?: string;
    };

/** A request keystone answered with an error status. The message never holds tokens, passwords or request bodies. */
export class KeystoneError extends ApiError {
  override readonly name = 'KeystoneError';
}

/** Waits between attempts while keystone is (re)starting; default ~20 s in total. */
export type KeystoneClientOptions = RetryOptions;

// Sums to ~20 s: long enough for keystone (or the apache in front of it) to
// come back after a restart handler, short enough to fail a broken one soon.
const RETRY_DELAYS_MS = [250, 500, 1000, 2000, 4000, 4000, 4000, 4000];

/** v3 tokens, per runtime and credentials; a task that waited on a login that failed fails with it. */
const tokens = new TokenCache(false);

function tokenKey(auth: KeystoneAuth): string {
  if (auth.adminToken) return '';
  return credentialKey([auth.host, auth.port, auth.userDomain ?? '', auth.username, auth.projectDomain ?? '', auth.project], auth.password);
}

/** `default` is the id every keystone has for its first domain; anything else is taken as a domain name. */
function domainRef(domain: string): Json {
  return domain === 'default' ? { id: 'default' } : { name: domain };
}

const enc = encodeURIComponent;
const { obj, list, id } = jsonReader('keystone');

export interface KsProject {
  readonly id: string;
  readonly name: string;
  readonly description: string;
  readonly enabled: boolean;
}
export interface KsUser {
  readonly id: string;
  readonly name: string;
  readonly email: string | null;
  /** v2.0 tenantId, v3 default_project_id. */
  readonly projectId: string | null;
  readonly enabled: boolean;
}
export interface KsRole {
  readonly id: string;
  readonly name: string;
}
export interface KsService {
  readonly id: string;
  readonly name: string;
  readonly type: string;
  readonly description: string;
  readonly enabled: boolean;
}
/** A v2.0 catalog record: one per service and region, three URLs. */
export interface KsEndpointV2 {
  readonly id: string;
  readonly region: string;
  readonly serviceId: string;
  readonly publicUrl: string | null;
  readonly internalUrl: string | null;
  readonly adminUrl: string | null;
}
export type KsInterface = 'public' | 'internal' | 'admin';
export interface KsEndpointV3 {
  readonly id: string;
  readonly interface: string;
  readonly region: string | null;
  readonly serviceId: string;
  readonly url: string;
  readonly enabled: boolean;
}

const project = (o: Json): KsProject => ({
  id: id(o, 'project'),
  name: str(o['name']) ?? '',
  description: str(o['description']) ?? '',
  enabled: o['enabled'] !== false,
});
const user = (o: Json): KsUser => ({
  id: id(o, 'user'),
  name: str(o['name']) ?? '',
  email: str(o['email']),
  projectId: str(o['default_project_id']) ?? str(o['tenantId']),
  enabled: o['enabled'] !== false,
});
const role = (o: Json): KsRole => ({ id: id(o, 'role'), name: str(o['name']) ?? '' });
const service = (o: Json): KsService => ({
  id: id(o, 'service'),
  name: str(o['name']) ?? '',
  type: str(o['type']) ?? '',
  description: str(o['description']) ?? '',
  enabled: o['enabled'] !== false,
});

/** The few keystone calls the tasks need, with auth, token cache, retries and safe errors. */
export class KeystoneClient {
  readonly #api: JsonApi;

  constructor(
    readonly auth: KeystoneAuth,
    readonly http: Http,
    options: KeystoneClientOptions = {},
  ) {
    this.#api = new JsonApi({
      host: auth.host,
      port: auth.port,
      http,
      retry: retryPolicy(RETRY_DELAYS_MS, options),
      service: 'keystone',
      secrets: [auth.adminToken ? auth.adminToken : auth.password],
      auth: { header: 'x-auth-token', token: () => this.#token(), forget: () => tokens.forget(http, tokenKey(auth)) },
      errorClass: KeystoneError,
    });
  }

  get #where(): string {
    return `${this.auth.host}:${this.auth.port}`;
  }

  /** One keystone call; see JsonApi.call. */
  call(method: HttpRequest['method'], path: string, options?: CallOptions): Promise<ApiReply> {
    return this.#api.call(method, path, options);
  }

  async #token(): Promise<{ value: string; cached: boolean }> {
    const auth = this.auth;
    if (auth.adminToken) return { value: auth.adminToken.reveal(), cached: false };
    return tokens.get(this.http, tokenKey(auth), () => this.#authenticate());
  }

  async #authenticate(): Promise<CachedToken> {
    const auth = this.auth;
    if (auth.adminToken) throw new Error('unreachable: admin-token auth needs no login');
    const userDomain = auth.userDomain ?? 'Default';
    const reply = await this.call('POST', '/v3/auth/tokens', {
      authenticated: false,
      body: {
        auth: {
          identity: { methods: ['password'], password: { user: { name: auth.username, domain: domainRef(userDomain), password: auth.password.reveal() } } },
          scope: { project: { name: auth.project, domain: domainRef(auth.projectDomain ?? userDomain) } },
        },
      },
    });
    return v3Token(this.#api, reply);
  }

  get #v3(): boolean {
    return this.auth.version === 'v3';
  }

  // ---- lookups -------------------------------------------------------------

  /** v3 domain id from a name or an id; null under v2.0 (no domains). */
  async domainId(domain: string | undefined): Promise<string | null> {
    if (!this.#v3) return null;
    const wanted = domain ?? 'default';
    if (wanted === 'default') return 'default';
    const byName = list((await this.call('GET', `/v3/domains?name=${enc(wanted)}`)).json['domains'], 'domains');
    const found = byName.find((d) => d['name'] === wanted);
    if (found) return id(found, 'domain');
    const byId = await this.call('GET', `/v3/domains/${enc(wanted)}`, { okStatuses: [404] });
    if (byId.response.status === 200) return id(obj(byId.json['domain'], 'domain'), 'domain');
    throw new Error(`keystone ${this.#where}: domain ${wanted} does not exist`);
  }

  async findProject(name: string, domainId: string | null): Promise<KsProject | null> {
    if (!this.#v3) {
      const r = await this.call('GET', `/v2.0/tenants?name=${enc(name)}`, { okStatuses: [404] });
      return r.response.status === 404 ? null : project(obj(r.json['tenant'], 'tenant'));
    }
    const r = await this.call('GET', `/v3/projects?name=${enc(name)}&domain_id=${enc(domainId ?? 'default')}`);
    const found = list(r.json['projects'], 'projects').find((p) => p['name'] === name);
    return found ? project(found) : null;
  }

  async findUser(name: string, domainId: string | null): Promise<KsUser | null> {
    if (!this.#v3) {
      const r = await this.call('GET', `/v2.0/users?name=${enc(name)}`, { okStatuses: [404] });
      return r.response.status === 404 ? null : user(obj(r.json['user'], 'user'));
    }
    const r = await this.call('GET', `/v3/users?name=${enc(name)}&domain_id=${enc(domainId ?? 'default')}`);
    const found = list(r.json['users'], 'users').find((u) => u['name'] === name);
    return found ? user(found) : null;
  }

  async findRole(name: string): Promise<KsRole | null> {
    // v2.0 has no name filter for roles: the list is short anyway.
    const r = this.#v3 ? await this.call('GET', `/v3/roles?name=${enc(name)}`) : await this.call('GET', '/v2.0/OS-KSADM/roles');
    const found = list(r.json['roles'], 'roles').find((x) => x['name'] === name);
    return found ? role(found) : null;
  }

  /** Services of one type, or (v3) of one name; v2.0 can only list them all. */
  async services(filter: { type: string } | { name: string }): Promise<KsService[]> {
    const all = this.#v3
      ? list(
          (await this.call('GET', `/v3/services?${'type' in filter ? `type=${enc(filter.type)}` : `name=${enc(filter.name)}`}`)).json['services'],
          'services',
        )
      : list((await this.call('GET', '/v2.0/OS-KSADM/services')).json['OS-KSADM:services'], 'services');
    // Filtered here too: older keystones ignore filters they do not know (name on services).
    return all.map(service).filter((s) => ('type' in filter ? s.type === filter.type : s.name === filter.name));
  }

  /** The service an endpoint belongs to, given its type (preferred, as the catalog is looked up by type) or its name. */
  async resolveService(ref: string): Promise<KsService | null> {
    const byType = await this.services({ type: ref });
    if (byType.length > 1) {
      const named = byType.filter((s) => s.name === ref);
      if (named.length === 1) return named[0] ?? null;
      throw new Error(`keystone ${this.#where}: ${byType.length} services have type ${ref} (${byType.map((s) => `${s.name} ${s.id}`).join(', ')}); name one`);
    }
    if (byType[0]) return byType[0];
    const byName = await this.services({ name: ref });
    if (byName.length > 1)
      throw new Error(
        `keystone ${this.#where}: ${byName.length} services are named ${ref} (${byName.map((s) => `${s.type} ${s.id}`).join(', ')}); give the type`,
      );
    return byName[0] ?? null;
  }

  async hasRole(userId: string, projectId: string, roleId: string): Promise<boolean> {
    const path = this.#v3 ? `/v3/projects/${enc(projectId)}/users/${enc(userId)}/roles` : `/v2.0/tenants/${enc(projectId)}/users/${enc(userId)}/roles`;
    return list((await this.call('GET', path)).json['roles'], 'roles').some((r) => r['id'] === roleId);
  }

  /** Checks a password by logging in with it; keystone has no other way to tell. */
  async passwordWorks(u: KsUser, password: Secret): Promise<boolean> {
    const r = this.#v3
      ? await this.call('POST', '/v3/auth/tokens', {
          authenticated: false,
          okStatuses: [401],
          secrets: [password],
          body: { auth: { identity: { methods: ['password'], password: { user: { id: u.id, password: password.reveal() } } } } },
        })
      : await this.call('POST', '/v2.0/tokens', {
          authenticated: false,
          okStatuses: [401],
          secrets: [password],
          body: { auth: { passwordCredentials: { username: u.name, password: password.reveal() } } },
        });
    return r.response.status !== 401;
  }

  async regionExists(region: string): Promise<boolean> {
    return (await this.call('GET', `/v3/regions/${enc(region)}`, { okStatuses: [404] })).response.status !== 404;
  }

  async endpointsV2(serviceId: string, region: string): Promise<KsEndpointV2[]> {
    return list((await this.call('GET', '/v2.0/endpoints')).json['endpoints'], 'endpoints')
      .map((e) => ({
        id: id(e, 'endpoint'),
        region: str(e['region']) ?? '',
        serviceId: str(e['service_id']) ?? '',
        publicUrl: str(e['publicurl']),
        internalUrl: str(e['internalurl']),
        adminUrl: str(e['adminurl']),
      }))
      .filter((e) => e.serviceId === serviceId && e.region === region);
  }

  async endpointsV3(serviceId: string, region: string): Promise<KsEndpointV3[]> {
    const r = await this.call('GET', `/v3/endpoints?service_id=${enc(serviceId)}&region_id=${enc(region)}`);
    return list(r.json['endpoints'], 'endpoints')
      .map((e) => ({
        id: id(e, 'endpoint'),
        interface: str(e['interface']) ?? '',
        region: str(e['region_id']) ?? str(e['region']),
        serviceId: str(e['service_id']) ?? '',
        url: str(e['url']) ?? '',
        enabled: e['enabled'] !== false,
      }))
      .filter((e) => e.serviceId === serviceId && e.region === region);
  }

  // ---- changes -------------------------------------------------------------

  async createProject(fields: { name: string; description?: string | undefined; domainId: string | null }): Promise<void> {
    const p = { name: fields.name, enabled: true, ...(fields.description !== undefined ? { description: fields.description } : {}) };
    if (this.#v3) await this.call('POST', '/v3/projects', { body: { project: { ...p, domain_id: fields.domainId ?? 'default' } } });
    else await this.call('POST', '/v2.0/tenants', { body: { tenant: p } });
  }

  async updateProject(projectId: string, patch: { description?: string; enabled?: boolean }): Promise<void> {
    if (this.#v3) await this.call('PATCH', `/v3/projects/${enc(projectId)}`, { body: { project: patch } });
    // v2.0 updates tenants with POST, as `keystone tenant-update` does.
    else await this.call('POST', `/v2.0/tenants/${enc(projectId)}`, { body: { tenant: { id: projectId, ...patch } } });
  }

  async createUser(fields: { name: string; password: Secret; email?: string | undefined; projectId: string | null; domainId: string | null }): Promise<void> {
    const common = { name: fields.name, password: fields.password.reveal(), enabled: true, ...(fields.email !== undefined ? { email: fields.email } : {}) };
    if (this.#v3) {
      const body = { user: { ...common, domain_id: fields.domainId ?? 'default', ...(fields.projectId ? { default_project_id: fields.projectId } : {}) } };
      await this.call('POST', '/v3/users', { body, secrets: [fields.password] });
    } else {
      await this.call('POST', '/v2.0/users', {
        body: { user: { ...common, ...(fields.projectId ? { tenantId: fields.projectId } : {}) } },
        secrets: [fields.password],
      });
    }
  }

  async updateUser(userId: string, patch: { email?: string; projectId?: string; enabled?: boolean }): Promise<void> {
    const fields = {
      ...(patch.email !== undefined ? { email: patch.email } : {}),
      ...(patch.enabled !== undefined ? { enabled: patch.enabled } : {}),
      ...(patch.projectId !== undefined ? (this.#v3 ? { default_project_id: patch.projectId } : { tenantId: patch.projectId }) : {}),
    };
    if (this.#v3) await this.call('PATCH', `/v3/users/${enc(userId)}`, { body: { user: fields } });
    else await this.call('PUT', `/v2.0/users/${enc(userId)}`, { body: { user: { id: userId, ...fields } } });
  }

  async setPassword(userId: string, password: Secret): Promise<void> {
    if (this.#v3) await this.call('PATCH', `/v3/users/${enc(userId)}`, { body: { user: { password: password.reveal() } }, secrets: [password] });
    else
      await this.call('PUT', `/v2.0/users/${enc(userId)}/OS-KSADM/password`, {
        body: { user: { id: userId, password: password.reveal() } },
        secrets: [password],
      });
  }

  async createRole(name: string): Promise<void> {
    if (this.#v3) await this.call('POST', '/v3/roles', { body: { role: { name } } });
    else await this.call('POST', '/v2.0/OS-KSADM/roles', { body: { role: { name } } });
  }

  async grant(userId: string, projectId: string, roleId: string): Promise<void> {
    if (this.#v3) await this.call('PUT', `/v3/projects/${enc(projectId)}/users/${enc(userId)}/roles/${enc(roleId)}`);
    else await this.call('PUT', `/v2.0/tenants/${enc(projectId)}/users/${enc(userId)}/roles/OS-KSADM/${enc(roleId)}`);
  }

  async createService(fields: { name: string; type: string; description?: string | undefined }): Promise<void> {
    const s = { name: fields.name, type: fields.type, ...(fields.description !== undefined ? { description: fields.description } : {}) };
    if (this.#v3) await this.call('POST', '/v3/services', { body: { service: { ...s, enabled: true } } });
    else await this.call('POST', '/v2.0/OS-KSADM/services', { body: { 'OS-KSADM:service': s } });
  }

  async updateService(serviceId: string, patch: { description?: string; enabled?: boolean }): Promise<void> {
    await this.call('PATCH', `/v3/services/${enc(serviceId)}`, { body: { service: patch } });
  }

  async createRegion(region: string): Promise<void> {
    await this.call('POST', '/v3/regions', { body: { region: { id: region } } });
  }

  async createEndpointV2(fields: { serviceId: string; region: string; publicUrl: string; internalUrl: string; adminUrl: string }): Promise<void> {
    await this.call('POST', '/v2.0/endpoints', {
      body: {
        endpoint: {
          service_id: fields.serviceId,
          region: fields.region,
          publicurl: fields.publicUrl,
          internalurl: fields.internalUrl,
          adminurl: fields.adminUrl,
        },
      },
    });
  }

  async deleteEndpointV2(endpointId: string): Promise<void> {
    await this.call('DELETE', `/v2.0/endpoints/${enc(endpointId)}`, { okStatuses: [404] });
  }

  async createEndpointV3(fields: { serviceId: string; region: string; interface: KsInterface; url: string }): Promise<void> {
    await this.call('POST', '/v3/endpoints', {
      body: { endpoint: { service_id: fields.serviceId, region_id: fields.region, interface: fields.interface, url: fields.url, enabled: true } },
    });
  }

  async updateEndpointV3(endpointId: string, patch: { url?: string; enabled?: boolean }): Promise<void> {
    await this.call('PATCH', `/v3/endpoints/${enc(endpointId)}`, { body: { endpoint: patch } });
  }

  async deleteEndpointV3(endpointId: string): Promise<void> {
    await this.call('DELETE', `/v3/endpoints/${enc(endpointId)}`, { okStatuses: [404] });
  }
}

// ---- task plumbing ----------------------------------------------------------

const { fact: apiFact, step: apiStep, need } = apiTaskKit('keystone', (target: KeystoneAuth, http) => new KeystoneClient(target, http));

const inDomain = (domain: string | undefined) => (domain && domain !== 'default' ? ` in domain ${domain}` : '');

// ---- projects ---------------------------------------------------------------

export interface KeystoneProjectArgs {
  readonly name: string;
  readonly description?: string;
  /** v3 only: domain name or id, default 'default'. */
  readonly domain?: string;
}

export function keystoneProject<H extends string = never>(auth: KeystoneAuth, args: KeystoneProjectArgs, options?: TaskOptions<H>): Task<H> {
  const label = `keystone project ${args.name}${inDomain(args.domain)}`;
  return makeTask({
    module: 'keystone_project',
    name: label,
    options,
    facts: {
      current: apiFact(auth, async (ks) => {
        const domainId = await ks.domainId(args.domain);
        return { domainId, project: await ks.findProject(args.name, domainId) };
      }),
    },
    plan: ({ current: { domainId, project } }) => {
      if (!project) {
        return change(`create project ${args.name}`, [
          apiStep(auth, `create ${label}`, (ks) => ks.createProject({ name: args.name, description: args.description, domainId })),
        ]);
      }
      const patch: { description?: string; enabled?: boolean } = {};
      const what: string[] = [];
      if (args.description !== undefined && project.description !== args.description) {
        patch.description = args.description;
        what.push(`description ${JSON.stringify(project.description)} → ${JSON.stringify(args.description)}`);
      }
      if (!project.enabled) {
        patch.enabled = true;
        what.push('enable');
      }
      if (what.length === 0) return noChange(`project ${args.name} exists (${project.id})`);
      return change(`project ${args.name}: ${what.join(', ')}`, [
        apiStep(auth, `update ${label}: ${what.join(', ')}`, (ks) => ks.updateProject(project.id, patch)),
      ]);
    },
  });
}

// ---- users ------------------------------------------------------------------

export interface KeystoneUserArgs {
  readonly name: string;
  /** Set on creation; later runs check it by logging in and reset it only when that fails. */
  readonly password: Secret;
  /** Default project (v2.0 tenant), in the user's domain. */
  readonly project?: string;
  readonly email?: string;
  /** v3 only, default 'default'. */
  readonly domain?: string;
}

export function keystoneUser<H extends string = never>(auth: KeystoneAuth, args: KeystoneUserArgs, options?: TaskOptions<H>): Task<H> {
  const label = `keystone user ${args.name}${inDomain(args.domain)}`;
  const projectLookup = (ks: KeystoneClient, domainId: string | null) => async () =>
    args.project === undefined ? null : ((await ks.findProject(args.project, domainId))?.id ?? null);
  return makeTask({
    module: 'keystone_user',
    name: label,
    options,
    facts: {
      current: apiFact(auth, async (ks) => {
        const domainId = await ks.domainId(args.domain);
        const u = await ks.findUser(args.name, domainId);
        const projectId = await projectLookup(ks, domainId)();
        // A disabled user cannot log in whatever its password: the plan enables it and sets the password.
        const passwordOk = u && u.enabled ? await ks.passwordWorks(u, args.password) : null;
        return { domainId, user: u, projectId, passwordOk };
      }),
    },
    plan: ({ current: { domainId, user: u, projectId, passwordOk } }) => {
      const resolveProject = (ks: KeystoneClient) =>
        args.project === undefined ? Promise.resolve(null) : need(projectId, projectLookup(ks, domainId), `project ${args.project}`);
      if (!u) {
        return change(`create user ${args.name}${args.project ? ` (project ${args.project})` : ''}`, [
          apiStep(auth, `create ${label}${args.project ? ` project=${args.project}` : ''} password=***`, async (ks) =>
            ks.createUser({ name: args.name, password: args.password, email: args.email, projectId: await resolveProject(ks), domainId }),
          ),
        ]);
      }
      const patch: { email?: string; enabled?: boolean } = {};
      const what: string[] = [];
      if (args.email !== undefined && u.email !== args.email) {
        patch.email = args.email;
        what.push(`email ${u.email ?? '(none)'} → ${args.email}`);
      }
      const projectWrong = args.project !== undefined && (projectId === null || u.projectId !== projectId);
      if (projectWrong) what.push(`project → ${args.project}`);
      if (!u.enabled) {
        patch.enabled = true;
        what.push('enable');
      }
      const steps: ApiStep[] = [];
      if (what.length > 0) {
        steps.push(
          apiStep(auth, `update ${label}: ${what.join(', ')}`, async (ks) =>
            ks.updateUser(u.id, { ...patch, ...(projectWrong ? { projectId: (await resolveProject(ks)) ?? '' } : {}) }),
          ),
        );
      }
      if (passwordOk !== true) {
        what.push(passwordOk === false ? 'reset password (logging in with it failed)' : 'set password');
        steps.push(apiStep(auth, `set password of ${label} password=***`, (ks) => ks.setPassword(u.id, args.password)));
      }
      if (steps.length === 0) return noChange(`user ${args.name} exists (${u.id}) and its password works`);
      return change(`user ${args.name}: ${what.join(', ')}`, steps);
    },
  });
}

// ---- roles ------------------------------------------------------------------

export function keystoneRole<H extends string = never>(auth: KeystoneAuth, args: { readonly name: string }, options?: TaskOptions<H>): Task<H> {
  return makeTask({
    module: 'keystone_role',
    name: `keystone role ${args.name}`,
    options,
    facts: { current: apiFact(auth, (ks) => ks.findRole(args.name)) },
    plan: ({ current }) =>
      current
        ? noChange(`role ${args.name} exists (${current.id})`)
        : change(`create role ${args.name}`, [apiStep(auth, `create keystone role ${args.name}`, (ks) => ks.createRole(args.name))]),
  });
}

export interface KeystoneRoleAssignmentArgs {
  readonly user: string;
  readonly project: string;
  readonly role: string;
  /** v3 only: domain of the user and the project, default 'default'. */
  readonly domain?: string;
}

export function keystoneRoleAssignment<H extends string = never>(auth: KeystoneAuth, args: KeystoneRoleAssignmentArgs, options?: TaskOptions<H>): Task<H> {
  const label = `keystone role ${args.role} for user ${args.user} on project ${args.project}${inDomain(args.domain)}`;
  return makeTask({
    module: 'keystone_role_assignment',
    name: label,
    options,
    facts: {
      current: apiFact(auth, async (ks) => {
        const domainId = await ks.domainId(args.domain);
        const [u, p, r] = [await ks.findUser(args.user, domainId), await ks.findProject(args.project, domainId), await ks.findRole(args.role)];
        const granted = u && p && r ? await ks.hasRole(u.id, p.id, r.id) : false;
        return { domainId, userId: u?.id ?? null, projectId: p?.id ?? null, roleId: r?.id ?? null, granted };
      }),
    },
    plan: ({ current: { domainId, userId, projectId, roleId, granted } }) => {
      if (granted) return noChange(`user ${args.user} has role ${args.role} on project ${args.project}`);
      const missing = [userId ? '' : `user ${args.user}`, projectId ? '' : `project ${args.project}`, roleId ? '' : `role ${args.role}`].filter((s) => s);
      return change(
        `grant role ${args.role} to user ${args.user} on project ${args.project}${missing.length ? ` (${missing.join(', ')} not created yet)` : ''}`,
        [
          apiStep(auth, `grant ${label}`, async (ks) => {
            const uid = await need(userId, async () => (await ks.findUser(args.user, domainId))?.id ?? null, `user ${args.user}`);
            const pid = await need(projectId, async () => (await ks.findProject(args.project, domainId))?.id ?? null, `project ${args.project}`);
            const rid = await need(roleId, async () => (await ks.findRole(args.role))?.id ?? null, `role ${args.role}`);
            await ks.grant(uid, pid, rid);
          }),
        ],
      );
    },
  });
}

// ---- services ---------------------------------------------------------------

export interface KeystoneServiceArgs {
  readonly name: string;
  readonly type: string;
  readonly description?: string;
}

export function keystoneService<H extends string = never>(auth: KeystoneAuth, args: KeystoneServiceArgs, options?: TaskOptions<H>): Task<H> {
  const label = `keystone service ${args.name} (${args.type})`;
  return makeTask({
    module: 'keystone_service',
    name: label,
    options,
    facts: {
      // Identity is the pair (name, type), as `service-create` allows duplicates of either.
      current: apiFact(auth, async (ks) => (await ks.services({ type: args.type })).find((s) => s.name === args.name) ?? null),
    },
    plan: ({ current }) => {
      if (!current) return change(`create service ${args.name} of type ${args.type}`, [apiStep(auth, `create ${label}`, (ks) => ks.createService(args))]);
      const descriptionWrong = args.description !== undefined && current.description !== args.description;
      if (auth.version === 'v2.0') {
        // v2.0 cannot update a service, and recreating it would orphan its endpoints.
        return noChange(`service ${args.name} exists (${current.id})${descriptionWrong ? `; its description differs but v2.0 cannot update services` : ''}`);
      }
      const patch: { description?: string; enabled?: boolean } = {};
      const what: string[] = [];
      if (descriptionWrong && args.description !== undefined) {
        patch.description = args.description;
        what.push(`description ${JSON.stringify(current.description)} → ${JSON.stringify(args.description)}`);
      }
      if (!current.enabled) {
        patch.enabled = true;
        what.push('enable');
      }
      if (what.length === 0) return noChange(`service ${args.name} exists (${current.id})`);
      return change(`service ${args.name}: ${what.join(', ')}`, [
        apiStep(auth, `update ${label}: ${what.join(', ')}`, (ks) => ks.updateService(current.id, patch)),
      ]);
    },
  });
}

// ---- endpoints --------------------------------------------------------------

export interface KeystoneEndpointArgs {
  /** Service type (as the catalog is read) or name. */
  readonly service: string;
  readonly region: string;
  readonly publicUrl: string;
  readonly internalUrl: string;
  readonly adminUrl: string;
}

type EndpointFact =
  | { readonly version: 'v2.0'; readonly service: KsService | null; readonly records: readonly KsEndpointV2[] }
  | { readonly version: 'v3'; readonly service: KsService | null; readonly regionExists: boolean; readonly endpoints: readonly KsEndpointV3[] };

export function keystoneEndpoint<H extends string = never>(auth: KeystoneAuth, args: KeystoneEndpointArgs, options?: TaskOptions<H>): Task<H> {
  const label = `keystone endpoints ${args.service} ${args.region}`;
  const urls: Record<KsInterface, string> = { public: args.publicUrl, internal: args.internalUrl, admin: args.adminUrl };
  return makeTask({
    module: 'keystone_endpoint',
    name: label,
    options,
    facts: {
      current: apiFact(auth, async (ks): Promise<EndpointFact> => {
        const s = await ks.resolveService(args.service);
        if (auth.version === 'v2.0') return { version: 'v2.0', service: s, records: s ? await ks.endpointsV2(s.id, args.region) : [] };
        return { version: 'v3', service: s, regionExists: await ks.regionExists(args.region), endpoints: s ? await ks.endpointsV3(s.id, args.region) : [] };
      }),
    },
    plan: ({ current }) => {
      const serviceId = (ks: KeystoneClient) =>
        need(current.service?.id ?? null, async () => (await ks.resolveService(args.service))?.id ?? null, `service ${args.service}`);
      const pending = current.service ? '' : ` (service ${args.service} not created yet)`;
      return current.version === 'v2.0' ? planV2(current.records) : planV3(current.regionExists, current.endpoints);

      function planV2(records: readonly KsEndpointV2[]): Plan {
        const matches = (e: KsEndpointV2) => e.publicUrl === urls.public && e.internalUrl === urls.internal && e.adminUrl === urls.admin;
        const keep = records.find(matches);
        if (keep && records.length === 1) return noChange(`endpoint ${keep.id} of ${args.service} in ${args.region} has the 3 URLs`);
        // v2.0 cannot update an endpoint: create the right one first, then
        // delete the wrong ones, so the catalog never lacks the service.
        const steps: ApiStep[] = [];
        const what: string[] = [];
        if (!keep) {
          const old = records[0];
          const changed = old
            ? (['public', 'internal', 'admin'] as const).flatMap((i) => {
                const before = i === 'public' ? old.publicUrl : i === 'internal' ? old.internalUrl : old.adminUrl;
                return before === urls[i] ? [] : [`${i}url ${before ?? '(none)'} → ${urls[i]}`];
              })
            : [];
          what.push(old ? `replace endpoint ${old.id}: ${changed.join(', ')}` : `create endpoint${pending}`);
          steps.push(
            apiStep(
              auth,
              `create keystone endpoint ${args.service} ${args.region} publicurl=${urls.public} internalurl=${urls.internal} adminurl=${urls.admin}`,
              async (ks) =>
                ks.createEndpointV2({
                  serviceId: await serviceId(ks),
                  region: args.region,
                  publicUrl: urls.public,
                  internalUrl: urls.internal,
                  adminUrl: urls.admin,
                }),
            ),
          );
        }
        for (const e of records) {
          if (e === keep) continue;
          if (keep) what.push(`delete duplicate endpoint ${e.id}`);
          steps.push(apiStep(auth, `delete keystone endpoint ${e.id} (${args.service} ${args.region})`, (ks) => ks.deleteEndpointV2(e.id)));
        }
        return change(`endpoints of ${args.service} in ${args.region}: ${what.join(', ')}`, steps);
      }

      function planV3(regionExists: boolean, endpoints: readonly KsEndpointV3[]): Plan {
        const steps: ApiStep[] = [];
        const what: string[] = [];
        if (!regionExists) {
          what.push(`create region ${args.region}`);
          steps.push(apiStep(auth, `create keystone region ${args.region}`, (ks) => ks.createRegion(args.region)));
        }
        for (const iface of ['public', 'internal', 'admin'] as const) {
          const url = urls[iface];
          const mine = endpoints.filter((e) => e.interface === iface);
          const keep = mine.find((e) => e.url === url && e.enabled) ?? mine.find((e) => e.url === url) ?? mine[0];
          if (!keep) {
            what.push(`create ${iface} ${url}${pending}`);
            steps.push(
              apiStep(auth, `create keystone endpoint ${args.service} ${args.region} ${iface} ${url}`, async (ks) =>
                ks.createEndpointV3({ serviceId: await serviceId(ks), region: args.region, interface: iface, url }),
              ),
            );
          } else {
            // Fixed in place, keeping its id: other tools may refer to it.
            const patch: { url?: string; enabled?: boolean } = {};
            if (keep.url !== url) {
              patch.url = url;
              what.push(`${iface} ${keep.url} → ${url}`);
            }
            if (!keep.enabled) {
              patch.enabled = true;
              what.push(`enable ${iface}`);
            }
            if (Object.keys(patch).length > 0) {
              steps.push(
                apiStep(auth, `update keystone endpoint ${keep.id} (${args.service} ${args.region} ${iface}) url=${url}`, (ks) =>
                  ks.updateEndpointV3(keep.id, patch),
                ),
              );
            }
          }
          for (const dup of mine) {
            if (dup === keep) continue;
            what.push(`delete duplicate ${iface} endpoint ${dup.id} (${dup.url})`);
            steps.push(apiStep(auth, `delete keystone endpoint ${dup.id} (${args.service} ${args.region} ${iface})`, (ks) => ks.deleteEndpointV3(dup.id)));
          }
        }
        if (steps.length === 0) return noChange(`public, internal and admin endpoints of ${args.service} in ${args.region} match`);
        return change(`endpoints of ${args.service} in ${args.region}: ${what.join(', ')}`, steps);
      }
    },
  });
}
