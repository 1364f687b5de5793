import { expect } from 'chai';
import { execFile, spawn } from 'node:child_process';
import { chmod, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { BecomeError, BecomeTransport } from '../lib/transport/become.js';
import { Secret } from '../lib/core/secret.js';
import { connectSsh } from '../lib/transport/ssh.js';
import { startSshd, type TestSshd } from './support/sshd.js';
import { sampleArgv } from './support/argv-sampler.js';

/**
 * Issue 7 §6 (sudo): a non-root login user that becomes root through sudo.
 * The right password works; a wrong one fails in ≤ 10 s with a clear
 * message; the password is in no process's argv at any moment. The user and
 * its sudoers entry exist only during this test (root only).
 */
const run = promisify(execFile);
const USER = 'spbecome';
const RIGHT = 'Right-Become-Pw-51';
const WRONG = 'Wrong-Become-Pw-77';

describe('become (sudo) for a non-root login (root only)', function () {
  this.timeout(60_000);
  let sshd: TestSshd;
  let created = false;

  before(async function () {
    if (process.getuid?.() !== 0) return this.skip();
    if (
      !(await run('sh', ['-c', 'command -v sudo']).then(
        () => true,
        () => false,
      ))
    )
      return this.skip();
    const exists = await run('id', [USER]).then(
      () => true,
      () => false,
    );
    if (exists) return this.skip();
    await run('useradd', ['-m', '-s', '/bin/sh', USER]);
    created = true;
    const chpasswd = spawn('chpasswd', [], { stdio: ['pipe', 'ignore', 'inherit'] });
    chpasswd.stdin.end(`${USER}:${RIGHT}\n`);
    await new Promise((r) => chpasswd.on('exit', r));
    await writeFile(`/etc/sudoers.d/${USER}`, `${USER} ALL=(ALL) ALL\n`, { mode: 0o440 });
    sshd = await startSshd();
    // sshd reads authorized_keys as the user logging in: let it through the (root-only) test directory.
    await chmod(sshd.dir, 0o711);
    await chmod(join(sshd.dir, 'authorized_keys'), 0o644);
  });

  after(async () => {
    await sshd?.stop();
    if (created) {
      await rm(`/etc/sudoers.d/${USER}`, { force: true });
      await run('userdel', ['-r', USER]).catch(() => {});
    }
  });

  const login = () =>
    connectSsh({ host: 'node1', address: '127.0.0.1', port: sshd.port, username: USER, privateKey: sshd.clientKey, knownHostsPath: sshd.knownHostsPath });

  it('runs scripts as root with the right password, and the login user stays unprivileged', async () => {
    const inner = await login();
    try {
      expect((await inner.exec('id -un')).stdout.trim()).to.equal(USER);
      const t = await BecomeTransport.open(inner, { password: new Secret(RIGHT) });
      const r = await t.exec('id -u; cat >/dev/null <<EOF\nhere-doc inside the script\nEOF\necho done; echo "lock holder: ${STACKPLAY_SSH_PID:-none}"');
      expect(r.exitCode, r.stderr).to.equal(0);
      expect(r.stdout).to.match(/^0\ndone\nlock holder: \d+\n$/);
      expect(r.stderr).not.to.contain('stackplay-sudo-prompt');
    } finally {
      await inner.close();
    }
  });

  it('a wrong password fails in ≤ 10 s with a clear message, and no argv ever holds a password', async () => {
    const sampler = sampleArgv();
    const inner = await login();
    const started = Date.now();
    try {
      const error = await BecomeTransport.open(inner, { password: new Secret(WRONG) }).then(
        () => null,
        (e: unknown) => e,
      );
      expect(error).to.be.instanceOf(BecomeError);
      expect(String(error)).to.match(/node1: sudo refused the become password \(.*(incorrect password|Sorry).*\)/);
      expect(String(error)).not.to.contain(WRONG);
      expect(Date.now() - started).to.be.below(10_000);
      // And the right one, while still sampling.
      const t = await BecomeTransport.open(inner, { password: new Secret(RIGHT) });
      expect((await t.exec('id -u')).stdout).to.equal('0\n');
    } finally {
      await inner.close();
      await sampler.stop();
    }
    expect(sampler.reads).to.be.greaterThan(50);
    expect(sampler.argv.find((a) => a.includes(WRONG) || a.includes(RIGHT))).to.equal(undefined);
  });
});
