import { header, str, type ApiReply, type Json, type JsonApi } from '../../lib/api/json-api.js';
import type { CachedToken } from '../../lib/api/tokens.js';
import type { Secret } from '../../lib/core/secret.js';

/**
 * Keystone's tokens as its clients get them: password logins of v2.0 and
 * v3, where each dialect puts the token, and how long one is used.
 */

/** A token is used for 5 minutes at most, and not in its last minute (see tokenExpiry). */
const TOKEN_TTL_MS = 5 * 60_000;

/** When a token obtained now stops being used, given the expiry keystone stated (if any). */
export function tokenExpiry(expires: string | null): number {
  const at = Date.parse(expires ?? '');
  return Math.min(Date.now() + TOKEN_TTL_MS, Number.isNaN(at) ? Infinity : at - 60_000);
}

/** The token of a keystone v3 login (`POST /v3/auth/tokens`): the X-Subject-Token header, valid until the body's `expires_at`. */
export function v3Token(api: JsonApi, reply: ApiReply): CachedToken {
  const value = header(reply.response, 'x-subject-token');
  if (!value) throw new Error(`keystone ${api.host}:${api.port}: POST /v3/auth/tokens returned no X-Subject-Token`);
  return { value, expiresAt: tokenExpiry(str(api.json.obj(reply.json['token'], 'token')['expires_at'])) };
}

/** `default` is the id every keystone has for its first domain; anything else is taken as a domain name. */
function domainRef(domain: string): Json {
  return domain === 'default' ? { id: 'default' } : { name: domain };
}

export interface V3Login {
  readonly username: string;
  readonly password: Secret;
  /** Domain name, or the id `default`. */
  readonly userDomain: string;
  readonly project: string;
  readonly projectDomain: string;
}

/** A v3 password login scoped to a project (what the `openstack` CLI does); `api` is keystone. */
export async function v3PasswordLogin(api: JsonApi, login: V3Login): Promise<CachedToken> {
  const reply = await api.call('POST', '/v3/auth/tokens', {
    authenticated: false,
    body: {
      auth: {
        identity: {
          methods: ['password'],
          password: { user: { name: login.username, domain: domainRef(login.userDomain), password: login.password.reveal() } },
        },
        scope: { project: { name: login.project, domain: domainRef(login.projectDomain) } },
      },
    },
  });
  return v3Token(api, reply);
}

/** A v2.0 password login scoped to a tenant (`POST /v2.0/tokens`): the token is the body's `access.token`. */
export async function v2PasswordLogin(
  api: JsonApi,
  login: { readonly username: string; readonly password: Secret; readonly tenant: string },
): Promise<CachedToken> {
  const reply = await api.call('POST', '/v2.0/tokens', {
    authenticated: false,
    body: { auth: { tenantName: login.tenant, passwordCredentials: { username: login.username, password: login.password.reveal() } } },
  });
  const token = api.json.obj(api.json.obj(reply.json['access'], 'access')['token'], 'token');
  return { value: api.json.id(token, 'token'), expiresAt: tokenExpiry(str(token['expires'])) };
}
