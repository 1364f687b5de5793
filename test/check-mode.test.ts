import { expect } from 'chai';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execute, type TaskResult } from '../lib/core/executor.js';
import { defineRole, type Playbook } from '../lib/core/playbook.js';
import { sh } from '../lib/core/shell.js';
import { makeTask, noChange, type ShellFact, type Task } from '../lib/core/task.js';
import type { SimHost } from '../lib/sim/sim.js';
import { resolvePlaybook } from '../lib/core/resolve.js';
import { Redactor } from '../lib/core/secret.js';
import { loadInventory, parseInventory, type Inventory } from '../lib/inventory/inventory.js';
import { SecretStore } from '../lib/inventory/secrets-store.js';
import { simulatedHosts, type SimulatedHosts } from '../lib/sim/hosts.js';
import { site } from '../playbooks/site.js';
import { inventoryWith } from './support/golden.js';
import { compareCheck, taskKey, unexplainedWouldRun } from './support/check-compare.js';

/**
 * Check mode follows its own predictions (issue 12), proven on simulated
 * hosts standing in for real ones: `--check` of the whole site on fresh
 * hosts fails nothing, changes nothing, and predicts every task the real
 * run then changes; on a converged cloud after one inventory change it
 * predicts exactly what the real run changes. test/lab-openstack.test.ts
 * proves the same on real lab hosts.
 */

interface World {
  readonly sim: SimulatedHosts;
  run(check: boolean, inventory?: Inventory): Promise<{ results: TaskResult[]; exitCode: number }>;
  /** Every simulated host's files, state sets and command log, to prove check mode touched nothing. */
  snapshot(): string;
}

async function world(book: Playbook, inventory: Inventory, dir: string): Promise<World> {
  const secrets = new SecretStore(join(dir, 'secrets.ini'), new Redactor(), inventory.groups.get('all')?.vars.get('default_password')?.value);
  const sim = simulatedHosts(inventory, book.simulation);
  // As on a fresh real host, no service the site manages is installed before its package is (check mode must not fail on that).
  for (const play of resolvePlaybook(book, inventory, secrets))
    for (const [host, roles] of play.hosts)
      for (const role of roles)
        for (const t of [...role.tasks, ...Object.values(role.handlers)]) {
          const service = t.kind === 'task' && t.module === 'service' ? /^service (\S+)/.exec(t.name)?.[1] : undefined;
          if (service !== undefined) sim.hosts.get(host)?.set('services:missing').add(service);
        }
  return {
    sim,
    async run(check, inv = inventory) {
      const results: TaskResult[] = [];
      const plays = resolvePlaybook(book, inv, secrets);
      const outcome = await execute(plays, {
        check,
        simulation: book.simulation,
        forks: 50,
        tags: [],
        skipTags: [],
        connect: sim.connect,
        emit: (e) => e.type === 'task' && results.push(e.result),
      });
      return { results, exitCode: outcome.exitCode };
    },
    snapshot: () =>
      JSON.stringify(
        // Logging in (POST …/v3/auth/tokens, …/v2.0/tokens) reads a service; it changes nothing.
        [...sim.hosts.values()].map((h) => [h.name, [...h.files], h.log.filter((l) => !/^POST \S+\/tokens /.test(l)), [...h.touched], h.network.state]),
        // Tokens issued to log in (and the id counter they advance) are not a change of the cloud.
        (k, v: unknown) => (['tokens', 'issued', 'counter'].includes(k) ? undefined : v instanceof Map ? [...v] : v instanceof Set ? [...v] : v),
      ),
  };
}

describe('check mode follows its own predictions (simulated hosts)', function () {
  this.timeout(120_000);
  let dir: string;
  before(async () => (dir = await mkdtemp(join(tmpdir(), 'sp-check-'))));
  after(() => rm(dir, { recursive: true, force: true }));

  for (const name of ['juno', 'liberty-ubuntu', 'liberty-centos', 'allinone', 'lab']) {
    it(`${name}: on fresh hosts, --check fails nothing, changes nothing, and predicts every change of the real run`, async () => {
      const w = await world(site, await loadInventory(`hosts/${name}.ini`), dir);
      const before = w.snapshot();
      const check = await w.run(true);
      expect(w.snapshot(), 'check mode changed a host').to.equal(before);
      expect(
        check.results.filter((r) => r.status === 'failed').map((r) => `${r.host}: ${r.task}: ${r.error}`),
        'failed in check mode',
      ).to.deep.equal([]);
      expect(check.exitCode).to.equal(0);
      // Every role that changes something on a host is predicted to change it there.
      const rolesChanging = (results: TaskResult[], status: TaskResult['status']) =>
        new Set(results.filter((r) => r.status === status).map((r) => `${r.host} ${r.role}`));
      const real = await w.run(false);
      expect(real.exitCode).to.equal(0);
      expect([...rolesChanging(real.results, 'changed')].filter((k) => !rolesChanging(check.results, 'changed').has(k))).to.deep.equal([]);
      const cmp = compareCheck(check.results, real.results);
      expect(cmp.unpredicted, 'changed by the real run but predicted neither changed nor would-run').to.deep.equal([]);
      // Would-run must stay the exception: commands whose outcome only running tells.
      const wouldRun = check.results.filter((r) => r.status === 'would-run');
      expect(wouldRun.filter((r) => r.reason?.startsWith('cannot predict')).map((r) => `${taskKey(r)}: ${r.reason}`)).to.deep.equal([]);
    });
  }

  it('juno, converged, after one inventory change: --check predicts exactly the tasks and handlers the real run changes', async () => {
    const path = 'hosts/juno.ini';
    const w = await world(site, await loadInventory(path), dir);
    expect((await w.run(false)).exitCode).to.equal(0);
    const changed = parseInventory(await inventoryWith(path, '[all:vars]\nglance_workers=3'), join(dir, 'changed.ini'));
    const before = w.snapshot();
    const check = await w.run(true, changed);
    expect(w.snapshot(), 'check mode changed a host').to.equal(before);
    const real = await w.run(false, changed);
    const cmp = compareCheck(check.results, real.results);
    expect(cmp.predicted).to.deep.equal(cmp.changed);
    expect(cmp.changed.length, 'the change restarts glance').to.be.greaterThan(0);
    expect(cmp.changed.some((k) => k.includes('handler: service glance-api restarted'))).to.equal(true);
    // What stays unknown is only what running tells (migrations, commands with changedWhen) and the handlers only they notify.
    expect(unexplainedWouldRun(check.results)).to.deep.equal([]);
  });
});

describe('check mode: what cannot be predicted', () => {
  const probe = (answer: (h: SimHost) => string): ShellFact<string> => ({ kind: 'shell', script: sh`true`, parse: () => 'real', simulate: answer });
  const broken: ShellFact<string> = {
    kind: 'shell',
    script: sh`true`,
    parse: () => 'real',
    simulate: (h) => {
      // The host itself cannot answer (no mysql yet); check mode's overlay (a tracked simulated host) can.
      if (!h.tracker) throw new Error('mysql: command not found');
      return 'answered';
    },
  };
  const write = (path: string) =>
    makeTask({
      module: 'file',
      name: `write ${path}`,
      facts: {},
      plan: () => ({ action: 'change', summary: 'w', steps: [{ kind: 'write', path, content: 'x' }] }),
    });
  const install = makeTask({
    module: 'package',
    name: 'install mysqld',
    facts: {},
    plan: () => ({
      action: 'change',
      summary: 'install',
      steps: [{ kind: 'exec', cmd: sh`apt-get install mysqld`, simulate: (h) => void h.set('packages').add('mysqld') }],
    }),
  });
  const reads = (fact: ShellFact<string>) => makeTask({ module: 'probe', name: 'reads', facts: { v: fact }, plan: ({ v }) => noChange(v) });
  const migrate = makeTask<Record<string, never>, 'restart'>({
    module: 'migration',
    name: 'db sync',
    options: { notify: ['restart'] },
    facts: {},
    plan: () => ({ action: 'run', summary: 'sync', steps: [{ kind: 'exec', cmd: sh`sync-db`, changedWhen: () => false }] }),
  });
  const restart = makeTask({
    module: 'service',
    name: 'restart',
    facts: {},
    plan: () => ({ action: 'change', summary: 'restart', steps: [{ kind: 'exec', cmd: sh`restart` }] }),
  });

  async function check(tasks: Task<'restart'>[]): Promise<TaskResult[]> {
    const inv = parseInventory('h ansible_host=10.9.0.1\n', 'inline.ini');
    const sim = simulatedHosts(inv);
    const results: TaskResult[] = [];
    const role = defineRole('r', { restart }).tasks(tasks);
    await execute([{ name: 'p', hosts: new Map([['h', [role]]]) }], {
      check: true,
      forks: 1,
      tags: [],
      skipTags: [],
      connect: sim.connect,
      emit: (e) => e.type === 'task' && results.push(e.result),
    });
    expect(sim.hosts.get('h')!.log, 'check mode ran something').to.deep.equal([]);
    return results;
  }
  const brief = (results: TaskResult[]) => results.map((r) => `${r.handler ? 'H:' : ''}${r.task}=${r.status}${r.reason ? ` (${r.reason})` : ''}`);

  it('a command whose outcome only running tells would run, and so would the handler only it notifies', async () => {
    expect(brief(await check([migrate]))).to.deep.equal([
      'db sync=would-run (outcome is known only by running it)',
      'H:restart=would-run (runs if "db sync" changes something)',
    ]);
  });

  it('a fact the host cannot answer fails the task before any predicted change, and would run after one', async () => {
    expect(brief(await check([reads(broken)]))).to.deep.equal(['reads=failed']);
    const after = brief(await check([write('/etc/x'), reads(broken)]));
    expect(after[1]).to.match(/^reads=would-run \(cannot predict: Error: mysql: command not found/);
  });

  it('once a package install is predicted, what the host cannot answer yet is answered by the predictions, and said so', async () => {
    const results = await check([install, reads(broken)]);
    expect(brief(results)).to.deep.equal([
      'install mysqld=changed',
      'reads=ok (answered; predicted from what this run would install (the host cannot answer yet: mysql: command not found))',
    ]);
  });

  it('a fact reading what a predicted step changed gets the prediction; other facts the real answer', async () => {
    const file = (h: SimHost) => (h.files.get('/etc/x')?.type === 'file' ? 'predicted' : 'absent');
    expect(brief(await check([reads(probe(file))]))).to.deep.equal(['reads=ok (absent)']);
    expect(brief(await check([write('/etc/x'), reads(probe(file)), reads(probe((h) => h.value('other') ?? 'unset'))]))).to.deep.equal([
      'write /etc/x=changed',
      'reads=ok (predicted)',
      'reads=ok (unset)',
    ]);
  });
});
