import { expect } from 'chai';
import { copyFile, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { execute, type TaskResult } from '../../lib/core/executor.js';
import { resolvePlaybook } from '../../lib/core/resolve.js';
import { Redactor } from '../../lib/core/secret.js';
import { loadInventory } from '../../lib/inventory/inventory.js';
import { SecretStore } from '../../lib/inventory/secrets-store.js';
import { readIni } from '../../lib/modules/ini-edit.js';
import { simulatedHosts } from '../../lib/sim/hosts.js';
import { sitePlays } from '../../playbooks/site.js';
import { openstackPlaybook } from '../../openstack/playbook.js';

/**
 * Day 2 on each seed's converged site (simulated hosts): one nova option put
 * on group `compute` only, as `hosts/<inv>.d/group_compute/etc/nova/nova.conf`.
 * The next run changes exactly the compute hosts' nova.conf and runs exactly
 * nova-compute's restart; the run after changes nothing. The inventory is a
 * copy in a temporary directory (the real `hosts/*.d` stays empty).
 */

const book = openstackPlaybook('site', sitePlays);
const NOVA = '/etc/nova/nova.conf';

interface Day2 {
  readonly first: readonly TaskResult[];
  /** `--check` with the override on the converged hosts. */
  readonly predicted: readonly TaskResult[];
  readonly withOverride: readonly TaskResult[];
  readonly again: readonly TaskResult[];
  readonly warnings: readonly string[];
  /** nova.conf of each host after the override run. */
  readonly novaConf: ReadonlyMap<string, string | undefined>;
}

async function day2(inventory: string, override: string): Promise<Day2> {
  const dir = await mkdtemp(join(tmpdir(), 'sp-overrides-'));
  try {
    const path = join(dir, basename(inventory));
    await copyFile(inventory, path);
    const secrets = new SecretStore(join(dir, 'secrets.ini'), new Redactor(), 'openstack-day2');
    const before = await loadInventory(path);
    const sim = simulatedHosts(before, book.simulation);
    const base = { check: false, forks: 50, tags: [], skipTags: [], connect: sim.connect, simulation: book.simulation };
    const run = async (plays: ReturnType<typeof resolvePlaybook>, check = false) => {
      const results: TaskResult[] = [];
      const outcome = await execute(plays, { ...base, check, emit: (e) => e.type === 'task' && results.push(e.result) });
      expect(
        outcome.exitCode,
        results
          .filter((r) => r.status === 'failed')
          .map((r) => `${r.host}: ${r.task}: ${r.error}`)
          .join('\n'),
      ).to.equal(0);
      return results;
    };
    const first = await run(resolvePlaybook(book, before, secrets));

    const file = join(dir, basename(inventory).replace(/\.ini$/, '.d'), 'group_compute', 'etc', 'nova', 'nova.conf');
    await mkdir(dirname(file), { recursive: true });
    await writeFile(file, override);
    const warnings: string[] = [];
    const plays = resolvePlaybook(book, await loadInventory(path), secrets, undefined, (m) => warnings.push(m));
    const predicted = await run(plays, true);
    const withOverride = await run(plays);
    const again = await run(plays);
    const novaConf = new Map(
      [...sim.hosts].map(([name, h]) => {
        const e = h.files.get(NOVA);
        return [name, e?.type === 'file' ? e.content : undefined];
      }),
    );
    return { first, predicted, withOverride, again, warnings, novaConf };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** Changed tasks as `host: role | handler NAME` or `host: role | ini PATH` (an ini task's name goes on with its sections). */
const changed = (results: readonly TaskResult[]) =>
  results
    .filter((r) => r.status === 'changed')
    .map((r) => `${r.host}: ${r.role} | ${r.handler ? `handler ${r.task}` : r.module === 'ini' ? r.task.split(' ').slice(0, 2).join(' ') : r.task}`);

const OVERRIDE = '# day 2: more headroom on compute nodes\n[DEFAULT]\ncpu_allocation_ratio = 4.0\n';

for (const [inventory, computes, others, warning] of [
  ['hosts/juno.ini', ['compute1'], ['controller'], /nova\.conf: option names not checked: nova removed etc\/nova\/nova\.conf\.sample/],
  ['hosts/liberty-ubuntu.ini', ['compute1'], ['controller'], /nova\.conf: option names not checked: nova Liberty ships no nova\.conf\.sample/],
  ['hosts/lab.ini', ['compute1'], ['controller'], undefined],
] as const) {
  describe(`config overrides, day 2 on ${inventory}: one nova option on group compute`, function () {
    this.timeout(120_000);
    let d: Day2;
    before(async () => {
      d = await day2(inventory, OVERRIDE);
    });

    it('changes only the compute hosts’ nova.conf and restarts only nova-compute there', () => {
      expect(changed(d.first).length, 'the first run deploys').to.be.greaterThan(50);
      expect(changed(d.withOverride)).to.deep.equal(
        computes.flatMap((h) => [`${h}: nova-compute | ini ${NOVA}`, `${h}: nova-compute | handler service nova-compute restarted`]),
      );
    });

    it('writes the option on compute hosts only, beside what the role writes', () => {
      for (const h of computes) {
        const conf = readIni(d.novaConf.get(h)!);
        expect(conf.get('DEFAULT')?.get('cpu_allocation_ratio'), h).to.equal('4.0');
        expect(
          conf.get('DEFAULT')?.get('transport_url') ?? conf.get('DEFAULT')?.get('rabbit_host') ?? conf.get('oslo_messaging_rabbit')?.get('rabbit_host'),
          `${h}: the role's settings stay`,
        ).to.be.a('string');
      }
      for (const h of others) expect(readIni(d.novaConf.get(h)!).get('DEFAULT')?.get('cpu_allocation_ratio'), h).to.equal(undefined);
    });

    it('--check predicts exactly that, with nothing left to run', () => {
      expect(changed(d.predicted)).to.deep.equal(changed(d.withOverride));
      expect(d.predicted.filter((r) => r.status === 'would-run').map((r) => `${r.host}: ${r.task}`)).to.deep.equal([]);
    });

    it('a second run with the override changes nothing', () => {
      expect(changed(d.again)).to.deep.equal([]);
    });

    it(
      warning ? 'says that this release’s nova options cannot be checked' : 'checks the option against the release’s catalog, silently when it is known',
      () => {
        if (warning) expect(d.warnings.join('\n')).to.match(warning);
        else expect(d.warnings).to.deep.equal([]);
      },
    );
  });
}
