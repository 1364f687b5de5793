/**
 * The local lab end to end (lab/cli.ts): up from a 2-host inventory, real
 * SSH to each host, idempotent second up, down leaving the machine as it was.
 * Needs root (namespaces, mounts, debootstrap); a cold base build takes a
 * few minutes, later runs well under a minute.
 */
import { expect } from 'chai';
import fs from 'node:fs';
import path from 'node:path';
import { $ } from 'zx';
import { loadPlan, sshHostname } from '../lab/lab.js';
import { listNetns, linkExists } from '../lab/netns.js';
import { REPO_ROOT, STATE_DIR } from '../lab/paths.js';
import { loadProxyRecord } from '../lab/proxy.js';
import type { LabPlan } from '../lab/plan.js';
import { isRunning } from '../lab/proc.js';
import { loadState, type ProcRecord } from '../lab/state.js';
import { labCli as lab } from './support/lab-host.js';

const FIXTURE = 'test/fixtures/lab-2hosts.ini';

function mounts(): string[] {
  return fs.readFileSync('/proc/self/mounts', 'utf8').split('\n').filter(Boolean).sort();
}

function whyNotRunnable(): string | undefined {
  if (process.getuid?.() !== 0) return 'the lab needs root (network namespaces, mounts, debootstrap)';
  if (process.platform !== 'linux' || !fs.existsSync('/usr/bin/apt-get')) return 'the lab needs a Debian-like Linux machine';
  if (loadState()) return `a lab is already up (${path.join(STATE_DIR, 'state.json')}): not touching it`;
  return undefined;
}

describe('lab (root only): up / ssh / idempotent up / down', function () {
  this.timeout(20 * 60_000);

  let plan: LabPlan;
  let mountsBefore: string[];
  let netnsBefore: string[];
  let started = false;
  const procs: ProcRecord[] = [];

  before(async function () {
    const why = whyNotRunnable();
    if (why) {
      console.log(`      skipped: ${why}`);
      this.skip();
    }
    plan = await loadPlan(path.join(REPO_ROOT, FIXTURE));
    mountsBefore = mounts();
    netnsBefore = listNetns().sort();
  });

  after(async function () {
    if (started && loadState()) await lab('down');
  });

  it('brings both hosts up', async function () {
    started = true;
    const { code, out } = await lab('up', '-i', FIXTURE);
    expect(code, out).to.equal(0);
    const state = loadState();
    expect(state, 'state file after up').to.not.equal(undefined);
    for (const host of plan.hosts) {
      const init = state!.hosts[host.name]?.init;
      expect(init, `${host.name} recorded`).to.not.equal(undefined);
      expect(isRunning(init!), `${host.name} running`).to.equal(true);
      procs.push(init!);
    }
    const proxy = loadProxyRecord();
    if (proxy) procs.push(proxy);
  });

  it('answers `ssh root@<address> hostname` with its own name on every host', async function () {
    for (const host of plan.hosts) {
      expect(await sshHostname(plan, host.address.ip)).to.equal(host.name);
    }
  });

  it('lets hosts reach each other on their tunnel addresses, and the apt proxy', async function () {
    const [a, b] = plan.hosts;
    const ssh = (ip: string, script: string) =>
      $({
        quiet: true,
      })`ssh -i ${plan.keyFile} -o StrictHostKeyChecking=accept-new -o UserKnownHostsFile=${plan.knownHosts} -o BatchMode=yes ${`root@${ip}`} ${script}`;
    await ssh(a!.address.ip, `ping -c1 -W2 ${b!.tunnel!.ip}`);
    const proxy = await ssh(a!.address.ip, `exec 3<>/dev/tcp/${plan.bridge.ip}/3142 && echo open`);
    expect(proxy.stdout.trim()).to.equal('open');
  });

  it('changes nothing on a second up and says each host is already up', async function () {
    const before = loadState();
    const { code, out } = await lab('up', '-i', FIXTURE);
    expect(code, out).to.equal(0);
    for (const host of plan.hosts) expect(out).to.match(new RegExp(`host ${host.name}: already up`));
    expect(loadState()).to.deep.equal(before);
  });

  it('reports every host in status', async function () {
    const { code, out } = await lab('status');
    expect(code, out).to.equal(0);
    for (const host of plan.hosts) expect(out).to.match(new RegExp(`^${host.name}\\s+${host.address.ip.replace(/\./g, '\\.')}\\s+up\\s`, 'm'));
  });

  it('down removes every namespace, mount, link and process it made', async function () {
    const { code, out } = await lab('down');
    expect(code, out).to.equal(0);
    expect(loadState(), 'state file').to.equal(undefined);
    expect(listNetns().sort(), 'ip netns list').to.deep.equal(netnsBefore);
    expect(mounts(), '/proc/mounts').to.deep.equal(mountsBefore);
    expect(linkExists(plan.bridgeName), `bridge ${plan.bridgeName}`).to.equal(false);
    for (const host of plan.hosts) expect(linkExists(host.vethHost), host.vethHost).to.equal(false);
    for (const p of procs) expect(isRunning(p), `pid ${p.pid}`).to.equal(false);
    started = false;
  });
});
