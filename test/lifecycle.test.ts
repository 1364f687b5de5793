/**
 * Day-2 stop, start and status (issue 17), planned offline on the seed
 * inventories: after the site, stop stops every service the site started,
 * agents before APIs before the databases; start brings them back in the
 * deployment's order; status fails while anything is stopped; a second stop
 * or start changes nothing.
 */
import { expect } from 'chai';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Playbook } from '../lib/core/playbook.js';
import { Redactor } from '../lib/core/secret.js';
import { loadInventory } from '../lib/inventory/inventory.js';
import { SecretStore } from '../lib/inventory/secrets-store.js';
import { site } from '../playbooks/site.js';
import { simulatedCloud, type SimRun } from './support/sim-cloud.js';
import { start } from '../playbooks/start.js';
import { status } from '../playbooks/status.js';
import { stop } from '../playbooks/stop.js';

type Run = SimRun;

/** One set of simulated hosts of `inventory`, and a function running a playbook (optionally --limit) on them. */
async function cloudOf(inventory: string, dir: string): Promise<(book: Playbook, limit?: string) => Promise<Run>> {
  const inv = await loadInventory(inventory);
  const run = simulatedCloud(inv, new SecretStore(join(dir, 'secrets.ini'), new Redactor(), inv.groups.get('all')?.vars.get('default_password')?.value));
  return (book, limit) => run(book, limit === undefined ? {} : { limit });
}

const changed = (run: Run) => run.results.filter((r) => r.status === 'changed').map((r) => `${r.host} ${r.task}`);
const failed = (run: Run) => run.results.filter((r) => r.status === 'failed').map((r) => `${r.host} ${r.task}`);
/** Position of the first result on `host` whose task names `service`. */
const at = (run: Run, host: string, service: string) => {
  const i = run.results.findIndex((r) => r.host === host && r.task.startsWith(`service ${service} `));
  if (i < 0) throw new Error(`no task for ${service} on ${host}: ${changed(run).join('; ')}`);
  return i;
};

const CASES = [
  { inventory: 'hosts/juno.ini', db: 'mysql', queue: 'rabbitmq-server', api: 'nova-api', agent: ['compute1', 'nova-compute'] },
  { inventory: 'hosts/liberty-ubuntu.ini', db: 'mysql', queue: 'rabbitmq-server', api: 'nova-api', agent: ['compute1', 'nova-compute'] },
  { inventory: 'hosts/lab.ini', db: 'mariadb', queue: 'rabbitmq-server', api: 'nova-api', agent: ['compute1', 'nova-compute'] },
] as const;

describe('day-2 stop, start and status', function () {
  this.timeout(120_000);
  let dir: string;
  before(async () => (dir = await mkdtemp(join(tmpdir(), 'sp-lifecycle-'))));
  after(async () => rm(dir, { recursive: true, force: true }));

  for (const c of CASES) {
    it(`${c.inventory}: stop in reverse dependency order, status fails, start in order, each twice with 0 changed the second time`, async () => {
      const run = await cloudOf(c.inventory, await mkdtemp(join(dir, 'inv-')));
      expect((await run(site)).outcome.exitCode).to.equal(0);
      const up = await run(status);
      expect(failed(up), 'every service runs after the site').to.deep.equal([]);
      expect(up.results.length).to.be.greaterThan(10);

      const down = await run(stop);
      expect(down.outcome.exitCode).to.equal(0);
      const stopped = changed(down);
      // Every service status listed is stopped: as many stops as statuses, one per service and host.
      expect(stopped.length).to.equal(up.results.length);
      const [agentHost, agent] = c.agent;
      expect(at(down, agentHost, agent)).to.be.lessThan(at(down, 'controller', c.api));
      expect(at(down, 'controller', c.api)).to.be.lessThan(at(down, 'controller', c.queue));
      expect(at(down, 'controller', c.queue)).to.be.lessThan(at(down, 'controller', c.db));
      expect(down.results.filter((r) => r.host === 'controller').at(-1)?.task).to.equal(`service ${c.db} stopped`);
      expect(changed(await run(stop)), 'a second stop').to.deep.equal([]);

      const report = await run(status);
      expect(report.outcome.exitCode, 'status exits 2 while services are stopped').to.equal(2);
      expect(failed(report).length).to.equal(up.results.length);

      const again = await run(start);
      expect(changed(again).length).to.equal(up.results.length);
      expect(at(again, 'controller', c.db)).to.be.lessThan(at(again, 'controller', c.queue));
      expect(at(again, 'controller', c.api)).to.be.lessThan(at(again, agentHost, agent));
      expect(changed(await run(start)), 'a second start').to.deep.equal([]);
      expect((await run(status)).outcome.exitCode).to.equal(0);
    });
  }

  it('--limit compute1: only that host is stopped and started', async () => {
    const run = await cloudOf('hosts/lab.ini', await mkdtemp(join(dir, 'inv-')));
    await run(site);
    const down = await run(stop, 'compute1');
    expect(new Set(down.results.map((r) => r.host))).to.deep.equal(new Set(['compute1']));
    expect(changed(down)).to.include('compute1 service nova-compute stopped');
    const report = await run(status);
    expect(new Set(report.results.filter((r) => r.status === 'failed').map((r) => r.host))).to.deep.equal(new Set(['compute1']));
    await run(start, 'compute1');
    expect(failed(await run(status))).to.deep.equal([]);
  });
});
