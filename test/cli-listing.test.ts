/**
 * --list-hosts, --list-tasks and --list-tags (issue 18), as ansible-playbook
 * has them: what a run would do, per play, after --limit, --tags and
 * --skip-tags; exit 0, nothing connects and nothing is written.
 */
import { expect } from 'chai';
import { copyFile, mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { runPlaybook } from '../lib/cli/cli.js';
import { site } from '../playbooks/site.js';

async function list(args: readonly string[]): Promise<{ code: number; out: string; files: string[] }> {
  const dir = await mkdtemp(join(tmpdir(), 'sp-list-'));
  try {
    // A copy of the Juno seed's inventory (its hosts do not exist): listing must not need them.
    await copyFile('hosts/juno.ini', join(dir, 'juno.ini'));
    let out = '';
    const stdout = new Writable({ write: (c, _e, cb) => ((out += String(c)), cb()) });
    const stderr = new Writable({ write: (c, _e, cb) => ((out += String(c)), cb()) });
    const code = await runPlaybook(site, ['-i', join(dir, 'juno.ini'), ...args], { stdout, stderr });
    return { code, out, files: await readdir(dir) };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

describe('--list-hosts, --list-tasks, --list-tags', function () {
  this.timeout(60_000);

  it('--list-hosts: the hosts of each play after --limit; exit 0, no secrets file written', async () => {
    const r = await list(['--list-hosts', '--limit', 'compute1']);
    expect(r.code, r.out).to.equal(0);
    expect(r.out).to.match(/^playbook: site\n/);
    expect(r.out).to.contain('  play #1 (prechecks: clocks, names, ports): 1 host\n    hosts (1):\n      compute1\n');
    expect(r.out).not.to.match(/^ {6}controller$/m);
    expect(r.out).not.to.contain('PLAY [');
    expect(r.files).to.deep.equal(['juno.ini']);
  });

  it('--list-tasks: role | task with its tags, only those --tags selects (and always); a task not every host runs names its hosts', async () => {
    const r = await list(['--list-tasks', '--tags', 'keystone']);
    expect(r.code, r.out).to.equal(0);
    expect(r.out).to.contain('      keystone | keystone user admin    TAGS: [keystone]\n');
    expect(r.out).to.contain('      keystone | file /root/admin-openrc.sh    TAGS: [keystone, openrc]\n');
    // prechecks are tagged always; the ports check runs on the controller only.
    expect(r.out).to.match(/prechecks \| precheck: clock in sync {4}TAGS: \[prechecks, always\]\n/);
    expect(r.out).to.match(/prechecks \| precheck: OpenStack ports free or ours \([0-9 ]+\) {4}TAGS: \[prechecks, always\] {4}HOSTS: \[controller\]\n/);
    expect(r.out).not.to.match(/nova \| /);
  });

  it("--list-tags: each play's tags and all of them; --skip-tags leaves a tag out", async () => {
    const r = await list(['--list-tags']);
    expect(r.code, r.out).to.equal(0);
    expect(r.out).to.match(/TASK TAGS: \[.*keystone.*\]/);
    const all = /ALL TAGS: \[(.*)\]/.exec(r.out)?.[1]?.split(', ') ?? [];
    expect(all).to.include.members(['always', 'config', 'database', 'keystone', 'openrc', 'prechecks', 'services']);
    const skipped = await list(['--list-tags', '--skip-tags', 'openrc']);
    expect(/ALL TAGS: \[(.*)\]/.exec(skipped.out)?.[1]?.split(', ')).not.to.include('openrc');
  });

  it('an unknown tag is still bad input (exit 5), listing or not', async () => {
    const r = await list(['--list-tasks', '--tags', 'no-such-tag']);
    expect(r.code).to.equal(5);
    expect(r.out).to.contain('no task of this run has tag no-such-tag');
  });

  it('--start-at-task: the run begins at the first task so named (also role | name, * for anything); earlier plays are left out', async () => {
    const r = await list(['--list-tasks', '--start-at-task', 'keystone user demo']);
    expect(r.code, r.out).to.equal(0);
    const tasks = r.out.split('\n').filter((l) => l.startsWith('      '));
    expect(tasks[0]).to.equal('      keystone | keystone user demo    TAGS: [keystone]');
    expect(r.out).not.to.contain('keystone user admin');
    expect(r.out).not.to.contain('prechecks |');
    expect(r.out).to.match(/glance \| /);
    // In the play it starts in, a host without that task runs nothing there.
    const ports = await list(['--list-tasks', '--start-at-task', 'precheck: OpenStack ports*']);
    const play1 = ports.out.split('\n  play #2')[0]!;
    expect(play1).to.match(/prechecks \| precheck: OpenStack ports free or ours \([0-9 ]+\) {4}TAGS: \[prechecks, always\] {4}HOSTS: \[controller\]\n$/);
    expect(play1).not.to.contain('clock in sync');
    const glob = await list(['--list-tasks', '--start-at-task', 'glance | keystone user *']);
    expect(glob.out.split('\n').find((l) => l.startsWith('      '))).to.equal('      glance | keystone user glance    TAGS: [keystone]');
  });

  it('--start-at-task naming no task is bad input (exit 5) with the nearest name', async () => {
    const r = await list(['--list-tasks', '--start-at-task', 'keystone user dmeo']);
    expect(r.code).to.equal(5);
    expect(r.out).to.contain('--start-at-task: no task of this run is named "keystone user dmeo" (did you mean "keystone user demo"?)');
  });
});
