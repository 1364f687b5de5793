import { expect } from 'chai';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { InputError } from '../lib/core/errors.js';
import { parseInventory } from '../lib/inventory/inventory.js';
import { hostVarsOf } from '../lib/inventory/vars.js';
import { SshConfigFile } from '../lib/transport/ssh-config.js';
import { hostReach, jumpFromCommonArgs, parseJumpEntry } from '../lib/transport/ssh-reach.js';

/** ~/.ssh/config resolution and the inventory's jump variables, as data. */

const CONFIG = `
# lab
Host bastion
  HostName 198.51.100.7
  User jumper
  Port 2222
  IdentityFile ~/.ssh/bastion_key

Host inner
  HostName 10.0.0.2
  ProxyJump bastion

Host ctl-* !ctl-skip
  User ops
  ProxyJump inner

Host old-*
  ProxyCommand ssh -q -W %h:%p %r@bastion

Host weird
  ProxyCommand nc -X 5 -x proxy:1080 %h %p

Host *
  User fallback
  Port 22
  IdentityFile %d/.ssh/id_%r
`;

const config = SshConfigFile.parse('/cfg/ssh_config', CONFIG);

function throws(f: () => unknown): InputError {
  try {
    f();
  } catch (error) {
    expect(error).to.be.instanceOf(InputError);
    return error as InputError;
  }
  expect.fail('expected an InputError');
}

describe('SSH client config (~/.ssh/config)', function () {
  it('resolves HostName, User, Port and IdentityFile, first value winning over Host *', function () {
    expect(config.lookup('bastion')).to.deep.equal({
      hostName: '198.51.100.7',
      user: 'jumper',
      port: 2222,
      identityFiles: [`${homedir()}/.ssh/bastion_key`, `${homedir()}/.ssh/id_jumper`],
    });
  });

  it('matches wildcard patterns and honours negation', function () {
    expect(config.lookup('ctl-1')).to.deep.include({ user: 'ops', proxyJump: 'inner', port: 22 });
    expect(config.lookup('ctl-skip')).to.deep.include({ user: 'fallback' });
    expect(config.lookup('ctl-skip')).not.to.have.property('proxyJump');
  });

  it('turns ProxyCommand `ssh -W %h:%p` into a jump, expanding %r', function () {
    expect(config.lookup('old-1').proxyJump).to.equal('fallback@bastion');
    // The inventory's user is the one in force for %r.
    expect(config.lookup('old-1', { user: 'admin' }).proxyJump).to.equal('admin@bastion');
  });

  it('refuses any other ProxyCommand, naming the file and line', function () {
    const err = throws(() => config.lookup('weird'));
    expect(err.message).to.match(/^\/cfg\/ssh_config:21: Host weird: ProxyCommand is supported only as a plain `ssh -W %h:%p/);
  });

  it('parses ProxyJump entries and ansible_ssh_common_args', function () {
    expect(parseJumpEntry('ops@jump.example:2200')).to.deep.equal({ user: 'ops', host: 'jump.example', port: 2200 });
    expect(parseJumpEntry('ssh://jump')).to.deep.equal({ host: 'jump' });
    expect(parseJumpEntry('a b')).to.be.a('string');
    const tokens = { h: '10.0.0.5', p: 22, r: 'root' };
    expect(jumpFromCommonArgs("-o ProxyJump='ops@bastion:2200'", tokens)).to.equal('ops@bastion:2200');
    expect(jumpFromCommonArgs('-J a,b', tokens)).to.equal('a,b');
    expect(jumpFromCommonArgs('-o ProxyCommand="ssh -W %h:%p -p 2222 bastion"', tokens)).to.equal('bastion:2222');
    expect(() => jumpFromCommonArgs('-o StrictHostKeyChecking=no', tokens)).to.throw(/not understood/);
  });

  describe('with an inventory', function () {
    let dir: string;
    before(async () => {
      dir = await mkdtemp(join(tmpdir(), 'sp-sshcfg-'));
    });
    after(async () => {
      await rm(dir, { recursive: true, force: true });
    });

    const reach = (hostLine: string, vars = '') => {
      const inv = parseInventory(`[lab]\n${hostLine}\n[all:vars]\nstackplay_known_hosts=${dir}/kh\n${vars}`, `${dir}/inv.ini`);
      return hostReach(hostVarsOf(inv, hostLine.split(' ')[0] as string), config, false);
    };

    it('looks ansible_host up in the config; inventory values win; jump hosts nest through their own ProxyJump', function () {
      const r = reach('c1 ansible_host=ctl-1 ansible_port=2022');
      expect(r.options).to.deep.include({ address: 'ctl-1', port: 2022, username: 'ops' });
      expect(r.options.jumps).to.deep.equal([
        { name: 'bastion', address: '198.51.100.7', port: 2222, username: 'jumper' },
        { name: 'inner', address: '10.0.0.2', port: 22, username: 'fallback' },
      ]);
    });

    it('takes stackplay_jump_host and ansible_ssh_common_args, and refuses both at once', function () {
      expect(reach('n1 ansible_host=10.0.0.9', 'stackplay_jump_host=root@192.0.2.1:2200\n').options.jumps).to.deep.equal([
        { name: '192.0.2.1', address: '192.0.2.1', port: 2200, username: 'root' },
      ]);
      expect(reach('n1 ansible_host=10.0.0.9', "ansible_ssh_common_args='-o ProxyJump=bastion'\n").options.jumps?.map((h) => h.name)).to.deep.equal([
        'bastion',
      ]);
      const both = throws(() => reach('n1 ansible_host=10.0.0.9', "stackplay_jump_host=a\nansible_ssh_common_args='-J b'\n"));
      expect(both.message).to.match(/inv\.ini:\d+: host n1: stackplay_jump_host and a jump in ansible_ssh_common_args are both set/);
      const bad = throws(() => reach('n1 ansible_host=10.0.0.9', 'stackplay_jump_host=a b\n'));
      expect(bad.message).to.match(/stackplay_jump_host "a b" is not \[user@\]host\[:port\]/);
    });

    it('stops a ProxyJump loop', async function () {
      const loop = SshConfigFile.parse(`${dir}/loop`, 'Host a\n  ProxyJump b\nHost b\n  ProxyJump a\n');
      const inv = parseInventory(`[lab]\nn1 ansible_host=a\n`, `${dir}/inv.ini`);
      expect(() => hostReach(hostVarsOf(inv, 'n1'), loop, false)).to.throw(/more than 8 jump hosts/);
    });

    it('reads no file that is not there', async function () {
      expect(await SshConfigFile.load(join(dir, 'missing'))).to.equal(undefined);
      await writeFile(join(dir, 'cfg'), 'Host x\n  Port 99999\n');
      const cfg = await SshConfigFile.load(join(dir, 'cfg'));
      expect(() => cfg?.lookup('x')).to.throw(/cfg:2: Host x: Port must be 1 to 65535/);
    });
  });
});
