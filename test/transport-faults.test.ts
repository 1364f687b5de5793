import { expect } from 'chai';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { connectSsh } from '../lib/transport/ssh.js';
import { UnreachableError } from '../lib/transport/transport.js';
import { keygen } from './support/sshd.js';

/**
 * Issue 7 §6 on a real network path: a host in a network namespace of this
 * test's own (veth 10.44.0.1 ↔ 10.44.0.2) with its own sshd, and a firewall
 * rule inside it that drops packets. A host that drops everything fails in
 * 10 ± 2 s; a link that dies under a running command is detected by
 * keepalive well within 45 s, and the command is not re-run.
 */
const run = promisify(execFile);
const NS = 'spfault';
const HOST = '10.44.0.2';

async function nft(rules: string): Promise<void> {
  const child = spawn('ip', ['netns', 'exec', NS, 'nft', '-f', '-'], { stdio: ['pipe', 'ignore', 'inherit'] });
  child.stdin.end(rules);
  const code = await new Promise<number | null>((r) => child.on('exit', r));
  if (code !== 0) throw new Error(`nft failed (${code})`);
}
const dropAll = () => nft('table inet fault {\n  chain input {\n    type filter hook input priority 0; policy drop;\n  }\n}\n');
const allow = () => nft(`delete table inet fault\n`);

function listening(): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ host: HOST, port: 22 });
    s.setTimeout(500, () => (s.destroy(), resolve(false)));
    s.once('connect', () => (s.destroy(), resolve(true)));
    s.once('error', () => resolve(false));
  });
}

describe('transport faults on a real link (root only)', function () {
  this.timeout(120_000);
  let dir: string;
  let sshd: ChildProcess | undefined;
  let made = false;

  before(async function () {
    if (process.getuid?.() !== 0) return this.skip();
    const existing = (await run('ip', ['netns', 'list'])).stdout;
    if (existing.split('\n').some((l) => l.split(' ')[0] === NS)) return this.skip();
    dir = await mkdtemp(join(tmpdir(), 'sp-fault-'));
    await run('ip', ['netns', 'add', NS]);
    made = true;
    await run('ip', ['link', 'add', 'spf0', 'type', 'veth', 'peer', 'name', 'spf1']);
    await run('ip', ['link', 'set', 'spf1', 'netns', NS]);
    await run('ip', ['addr', 'add', '10.44.0.1/30', 'dev', 'spf0']);
    await run('ip', ['link', 'set', 'spf0', 'up']);
    await run('ip', ['netns', 'exec', NS, 'ip', 'addr', 'add', `${HOST}/30`, 'dev', 'spf1']);
    await run('ip', ['netns', 'exec', NS, 'ip', 'link', 'set', 'spf1', 'up']);
    await run('ip', ['netns', 'exec', NS, 'ip', 'link', 'set', 'lo', 'up']);
    await Promise.all([keygen(join(dir, 'host_key')), keygen(join(dir, 'id'))]);
    await writeFile(join(dir, 'authorized_keys'), await readFile(join(dir, 'id.pub')), { mode: 0o600 });
    await writeFile(
      join(dir, 'sshd_config'),
      [
        `ListenAddress ${HOST}`,
        'Port 22',
        `HostKey ${join(dir, 'host_key')}`,
        `PidFile ${join(dir, 'sshd.pid')}`,
        `AuthorizedKeysFile ${join(dir, 'authorized_keys')}`,
        'PermitRootLogin prohibit-password',
        'PasswordAuthentication no',
        'UsePAM no',
        'StrictModes no',
        'SetEnv SHLVL=1',
        'LogLevel ERROR',
        '',
      ].join('\n'),
    );
    sshd = spawn('ip', ['netns', 'exec', NS, '/usr/sbin/sshd', '-D', '-e', '-f', join(dir, 'sshd_config')], { stdio: 'ignore' });
    for (let i = 0; i < 100 && !(await listening()); i++) await new Promise((r) => setTimeout(r, 50));
  });

  after(async () => {
    if (sshd?.pid) process.kill(sshd.pid, 'SIGKILL');
    if (made) {
      await run('ip', ['netns', 'pids', NS]).then(
        ({ stdout }) =>
          stdout
            .split('\n')
            .filter(Boolean)
            .forEach((p) => {
              try {
                process.kill(Number(p), 'SIGKILL');
              } catch {
                /* gone */
              }
            }),
        () => {},
      );
      await run('ip', ['link', 'del', 'spf0']).catch(() => {});
      await run('ip', ['netns', 'del', NS]).catch(() => {});
    }
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  const options = () => ({ host: 'faulty', address: HOST, privateKeyPath: join(dir, 'id'), knownHostsPath: join(dir, 'known_hosts') });

  it('reaches the host while the link is healthy', async () => {
    const t = await connectSsh(options());
    expect((await t.exec('hostname -I 2>/dev/null || ip -4 addr show spf1')).stdout).to.contain(HOST);
    await t.close();
  });

  it('a host that drops every packet fails in 10 ± 2 s, as transient', async () => {
    await dropAll();
    try {
      const started = Date.now();
      const error = await connectSsh(options()).then(
        () => null,
        (e: unknown) => e,
      );
      const elapsed = (Date.now() - started) / 1000;
      expect(error).to.be.instanceOf(UnreachableError);
      expect((error as UnreachableError).transient).to.equal(true);
      expect(elapsed).to.be.within(8, 12);
    } finally {
      await allow();
    }
  });

  it('a link dying under a running command is detected within 45 s, and the command is not re-run', async () => {
    const t = await connectSsh(options());
    const marker = join('/tmp', `sp-fault-ran-${process.pid}`);
    const running = t.exec(`echo x >> ${marker}; sleep 120`);
    await new Promise((r) => setTimeout(r, 1000));
    const started = Date.now();
    await dropAll();
    try {
      const error = await running.then(
        () => null,
        (e: unknown) => e,
      );
      const elapsed = (Date.now() - started) / 1000;
      expect(error).to.be.instanceOf(UnreachableError);
      expect(elapsed).to.be.below(45);
    } finally {
      await allow();
      await t.close().catch(() => {});
    }
    // The marker lives in the namespace host's /tmp, which is this machine's /tmp: written once.
    expect((await readFile(marker, 'utf8')).split('\n').filter(Boolean)).to.have.length(1);
    await rm(marker, { force: true });
  });
});
