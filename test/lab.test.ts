/**
 * The local lab end to end (lab/cli.ts): up from a 2-host inventory, systemd
 * as PID 1 in a cgroup subtree of each host's own, real SSH to each host, the
 * external network reachable from this machine and external_ip hosts only, idempotent second up,
 * down leaving the machine as it was.
 * Needs root (namespaces, mounts, debootstrap); a cold base build takes a
 * few minutes, later runs well under a minute.
 */
import { expect } from 'chai';
import fs from 'node:fs';
import path from 'node:path';
import { $ } from 'zx';
import { loadPlan, sshHostname } from '../lab/lab.js';
import { hostInitPid } from '../lab/host.js';
import { checkSubnetsFree, listNetns, linkExists } from '../lab/netns.js';
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

  const ssh = (ip: string, script: string) =>
    $({
      quiet: true,
      nothrow: true,
    })`ssh -i ${plan.keyFile} -o StrictHostKeyChecking=accept-new -o UserKnownHostsFile=${plan.knownHosts} -o BatchMode=yes ${`root@${ip}`} ${script}`;

  it('boots systemd as PID 1 on every host, each in a cgroup subtree of its own on the machine', async function () {
    const state = loadState()!;
    for (const host of plan.hosts) {
      const inside = await ssh(
        host.address.ip,
        "cat /proc/1/comm; systemctl is-system-running; sed -n 's/^[0-9]*:name=systemd://p' /proc/1/cgroup; systemctl is-active ssh",
      );
      expect(inside.stdout.trim().split('\n'), host.name).to.deep.equal(['systemd', 'running', '/init.scope', 'active']);
      // Seen from the machine: PID 1 and sshd's unit live under lab-<host>, never beside the other host's.
      const pid1 = hostInitPid(state.hosts[host.name]!.init!);
      expect(fs.readFileSync(`/proc/${pid1}/cgroup`, 'utf8')).to.match(new RegExp(`name=systemd:/lab-${host.name}/init\\.scope$`, 'm'));
      expect(fs.existsSync(`/sys/fs/cgroup/systemd/lab-${host.name}/system.slice/ssh.service`), `${host.name} ssh.service cgroup`).to.equal(true);
      expect(state.hosts[host.name]!.cgroups, `${host.name} cgroups recorded`).to.include(`/sys/fs/cgroup/systemd/lab-${host.name}`);
    }
  });

  it('links provider_interface and external_ip hosts to the external bridge; nothing there reaches the machine unasked', async function () {
    const [a, b] = plan.hosts;
    expect(plan.external?.bridgeName).to.equal('splabx0');
    expect((await $({ quiet: true })`ip -4 -o addr show dev splabx0`).stdout).to.match(/inet 198\.51\.100\.1\/24/);
    // An address on labtest2's eth1 stands in for a floating IP (neutron puts the link into its bridge).
    expect((await ssh(b!.address.ip, 'ip addr add 198.51.100.77/24 dev eth1')).exitCode).to.equal(0);
    try {
      expect((await $({ quiet: true, nothrow: true })`ping -c1 -W3 198.51.100.77`).exitCode, 'machine → external address').to.equal(0);
      expect((await ssh(b!.address.ip, 'ping -c1 -W2 198.51.100.1')).exitCode, 'external network → machine, unasked').to.not.equal(0);
      // labtest1 (external_ip) is a client there, as Tempest's host is: it reaches the address over its own eth1.
      expect((await ssh(a!.address.ip, 'ip -4 -o addr show dev eth1')).stdout, 'labtest1 eth1').to.match(/inet 198\.51\.100\.9\/24/);
      expect((await ssh(a!.address.ip, 'ip route get 198.51.100.77')).stdout, 'route').to.match(/dev eth1/);
      expect((await ssh(a!.address.ip, 'ping -c1 -W2 198.51.100.77')).exitCode, 'client host → external address').to.equal(0);
      expect((await ssh(a!.address.ip, 'ping -c1 -W2 198.51.100.1')).exitCode, 'client host → machine, unasked').to.not.equal(0);
    } finally {
      await ssh(b!.address.ip, 'ip addr del 198.51.100.77/24 dev eth1');
    }
  });

  it('lets hosts reach each other on their tunnel addresses, and the apt proxy', async function () {
    const [a, b] = plan.hosts;
    expect((await ssh(a!.address.ip, `ping -c1 -W2 ${b!.tunnel!.ip}`)).exitCode).to.equal(0);
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
    expect(linkExists('splabx0'), 'external bridge').to.equal(false);
    for (const host of plan.hosts) {
      expect(linkExists(host.vethHost), host.vethHost).to.equal(false);
      if (host.external) expect(linkExists(host.external.vethHost), host.external.vethHost).to.equal(false);
      expect(fs.existsSync(`/sys/fs/cgroup/systemd/lab-${host.name}`), `cgroup lab-${host.name}`).to.equal(false);
      expect(fs.existsSync(`/sys/fs/cgroup/unified/lab-${host.name}`), `cgroup2 lab-${host.name}`).to.equal(false);
    }
    for (const p of procs) expect(isRunning(p), `pid ${p.pid}`).to.equal(false);
    started = false;
  });
});

describe('lab subnets: never over an address the machine reaches beyond its links', () => {
  it("refuses an external_cidr holding the machine's package mirror or DNS server, and accepts one that does not", async () => {
    const mirror = { host: '203.0.113.80', what: 'package mirror' };
    let error: unknown;
    await checkSubnetsFree([{ ip: '203.0.113.1', prefix: 24 }], ['splabx0'], [mirror]).catch((e: unknown) => (error = e));
    expect(String(error)).to.include("lab subnet 203.0.113.0/24 overlaps the machine's package mirror (203.0.113.80 is 203.0.113.80)");
    await checkSubnetsFree([{ ip: '198.51.100.1', prefix: 24 }], ['splabx0'], [mirror]);
  });
});
