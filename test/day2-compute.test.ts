/**
 * Day-2 add-compute and remove-compute (issue 17), planned offline on the
 * Juno, Liberty and Zed inventories with a second compute host: adding it
 * changes that host, the other nodes' /etc/hosts and (Zed) the cell mapping,
 * nothing else; removing it drains, stops and deletes exactly its records;
 * a second run of each changes nothing.
 */
import { expect } from 'chai';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import type { TaskResult } from '../lib/core/executor.js';
import type { Playbook } from '../lib/core/playbook.js';
import { Redactor } from '../lib/core/secret.js';
import { loadInventory } from '../lib/inventory/inventory.js';
import { SecretStore } from '../lib/inventory/secrets-store.js';
import { openstackPlaybook } from '../openstack/playbook.js';
import { addCompute, addComputePlays } from '../playbooks/add-compute.js';
import { removeCompute, removeComputePlays } from '../playbooks/remove-compute.js';
import { site } from '../playbooks/site.js';
import { simulatedCloud } from './support/sim-cloud.js';

const CASES = [
  { inventory: 'hosts/juno.ini', address: '10.0.0.32', cells: false },
  { inventory: 'hosts/liberty-ubuntu.ini', address: '10.0.0.32', cells: false },
  { inventory: 'hosts/lab.ini', address: '10.42.0.22', cells: true },
] as const;

/** The inventory with compute2 after compute1 in [compute], written to `dir`. */
async function withCompute2(inventory: string, address: string, dir: string): Promise<string> {
  const text = (await readFile(inventory, 'utf8')).replace(/^(compute1 ansible_host=\S+)(.*)$/m, (line, _a, rest: string) => {
    const tunnel = / tunnel_ip=\S+/.test(rest) ? ` tunnel_ip=${address.replace(/\.0\.(\d+)$/, '.1.$1')}` : '';
    return `${line}\ncompute2 ansible_host=${address}${tunnel}`;
  });
  expect(text).to.contain('compute2 ansible_host=');
  const path = join(dir, inventory.split('/').pop()!);
  await writeFile(path, text);
  return path;
}

const summary = (results: readonly TaskResult[]) => results.filter((r) => r.status === 'changed').map((r) => `${r.host} | ${r.role} | ${r.task}`);

describe('day-2 add-compute and remove-compute plans', function () {
  this.timeout(120_000);
  let dir: string;
  beforeEach(async () => (dir = await mkdtemp(join(tmpdir(), 'sp-day2c-'))));
  afterEach(async () => rm(dir, { recursive: true, force: true }));

  for (const c of CASES) {
    it(`${c.inventory}: add compute2 to a deployed cloud, then remove it; each a second time with 0 changed`, async () => {
      const before = await loadInventory(c.inventory);
      const inv = await loadInventory(await withCompute2(c.inventory, c.address, dir));
      const secrets = new SecretStore(join(dir, 'secrets.ini'), new Redactor(), inv.groups.get('all')?.vars.get('default_password')?.value);
      const cloud = simulatedCloud(inv, secrets);
      const run = async (book: Playbook, inventory = inv) => {
        const { outcome, results } = await cloud(book, { inventory });
        expect(outcome.exitCode, summary(results).join('\n')).to.equal(0);
        return results;
      };
      // The cloud as it was before compute2 joined the inventory.
      await run(site, before);
      const addRun = await run(openstackPlaybook('add-compute', addComputePlays(inv, ['compute2'])));
      const added = summary(addRun);
      const elsewhere = added.filter((l) => !l.startsWith('compute2 '));
      const expected = [...inv.hosts.keys()].filter((h) => h !== 'compute2').map((h) => `${h} | common | /etc/hosts: ${inv.hosts.size} entries`);
      expect(elsewhere.filter((l) => !l.includes('discover_hosts'))).to.deep.equal(expected);
      // Zed maps the new host into cell1 (the simulated nova-manage maps nothing, so it reports ok there).
      const discover = addRun.filter((r) => r.host === 'controller' && r.task === 'nova-manage cell_v2 discover_hosts' && r.status !== 'skipped');
      expect(discover.length, 'cell mapping on the controller').to.equal(c.cells ? 1 : 0);
      expect(added.filter((l) => l.startsWith('compute2 ')).length).to.be.greaterThan(10);
      expect(
        added.some((l) => /compute2 \| nova-compute \| service nova-compute started/.test(l)),
        added.join('\n'),
      ).to.equal(true);
      expect(summary(await run(openstackPlaybook('add-compute', addComputePlays(inv, ['compute2'])))), 'second add').to.deep.equal([]);
      // The full site on the grown cloud: already converged.
      expect(summary(await run(site)), 'site after add').to.deep.equal([]);

      const removed = summary(await run(openstackPlaybook('remove-compute', removeComputePlays(['compute2'], false))));
      expect(removed.filter((l) => l.startsWith('controller '))).to.deep.equal([
        'controller | remove-compute | disable nova-compute on compute2',
        "controller | remove-compute | delete compute2's nova-compute service and network agents",
      ]);
      expect(removed.filter((l) => !l.startsWith('controller ') && !l.startsWith('compute2 '))).to.deep.equal([]);
      expect(removed).to.include('compute2 | remove-compute | service nova-compute stopped, disabled');
      expect(summary(await run(openstackPlaybook('remove-compute', removeComputePlays(['compute2'], false)))), 'second remove').to.deep.equal([]);
    });
  }

  it('add-compute and remove-compute refuse hosts outside [compute], no -l, and retiring every compute host; before any host is touched', async () => {
    const path = await withCompute2('hosts/juno.ini', '10.0.0.32', dir);
    let err = '';
    const io = { stdout: new Writable({ write: (_c, _e, cb) => cb() }), stderr: new Writable({ write: (c, _e, cb) => ((err += String(c)), cb()) }) };
    expect(await addCompute(['-i', path, '-l', 'network'], io)).to.equal(5);
    expect(err).to.contain('network not in the compute group');
    expect(await addCompute(['-i', path], io)).to.equal(5);
    expect(err).to.contain('name the new compute hosts: -l compute2');
    expect(await removeCompute(['-i', path, '-l', 'compute'], io)).to.equal(5);
    expect(err).to.contain('that is every compute host (compute1, compute2): keep at least one');
    expect(await removeCompute(['-i', path, '-l', 'nosuchhost'], io)).to.equal(5);
  });
});
