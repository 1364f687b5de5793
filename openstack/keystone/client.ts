import { ApiError, JsonApi, jsonReader, retryPolicy, str, type ApiReply, type CallOptions, type Json, type RetryOptions } from '../../lib/api/json-api.js';
import { credentialKey, TokenCache, type CachedToken } from '../../lib/api/tokens.js';
import type { Secret } from '../../lib/core/secret.js';
import type { Http } from '../../lib/core/task.js';
import type { HttpRequest } from '../../lib/transport/transport.js';
import { v3PasswordLogin } from './tokens.js';

/**
 * The keystone client of the tasks: projects, users, roles, grants, services
 * and endpoints over its HTTP API, as seen from the host the task runs on.
 * Two dialects: v2.0 with the admin token (Juno, the `keystone` CLI's
 * behaviour) and v3 with password auth (Liberty … Zed, the `openstack` CLI's
 * behaviour). Facts only read (GET), except authentication and the password
 * check of `keystoneUser`, which keystone only offers as POST.
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

const enc = encodeURIComponent;
const { obj, list, id } = jsonReader('keystone');

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
/** A v2.0 catalog record's URL of one interface: `publicurl`, `internalurl`, `adminurl`. */
const v2Url = (o: Json, iface: KsInterface): string | null => str(o[`${iface}url`]);
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
    return v3PasswordLogin(this.#api, {
      username: auth.username,
      password: auth.password,
      userDomain,
      project: auth.project,
      projectDomain: auth.projectDomain ?? userDomain,
    });
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
    return this.#findNamed({ v2: 'tenant', v3: 'project' }, name, domainId, project);
  }

  async findUser(name: string, domainId: string | null): Promise<KsUser | null> {
    return this.#findNamed({ v2: 'user', v3: 'user' }, name, domainId, user);
  }

  /** A project or user by name: v2.0 looks it up by name (404: none), v3 lists those of that name in the domain. */
  async #findNamed<T>(kind: { v2: string; v3: string }, name: string, domainId: string | null, parse: (o: Json) => T): Promise<T | null> {
    if (!this.#v3) {
      const r = await this.call('GET', `/v2.0/${kind.v2}s?name=${enc(name)}`, { okStatuses: [404] });
      return r.response.status === 404 ? null : parse(obj(r.json[kind.v2], kind.v2));
    }
    const many = `${kind.v3}s`;
    const r = await this.call('GET', `/v3/${many}?name=${enc(name)}&domain_id=${enc(domainId ?? 'default')}`);
    const found = list(r.json[many], many).find((x) => x['name'] === name);
    return found ? parse(found) : null;
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
        publicUrl: v2Url(e, 'public'),
        internalUrl: v2Url(e, 'internal'),
        adminUrl: v2Url(e, 'admin'),
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
