import { expect } from 'chai';
import { ApiError, JsonApi, type AuthProvider, type JsonApiOptions } from '../lib/api/json-api.js';
import { TokenCache } from '../lib/api/tokens.js';
import { Secret } from '../lib/core/secret.js';
import type { Http } from '../lib/core/task.js';
import { NeutronClient, NeutronError, type NeutronApi } from '../openstack/neutron/client.js';
import { ForwardError, UnreachableError, type HttpRequest, type HttpResponse } from '../lib/transport/transport.js';

const KS = '10.0.0.11';
const NEUTRON = '10.0.0.21';
const PASSWORD = 'neutron-admin-pw-3d81';
const TOKEN = 'tok-neutron-secret-77';

const refused = (request: HttpRequest) => new ForwardError('controller', 'refused', `cannot reach ${request.host}:${request.port}: Connection refused`);
const broken = (request: HttpRequest) => new ForwardError('controller', 'broken', `HTTP ${request.method} ${request.path} failed: socket hang up`);
const settle = <T>(p: Promise<T>): Promise<unknown> =>
  p.then(
    () => null,
    (e: unknown) => e,
  );

// ---- the shared client ----------------------------------------------------------------

const HOST = '10.0.0.31';
const ok = (json: unknown = {}): HttpResponse => ({ status: 200, headers: {}, body: JSON.stringify(json) });

/** A JsonApi over `http` with delays 10, 20, 30 ms that are recorded, not waited. */
function client(http: Http, over: Partial<JsonApiOptions> = {}) {
  const waits: number[] = [];
  const requests: HttpRequest[] = [];
  const api = new JsonApi({
    host: HOST,
    port: 8080,
    http: async (request) => {
      requests.push(request);
      return http(request);
    },
    retry: { delaysMs: [10, 20, 30], sleep: async (ms) => void waits.push(ms) },
    service: 'svc',
    ...over,
  });
  return { api, waits, requests };
}

describe('JsonApi: retries while the service (re)starts', () => {
  it("retries refused connections and 503 with the policy's delays, in order, then answers", async () => {
    let n = 0;
    const { api, waits, requests } = client(async (request) => {
      n++;
      if (n === 1) throw refused(request);
      if (n === 2) throw Object.assign(new Error('connect ECONNREFUSED 10.0.0.31:8080'), { code: 'ECONNREFUSED' });
      if (n === 3) return { status: 503, headers: {}, body: 'Service Unavailable' };
      return ok({ up: true });
    });
    const reply = await api.call('POST', '/things', { body: { a: 1 } });
    expect(reply.json).to.deep.equal({ up: true });
    expect(reply.response.status).to.equal(200);
    expect(waits).to.deep.equal([10, 20, 30]);
    // A refused write never reached the service: the same request is sent again.
    expect(requests.map((r) => `${r.method} ${r.path} ${r.body}`)).to.deep.equal(Array(4).fill('POST /things {"a":1}'));
    expect(requests[0]?.headers).to.deep.equal({ accept: 'application/json', 'content-type': 'application/json' });
  });

  it('gives up after the last delay with a task failure naming service, host and port', async () => {
    const { api, waits } = client(async (request) => Promise.reject(refused(request)));
    const e = await settle(api.call('GET', '/things'));
    expect(e).to.be.instanceOf(Error).and.not.instanceOf(UnreachableError).and.not.instanceOf(ApiError);
    expect((e as Error).message).to.equal(
      `svc at ${HOST}:8080 did not answer GET /things after 4 attempts: controller: cannot reach ${HOST}:8080: Connection refused`,
    );
    expect((e as Error).cause).to.be.instanceOf(ForwardError);
    expect(waits).to.deep.equal([10, 20, 30]);
  });

  it('names who did not answer as told', async () => {
    const { api } = client(async (request) => Promise.reject(refused(request)), { retry: { delaysMs: [], sleep: async () => {} }, unanswered: 'the thing' });
    expect(((await settle(api.call('GET', '/x'))) as Error).message).to.match(/^the thing did not answer GET \/x: /);
  });

  it("a 503 that outlasts the delays is the call's error", async () => {
    const { api, waits } = client(async () => ({ status: 503, headers: {}, body: 'Service Unavailable' }));
    const e = await settle(api.call('GET', '/things'));
    expect((e as ApiError).message).to.equal(`svc ${HOST}:8080: GET /things → 503: Service Unavailable`);
    expect(waits).to.deep.equal([10, 20, 30]);
  });

  it('repeats a read whose exchange broke midway', async () => {
    let n = 0;
    const { api, waits } = client(async (request) => {
      if (n++ === 0) throw broken(request);
      return ok({ n });
    });
    expect((await api.call('GET', '/things')).json).to.deep.equal({ n: 2 });
    expect(waits).to.deep.equal([10]);
  });

  for (const method of ['POST', 'PUT', 'PATCH', 'DELETE'] as const) {
    it(`does not repeat a ${method} whose exchange broke midway: it may have been applied`, async () => {
      const { api, waits, requests } = client(async (request) => Promise.reject(broken(request)));
      const e = await settle(api.call(method, '/things/1', { body: {} }));
      expect(e).to.be.instanceOf(Error).and.not.instanceOf(UnreachableError);
      expect((e as Error).message).to.equal(
        `svc at ${HOST}:8080 did not answer ${method} /things/1: controller: HTTP ${method} /things/1 failed: socket hang up`,
      );
      expect([requests.length, waits.length]).to.deep.equal([1, 0]);
    });
  }

  it('treats a reset socket of another transport the same way', async () => {
    const reset = () => Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' });
    const get = client(async () => Promise.reject(reset()));
    await settle(get.api.call('GET', '/x'));
    expect(get.waits).to.deep.equal([10, 20, 30]);
    const post = client(async () => Promise.reject(reset()));
    await settle(post.api.call('POST', '/x'));
    expect(post.waits).to.deep.equal([]);
  });

  it('does not retry when the SSH link itself is gone: the error goes up as it is', async () => {
    const lost = new UnreachableError('controller', 'connection to root@controller:22 lost', true);
    const { api, waits, requests } = client(async () => Promise.reject(lost));
    expect(await settle(api.call('GET', '/things'))).to.equal(lost);
    expect([requests.length, waits.length]).to.deep.equal([1, 0]);
  });

  it('surfaces forwarding forbidden by sshd, and bugs, at once', async () => {
    for (const error of [new ForwardError('controller', 'prohibited', 'administratively prohibited'), new TypeError('x is not a function')]) {
      const { api, waits } = client(async () => Promise.reject(error));
      expect(await settle(api.call('GET', '/things'))).to.equal(error);
      expect(waits).to.deep.equal([]);
    }
  });
});

describe('JsonApi: answers and errors', () => {
  const PW = 'svc-password-19fe';
  const CALL_PW = 'user-password-77ab';
  const TOK = 'svc-token-c0ffee';
  const auth: AuthProvider = { header: 'x-auth-token', token: async () => ({ value: TOK, cached: false }), forget: () => {} };

  it('returns 2xx and okStatuses as answers with the body as an object', async () => {
    const { api } = client(async (request) =>
      request.path === '/missing' ? { status: 404, headers: {}, body: '{"error":{"message":"no"}}' } : { status: 204, headers: {}, body: '' },
    );
    const missing = await api.call('GET', '/missing', { okStatuses: [404] });
    expect([missing.response.status, missing.json]).to.deep.equal([404, { error: { message: 'no' } }]);
    const empty = await api.call('DELETE', '/gone');
    expect([empty.response.status, empty.json]).to.deep.equal([204, {}]);
  });

  it("throws an ApiError naming method, path, status and the service's message, with credentials, token and call secrets masked", async () => {
    class SvcError extends ApiError {
      override readonly name = 'SvcError';
    }
    const echo = `conflict; pw ${PW} token ${TOK} user ${CALL_PW} but not ${PW}-suffixed`;
    const { api } = client(async () => ({ status: 409, headers: {}, body: JSON.stringify({ error: { title: 'Conflict', message: echo } }) }), {
      auth,
      secrets: [new Secret(PW)],
      errorClass: SvcError,
    });
    const e = await settle(api.call('POST', '/users', { body: { password: CALL_PW }, secrets: [new Secret(CALL_PW)] }));
    expect(e).to.be.instanceOf(SvcError).and.instanceOf(ApiError);
    const a = e as SvcError;
    expect(a.message).to.equal(`svc ${HOST}:8080: POST /users → 409: Conflict: conflict; pw *** token *** user *** but not ${PW}-suffixed`);
    expect([a.name, a.service, a.method, a.path, a.status]).to.deep.equal(['SvcError', 'svc', 'POST', '/users', 409]);
    expect(a.detail).not.to.include(TOK);
    const everything = JSON.stringify(a) + String(a.stack);
    for (const s of [TOK, CALL_PW]) expect(everything).not.to.include(s);
    // The request body, which held a password, is never part of the error.
    expect(everything).not.to.include('"password"');
  });

  it('reads the error object where the service puts it, `type` before `title`', async () => {
    const { api } = client(async () => ({ status: 400, headers: {}, body: JSON.stringify({ NeutronError: { type: 'BadRequest', message: 'bad cidr' } }) }), {
      errorObject: (body) => body['NeutronError'],
      where: `other ${HOST}:1`,
    });
    expect(((await settle(api.call('PUT', '/x'))) as Error).message).to.equal(`svc other ${HOST}:1: PUT /x → 400: BadRequest: bad cidr`);
  });

  it('quotes a body that is no OpenStack error, trimmed to 300 characters and masked', async () => {
    const body = `  <html>${TOK} ${'x'.repeat(400)}</html>  `;
    const { api } = client(async () => ({ status: 500, headers: {}, body }), { auth });
    const e = (await settle(api.call('GET', '/x'))) as ApiError;
    expect(e.detail).to.equal(`<html>*** ${'x'.repeat(300 - '<html> '.length - TOK.length)}`);
    expect(e.message).not.to.include(TOK);
  });

  it('sends the auth header unless a call says otherwise', async () => {
    const { api, requests } = client(async () => ok(), { auth });
    await api.call('GET', '/a');
    await api.call('POST', '/tokens', { authenticated: false, body: {} });
    expect(requests.map((r) => r.headers?.['x-auth-token'] ?? null)).to.deep.equal([TOK, null]);
  });

  it('replaces a cached token that the service refuses, once', async () => {
    const issued: string[] = [];
    let forgotten = 0;
    let next = 0;
    const provider: AuthProvider = {
      header: 'x-auth-token',
      token: async () => {
        const cached = forgotten === 0;
        issued.push(cached ? 'cached' : `fresh-${++next}`);
        return { value: issued[issued.length - 1] ?? '', cached };
      },
      forget: () => void forgotten++,
    };
    const { api, requests } = client(async (request) => (request.headers?.['x-auth-token'] === 'cached' ? { status: 401, headers: {}, body: '{}' } : ok()), {
      auth: provider,
    });
    await api.call('GET', '/a');
    expect([issued, forgotten, requests.length]).to.deep.equal([['cached', 'fresh-1'], 1, 2]);
    // A fresh token refused is the call's error, not a loop.
    const refusing = client(async () => ({ status: 401, headers: {}, body: '{"error":{"title":"Unauthorized","message":"no"}}' }), { auth });
    expect(((await settle(refusing.api.call('GET', '/a'))) as ApiError).status).to.equal(401);
    expect(refusing.requests).to.have.length(1);
  });
});

describe('TokenCache', () => {
  const http: Http = async () => ok();
  const other: Http = async () => ok();

  it('logs in once per runtime and key, again when the token expired, never keeps a failed login', async () => {
    const cache = new TokenCache(false);
    let logins = 0;
    let ttl = 60_000;
    const login = async () => ({ value: `t${++logins}`, expiresAt: Date.now() + ttl });
    expect(await cache.get(http, 'k', login)).to.deep.equal({ value: 't1', cached: false });
    expect(await cache.get(http, 'k', login)).to.deep.equal({ value: 't1', cached: true });
    expect(await cache.get(other, 'k', login)).to.deep.equal({ value: 't2', cached: false });
    expect(await cache.get(http, 'k2', login)).to.deep.equal({ value: 't3', cached: false });
    cache.forget(http, 'k');
    ttl = -1;
    expect(await cache.get(http, 'k', login)).to.deep.equal({ value: 't4', cached: false });
    ttl = 60_000;
    expect(await cache.get(http, 'k', login)).to.deep.equal({ value: 't5', cached: false });
    const failing = async () => Promise.reject(new Error('401'));
    expect(((await settle(cache.get(http, 'bad', failing))) as Error).message).to.equal('401');
    expect(await cache.get(http, 'bad', login)).to.deep.equal({ value: 't6', cached: false });
  });

  it('shares a login under way; its failure too, unless told to log in again', async () => {
    for (const again of [false, true]) {
      const cache = new TokenCache(again);
      let logins = 0;
      const first = cache.get(http, 'k', async () => {
        logins++;
        throw new Error('keystone down');
      });
      const second = cache.get(http, 'k', async () => ({ value: `t${++logins}`, expiresAt: Date.now() + 60_000 }));
      expect(((await settle(first)) as Error).message).to.equal('keystone down');
      if (again) {
        expect(await second).to.deep.equal({ value: 't2', cached: false });
      } else {
        expect(((await settle(second)) as Error).message).to.equal('keystone down');
        expect(logins).to.equal(1);
      }
    }
  });
});

// ---- neutron's client on the shared one: messages as before -------------------------

describe('neutron client errors and retries', () => {
  const api: NeutronApi = {
    host: NEUTRON,
    port: 9696,
    identity: { version: 'v3', host: KS, port: 5000, username: 'admin', password: new Secret(PASSWORD), project: 'admin' },
  };
  const login = (request: HttpRequest): HttpResponse | null =>
    request.path === '/v3/auth/tokens'
      ? { status: 201, headers: { 'X-Subject-Token': TOKEN }, body: JSON.stringify({ token: { expires_at: new Date(Date.now() + 3600_000).toISOString() } }) }
      : null;

  it("names neutron, method, path, status and neutron's message — never the token or the password", async () => {
    const http: Http = async (request) =>
      login(request) ?? {
        status: 409,
        headers: {},
        body: JSON.stringify({ NeutronError: { type: 'Conflict', message: `in use; token ${TOKEN} password ${PASSWORD}`, detail: '' } }),
      };
    const e = await settle(new NeutronClient(api, http).createRule({ direction: 'ingress' }));
    expect(e).to.be.instanceOf(NeutronError);
    const n = e as NeutronError;
    expect(n.message).to.equal(`neutron ${NEUTRON}:9696: POST /v2.0/security-group-rules → 409: Conflict: in use; token *** password ***`);
    expect([n.name, n.method, n.path, n.status]).to.deep.equal(['NeutronError', 'POST', '/v2.0/security-group-rules', 409]);
    expect(JSON.stringify(n) + String(n.stack))
      .not.to.include(TOKEN)
      .and.not.to.include(PASSWORD);
  });

  it('reports a failed login as keystone seen by neutron, without the password', async () => {
    const http: Http = async () => ({
      status: 401,
      headers: {},
      body: JSON.stringify({ error: { code: 401, title: 'Unauthorized', message: `bad password ${PASSWORD}` } }),
    });
    const e = await settle(new NeutronClient(api, http).findRouter('r1', 'p1'));
    expect(e).to.be.instanceOf(NeutronError);
    expect((e as Error).message).to.equal(`neutron keystone ${KS}:5000: POST /v3/auth/tokens → 401: Unauthorized: bad password ***`);
  });

  it('logs in again once when a cached token is refused', async () => {
    const seen: string[] = [];
    let logins = 0;
    let rejectNext = false;
    const http: Http = async (request) => {
      seen.push(`${request.method} ${request.path}`);
      if (request.path === '/v3/auth/tokens') {
        logins++;
        return { status: 201, headers: { 'x-subject-token': `${TOKEN}-${logins}` }, body: JSON.stringify({ token: {} }) };
      }
      if (rejectNext && request.headers?.['x-auth-token'] === `${TOKEN}-1`) return { status: 401, headers: {}, body: '{}' };
      return { status: 200, headers: {}, body: JSON.stringify({ routers: [] }) };
    };
    expect(await new NeutronClient(api, http).findRouter('r1', 'p1')).to.equal(null);
    rejectNext = true;
    expect(await new NeutronClient(api, http).findRouter('r1', 'p1')).to.equal(null);
    expect(logins).to.equal(2);
    expect(seen.filter((s) => s.startsWith('GET'))).to.have.length(3);
  });

  it('retries neutron-server starting for about 30 s, then fails the task naming host and port', async () => {
    const waits: number[] = [];
    const http: Http = async (request) => {
      const ok = login(request);
      if (ok) return ok;
      throw refused(request);
    };
    const e = await settle(new NeutronClient(api, http, { sleep: async (ms) => void waits.push(ms) }).findRouter('r1', 'p1'));
    expect(e).to.be.instanceOf(Error).and.not.instanceOf(UnreachableError);
    expect((e as Error).message).to.match(
      new RegExp(`^${NEUTRON.replace(/\./g, '\\.')}:9696 did not answer GET /v2\\.0/routers\\?name=r1&tenant_id=p1 after 11 attempts: .*Connection refused$`),
    );
    expect(waits).to.deep.equal([250, 500, 1000, 2000, 4000, 4000, 4000, 4000, 5000, 5000]);
  });

  it('does not repeat a write whose exchange broke midway', async () => {
    const waits: number[] = [];
    let posts = 0;
    const http: Http = async (request) => {
      const ok = login(request);
      if (ok) return ok;
      posts++;
      throw broken(request);
    };
    const e = await settle(new NeutronClient(api, http, { sleep: async (ms) => void waits.push(ms) }).createRule({}));
    expect((e as Error).message).to.equal(
      `${NEUTRON}:9696 did not answer POST /v2.0/security-group-rules: controller: HTTP POST /v2.0/security-group-rules failed: socket hang up`,
    );
    expect([posts, waits.length]).to.deep.equal([1, 0]);
  });
});
