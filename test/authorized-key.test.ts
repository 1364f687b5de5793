import { expect } from 'chai';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { editAuthorizedKeys, keyIdentity } from '../lib/modules/authorized-key.js';
import { connectSsh } from '../lib/transport/ssh.js';
import { UnreachableError } from '../lib/transport/transport.js';
import { keygen, startSshd, type TestSshd } from './support/sshd.js';
import { runPlaybook } from './support/playbook-run.js';

/**
 * First contact by password, then key access: a host that does not hold our
 * key is logged into with `ansible_password`, the authorized_key task
 * installs the key (0 changed the second time), and from then on the key
 * alone logs in.
 */

const PASSWORD = 'first-contact-Pw9';
const KEY = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHk0Zm9vYmFyYmF6cXV4 ops@laptop';

describe('authorized_key', function () {
  it('adds a key once, whatever comment or options the line already there has, and removes it', function () {
    expect(editAuthorizedKeys('', { key: KEY, path: 'f' })).to.equal(`${KEY}\n`);
    const there = `ssh-rsa AAAAB3Nz other\nno-pty ${KEY.replace('ops@laptop', 'renamed')}\n`;
    expect(editAuthorizedKeys(there, { key: KEY, path: 'f' })).to.equal(there);
    expect(editAuthorizedKeys(there, { key: KEY, path: 'f', state: 'absent' })).to.equal('ssh-rsa AAAAB3Nz other\n');
    expect(keyIdentity('# comment')).to.equal(undefined);
    expect(() => editAuthorizedKeys('', { key: 'not a key', path: 'f' })).to.throw(/not an SSH public key/);
  });

  describe('bootstrapping key access over a password login (local sshd)', function () {
    this.timeout(120_000);
    let sshd: TestSshd;
    let work: string;
    let newKey: string;

    before(async function () {
      sshd = await startSshd({ rootPassword: PASSWORD });
      work = await mkdtemp(join(tmpdir(), 'sp-authkey-'));
      newKey = join(work, 'id_new');
      await keygen(newKey);
    });
    after(async function () {
      await sshd?.stop();
      if (work) await rm(work, { recursive: true, force: true });
    });

    const keyOnly = () => connectSsh({ host: 'n1', address: sshd.address, port: sshd.port, privateKeyPath: newKey, knownHostsPath: join(work, 'kh') });

    it('logs in by password, installs the key (then 0 changed), and the key alone logs in afterwards', async function () {
      const refused = await keyOnly().then(
        () => expect.fail('the new key logged in before it was installed'),
        (e: unknown) => e,
      );
      expect(refused).to.be.instanceOf(UnreachableError);
      expect((refused as Error).message).to.match(/authentication failed/);

      const inv = join(work, 'inv.ini');
      const pub = (await readFile(`${newKey}.pub`, 'utf8')).trim();
      await writeFile(
        inv,
        [
          '[demo]',
          `n1 ansible_host=127.0.0.1 ansible_port=${sshd.port}`,
          '[all:vars]',
          `ansible_password=${PASSWORD}`,
          `stackplay_known_hosts=${join(work, 'kh')}`,
          `stackplay_state_dir=${join(work, 'state')}`,
          'stackplay_ssh_config=none',
          `test_authorized_keys=${join(sshd.dir, 'authorized_keys')}`,
          `test_public_key=${pub}`,
          '',
        ].join('\n'),
      );
      for (const changed of [1, 0]) {
        // No agent and no key: the password is the only way in.
        const r = await runPlaybook('authorized-key', ['-i', inv, '-v'], { SSH_AUTH_SOCK: '' });
        expect(r.code, r.out).to.equal(0);
        expect(r.stdout).to.match(new RegExp(`n1 +: ok=\\d+ changed=${changed} unreachable=0 failed=0`));
        expect(r.out).not.to.include(PASSWORD);
      }
      expect(await readFile(join(sshd.dir, 'authorized_keys'), 'utf8')).to.include(pub);
      const t = await keyOnly();
      expect((await t.exec('echo by key')).stdout).to.equal('by key\n');
      await t.close();
    });
  });
});
