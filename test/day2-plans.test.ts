/**
 * Day-2 backup, restore and password rotation (issue 17), planned offline:
 * what each would do on the seed inventories, that a second run changes
 * nothing, and that rotating one password changes exactly the files that
 * hold it (and restarts only the services reading them).
 */
import { expect } from 'chai';
import { copyFile, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { runPlaybook } from '../lib/cli/cli.js';
import { Redactor } from '../lib/core/secret.js';
import { loadInventory } from '../lib/inventory/inventory.js';
import { SecretStore } from '../lib/inventory/secrets-store.js';
import { backup } from '../playbooks/backup.js';
import { restore } from '../playbooks/restore.js';
import { rotatePasswords } from '../playbooks/rotate-passwords.js';
import { site } from '../playbooks/site.js';
import { planSite } from './support/plan.js';
import { simulatedCloud } from './support/sim-cloud.js';

const sink = () => {
  let out = '';
  return { stream: new Writable({ write: (c, _e, cb) => ((out += String(c)), cb()) }), text: () => out };
};

describe('day-2 backup, restore and rotation plans', function () {
  this.timeout(120_000);
  let dir: string;
  beforeEach(async () => (dir = await mkdtemp(join(tmpdir(), 'sp-day2-'))));
  afterEach(async () => rm(dir, { recursive: true, force: true }));

  for (const inventory of ['hosts/juno.ini', 'hosts/liberty-ubuntu.ini', 'hosts/lab.ini']) {
    it(`${inventory}: backup archives every host, dumps the databases on the controller only, and a second run changes nothing`, async () => {
      const plan = await planSite(backup, inventory);
      const archives = plan.results.filter((r) => r.task.startsWith('backup ') && !r.task.includes('secrets'));
      expect(archives.map((r) => r.host).sort()).to.deep.equal([...plan.hosts.keys()].filter((h) => h !== 'localhost').sort());
      for (const r of archives) {
        expect(r.status).to.equal('changed');
        expect(r.task.includes('databases'), r.host).to.equal(r.host === 'controller');
      }
      const controller = plan.hosts.get('controller')!.commands.join('\n');
      expect(controller).to.contain('mysqldump -uroot --single-transaction');
      expect(controller).to.contain('chmod 0600');
      expect(plan.hosts.get('compute1')!.commands.join('\n')).not.to.contain('mysqldump');
      expect(plan.secondResults.filter((r) => r.status === 'changed')).to.deep.equal([]);
    });
  }

  it('restore on the plan of a backup: nothing differs, so nothing is restored or restarted', async () => {
    const inv = await loadInventory('hosts/lab.ini');
    const run = simulatedCloud(inv, new SecretStore(join(dir, 'secrets.ini'), new Redactor()));
    await run(site);
    await run(backup);
    const r = await run(restore);
    expect(r.outcome.exitCode).to.equal(0);
    expect(r.results.filter((x) => x.status === 'changed').map((x) => `${x.host} ${x.task}`)).to.deep.equal([]);
    expect(r.results.filter((x) => x.role === 'restore' && x.task.startsWith('restore')).length, '4 hosts, and the databases on the controller').to.equal(5);
  });

  it('rotating nova_pass changes exactly the files that hold it, restarts only their services, then 0 changed', async () => {
    const inv = await loadInventory('hosts/lab.ini');
    const store = () => new SecretStore(join(dir, 'lab.secrets.ini'), new Redactor());
    const cloud = simulatedCloud(inv, store());
    const run = async (secrets: SecretStore) => {
      const plays = await cloud(site, { secrets });
      await secrets.save();
      return plays.results;
    };
    await run(store());
    const rotated = store();
    const old = rotated.get('nova_pass').reveal();
    rotated.rotate(['nova_pass'], { persist: true });
    const fresh = rotated.get('nova_pass').reveal();
    expect(fresh).not.to.equal(old);
    const results = await run(rotated);
    const changed = results.filter((r) => r.status === 'changed');
    const files = changed.flatMap((r) => (r.diffs ?? []).map((d) => `${r.host}:${d.path}`)).sort();
    // nova's password: nova's own config and neutron's [nova] section (to notify nova of port events).
    expect(files).to.deep.equal(['compute1:/etc/nova/nova.conf', 'controller:/etc/neutron/neutron.conf', 'controller:/etc/nova/nova.conf']);
    for (const r of changed) for (const d of r.diffs ?? []) expect(d.after, d.path).to.contain(fresh);
    const restarted = changed.filter((r) => r.handler).map((r) => `${r.host} ${r.task}`);
    expect(restarted.join('\n')).to.match(/compute1 .*nova-compute/);
    expect(restarted.join('\n')).to.match(/controller .*neutron-api/);
    expect(restarted.join('\n')).not.to.match(/glance|cinder|keystone|placement|rabbit|mariadb/);
    // keystone's user gets the new password through the API.
    expect(changed.some((r) => r.host === 'controller' && /user nova/.test(r.task))).to.equal(true);
    expect((await run(store())).filter((r) => r.status === 'changed')).to.deep.equal([]);
  });

  it('rotate-passwords refuses a misspelt secret, and an inventory on default_password, before any host is touched', async () => {
    await copyFile('hosts/juno.ini', join(dir, 'juno.ini'));
    const err = sink();
    const out = sink();
    expect(await rotatePasswords(['-i', join(dir, 'juno.ini'), '--secrets', 'nova_pass'], { stdout: out.stream, stderr: err.stream })).to.equal(5);
    expect(err.text()).to.contain('default_password gives every secret one value');
    const text = (await readFile('hosts/juno.ini', 'utf8')).replace(/^default_password=.*$/m, '');
    await writeFile(join(dir, 'juno.ini'), text);
    await writeFile(join(dir, 'juno.secrets.ini'), 'nova_pass = 0123456789abcdef0123456789abcdef\n', { mode: 0o600 });
    const err2 = sink();
    expect(await rotatePasswords(['-i', join(dir, 'juno.ini'), '--secrets', 'nova_pas'], { stdout: out.stream, stderr: err2.stream })).to.equal(5);
    expect(err2.text()).to.contain('no secret nova_pas in the secrets file (did you mean nova_pass?)');
    expect(await readFile(join(dir, 'juno.secrets.ini'), 'utf8')).to.equal('nova_pass = 0123456789abcdef0123456789abcdef\n');
  });

  it('backup refuses a bad name or keeping no backup, naming the host line, before any host is touched', async () => {
    await copyFile('hosts/juno.ini', join(dir, 'juno.ini'));
    for (const [extra, message] of [
      ['backup_keep=0', 'backup_keep=0: keep at least 1 backup'],
      ['backup_name=../etc', `backup name "../etc": use letters, digits, '.', '_' and '-'`],
    ] as const) {
      const out = sink();
      expect(
        await runPlaybook(backup, ['-i', join(dir, 'juno.ini'), '-e', extra, '--plan', join(dir, 'p')], { stdout: out.stream, stderr: out.stream }),
      ).to.equal(5);
      expect(out.text()).to.match(new RegExp(`juno\\.ini:\\d+: host controller: ${message.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`));
    }
  });

  it('rotation in check mode (--plan) keeps the secrets file as it was', async () => {
    const text = (await readFile('hosts/juno.ini', 'utf8')).replace(/^default_password=.*$/m, '');
    await writeFile(join(dir, 'juno.ini'), text);
    const out = sink();
    // A first plan writes the generated secrets; the rotation's plan must leave them.
    expect(await runPlaybook(site, ['-i', join(dir, 'juno.ini'), '--plan', join(dir, 'p1')], { stdout: out.stream, stderr: out.stream })).to.equal(0);
    const before = await readFile(join(dir, 'juno.secrets.ini'), 'utf8');
    const code = await rotatePasswords(['-i', join(dir, 'juno.ini'), '--secrets', 'all', '--plan', join(dir, 'p2')], {
      stdout: out.stream,
      stderr: out.stream,
    });
    expect(code, out.text()).to.equal(0);
    expect(out.text()).to.match(/rotating \d+ secret\(s\): admin_pass, /);
    expect(await readFile(join(dir, 'juno.secrets.ini'), 'utf8')).to.equal(before);
    expect((await stat(join(dir, 'juno.secrets.ini'))).mode & 0o777).to.equal(0o600);
    for (const value of before.matchAll(/= (\S+)$/gm)) expect(out.text()).not.to.contain(value[1]);
  });
});
