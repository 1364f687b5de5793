import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { CONFIGURE_AGAIN } from '../lib/modules/package.js';

/**
 * The package module's second chance for maintainer scripts, run by /bin/sh
 * against fake `apt-get` and `dpkg` (fault injection: a postinst that fails
 * once, one that fails twice, a failure that leaves nothing unconfigured).
 */
describe('package: a maintainer script that failed is configured once more', () => {
  let dir: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sp-configure-'));
    const bin = path.join(dir, 'bin');
    fs.mkdirSync(bin);
    // apt-get: fails once per "fail-apt" file, leaving a half-configured package when "leaves-pending" exists.
    fs.writeFileSync(
      path.join(bin, 'apt-get'),
      `#!/bin/sh
echo "apt-get $*" >>"$FAKE/log"
if [ -e "$FAKE/fail-apt" ]; then rm "$FAKE/fail-apt"; [ -e "$FAKE/leaves-pending" ] && touch "$FAKE/pending"; exit 100; fi
exit 0
`,
      { mode: 0o755 },
    );
    fs.writeFileSync(
      path.join(bin, 'dpkg'),
      `#!/bin/sh
echo "dpkg $*" >>"$FAKE/log"
case "$1" in
--audit) [ -e "$FAKE/pending" ] && echo " openstack-dashboard          web application to control an OpenStack cloud" ;;
--configure) [ -e "$FAKE/fail-configure" ] && exit 1; rm -f "$FAKE/pending" ;;
esac
exit 0
`,
      { mode: 0o755 },
    );
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  function install(...faults: string[]): { code: number | null; stderr: string; calls: string[] } {
    for (const f of faults) fs.writeFileSync(path.join(dir, f), '');
    const r = spawnSync('/bin/sh', ['-c', `${CONFIGURE_AGAIN.reveal()}configure_again apt-get install -y -q -- openstack-dashboard-apache`], {
      env: { PATH: `${path.join(dir, 'bin')}:/usr/bin:/bin`, FAKE: dir },
      encoding: 'utf8',
    });
    const log = path.join(dir, 'log');
    return { code: r.status, stderr: r.stderr, calls: fs.existsSync(log) ? fs.readFileSync(log, 'utf8').trim().split('\n') : [] };
  }

  const APT = 'apt-get install -y -q -- openstack-dashboard-apache';
  const CONFIGURE = 'dpkg --configure --pending --force-confdef --force-confold';

  it('installs with one apt-get when nothing fails', () => {
    expect(install()).to.deep.equal({ code: 0, stderr: '', calls: [APT] });
  });

  it('a postinst that failed once: configures the pending packages, runs apt-get again, succeeds, and says so', () => {
    const r = install('fail-apt', 'leaves-pending');
    expect(r.calls).to.deep.equal([APT, 'dpkg --audit', CONFIGURE, APT]);
    expect(r.code).to.equal(0);
    expect(r.stderr).to.contain('apt-get exited 100 with packages left unconfigured; configuring them once more');
  });

  it('a postinst that fails again fails the install', () => {
    const r = install('fail-apt', 'leaves-pending', 'fail-configure');
    expect(r.calls).to.deep.equal([APT, 'dpkg --audit', CONFIGURE]);
    expect(r.code).to.equal(1);
  });

  it('a failure that leaves nothing unconfigured (no such package, no network) is not retried and keeps its exit code', () => {
    const r = install('fail-apt');
    expect(r.calls).to.deep.equal([APT, 'dpkg --audit']);
    expect(r.code).to.equal(100);
    expect(r.stderr).to.equal('');
  });
});
