/**
 * Issue 18 on lab hosts: a lab where this machine reaches only a bastion
 * (`lab_bastion`: the lab's firewall refuses the machine's connections to
 * the other hosts), the others only through it (`stackplay_jump_host`). The
 * site's `common` role (host names, /etc/hosts, time sync: real apt, real
 * systemd) runs through the bastion with one jump connection for both inner
 * hosts, twice (0 changed the second time); a changed host key on the
 * bastion stops every host behind it, and the inner hosts' recorded keys stay.
 * Needs root; refuses to touch a lab that is already up; about 2 minutes.
 */
import { expect } from 'chai';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { $ } from 'zx';
import { REPO_ROOT, STATE_DIR } from '../lab/paths.js';
import { tcpOpen } from '../lab/proxy.js';
import { loadState } from '../lab/state.js';
import { labCli as lab, onLabHost } from './support/lab-host.js';

const FIXTURE = 'test/fixtures/lab-bastion.ini';
const KNOWN_HOSTS = path.join(REPO_ROOT, '.lab/bastion_known_hosts');
const JUMP = '10.42.0.61';
const INNER = ['10.42.0.62', '10.42.0.63'];

function common(): Promise<{ code: number; out: string }> {
  return new Promise((resolve) =>
    execFile(
      process.execPath,
      ['--import', 'tsx', 'roles/common/index.ts', '-i', FIXTURE],
      { cwd: REPO_ROOT, env: { ...process.env, NO_COLOR: '1' }, maxBuffer: 16 * 1024 * 1024 },
      (error, stdout, stderr) => resolve({ code: error ? ((error as { code?: number }).code ?? 1) : 0, out: stdout + stderr }),
    ),
  );
}

/** Public-key logins sshd on the bastion accepted so far (its journal). */
const acceptedOnJump = async () => Number(await onLabHost(JUMP, "journalctl -q -u ssh --no-pager | grep -c 'Accepted publickey' || true"));

describe('lab behind a bastion (root only): the common role through one jump connection; a changed bastion key stops every host behind it', function () {
  this.timeout(20 * 60_000);
  let started = false;

  before(async function () {
    const why =
      process.getuid?.() !== 0
        ? 'the lab needs root'
        : loadState()
          ? `a lab is already up (${path.join(STATE_DIR, 'state.json')}): not touching it`
          : undefined;
    if (why) {
      console.log(`      skipped: ${why}`);
      this.skip();
    }
    fs.rmSync(KNOWN_HOSTS, { force: true });
    started = true;
    const up = await lab('up', '-i', FIXTURE);
    expect(up.code, up.out).to.equal(0);
  });

  after(async function () {
    if (started && loadState()) await lab('down');
    fs.rmSync(KNOWN_HOSTS, { force: true });
  });

  it('this machine reaches the bastion only; status asks the others from the bastion', async () => {
    expect(await tcpOpen(JUMP, 22, 2000)).to.equal(true);
    for (const a of INNER) expect(await tcpOpen(a, 22, 2000), a).to.equal(false);
    const status = await lab('status');
    expect(status.code, status.out).to.equal(0);
    expect(status.out).to.match(/inner1 +10\.42\.0\.62 +up \(via jump1\)/);
  });

  it('runs the common role on all three through the bastion, one jump connection per run; a second run changes nothing', async () => {
    const before = await acceptedOnJump();
    const first = await common();
    expect(first.code, first.out.slice(-4000)).to.equal(0);
    for (const h of ['jump1', 'inner1', 'inner2']) expect(first.out).to.match(new RegExp(`${h} +: ok=\\d+ changed=[1-9]\\d* unreachable=0 failed=0`));
    // Its own session as a host, and one as the jump host both inner hosts share (the count's own login is the 1).
    expect((await acceptedOnJump()) - before - 1, 'logins on the bastion in one run').to.equal(2);
    expect(await onLabHost(JUMP, 'getent hosts inner2 | cut -d" " -f1')).to.equal('10.42.0.63');
    const second = await common();
    expect(second.code, second.out.slice(-4000)).to.equal(0);
    for (const h of ['jump1', 'inner1', 'inner2']) expect(second.out).to.match(new RegExp(`${h} +: ok=\\d+ changed=0 unreachable=0 failed=0`));
  });

  it("a changed key on the bastion stops every host behind it; the inner hosts' recorded keys stay", async () => {
    const known = fs.readFileSync(KNOWN_HOSTS, 'utf8');
    expect(known).to.match(new RegExp(`^${JUMP.replace(/\./g, '\\.')} ssh-ed25519 `, 'm'));
    const dir = fs.mkdtempSync(path.join(REPO_ROOT, '.lab/bastion-key-'));
    try {
      await $({ quiet: true })`ssh-keygen -q -t ed25519 -N ${''} -f ${path.join(dir, 'other')}`;
      const other = fs.readFileSync(path.join(dir, 'other.pub'), 'utf8').split(' ').slice(0, 2).join(' ');
      const forged = known.replace(new RegExp(`^${JUMP.replace(/\./g, '\\.')} .*$`, 'm'), `${JUMP} ${other}`);
      fs.writeFileSync(KNOWN_HOSTS, forged);
      const run = await common();
      expect(run.code, run.out.slice(-4000)).to.equal(4);
      for (const h of ['jump1', 'inner1', 'inner2']) expect(run.out).to.match(new RegExp(`${h} +: ok=0 changed=0 unreachable=1 failed=0`));
      expect(run.out).to.match(/unreachable: \[inner1\] .*jump host .*10\.42\.0\.61/);
      expect(fs.readFileSync(KNOWN_HOSTS, 'utf8'), 'known_hosts as it was (nothing learned, nothing replaced)').to.equal(forged);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
      fs.writeFileSync(KNOWN_HOSTS, known);
    }
  });
});
