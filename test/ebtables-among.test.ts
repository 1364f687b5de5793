/**
 * The ebtables shim of Debian 12's linuxbridge agents
 * (openstack/neutron/ebtables-among.ts), run with python3 against a fake
 * real ebtables that records its arguments and lists a chain as
 * ebtables-nft 1.8.9 does. On the lab the shim ran against the real
 * ebtables-nft (which alone fails such a delete with "Invalid argument").
 */
import { expect } from 'chai';
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { EBTABLES_SHIM } from '../openstack/neutron/ebtables-among.js';
import { planSite } from './support/plan.js';
import { site } from '../playbooks/site.js';

describe('ebtables shim (linuxbridge agent, Debian 12)', () => {
  let dir: string;
  let shim: string;
  let log: string;

  before(function () {
    try {
      execFileSync('python3', ['--version']);
    } catch {
      this.skip();
    }
    dir = mkdtempSync(path.join(tmpdir(), 'sp-ebt-'));
    shim = path.join(dir, 'ebtables');
    log = path.join(dir, 'calls');
    writeFileSync(shim, EBTABLES_SHIM, { mode: 0o755 });
    const real = path.join(dir, 'real-ebtables');
    // Lists neutronMAC-tap1 as ebtables-nft does (leading zeros dropped); records every call.
    writeFileSync(
      real,
      `#!/bin/sh
echo "$*" >> ${log}
case "$*" in
  *"-L neutronMAC-tap1 --Ln"*) printf 'Bridge table: nat\\n\\nBridge chain: neutronMAC-tap1, entries: 3, policy: RETURN\\n1 -i tap1 --among-src fa:16:3e:0:0:9 -j RETURN\\n2 -i tap1 --among-src fa:16:3e:0:0:1,fa:16:3e:0:0:a -j RETURN\\n3 -j DROP\\n' ;;
  *"-D neutronMAC-tap1 -i"*) echo "ebtables: Bad rule (does a matching rule exist in that chain?)" >&2; exit 1 ;;
esac
`,
    );
    chmodSync(real, 0o755);
    process.env['STACKPLAY_EBTABLES_REAL'] = real;
  });

  after(() => {
    delete process.env['STACKPLAY_EBTABLES_REAL'];
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const run = (...args: string[]) => {
    writeFileSync(log, '');
    let code = 0;
    try {
      execFileSync(shim, args, { stdio: 'pipe', env: process.env });
    } catch (e) {
      code = (e as { status: number }).status;
    }
    return { code, calls: readFileSync(log, 'utf8').trim().split('\n') };
  };

  it('deletes an --among-src rule by its number, whatever the MAC order and zero padding', () => {
    const r = run('-t', 'nat', '--concurrent', '-D', 'neutronMAC-tap1', '-i', 'tap1', '--among-src', 'fa:16:3e:00:00:0a,fa:16:3e:00:00:01', '-j', 'RETURN');
    expect(r).to.deep.equal({ code: 0, calls: ['-t nat --concurrent -L neutronMAC-tap1 --Ln', '-t nat --concurrent -D neutronMAC-tap1 2'] });
  });

  it('passes every other command on unchanged, and a delete of a rule that is not there too (the real error)', () => {
    expect(run('-t', 'nat', '--concurrent', '-I', 'neutronMAC-tap1', '-i', 'tap1', '--among-src', 'fa:16:3e:00:00:01', '-j', 'RETURN').calls).to.deep.equal([
      '-t nat --concurrent -I neutronMAC-tap1 -i tap1 --among-src fa:16:3e:00:00:01 -j RETURN',
    ]);
    expect(run('-t', 'nat', '-D', 'PREROUTING', '-i', 'tap1', '-j', 'neutronMAC-tap1').calls).to.deep.equal([
      '-t nat -D PREROUTING -i tap1 -j neutronMAC-tap1',
    ]);
    const missing = run('-t', 'nat', '-D', 'neutronMAC-tap1', '-i', 'tap1', '--among-src', 'fa:16:3e:00:00:02', '-j', 'RETURN');
    expect(missing.code).to.equal(1);
    expect(missing.calls).to.deep.equal(['-t nat -L neutronMAC-tap1 --Ln', '-t nat -D neutronMAC-tap1 -i tap1 --among-src fa:16:3e:00:00:02 -j RETURN']);
  });

  it('is installed (0755) on Zed linuxbridge agents only', async () => {
    const zed = await planSite(site, 'hosts/lab.ini');
    for (const host of ['compute1', 'network']) {
      expect(zed.hosts.get(host)?.files.get('/usr/local/sbin/ebtables'), host).to.equal(EBTABLES_SHIM);
      expect(zed.hosts.get(host)?.attributes.get('/usr/local/sbin/ebtables')?.mode, host).to.equal('0755');
    }
    expect(zed.hosts.get('controller')?.files.has('/usr/local/sbin/ebtables')).to.equal(false);
    const liberty = await planSite(site, 'hosts/liberty-centos.ini');
    for (const [name, h] of liberty.hosts) expect(h.files.has('/usr/local/sbin/ebtables'), name).to.equal(false);
  });
});
