import { expect } from 'chai';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import * as http from 'node:http';
import * as net from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { connectSsh } from '../lib/transport/ssh.js';
import { appendKnownHost, hostPatternMatches, parseKnownHosts } from '../lib/transport/known-hosts.js';
import type { SshOptions } from '../lib/transport/ssh-options.js';
import { ForwardError, type Transport } from '../lib/transport/transport.js';
import { unreachable as rejection } from './support/unreachable.js';
import { freePort, keygen, startSshd, type TestSshd } from './support/sshd.js';

const run = promisify(execFile);

/** Kills the sshd process serving this connection (the first sshd among the script's ancestors). */
const KILL_SSHD = 'p=$$; while [ "$(cat /proc/$p/comm)" != sshd ]; do p=$(cut -d" " -f4 /proc/$p/stat); done; echo begun; kill -9 $p; sleep 1';

async function forwardRejection(p: Promise<unknown>): Promise<ForwardError> {
  try {
    await p;
  } catch (err) {
    expect(err).to.be.instanceOf(ForwardError);
    return err as ForwardError;
  }
  throw new Error('expected a rejection');
}

describe('SSH transport (against a local sshd)', function () {
  let sshd: TestSshd;
  let t: Transport;
  let knownHostsSeq = 0;

  /** A known_hosts path nobody else in this suite touches. */
  const freshKnownHosts = (): string => join(sshd.dir, `known_hosts.${++knownHostsSeq}`);

  const opts = (extra: Partial<SshOptions> = {}): SshOptions => ({
    host: 'node1',
    address: sshd.address,
    port: sshd.port,
    privateKey: sshd.clientKey,
    knownHostsPath: sshd.knownHostsPath,
    ...extra,
  });

  before(async function () {
    sshd = await startSshd();
    t = await connectSsh(opts());
  });

  after(async function () {
    await t?.close();
    await sshd?.stop();
  });

  for (const persistentShell of [true, false])
    describe(`exec (${persistentShell ? "the connection's long-lived shell" : 'a channel per exec'})`, function () {
      // Shadows the suite's transport: the same tests in both modes.
      let t: Transport;
      before(async function () {
        t = await connectSsh(opts({ persistentShell }));
      });
      after(async function () {
        await t?.close();
      });

      it('returns stdout, stderr and a non-zero exit code as a result', async function () {
        const r = await t.exec('echo out; echo err >&2; printf "ünï\\n"; exit 3');
        expect(r).to.deep.equal({ exitCode: 3, stdout: 'out\nünï\n', stderr: 'err\n' });
      });

      it('runs a multi-line script with a here-document from stdin', async function () {
        const script = [
          'set -e',
          'f=$(mktemp)',
          'cat > "$f" <<\'EOF\'',
          'line $not_expanded',
          'second line',
          'EOF',
          'wc -l < "$f"',
          'cat "$f"',
          'rm -f "$f"',
        ].join('\n');
        const r = await t.exec(script);
        expect(r.exitCode).to.equal(0);
        expect(r.stdout).to.equal('2\nline $not_expanded\nsecond line\n');
      });

      it('does not let commands in the script read the rest of the script', async function () {
        // With a bare `sh -s`, cat would swallow "echo after" as its input.
        const r = await t.exec('cat\necho after\n');
        expect(r).to.deep.include({ exitCode: 0, stdout: 'after\n' });
      });

      it('returns when the script exits even if a daemon it started keeps stdout open (postinst starting a service)', async function () {
        const started = Date.now();
        const r = await t.exec('sh -c "sleep 4; echo late" & echo started');
        expect(r.exitCode).to.equal(0);
        expect(r.stdout).to.equal('started\n');
        expect(Date.now() - started).to.be.below(3000);
        // The connection is still usable afterwards.
        expect((await t.exec('echo again')).stdout).to.equal('again\n');
      });

      it('runs under /bin/sh, not the login shell', async function () {
        const r = await t.exec('readlink /proc/$$/exe; echo "${BASH_VERSION:-none}"');
        expect(r.stdout).to.match(/\n?none\n$/);
        expect(r.stdout).not.to.match(/bash/);
      });

      it('queues 25 concurrent execs on one connection (MaxSessions 10)', async function () {
        const results = await Promise.all(Array.from({ length: 25 }, (_, i) => t.exec(`sleep 0.1; echo ${i}`)));
        results.forEach((r, i) => expect(r).to.deep.equal({ exitCode: 0, stdout: `${i}\n`, stderr: '' }));
      });

      it('times out with exit code 124 and kills the script', async function () {
        const started = Date.now();
        const r = await t.exec('echo started; sleep 7.31 & sleep 7.31; echo never', { timeoutMs: 300 });
        expect(Date.now() - started).to.be.lessThan(1500);
        expect(r.exitCode).to.equal(124);
        expect(r.stdout).to.equal('started\n');
        expect(r.stderr).to.match(/timed out after 300 ms/);
        // The foreground and the background sleep are both gone.
        const ps = await t.exec('sleep 0.2; for f in /proc/[0-9]*/cmdline; do tr "\\0" " " < "$f"; echo; done');
        expect(ps.stdout).not.to.include('sleep 7.31');
      });

      it('does not stall small round trips (Nagle off)', async function () {
        // With Nagle on, each exec waits for a delayed ACK: ~80 ms here
        // instead of ~3 ms.
        const started = Date.now();
        for (let i = 0; i < 20; i++) await t.exec('true');
        expect(Date.now() - started).to.be.lessThan(600);
      });

      it('reports death by signal as 128+n', async function () {
        const r = await t.exec('kill -TERM $$');
        expect(r.exitCode).to.equal(143);
        expect(r.stderr).to.match(/SIGTERM/);
      });

      it('keeps the script out of every process argv', async function () {
        const marker = `secret-marker-${process.pid}-${Date.now()}`;
        const first = t.exec(`# ${marker}\nsleep 1\necho done`);
        await new Promise((r) => setTimeout(r, 300));
        // This script does not contain the marker itself, so it cannot match itself.
        const ps = await t.exec('for f in /proc/[0-9]*/cmdline; do tr "\\0" " " < "$f"; echo; done');
        expect(ps.stdout, 'positive control: the first script is running').to.include('sleep 1');
        expect(ps.stdout).not.to.include(marker);
        expect((await first).stdout).to.equal('done\n');
      });
    });

  describe("the connection's long-lived shell", function () {
    it("serves sequential execs from one shell, a child of the connection's sshd", async function () {
      const a = await t.exec('echo $PPID; cat /proc/$PPID/comm; cat /proc/$STACKPLAY_SSH_PID/comm');
      const b = await t.exec('echo $PPID');
      const [pid, comm, sshd] = a.stdout.split('\n');
      expect(comm).to.equal('sh');
      expect(sshd).to.equal('sshd');
      expect(b.stdout).to.equal(`${pid}\n`);
    });

    it('keeps every script in its own shell: variables, cd, set -e, traps, umask and exit stay inside', async function () {
      const a = await t.exec("x=1; export Y=2; cd /tmp; umask 077; trap 'echo trapped' EXIT; set -e; false; echo never");
      expect(a).to.deep.equal({ exitCode: 1, stdout: 'trapped\n', stderr: '' });
      const b = await t.exec('echo "${x:-unset} ${Y:-unset} $(pwd) $(umask)"; exit 7');
      expect(b.exitCode).to.equal(7);
      expect(b.stdout).to.equal(`unset unset ${process.env['HOME'] === '/root' ? '/root' : b.stdout.split(' ')[2]} 0022\n`);
      expect((await t.exec('echo still here')).stdout).to.equal('still here\n');
    });

    it('a syntax error runs nothing, exits 2, and leaves the shell usable', async function () {
      const r = await t.exec('echo before\nif then fi\n');
      expect(r.exitCode).to.equal(2);
      expect(r.stdout).to.equal('');
      expect(r.stderr).to.match(/syntax error/i);
      expect((await t.exec('echo after')).stdout).to.equal('after\n');
    });

    it('gives commands that read stdin an immediate end of file, never the next script', async function () {
      const started = Date.now();
      const r = await t.exec('read x; echo "got[$x]"; cat; head -c 10; echo end');
      expect(r).to.deep.equal({ exitCode: 0, stdout: 'got[]\nend\n', stderr: '' });
      expect(Date.now() - started).to.be.below(2000);
      const [a, b] = await Promise.all([t.exec('cat; echo one'), t.exec('cat; echo two')]);
      expect([a.stdout, b.stdout]).to.deep.equal(['one\n', 'two\n']);
    });

    it('keeps stdout and stderr of concurrent execs apart', async function () {
      const results = await Promise.all(
        Array.from({ length: 30 }, (_, i) =>
          t.exec(`i=${i}; for k in 1 2 3; do echo "out $i $k"; echo "err $i $k" >&2; sleep 0.0$((i % 7)); done; exit $((i % 5))`),
        ),
      );
      results.forEach((r, i) => {
        expect(r.exitCode).to.equal(i % 5);
        expect(r.stdout).to.equal([1, 2, 3].map((k) => `out ${i} ${k}\n`).join(''));
        expect(r.stderr).to.equal([1, 2, 3].map((k) => `err ${i} ${k}\n`).join(''));
      });
    });

    it('carries large scripts and large output intact, bytes as sent', async function () {
      const body = Array.from({ length: 20000 }, (_, i) => `line ${i} ünï ${'x'.repeat(40)}`).join('\n');
      const r = await t.exec(`cat <<'EOF' | sha256sum\n${body}\nEOF\nhead -c 3000000 /dev/zero | tr '\\0' y`);
      expect(r.exitCode).to.equal(0);
      const [sum, big] = [r.stdout.slice(0, 64), r.stdout.slice(r.stdout.indexOf('\n') + 1)];
      expect(sum).to.equal(createHash('sha256').update(`${body}\n`).digest('hex'));
      expect(big.length).to.equal(3_000_000);
      expect(/^y+$/.test(big)).to.equal(true);
    });

    it('recovers after a timeout: the killed script is reported, later execs run normally', async function () {
      const r = await t.exec('echo partial; sleep 30', { timeoutMs: 200 });
      expect(r.exitCode).to.equal(124);
      expect(r.stdout).to.equal('partial\n');
      for (let i = 0; i < 5; i++) expect((await t.exec(`echo ${i}`)).stdout).to.equal(`${i}\n`);
    });

    it('reports a shell killed under the script like the old per-exec shell, then opens a new one', async function () {
      const started = Date.now();
      const r = await t.exec('echo x; kill -9 $PPID; sleep 5');
      expect(Date.now() - started, 'settled soon after the shell ended, not when the orphan ends').to.be.below(2500);
      expect(r.exitCode).to.equal(137);
      expect(r.stdout).to.equal('x\n');
      expect(r.stderr).to.match(/remote shell ended/);
      expect((await t.exec('echo fresh')).stdout).to.equal('fresh\n');
    });

    it('drops what a background job prints after its script ended', async function () {
      expect((await t.exec('(sleep 0.3; echo LATE; echo LATE >&2) & echo a')).stdout).to.equal('a\n');
      await new Promise((r) => setTimeout(r, 600));
      expect(await t.exec('echo b')).to.deep.equal({ exitCode: 0, stdout: 'b\n', stderr: '' });
    });

    it('runs ownChannel scripts (which may leave daemons) where their leftovers never reach later results', async function () {
      const a = await t.exec('(sleep 0.3; echo LATE; echo LATE >&2) & echo a', { ownChannel: true });
      // Its own channel settles 0.5 s after the last output, so the job's line may still be its own.
      expect(a.stdout).to.match(/^a\n/);
      const b = await t.exec('sleep 0.8; echo b');
      expect(b).to.deep.equal({ exitCode: 0, stdout: 'b\n', stderr: '' });
    });

    it("keeps shells and own channels together within sshd's MaxSessions (10)", async function () {
      const x = await connectSsh(opts());
      try {
        // 8 shells stay open after this...
        await Promise.all(Array.from({ length: 20 }, (_, i) => x.exec(`sleep 0.05; echo ${i}`)));
        const started = Date.now();
        // ...and must make room for 8 channels of their own, then come back.
        const own = await Promise.all(Array.from({ length: 20 }, (_, i) => x.exec(`sleep 0.05; echo ${i}`, { ownChannel: true })));
        own.forEach((r, i) => expect(r.stdout).to.equal(`${i}\n`));
        const mixed = await Promise.all(Array.from({ length: 20 }, (_, i) => x.exec(`echo ${i}`, { ownChannel: i % 2 === 0 })));
        mixed.forEach((r, i) => expect(r.stdout).to.equal(`${i}\n`));
        expect(Date.now() - started).to.be.below(5000);
      } finally {
        await x.close();
      }
    });

    it('counts execs and channels per connection when STACKPLAY_EXEC_COUNT names a file', async function () {
      const file = join(sshd.dir, `counts.${process.pid}`);
      process.env['STACKPLAY_EXEC_COUNT'] = file;
      try {
        const x = await connectSsh(opts({ host: 'counted' }));
        for (let i = 0; i < 4; i++) await x.exec('true');
        await x.exec('true', { ownChannel: true });
        await x.close();
      } finally {
        delete process.env['STACKPLAY_EXEC_COUNT'];
      }
      expect(JSON.parse(await readFile(file, 'utf8'))).to.deep.equal({ host: 'counted', execs: 5, http: 0, channels: 2 });
    });
  });

  describe('http', function () {
    let server: http.Server;
    let port: number;
    before(async function () {
      server = http.createServer((req, res) => {
        let body = '';
        req.setEncoding('utf8');
        req.on('data', (c: string) => (body += c));
        req.on('end', () => {
          res.writeHead(201, { 'X-Subject-Token': 'tok123', 'Content-Type': 'application/json' });
          res.end(JSON.stringify({ method: req.method, url: req.url, body, auth: req.headers['x-auth-token'] }));
        });
      });
      await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
      port = (server.address() as net.AddressInfo).port;
    });
    after(async function () {
      await new Promise((r) => server.close(r));
    });

    it('speaks HTTP/1.1 through an SSH forward', async function () {
      const res = await t.http({
        method: 'POST',
        host: '127.0.0.1',
        port,
        path: '/v3/auth/tokens?nocatalog=1',
        headers: { 'Content-Type': 'application/json', 'X-Auth-Token': 'abc' },
        body: '{"ünï":1}',
      });
      expect(res.status).to.equal(201);
      expect(res.headers['x-subject-token']).to.equal('tok123');
      expect(JSON.parse(res.body)).to.deep.equal({
        method: 'POST',
        url: '/v3/auth/tokens?nocatalog=1',
        body: '{"ünï":1}',
        auth: 'abc',
      });
    });

    it('really goes through the tunnel (fails when sshd forbids forwarding)', async function () {
      const strict = await startSshd({ extraConfig: ['AllowTcpForwarding no'] });
      try {
        const t2 = await connectSsh({
          ...opts(),
          port: strict.port,
          privateKey: strict.clientKey,
          knownHostsPath: strict.knownHostsPath,
        });
        try {
          const err = await forwardRejection(t2.http({ method: 'GET', host: '127.0.0.1', port, path: '/' }));
          expect(err.reason).to.equal('prohibited');
          expect(err.message).to.match(/cannot reach 127\.0\.0\.1:\d+/);
        } finally {
          await t2.close();
        }
      } finally {
        await strict.stop();
      }
    });

    it('reports a closed port on the far side as a refused forward, not an unreachable host', async function () {
      const closed = await freePort();
      const err = await forwardRejection(t.http({ method: 'GET', host: '127.0.0.1', port: closed, path: '/' }));
      expect(err.reason).to.equal('refused');
      // The SSH connection itself is still fine.
      expect((await t.exec('echo ok')).stdout).to.equal('ok\n');
    });
  });

  describe('known_hosts', function () {
    const line = (): string => `[127.0.0.1]:${sshd.port} ${sshd.hostPublicKey}\n`;

    it('records a new host once, then trusts it without rewriting', async function () {
      const path = freshKnownHosts();
      const a = await connectSsh(opts({ knownHostsPath: path }));
      await a.close();
      expect(await readFile(path, 'utf8')).to.equal(line());
      const b = await connectSsh(opts({ knownHostsPath: path }));
      expect((await b.exec('echo hi')).stdout).to.equal('hi\n');
      await b.close();
      expect(await readFile(path, 'utf8')).to.equal(line());
    });

    it('records one line for parallel first contacts to one host', async function () {
      const path = freshKnownHosts();
      const ts = await Promise.all(Array.from({ length: 10 }, () => connectSsh(opts({ knownHostsPath: path }))));
      await Promise.all(ts.map((x) => x.close()));
      expect(await readFile(path, 'utf8')).to.equal(line());
    });

    it('leaves whole lines when 50 hosts are appended concurrently', async function () {
      const path = freshKnownHosts();
      const blob = parseKnownHosts(line())[0]?.key;
      if (blob === undefined) throw new Error('could not parse our own line');
      await Promise.all(Array.from({ length: 50 }, (_, i) => appendKnownHost(path, `[127.0.0.1]:${1000 + i}`, blob)));
      const entries = parseKnownHosts(await readFile(path, 'utf8'));
      expect(entries).to.have.length(50);
      expect(new Set(entries.map((e) => e.hosts)).size).to.equal(50);
      entries.forEach((e) => expect(e.key.equals(blob)).to.equal(true));
    });

    it('rejects a changed host key before anything runs', async function () {
      const path = freshKnownHosts();
      const otherKey = join(sshd.dir, `other_host_key.${knownHostsSeq}`);
      await keygen(otherKey);
      const otherPub = (await readFile(`${otherKey}.pub`, 'utf8')).split(' ').slice(0, 2).join(' ');
      const tampered = `# tampered\n[127.0.0.1]:${sshd.port} ${otherPub}\n`;
      await writeFile(path, tampered);
      const err = await rejection(connectSsh(opts({ knownHostsPath: path })));
      expect(err.message).to.match(/host key changed/);
      expect(err.message).to.include(`${path}:2`);
      expect(err.transient).to.equal(false);
      expect(await readFile(path, 'utf8'), 'nothing appended').to.equal(tampered);
      // strict says the same thing.
      const strictErr = await rejection(connectSsh(opts({ knownHostsPath: path, hostKeyPolicy: 'strict' })));
      expect(strictErr.message).to.match(/host key changed/);
    });

    it('strict refuses unknown hosts; insecure accepts and writes nothing', async function () {
      const path = freshKnownHosts();
      const err = await rejection(connectSsh(opts({ knownHostsPath: path, hostKeyPolicy: 'strict' })));
      expect(err.transient).to.equal(false);
      expect(err.message).to.match(/not in .*strict/);
      expect(await readFile(path, 'utf8')).to.equal('');

      const path2 = freshKnownHosts();
      await writeFile(path2, `[127.0.0.1]:${sshd.port} ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBogusBogusBogusBogusBogusBogusBogusBogusBogus\n`);
      const before = await readFile(path2, 'utf8');
      const x = await connectSsh(opts({ knownHostsPath: path2, hostKeyPolicy: 'insecure' }));
      await x.close();
      expect(await readFile(path2, 'utf8')).to.equal(before);
    });

    it('matches hashed entries written by ssh-keygen -H', async function () {
      const path = freshKnownHosts();
      await writeFile(path, line());
      await run('ssh-keygen', ['-H', '-f', path]);
      const hashed = await readFile(path, 'utf8');
      expect(hashed).to.match(/^\|1\|/);
      const x = await connectSsh(opts({ knownHostsPath: path, hostKeyPolicy: 'strict' }));
      await x.close();
      expect(await readFile(path, 'utf8')).to.equal(hashed);
    });

    it('understands patterns, negation and wildcards', function () {
      expect(hostPatternMatches('a,b,[127.0.0.1]:2222', '[127.0.0.1]:2222')).to.equal(true);
      expect(hostPatternMatches('10.0.0.*,!10.0.0.5', '10.0.0.4')).to.equal(true);
      expect(hostPatternMatches('10.0.0.*,!10.0.0.5', '10.0.0.5')).to.equal(false);
      expect(hostPatternMatches('127.0.0.1', '[127.0.0.1]:2222')).to.equal(false);
    });
  });

  describe('connect failures', function () {
    it('fails authentication fast and permanently with a wrong key', async function () {
      const wrong = join(sshd.dir, 'wrong_key');
      await keygen(wrong);
      const wrongKey = await readFile(wrong, 'utf8');
      const started = Date.now();
      const err = await rejection(connectSsh(opts({ privateKey: wrongKey })));
      expect(Date.now() - started).to.be.lessThan(2000);
      expect(err.transient).to.equal(false);
      expect(err.message).to.equal(`node1: authentication failed for root@127.0.0.1:${sshd.port}`);
      const keyBody = wrongKey.split('\n')[1] ?? 'unreachable';
      expect(err.message).not.to.include(keyBody);
    });

    it('reports a refused connection as transient', async function () {
      const closed = await freePort();
      const err = await rejection(connectSsh(opts({ port: closed })));
      expect(err.transient).to.equal(true);
      expect(err.message).to.match(/ECONNREFUSED/);
    });

    it('times out a server that never speaks SSH, as transient', async function () {
      const sockets: net.Socket[] = [];
      const silent = net.createServer((s) => sockets.push(s));
      await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
      try {
        const started = Date.now();
        const err = await rejection(connectSsh(opts({ port: (silent.address() as net.AddressInfo).port, connectTimeoutMs: 300 })));
        expect(Date.now() - started).to.be.within(250, 1500);
        expect(err.transient).to.equal(true);
        expect(err.message).to.match(/timed out/);
      } finally {
        sockets.forEach((s) => s.destroy());
        await new Promise((r) => silent.close(r));
      }
    });

    it('reads the key from privateKeyPath', async function () {
      const { privateKey: _omit, ...rest } = opts();
      const x = await connectSsh({ ...rest, privateKeyPath: sshd.clientKeyPath });
      expect((await x.exec('echo ok')).stdout).to.equal('ok\n');
      await x.close();
    });
  });

  describe('connection loss and close', function () {
    it('throws transient UnreachableError when the connection dies mid-command', async function () {
      const x = await connectSsh(opts());
      // The nearest sshd above the script serves this connection; killing it drops the TCP connection.
      const err = await rejection(x.exec(KILL_SSHD));
      expect(err.transient).to.equal(true);
      expect(err.message).to.match(/lost/);
      const again = await rejection(x.exec('true'));
      expect(again.transient).to.equal(true);
      const started = Date.now();
      await x.close();
      expect(Date.now() - started, 'close() of a dead connection does not wait').to.be.lessThan(200);
    });

    it('close() is idempotent and later calls fail', async function () {
      const x = await connectSsh(opts());
      await Promise.all([x.close(), x.close()]);
      await x.close();
      const err = await rejection(x.exec('true'));
      expect(err.message).to.match(/closed/);
    });
  });
});
