import { expect } from 'chai';
import { execFile } from 'node:child_process';
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { acceptedConnections as accepted, startSshd, type TestSshd } from './support/sshd.js';
import { runPlaybook } from './support/playbook-run.js';

const run = promisify(execFile);

/**
 * The CLI end to end behind a bastion: two hosts reached only through it
 * (inventory `stackplay_jump_host`, or an SSH client config given by
 * `stackplay_ssh_config`), with one passphrase-protected key that only an
 * ssh-agent of this test can unlock. Each run makes one connection to the
 * bastion; the second run of each changes nothing.
 */

const PASSPHRASE = 'correct horse battery staple';

describe('CLI through a bastion, with an encrypted key in an agent', function () {
  this.timeout(120_000);
  let work: string;
  let key: string;
  let bastion: TestSshd;
  let targets: TestSshd[];
  let agent: { sock: string; pid: number } | undefined;

  before(async function () {
    work = await mkdtemp(join(tmpdir(), 'sp-reach-'));
    key = join(work, 'id_ed25519');
    await run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', PASSPHRASE, '-C', 'stackplay-test', '-f', key]);
    [bastion, ...targets] = await Promise.all([
      startSshd({ clientKeyPath: key, extraConfig: ['LogLevel VERBOSE'] }),
      startSshd({ clientKeyPath: key }),
      startSshd({ clientKeyPath: key }),
    ]);
    // startSshd's own probe connection is logged a moment later; the counts below must not see it arrive.
    const deadline = Date.now() + 5_000;
    while (accepted(bastion) < 1 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 25));
  });

  after(async function () {
    if (agent !== undefined) process.kill(agent.pid, 'SIGTERM');
    await Promise.all([bastion, ...(targets ?? [])].map((s) => s?.stop()));
    if (work) await rm(work, { recursive: true, force: true });
  });

  /** Two hosts behind the bastion, each with its own root and state dir. */
  async function inventory(name: string, hosts: readonly string[], vars: readonly string[]): Promise<string> {
    const path = join(work, `${name}.ini`);
    const lines = hosts.map((h, i) => `${h} test_root=${join(work, name, `root${i}`)} stackplay_state_dir=${join(work, name, `state${i}`)}`);
    await writeFile(path, ['[demo]', ...lines, '', '[all:vars]', `stackplay_known_hosts=${join(work, `${name}.known_hosts`)}`, ...vars, ''].join('\n'));
    return path;
  }

  const viaVariable = () =>
    inventory(
      'jumpvar',
      targets.map((t, i) => `n${i} ansible_host=127.0.0.1 ansible_port=${t.port}`),
      [`stackplay_jump_host=root@127.0.0.1:${bastion.port}`, `ansible_ssh_private_key_file=${key}`, 'stackplay_ssh_config=none'],
    );

  it('refuses the encrypted key before any connection when there is neither an agent nor a terminal', async function () {
    const before = accepted(bastion);
    const r = await runPlaybook('files', ['-i', await viaVariable()], { SSH_AUTH_SOCK: '' });
    expect(r.code, r.out).to.equal(5);
    expect(r.stderr).to.match(/jumpvar\.ini:\d+: host n\d: ansible_ssh_private_key_file .*id_ed25519 is encrypted, and there is neither an SSH agent/);
    expect(accepted(bastion)).to.equal(before);
  });

  describe('with the key in an ssh-agent', function () {
    before(async function () {
      const { stdout } = await run('ssh-agent', ['-s', '-a', join(work, 'agent.sock')]);
      const pid = Number(/SSH_AGENT_PID=(\d+)/.exec(stdout)?.[1]);
      agent = { sock: join(work, 'agent.sock'), pid };
      // ssh-add asks through SSH_ASKPASS; the passphrase is in a 0700 script, never in an argument.
      const askpass = join(work, 'askpass');
      await writeFile(askpass, `#!/bin/sh\nprintf '%s\\n' '${PASSPHRASE}'\n`);
      await chmod(askpass, 0o700);
      await run('ssh-add', [key], { env: { ...process.env, SSH_AUTH_SOCK: agent.sock, SSH_ASKPASS: askpass, SSH_ASKPASS_REQUIRE: 'force', DISPLAY: ':0' } });
    });

    const converge = async (inv: string): Promise<void> => {
      const env = { SSH_AUTH_SOCK: agent!.sock };
      for (const [round, changed] of [
        [1, 5],
        [2, 0],
      ] as const) {
        const before = accepted(bastion);
        const r = await runPlaybook('files', ['-i', inv], env);
        expect(r.code, r.out).to.equal(0);
        for (const h of inv.includes('jumpvar') ? ['n0', 'n1'] : ['t0', 't1'])
          expect(r.stdout, `round ${round}`).to.match(new RegExp(`${h} +: ok=\\d+ changed=${changed} unreachable=0 failed=0`));
        expect(accepted(bastion) - before, `round ${round}: connections to the bastion`).to.equal(1);
        expect(r.out).not.to.include(PASSPHRASE);
      }
    };

    it('converges two hosts behind stackplay_jump_host, one bastion connection per run, every hop recorded', async function () {
      const inv = await viaVariable();
      await converge(inv);
      const names = (await readFile(join(work, 'jumpvar.known_hosts'), 'utf8'))
        .trim()
        .split('\n')
        .map((l) => l.split(' ')[0])
        .sort();
      expect(names).to.deep.equal([bastion, ...targets].map((s) => `[127.0.0.1]:${s.port}`).sort());
    });

    it('converges the same through an SSH client config (ProxyJump and ProxyCommand ssh -W)', async function () {
      const cfg = join(work, 'ssh_config');
      await writeFile(
        cfg,
        [
          'Host bastion',
          '  HostName 127.0.0.1',
          `  Port ${bastion.port}`,
          'Host t0',
          '  HostName 127.0.0.1',
          `  Port ${targets[0]!.port}`,
          '  ProxyJump bastion',
          'Host t1',
          '  HostName 127.0.0.1',
          `  Port ${targets[1]!.port}`,
          '  ProxyCommand ssh -W %h:%p %r@bastion',
          'Host *',
          '  User root',
          `  IdentityFile ${key}`,
          '',
        ].join('\n'),
      );
      await converge(await inventory('sshcfg', ['t0 ansible_host=t0', 't1 ansible_host=t1'], [`stackplay_ssh_config=${cfg}`]));
    });
  });
});
