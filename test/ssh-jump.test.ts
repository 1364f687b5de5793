import { expect } from 'chai';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { JumpPool } from '../lib/transport/jump-pool.js';
import { knownHostsName } from '../lib/transport/known-hosts.js';
import { connectSsh } from '../lib/transport/ssh.js';
import type { SshHop, SshOptions } from '../lib/transport/ssh-options.js';
import type { Transport } from '../lib/transport/transport.js';
import { acceptedConnections as accepted, keygen, startSshd, type TestSshd } from './support/sshd.js';
import { unreachable as rejection } from './support/unreachable.js';

/**
 * Jump hosts on loopback sshds: a bastion (LogLevel VERBOSE, so its log
 * counts connections), an inner jump host, and three targets, all accepting
 * one client key. Every target is reached through direct-tcpip channels of
 * the jump hosts, as `ssh -J` does.
 */

async function until(what: string, check: () => boolean, ms = 5_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

describe('SSH through jump hosts (local sshds)', function () {
  this.timeout(60_000);
  let work: string;
  let key: string;
  let bastion: TestSshd;
  let inner: TestSshd;
  let targets: TestSshd[];
  let seq = 0;
  const knownHosts = (): string => join(work, `known_hosts.${++seq}`);

  const hop = (sshd: TestSshd, name: string): SshHop => ({ name, address: sshd.address, port: sshd.port, username: 'root' });
  const opts = (target: TestSshd, i: number, extra: Partial<SshOptions>): SshOptions => ({
    host: `node${i}`,
    address: target.address,
    port: target.port,
    privateKeyPath: key,
    knownHostsPath: join(work, 'unused'),
    ...extra,
  });

  before(async function () {
    work = await mkdtemp(join(tmpdir(), 'sp-jump-'));
    key = join(work, 'id_ed25519');
    await keygen(key);
    const verbose = { clientKeyPath: key, extraConfig: ['LogLevel VERBOSE'] };
    [bastion, inner, ...targets] = await Promise.all([startSshd(verbose), startSshd(verbose), ...[1, 2, 3].map(() => startSshd({ clientKeyPath: key }))]);
  });

  after(async function () {
    await Promise.all([bastion, inner, ...(targets ?? [])].map((s) => s?.stop()));
    if (work) await rm(work, { recursive: true, force: true });
  });

  it('reaches a host through one jump host, recording both host keys under their own names', async function () {
    const kh = knownHosts();
    const t = await connectSsh(opts(targets[0]!, 1, { jumps: [hop(bastion, 'bastion')], knownHostsPath: kh }));
    try {
      // The target's sshd sees the bastion's forward, not us: the connection really went through it.
      expect((await t.exec('echo "$SSH_CLIENT" | cut -d" " -f1; echo ok')).stdout).to.equal('127.0.0.1\nok\n');
    } finally {
      await t.close();
    }
    const names = (await readFile(kh, 'utf8'))
      .trim()
      .split('\n')
      .map((l) => l.split(' ')[0]);
    expect(names).to.deep.equal([knownHostsName('127.0.0.1', bastion.port), knownHostsName('127.0.0.1', targets[0]!.port)]);
  });

  it('reaches a host through two jump hosts, and checks every hop strictly once recorded', async function () {
    const kh = knownHosts();
    const jumps = [hop(bastion, 'bastion'), hop(inner, 'inner')];
    const first = await connectSsh(opts(targets[1]!, 2, { jumps, knownHostsPath: kh }));
    await first.close();
    const lines = (await readFile(kh, 'utf8')).trim().split('\n');
    expect(lines.map((l) => l.split(' ')[0])).to.deep.equal([bastion, inner, targets[1]!].map((s) => knownHostsName('127.0.0.1', s.port)));
    expect(lines.map((l) => l.split(' ').slice(1).join(' '))).to.deep.equal([bastion, inner, targets[1]!].map((s) => s.hostPublicKey));
    // Strict: every hop must now be known; they are.
    const second = await connectSsh(opts(targets[1]!, 2, { jumps, knownHostsPath: kh, hostKeyPolicy: 'strict' }));
    expect((await second.exec('echo through two')).stdout).to.equal('through two\n');
    await second.close();
    // Strict with the inner hop unknown: stopped at that hop, which the message names.
    await writeFile(kh, lines.filter((l) => !l.startsWith(knownHostsName('127.0.0.1', inner.port))).join('\n') + '\n');
    const err = await rejection(connectSsh(opts(targets[1]!, 2, { jumps, knownHostsPath: kh, hostKeyPolicy: 'strict' })));
    expect(err.message).to.match(/^node2: jump host inner \(root@127\.0\.0\.1:\d+\): host key .* is not in .* \(strict host key checking\)$/);
    expect(err.transient).to.equal(false);
  });

  it('opens one connection to the jump host for every host behind it, and closes it with the last', async function () {
    const kh = knownHosts();
    const pool = new JumpPool();
    const before = accepted(bastion);
    const transports: Transport[] = await Promise.all(
      targets.map((t, i) => connectSsh(opts(t, i, { jumps: [hop(bastion, 'bastion')], knownHostsPath: kh, jumpPool: pool }))),
    );
    const outputs = await Promise.all(transports.map((t) => t.exec('echo $PPID >/dev/null; echo up')));
    expect(outputs.map((o) => o.stdout)).to.deep.equal(['up\n', 'up\n', 'up\n']);
    expect(pool.opened).to.equal(1);
    expect(accepted(bastion) - before, bastion.log()).to.equal(1);
    // Two of three closed: the jump connection stays for the third.
    const disconnects = (): number => (bastion.log().match(/Disconnected from user root/g) ?? []).length;
    const gone = disconnects();
    await transports[0]!.close();
    await transports[1]!.close();
    await new Promise((r) => setTimeout(r, 300));
    expect(disconnects()).to.equal(gone);
    expect((await transports[2]!.exec('echo still')).stdout).to.equal('still\n');
    await transports[2]!.close();
    await until('the bastion to see the jump connection close', () => disconnects() === gone + 1);
    // The next host behind it opens a new one.
    const again = await connectSsh(opts(targets[0]!, 0, { jumps: [hop(bastion, 'bastion')], knownHostsPath: kh, jumpPool: pool }));
    await again.close();
    expect(pool.opened).to.equal(2);
  });

  it('stops every host behind a jump host whose key changed, naming the jump host, recording nothing', async function () {
    const kh = knownHosts();
    const impostor = join(work, 'impostor');
    await keygen(impostor);
    const recorded = `${knownHostsName('127.0.0.1', bastion.port)} ${(await readFile(`${impostor}.pub`, 'utf8')).split(' ').slice(0, 2).join(' ')}\n`;
    await writeFile(kh, recorded);
    const pool = new JumpPool();
    const before = accepted(bastion);
    const targetLogs = targets.map((t) => t.log());
    const errors = await Promise.all(
      targets.map((t, i) => rejection(connectSsh(opts(t, i, { jumps: [hop(bastion, 'bastion')], knownHostsPath: kh, jumpPool: pool })))),
    );
    for (const [i, err] of errors.entries()) {
      expect(err.host).to.equal(`node${i}`);
      expect(err.message).to.match(/jump host bastion \(root@127\.0\.0\.1:\d+\): host key changed for \[127\.0\.0\.1\]:\d+/);
      expect(err.transient, 'a changed key is never retried').to.equal(false);
    }
    // A later host behind it gets the same verdict without another login attempt.
    const later = await rejection(connectSsh(opts(targets[0]!, 9, { jumps: [hop(bastion, 'bastion')], knownHostsPath: kh, jumpPool: pool })));
    expect(later.message).to.match(/^node9: jump host bastion .*host key changed/);
    expect(accepted(bastion) - before).to.equal(1);
    // No target was contacted: known_hosts is as it was, no target key recorded.
    expect(await readFile(kh, 'utf8')).to.equal(recorded);
    expect(targets.map((t) => t.log())).to.deep.equal(targetLogs);
  });

  it('reports a target the jump host cannot reach as transient, naming the jump host', async function () {
    const err = await rejection(
      connectSsh({ host: 'nowhere', address: '127.0.0.1', port: 1, privateKeyPath: key, knownHostsPath: knownHosts(), jumps: [hop(bastion, 'bastion')] }),
    );
    expect(err.message).to.match(/^nowhere: cannot reach 127\.0\.0\.1:1 through jump host bastion: /);
    expect(err.transient).to.equal(true);
  });
});
