import { expect } from 'chai';
import { readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { REPO_ROOT } from '../lab/paths.js';
import { loadState } from '../lab/state.js';
import { labCli, onLabHost } from './support/lab-host.js';
import { runPlaybook } from './support/playbook-run.js';

/**
 * Issue 3's promise: the engine against lab hosts (network namespaces with
 * their own rootfs and sshd). apt installs a real package through the proxy,
 * a config edit restarts a real daemon through its init script, a second run
 * changes nothing and restarts nothing (pids compared), and a changed
 * variable changes exactly that file and restarts exactly that daemon.
 */
const FIXTURE = 'test/fixtures/lab-2hosts.ini';
const HOSTS = [
  ['labtest1', '10.42.0.51'],
  ['labtest2', '10.42.0.52'],
] as const;

const cli = (inventory: string) => runPlaybook('memcached', ['-i', inventory, '--json', path.join(REPO_ROOT, '.lab/lab-engine.json')]);

const pids = async () => Promise.all(HOSTS.map(([, a]) => onLabHost(a, 'pidof memcached || echo none')));

describe('lab (root only): the engine on lab hosts', function () {
  this.timeout(20 * 60_000);
  let started = false;
  const tuned = path.join(REPO_ROOT, '.lab/lab-engine-128.ini');

  before(async function () {
    if (process.getuid?.() !== 0) return this.skip();
    if (loadState()) {
      console.log('      skipped: a lab is already up; not touching it');
      return this.skip();
    }
    started = true;
    const up = await labCli('up', '-i', FIXTURE);
    expect(up.code, up.out).to.equal(0);
  });

  after(async () => {
    if (started) await labCli('down');
    await rm(tuned, { force: true });
  });

  let firstPids: string[] = [];

  it('installs memcached through the apt proxy, configures it, restarts it once via the handler', async () => {
    const run = await cli(FIXTURE);
    expect(run.code, run.out).to.equal(0);
    // Debian's package starts and enables memcached itself (with -m 64), so the service task finds it running.
    for (const [name] of HOSTS) expect(run.out).to.match(new RegExp(`${name} +: ok=1 changed=4 unreachable=0 failed=0`));
    firstPids = await pids();
    for (const pid of firstPids) expect(pid).to.match(/^\d+$/);
    for (const [, a] of HOSTS) {
      expect(await onLabHost(a, "grep '^-m ' /etc/memcached.conf")).to.equal('-m 96');
      expect(await onLabHost(a, 'ps -o args= -C memcached')).to.contain('-m 96');
      expect(await onLabHost(a, "dpkg-query -W -f='${Status}' memcached")).to.equal('install ok installed');
    }
  });

  it('second run: 0 changed, no daemon restarted', async () => {
    const run = await cli(FIXTURE);
    expect(run.code, run.out).to.equal(0);
    for (const [name] of HOSTS) expect(run.out).to.match(new RegExp(`${name} +: ok=4 changed=0 unreachable=0 failed=0`));
    expect(await pids()).to.deep.equal(firstPids);
  });

  it('a changed variable changes that file and restarts that daemon only, then converges', async () => {
    await writeFile(tuned, (await readFile(path.join(REPO_ROOT, FIXTURE), 'utf8')).replace('[all:vars]', '[all:vars]\nmemcached_mb=128'));
    const run = await cli(tuned);
    expect(run.code, run.out).to.equal(0);
    const report = JSON.parse(await readFile(path.join(REPO_ROOT, '.lab/lab-engine.json'), 'utf8')) as {
      results: { host: string; task: string; status: string; handler: boolean }[];
    };
    const changed = report.results
      .filter((r) => r.status === 'changed')
      .map((r) => `${r.host}:${r.handler ? 'handler:' : ''}${r.task}`)
      .sort();
    expect(changed).to.deep.equal(
      HOSTS.flatMap(([h]) => [
        `${h}:handler:service memcached restarted`,
        `${h}:ini /etc/stackplay-lab.ini [memcached]`,
        `${h}:line /etc/memcached.conf: -m 128`,
      ]).sort(),
    );
    const after = await pids();
    after.forEach((p, i) => expect(p).to.not.equal(firstPids[i]));
    const again = await cli(tuned);
    expect(again.out).to.match(/labtest1 +: ok=4 changed=0/);
  });
});
