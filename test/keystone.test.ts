import { expect } from 'chai';
import { describeStep } from '../lib/core/runtime.js';
import { Secret } from '../lib/core/secret.js';
import { registerSimKeystone, type SimKeystoneState } from '../openstack/keystone/sim.js';
import { SimNetwork } from '../lib/sim/sim.js';
import type { Http, Plan, Task } from '../lib/core/task.js';
import { KeystoneClient, KeystoneError, type KeystoneAuth } from '../openstack/keystone/client.js';
import { keystoneEndpoint, keystoneProject, keystoneRole, keystoneRoleAssignment, keystoneService, keystoneUser } from '../openstack/keystone/tasks.js';
import { ForwardError, UnreachableError, type HttpRequest } from '../lib/transport/transport.js';
import { converge, planOn, simHost } from './support/sim.js';

const ADMIN_TOKEN = 'ADMIN-TOKEN-7f3a9c';
const ADMIN_PASSWORD = 'admin-pw-e41b0d';
const NOVA_PASSWORD = 'nova-pw-5c2e88';
const GLANCE_PASSWORD = 'glance-pw-91aa07';
const SECRETS = [ADMIN_TOKEN, ADMIN_PASSWORD, NOVA_PASSWORD, GLANCE_PASSWORD];

const KS = '10.0.0.11';
const v2: KeystoneAuth = { version: 'v2.0', host: KS, port: 35357, adminToken: new Secret(ADMIN_TOKEN) };
const v3: KeystoneAuth = { version: 'v3', host: KS, port: 5000, username: 'admin', password: new Secret(ADMIN_PASSWORD), project: 'admin' };

const imageUrls = { publicUrl: 'http://controller:9292', internalUrl: 'http://controller:9292', adminUrl: 'http://controller:9292' };

/** One of each resource kind, in the order a role would create them. */
function catalog(auth: KeystoneAuth, over: { imagePublicUrl?: string } = {}): Task[] {
  return [
    keystoneProject(auth, { name: 'admin', description: 'Admin Project' }),
    keystoneProject(auth, { name: 'service', description: 'Service Project' }),
    keystoneRole(auth, { name: 'admin' }),
    keystoneUser(auth, { name: 'nova', password: new Secret(NOVA_PASSWORD), project: 'service', email: 'nova@example.org' }),
    keystoneUser(auth, { name: 'glance', password: new Secret(GLANCE_PASSWORD) }),
    keystoneRoleAssignment(auth, { user: 'nova', project: 'service', role: 'admin' }),
    keystoneRoleAssignment(auth, { user: 'glance', project: 'service', role: 'admin' }),
    keystoneService(auth, { name: 'nova', type: 'compute', description: 'OpenStack Compute' }),
    keystoneService(auth, { name: 'glance', type: 'image', description: 'OpenStack Image' }),
    keystoneEndpoint(auth, {
      service: 'compute',
      region: 'RegionOne',
      publicUrl: 'http://controller:8774/v2.1',
      internalUrl: 'http://controller:8774/v2.1',
      adminUrl: 'http://controller:8774/v2.1',
    }),
    keystoneEndpoint(auth, { service: 'glance', region: 'RegionOne', ...imageUrls, ...(over.imagePublicUrl ? { publicUrl: over.imagePublicUrl } : {}) }),
  ];
}

async function convergeAll(rt: ReturnType<typeof simHost>['rt'], tasks: readonly Task[]): Promise<Plan[]> {
  const plans: Plan[] = [];
  for (const t of tasks) plans.push(await converge(rt, t));
  return plans;
}

function expectNoSecrets(lines: readonly string[]): void {
  for (const line of lines) for (const s of SECRETS) expect(line, line).not.to.include(s);
}

for (const auth of [v2, v3]) {
  const port = auth.port;
  const api = `http://${KS}:${port}/${auth.version}`;

  describe(`keystone tasks (${auth.version})`, () => {
    let network: SimNetwork;
    let ks: SimKeystoneState;
    let host: ReturnType<typeof simHost>;

    beforeEach(() => {
      network = new SimNetwork();
      ks = registerSimKeystone(network);
      host = simHost('controller', {}, network);
    });

    it('creates every resource kind on an empty keystone, then changes nothing', async () => {
      const first = await convergeAll(host.rt, catalog(auth));
      expect(first.map((p) => p.action)).to.deep.equal(first.map(() => 'change'));
      // What the reporter shows: summaries and step descriptions.
      expectNoSecrets([JSON.stringify(first), ...first.flatMap((p) => (p.action === 'none' ? [] : p.steps.map(describeStep)))]);
      expect([...ks.projects.values()].map((p) => p.name).sort()).to.deep.equal(['admin', 'service']);
      expect([...ks.users.values()].map((u) => u.name).sort()).to.deep.equal(['glance', 'nova']);
      expect([...ks.services.values()].map((s) => `${s.name}/${s.type}`).sort()).to.deep.equal(['glance/image', 'nova/compute']);
      // v3 keeps one endpoint per interface; v2.0 records are stored the same way (as Juno's SQL catalog does).
      expect(ks.endpoints.size).to.equal(6);
      const nova = [...ks.users.values()].find((u) => u.name === 'nova');
      expect(nova?.password).to.equal(NOVA_PASSWORD);
      expect(nova?.projectId).to.equal([...ks.projects.values()].find((p) => p.name === 'service')?.id);

      const mark = host.sim.log.length;
      const second = await convergeAll(host.rt, catalog(auth));
      for (const p of second) expect(p.action, JSON.stringify(p)).to.equal('none');
      expect(second.map((p) => (p.action === 'none' ? p.reason : ''))).to.satisfy((rs: string[]) => rs.every((r) => r.length > 0));
      // The only non-GET calls of a second run are the two password checks (the v3 token is cached).
      const again = host.sim.log.slice(mark);
      const login = auth.version === 'v3' ? `POST ${api}/auth/tokens ` : `POST ${api}/tokens `;
      expect(again).to.have.length(2);
      for (const line of again) expect(line.startsWith(login), line).to.equal(true);
      expectNoSecrets(host.sim.log);
    });

    it('logs method and URL of every change, with passwords masked', async () => {
      await convergeAll(host.rt, catalog(auth));
      const log = host.sim.log;
      for (const line of log) expect(line).to.match(new RegExp(`^(POST|PUT|PATCH|DELETE) http://${KS.replace(/\./g, '\\.')}:${port}/v(2\\.0|3)/`));
      expectNoSecrets(log);
      if (auth.version === 'v3') {
        expect(log[0]).to.equal(
          `POST ${api}/auth/tokens {"auth":{"identity":{"methods":["password"],"password":{"user":{"name":"admin","domain":{"name":"Default"},"password":"***"}}},"scope":{"project":{"name":"admin","domain":{"name":"Default"}}}}}`,
        );
        expect(log).to.include(`POST ${api}/projects {"project":{"name":"service","enabled":true,"description":"Service Project","domain_id":"default"}}`);
        expect(log.find((l) => l.startsWith(`POST ${api}/users `) && l.includes('"nova"'))).to.include('"password":"***"');
        expect(log.filter((l) => l.startsWith(`POST ${api}/endpoints `))).to.have.length(6);
        expect(log).to.include(`POST ${api}/regions {"region":{"id":"RegionOne"}}`);
      } else {
        expect(log[0]).to.equal(`POST ${api}/tenants {"tenant":{"name":"admin","enabled":true,"description":"Admin Project"}}`);
        expect(log.find((l) => l.startsWith(`POST ${api}/users `) && l.includes('"nova"'))).to.include('"password":"***"');
        expect(log.filter((l) => l.startsWith(`POST ${api}/endpoints `))).to.have.length(2);
        expect(log.some((l) => l.startsWith(`PUT ${api}/tenants/`) && l.includes('/roles/OS-KSADM/'))).to.equal(true);
      }
    });

    it('fixes only the endpoint whose URL changed', async () => {
      await convergeAll(host.rt, catalog(auth));
      const computeBefore = [...ks.endpoints.values()].filter((e) => e.url.includes(':8774')).map((e) => e.id);
      const mark = host.sim.log.length;
      const plans = await convergeAll(host.rt, catalog(auth, { imagePublicUrl: 'https://images.example.org:9292' }));
      const changed = plans.flatMap((p, i) => (p.action === 'none' ? [] : [i]));
      expect(changed).to.deep.equal([10]);
      const plan = plans[10];
      expect(plan?.action === 'change' && plan.summary).to.include('https://images.example.org:9292');
      const calls = host.sim.log.slice(mark).filter((l) => !/\/tokens /.test(l));
      if (auth.version === 'v3') {
        // Fixed in place: one PATCH of the public endpoint, the others untouched.
        expect(calls).to.have.length(1);
        expect(calls[0]).to.match(new RegExp(`^PATCH ${api}/endpoints/[0-9a-f]{32} \\{"endpoint":\\{"url":"https://images.example.org:9292"\\}\\}$`));
      } else {
        // v2.0 cannot update: the new record first, then the old one goes.
        expect(calls).to.have.length(2);
        expect(calls[0]).to.include(`POST ${api}/endpoints `).and.include('"publicurl":"https://images.example.org:9292"');
        expect(calls[1]).to.match(new RegExp(`^DELETE ${api}/endpoints/[0-9a-f]{32}$`));
      }
      const image = [...ks.endpoints.values()].filter((e) => !e.url.includes(':8774'));
      expect(image.map((e) => `${e.interface} ${e.url}`).sort()).to.deep.equal([
        'admin http://controller:9292',
        'internal http://controller:9292',
        'public https://images.example.org:9292',
      ]);
      expect([...ks.endpoints.values()].filter((e) => e.url.includes(':8774')).map((e) => e.id)).to.deep.equal(computeBefore);
      for (const p of await convergeAll(host.rt, catalog(auth, { imagePublicUrl: 'https://images.example.org:9292' }))) expect(p.action).to.equal('none');
    });

    it('resets a password changed out of band, and only then', async () => {
      await convergeAll(host.rt, catalog(auth));
      const nova = [...ks.users.values()].find((u) => u.name === 'nova');
      if (!nova) throw new Error('nova missing');
      nova.password = 'changed-by-someone';
      const task = keystoneUser(auth, { name: 'nova', password: new Secret(NOVA_PASSWORD), project: 'service', email: 'nova@example.org' });
      const mark = host.sim.log.length;
      const plan = await converge(host.rt, task);
      expect(plan.action).to.equal('change');
      expect(plan.action === 'change' && plan.summary).to.include('reset password');
      expect(nova.password).to.equal(NOVA_PASSWORD);
      const calls = host.sim.log.slice(mark);
      const reset =
        auth.version === 'v3'
          ? `PATCH ${api}/users/${nova.id} {"user":{"password":"***"}}`
          : `PUT ${api}/users/${nova.id}/OS-KSADM/password {"user":{"id":"${nova.id}","password":"***"}}`;
      expect(calls).to.include(reset);
      expectNoSecrets(calls);
      expect(calls.join('\n')).not.to.include('changed-by-someone');
      expect((await planOn(host.rt, task)).action).to.equal('none');
    });

    it('fixes attributes in place and says what changed', async () => {
      await convergeAll(host.rt, catalog(auth));
      const plan = await converge(host.rt, keystoneProject(auth, { name: 'service', description: 'Services' }));
      expect(plan.action === 'change' && plan.summary).to.equal('project service: description "Service Project" → "Services"');
      expect([...ks.projects.values()].find((p) => p.name === 'service')?.description).to.equal('Services');
      const user = await converge(host.rt, keystoneUser(auth, { name: 'glance', password: new Secret(GLANCE_PASSWORD), project: 'service' }));
      expect(user.action === 'change' && user.summary).to.equal('user glance: project → service');
      expect((await planOn(host.rt, keystoneUser(auth, { name: 'glance', password: new Secret(GLANCE_PASSWORD), project: 'service' }))).action).to.equal(
        'none',
      );
    });

    it('plans a grant for things a previous task has not created yet (check mode) and fails clearly if they never appear', async () => {
      const task = keystoneRoleAssignment(auth, { user: 'cinder', project: 'service', role: 'admin' });
      const plan = await planOn(host.rt, task);
      expect(plan.action === 'change' && plan.summary).to.equal(
        'grant role admin to user cinder on project service (user cinder, project service, role admin not created yet)',
      );
      if (plan.action !== 'change') throw new Error('expected a change');
      let error: unknown;
      try {
        for (const step of plan.steps) await host.rt.apply(step);
      } catch (e) {
        error = e;
      }
      expect(String(error)).to.include('user cinder does not exist');
    });

    it('plans endpoints of a service not created yet, creating them once it exists', async () => {
      const task = keystoneEndpoint(auth, { service: 'volumev3', region: 'RegionTwo', ...imageUrls });
      const plan = await planOn(host.rt, task);
      expect(plan.action === 'change' && plan.summary).to.include('service volumev3 not created yet');
      await converge(host.rt, keystoneService(auth, { name: 'cinderv3', type: 'volumev3' }));
      expect((await converge(host.rt, task)).action).to.equal('change');
      expect((await planOn(host.rt, task)).action).to.equal('none');
    });
  });
}

describe('keystone v3 details', () => {
  it('bootstraps with the admin token like Liberty (OS_TOKEN), then converges', async () => {
    const bootstrap: KeystoneAuth = { version: 'v3', host: KS, port: 35357, adminToken: new Secret(ADMIN_TOKEN) };
    const network = new SimNetwork();
    registerSimKeystone(network);
    const { sim, rt } = simHost('controller', {}, network);
    const first = await convergeAll(rt, catalog(bootstrap));
    expect(first.map((p) => p.action)).to.not.include('none');
    const second = await convergeAll(rt, catalog(bootstrap));
    expect(second.map((p) => p.action)).to.deep.equal(second.map(() => 'none'));
    expect(sim.log.some((l) => l.startsWith('POST http://10.0.0.11:35357/v3/projects'))).to.equal(true);
    expectNoSecrets(sim.log);
  });

  it('authenticates once for many tasks on one host, and again when the token is rejected', async () => {
    const network = new SimNetwork();
    const ks = registerSimKeystone(network);
    const { sim, rt } = simHost('controller', {}, network);
    await convergeAll(rt, catalog(v3));
    expect(
      sim.log.filter((l) =>
        l.startsWith(`POST http://${KS}:5000/v3/auth/tokens {"auth":{"identity":{"methods":["password"],"password":{"user":{"name":"admin"`),
      ),
    ).to.have.length(1);
    ks.tokens.clear(); // keystone lost its tokens (e.g. fernet keys rotated away)
    const mark = sim.log.length;
    expect((await planOn(rt, keystoneRole(v3, { name: 'admin' }))).action).to.equal('none');
    expect(sim.log.slice(mark)).to.have.length(1);
  });

  it('finds a service by name when no service has that type', async () => {
    const network = new SimNetwork();
    registerSimKeystone(network);
    const { rt } = simHost('controller', {}, network);
    await converge(rt, keystoneService(v3, { name: 'placement', type: 'placement' }));
    await converge(rt, keystoneService(v3, { name: 'cinderv3', type: 'volumev3' }));
    const plan = await converge(rt, keystoneEndpoint(v3, { service: 'cinderv3', region: 'RegionOne', ...imageUrls }));
    expect(plan.action).to.equal('change');
  });
});

describe('keystone errors', () => {
  const failing =
    (status: number, message: string): Http =>
    async (request: HttpRequest) => {
      if (request.path === '/v3/auth/tokens')
        return {
          status: 201,
          headers: { 'X-Subject-Token': 'tok-secret-1234' },
          body: JSON.stringify({ token: { expires_at: new Date(Date.now() + 3600_000).toISOString() } }),
        };
      return { status, headers: {}, body: JSON.stringify({ error: { code: status, title: 'Conflict', message } }) };
    };

  it("names method, path, status and keystone's message — never the token or a password", async () => {
    const http = failing(409, `Duplicate entry; password ${NOVA_PASSWORD} token tok-secret-1234 admin ${ADMIN_PASSWORD}`);
    const ks = new KeystoneClient(v3, http);
    let error: unknown;
    try {
      await ks.createUser({ name: 'nova', password: new Secret(NOVA_PASSWORD), projectId: null, domainId: 'default' });
    } catch (e) {
      error = e;
    }
    expect(error).to.be.instanceOf(KeystoneError);
    const e = error as KeystoneError;
    expect(e.message).to.equal(`keystone ${KS}:5000: POST /v3/users → 409: Conflict: Duplicate entry; password *** token *** admin ***`);
    expect([e.method, e.path, e.status]).to.deep.equal(['POST', '/v3/users', 409]);
    expect(JSON.stringify(e) + String(e.stack)).not.to.match(/nova-pw|tok-secret|admin-pw/);
  });

  it('masks the v2.0 admin token too', async () => {
    const ks = new KeystoneClient(v2, failing(403, `token ${ADMIN_TOKEN} is not admin`));
    const e = await ks.createRole('admin').then(
      () => null,
      (x: unknown) => x as Error,
    );
    expect(e?.message).to.equal(`keystone ${KS}:35357: POST /v2.0/OS-KSADM/roles → 403: Conflict: token *** is not admin`);
  });

  it('reports a failed login without the password, as a failed task', async () => {
    const network = new SimNetwork();
    const ks = registerSimKeystone(network);
    const { rt } = simHost('controller', {}, network);
    ks.users.set('u1', { id: 'u1', name: 'admin', domainId: 'default', password: 'other', email: null, projectId: null, enabled: true });
    const error = await planOn(rt, keystoneRole(v3, { name: 'member' })).then(
      () => null,
      (x: unknown) => x as Error,
    );
    expect(error?.message).to.equal(`keystone ${KS}:5000: POST /v3/auth/tokens → 401: Unauthorized: The request you have made requires authentication.`);
  });
});

describe('keystone restarts', () => {
  const network = new SimNetwork();
  registerSimKeystone(network);
  const sim = (request: HttpRequest) => Promise.resolve(network.request(request));
  const refused = (request: HttpRequest) =>
    new ForwardError(
      'controller',
      'refused',
      `cannot reach ${request.host}:${request.port} from root@controller:22: (SSH) Channel open failure: Connection refused`,
    );

  it('retries a refused connection and 503 with backoff, then succeeds', async () => {
    let calls = 0;
    const waits: number[] = [];
    const http: Http = async (request) => {
      calls++;
      if (calls <= 2) throw refused(request);
      if (calls === 3) return { status: 503, headers: {}, body: 'Service Unavailable' };
      return sim(request);
    };
    const ks = new KeystoneClient(v2, http, { sleep: async (ms) => void waits.push(ms) });
    expect(await ks.findRole('admin')).to.equal(null);
    expect(waits).to.deep.equal([250, 500, 1000]);
  });

  it('gives up after about 20 s with a task failure, not an unreachable host', async () => {
    const waits: number[] = [];
    const ks = new KeystoneClient(v2, async (request) => Promise.reject(refused(request)), { sleep: async (ms) => void waits.push(ms) });
    const error = await ks.findRole('admin').then(
      () => null,
      (x: unknown) => x as Error,
    );
    expect(error).to.be.instanceOf(Error).and.not.instanceOf(UnreachableError);
    expect(error?.message).to.include(`keystone at ${KS}:35357 did not answer GET /v2.0/OS-KSADM/roles after 9 attempts`).and.include('Connection refused');
    const total = waits.reduce((a, b) => a + b, 0);
    expect(total).to.be.within(15_000, 25_000);
  });

  it('surfaces other errors of the transport at once', async () => {
    const waits: number[] = [];
    const bug = new TypeError('x is not a function');
    const ks = new KeystoneClient(v2, async () => Promise.reject(bug), { sleep: async (ms) => void waits.push(ms) });
    expect(
      await ks.findRole('admin').then(
        () => null,
        (x: unknown) => x,
      ),
    ).to.equal(bug);
    expect(waits).to.deep.equal([]);
  });

  it('does not retry when the SSH link itself is gone', async () => {
    const waits: number[] = [];
    const lost = new UnreachableError('controller', 'connection to root@controller:22 lost', true);
    const ks = new KeystoneClient(v2, async () => Promise.reject(lost), { sleep: async (ms) => void waits.push(ms) });
    const error = await ks.findRole('admin').then(
      () => null,
      (x: unknown) => x,
    );
    expect(error).to.equal(lost);
    expect(waits).to.deep.equal([]);
  });

  it('does not repeat a write whose exchange broke midway', async () => {
    const waits: number[] = [];
    let calls = 0;
    const ks = new KeystoneClient(
      v2,
      async (request) => {
        calls++;
        throw new ForwardError(
          'controller',
          'broken',
          `HTTP ${request.method} http://${request.host}:${request.port}${request.path} via root@controller:22 failed: socket hang up`,
        );
      },
      { sleep: async (ms) => void waits.push(ms) },
    );
    const error = await ks.createRole('x').then(
      () => null,
      (x: unknown) => x,
    );
    expect(error).to.be.instanceOf(Error).and.not.instanceOf(UnreachableError);
    expect(String(error)).to.include(`keystone at ${KS}:35357 did not answer POST /v2.0/OS-KSADM/roles: `).and.include('socket hang up');
    expect(calls).to.equal(1);
    expect(waits).to.deep.equal([]);
  });
});
