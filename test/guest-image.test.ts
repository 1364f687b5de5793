/**
 * The lab's tiny OpenStack guest (lab/guest.ts) really works: built from
 * Debian packages and booted under QEMU TCG the way nova boots an aki/ari/ami
 * image (direct kernel boot, 128 MB, virtio NIC and disk), it gets its address
 * by DHCP, reads the EC2 metadata this test serves, and lets in the served key
 * (and no other) over SSH. The boot suite needs root (apt-get download) and
 * qemu-system-x86_64; the udhcpc hook suite runs anywhere with /bin/sh.
 */
import { expect } from 'chai';
import { spawn, type ChildProcess } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { ensureGuest, GUEST_FORMAT, guestFiles, readGuestMarker } from '../lab/guest.js';
import { udhcpcScript } from '../lab/guest/scripts.js';

const LOGIN_READY_MS = 180_000;
const SLIRP_HOST = '10.0.2.2';

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs argv (no shell) to completion, killing it after timeoutMs. */
function run(argv: string[], opts: { timeoutMs?: number; env?: NodeJS.ProcessEnv; input?: string } = {}): Promise<Run> {
  return new Promise((resolve, reject) => {
    const [cmd = '', ...args] = argv;
    const child = spawn(cmd, args, { env: opts.env ?? process.env, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 60_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
    child.stdin.end(opts.input ?? '');
  });
}

function whyNotRunnable(): string | undefined {
  if (process.getuid?.() !== 0) return 'building the guest needs root (apt-get download)';
  const onPath = (process.env['PATH'] ?? '').split(':').some((d) => d && fs.existsSync(path.join(d, 'qemu-system-x86_64')));
  if (!onPath) return 'qemu-system-x86_64 is missing (apt-get install --no-install-recommends qemu-system-x86)';
  return undefined;
}

/** A TCP port free on 127.0.0.1 right now (QEMU binds it for the SSH forward a moment later). */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

function sha256(file: string): string {
  return crypto.createHash('sha256').update(fs.readFileSync(file)).digest('hex');
}

/** A fake EC2 metadata service: the instance id, one key, and /probe/* for the guest to call back; every path asked is recorded. */
function metadataServer(instanceId: string, publicKey: string, asked: string[]): http.Server {
  return http.createServer((req, res) => {
    const url = req.url ?? '';
    asked.push(url);
    const body: Record<string, string> = {
      '/latest/meta-data/instance-id': instanceId,
      '/latest/meta-data/hostname': 'tempest-serverstestjson-server-1.novalocal',
      '/latest/meta-data/public-keys/0/openssh-key': publicKey,
    };
    const answer = body[url] ?? (url.startsWith('/probe/') ? `probe ok ${url.slice('/probe/'.length)}\n` : undefined);
    res.writeHead(answer === undefined ? 404 : 200, { 'content-type': 'text/plain' });
    res.end(answer ?? 'not found\n');
  });
}

describe('guest image (root + qemu): boots under TCG, DHCP, metadata, ssh with the served key', function () {
  this.timeout(10 * 60_000);

  let tmp: string;
  let qemu: ChildProcess | undefined;
  let server: http.Server | undefined;
  let consoleText = '';
  let bootStart = 0;
  let sshPort = 0;
  let mdPort = 0;
  const asked: string[] = [];
  const instanceId = `i-${crypto.randomBytes(4).toString('hex')}`;

  const consoleTail = (): string => `--- serial console (last 3000 chars) ---\n${consoleText.slice(-3000)}`;

  /** Waits until the serial console matches `re`; fails with the console when QEMU exits or time runs out. */
  async function waitForConsole(re: RegExp, timeoutMs: number): Promise<RegExpMatchArray> {
    const until = Date.now() + timeoutMs;
    for (;;) {
      const m = consoleText.match(re);
      if (m) return m;
      if (!qemu || qemu.exitCode !== null || qemu.signalCode !== null)
        throw new Error(`QEMU exited (${String(qemu?.exitCode ?? qemu?.signalCode)})\n${consoleTail()}`);
      if (Date.now() > until) throw new Error(`no ${String(re)} on the console within ${timeoutMs / 1000} s\n${consoleTail()}`);
      await new Promise((r) => setTimeout(r, 250));
    }
  }

  function ssh(key: string, command: string): Promise<Run> {
    const opts = ['-F', '/dev/null', '-i', key, '-p', String(sshPort), '-o', 'StrictHostKeyChecking=no', '-o', 'UserKnownHostsFile=/dev/null'];
    opts.push('-o', 'BatchMode=yes', '-o', 'IdentitiesOnly=yes', '-o', 'ConnectTimeout=30', '-o', 'LogLevel=ERROR');
    return run(['ssh', ...opts, 'root@127.0.0.1', command], { timeoutMs: 90_000 });
  }

  before(async function () {
    const why = whyNotRunnable();
    if (why) {
      console.log(`      skipped: ${why}`);
      this.skip();
    }
    const cachedBefore = readGuestMarker()?.format === GUEST_FORMAT;
    const t0 = Date.now();
    await ensureGuest();
    console.log(`      guest ${cachedBefore ? 'cached' : 'built'} in ${((Date.now() - t0) / 1000).toFixed(1)} s`);

    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'stackplay-guest-'));
    for (const name of ['id_ed25519', 'wrong_ed25519']) {
      const r = await run(['ssh-keygen', '-q', '-t', 'ed25519', '-N', '', '-C', `stackplay-guest-test-${name}`, '-f', path.join(tmp, name)]);
      expect(r.code, r.stderr).to.equal(0);
    }
    const publicKey = fs.readFileSync(path.join(tmp, 'id_ed25519.pub'), 'utf8');
    server = metadataServer(instanceId, publicKey, asked);
    await new Promise<void>((resolve) => server?.listen(0, '127.0.0.1', resolve));
    mdPort = (server.address() as net.AddressInfo).port;
    sshPort = await freePort();

    const files = guestFiles();
    const disk = path.join(tmp, 'disk.img');
    fs.copyFileSync(files.disk, disk); // the guest may write its disk; the cached image stays pristine
    const consoleLog = fs.openSync(path.join(tmp, 'console.log'), 'w');
    // Nova's direct kernel boot, minus KVM; slirp maps 10.0.2.2 to this machine's loopback.
    const argv = ['-accel', 'tcg', '-m', '128', '-nographic', '-kernel', files.kernel, '-initrd', files.initrd];
    argv.push('-drive', `file=${disk},if=virtio,format=raw`);
    argv.push('-netdev', `user,id=n0,hostfwd=tcp:127.0.0.1:${sshPort}-:22`, '-device', 'virtio-net-pci,netdev=n0');
    // Nova's command line (tty0 too: the progress lines must still reach the serial port) plus the metadata URL.
    argv.push('-append', `root=/dev/vda console=tty0 console=ttyS0 stackplay.metadata=http://${SLIRP_HOST}:${mdPort}`);
    bootStart = Date.now();
    qemu = spawn('qemu-system-x86_64', argv, { stdio: ['ignore', 'pipe', 'pipe'] });
    const onOutput = (d: Buffer): void => {
      consoleText += d.toString().replace(/\r/g, '');
      fs.writeSync(consoleLog, d);
    };
    qemu.stdout?.on('data', onOutput);
    qemu.stderr?.on('data', onOutput);
    qemu.on('close', () => fs.closeSync(consoleLog));
  });

  after(async function () {
    if (qemu?.pid !== undefined && qemu.exitCode === null && qemu.signalCode === null) {
      const exited = new Promise((r) => qemu?.once('exit', r));
      process.kill(qemu.pid, 'SIGKILL');
      await exited;
    }
    await new Promise((r) => (server ? server.close(r) : r(undefined)));
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
  });

  it('is the guest its marker describes: format, kernel package, checksums, a small initrd', function () {
    const files = guestFiles();
    const marker = readGuestMarker();
    expect(marker?.format).to.equal(GUEST_FORMAT);
    expect(marker?.kernel.package).to.match(/^linux-image-\S+-cloud-amd64$/);
    expect(marker?.packages.map((p) => p.name)).to.include.members(['busybox-static', 'dropbear-bin']);
    expect(marker?.sha256).to.deep.equal({ vmlinuz: sha256(files.kernel), 'initrd.img': sha256(files.initrd), 'disk.img': sha256(files.disk) });
    expect(fs.statSync(files.initrd).size).to.be.below(8e6);
  });

  it(`prints login-ready on the serial console within ${LOGIN_READY_MS / 1000} s`, async function () {
    await waitForConsole(/^stackplay-guest: login-ready$/m, LOGIN_READY_MS);
    console.log(`      boot to login-ready: ${((Date.now() - bootStart) / 1000).toFixed(1)} s`);
    expect(consoleText, consoleTail()).to.not.match(/^stackplay-guest: .*failed/m);
  });

  it("got slirp's address by DHCP and loaded the virtio modules", function () {
    expect(consoleText, consoleTail()).to.match(/^stackplay-guest: dhcp 10\.0\.2\.15\/24 via 10\.0\.2\.2$/m);
    expect(consoleText, consoleTail()).to.match(/^stackplay-guest: modules loaded:.* virtio_pci .*virtio_net.*virtio_blk$/m);
    expect(consoleText, consoleTail()).to.match(/^stackplay-guest: disks: vda\s*$/m);
  });

  it('read the instance id and key from the metadata service named on the kernel command line', function () {
    expect(consoleText, consoleTail()).to.include(`stackplay-guest: metadata instance-id ${instanceId}\n`);
    expect(consoleText, consoleTail()).to.include('stackplay-guest: ssh key installed\n');
    expect(consoleText, consoleTail()).to.include('stackplay-guest: hostname tempest-serverstestjson-server-1\n');
    expect(asked).to.include.members(['/latest/meta-data/instance-id', '/latest/meta-data/hostname', '/latest/meta-data/public-keys/0/openssh-key']);
  });

  it('lets root in with the served key', async function () {
    const r = await ssh(path.join(tmp, 'id_ed25519'), 'cat /run/instance-id; stat -c %a /root/.ssh /root/.ssh/authorized_keys; hostname');
    expect(r.code, `${r.stderr}\n${consoleTail()}`).to.equal(0);
    expect(r.stdout.split('\n')).to.deep.equal([instanceId, '700', '600', 'tempest-serverstestjson-server-1', '']);
  });

  it("runs busybox's network tools over ssh: ping and wget reach this machine through slirp", async function () {
    const nonce = crypto.randomBytes(6).toString('hex');
    const script = `ping -c1 -W5 ${SLIRP_HOST} && wget -q -O - http://${SLIRP_HOST}:${mdPort}/probe/${nonce} && ip route show default`;
    const r = await ssh(path.join(tmp, 'id_ed25519'), script);
    expect(r.code, `${r.stdout}\n${r.stderr}`).to.equal(0);
    expect(r.stdout).to.match(/1 packets transmitted, 1 packets received/);
    expect(r.stdout).to.include(`probe ok ${nonce}\n`);
    expect(r.stdout).to.match(/^default via 10\.0\.2\.2 dev eth0/m);
    expect(asked).to.include(`/probe/${nonce}`);
  });

  it('refuses any other key', async function () {
    const r = await ssh(path.join(tmp, 'wrong_ed25519'), 'true');
    expect(r.code).to.equal(255);
    expect(r.stderr).to.match(/Permission denied \(publickey\)/);
  });
});

describe('guest udhcpc hook (host /bin/sh, recorded ip)', function () {
  let dir: string;

  /** Runs the hook for `event` with the lease in `lease`; the ip(8) calls it made and the lines it printed. */
  async function hook(event: string, lease: Record<string, string>, ipShows = ''): Promise<{ ip: string[]; said: string[]; resolv: string }> {
    for (const f of ['ip.log', 'said.log', 'resolv.conf']) fs.rmSync(path.join(dir, f), { force: true });
    const env: NodeJS.ProcessEnv = { PATH: `${path.join(dir, 'bin')}:/usr/bin:/bin`, STACKPLAY_LIB: path.join(dir, 'lib'), FAKE_IP_SHOWS: ipShows, ...lease };
    const r = await run(['/bin/sh', path.join(dir, 'udhcpc.script'), event], { env, timeoutMs: 10_000 });
    expect(r.code, r.stderr).to.equal(0);
    const lines = (f: string): string[] => (fs.existsSync(path.join(dir, f)) ? fs.readFileSync(path.join(dir, f), 'utf8').split('\n').filter(Boolean) : []);
    return { ip: lines('ip.log'), said: lines('said.log'), resolv: lines('resolv.conf').join('\n') };
  }

  before(function () {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'stackplay-udhcpc-'));
    fs.mkdirSync(path.join(dir, 'bin'));
    fs.mkdirSync(path.join(dir, 'lib'));
    fs.writeFileSync(path.join(dir, 'udhcpc.script'), udhcpcScript(), { mode: 0o755 });
    // ip(8) that records its arguments; `addr show` prints what the test says the interface has.
    const fakeIp = `#!/bin/sh\necho "$*" >>${dir}/ip.log\ncase "$*" in *"addr show"*) printf '%s\\n' "$FAKE_IP_SHOWS" ;; esac\n`;
    fs.writeFileSync(path.join(dir, 'bin/ip'), fakeIp, { mode: 0o755 });
    fs.writeFileSync(path.join(dir, 'lib/common.sh'), `RESOLV_CONF=${dir}/resolv.conf\nsay() { echo "stackplay-guest: $*" >>${dir}/said.log; }\n`);
  });

  after(function () {
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  const base = { interface: 'eth0', ip: '10.0.0.5', mask: '24', broadcast: '10.0.0.255', dns: '10.0.0.3' };

  it('with classless static routes (option 121) and an MTU: on-link routes first, router option ignored', async function () {
    const staticroutes = '169.254.169.254/32 10.0.0.2 10.0.0.0/24 0.0.0.0 0.0.0.0/0 10.0.0.1';
    const r = await hook('bound', { ...base, router: '10.0.0.99', staticroutes, mtu: '1450' });
    expect(r.ip).to.deep.equal([
      'link set dev eth0 mtu 1450',
      '-4 addr show dev eth0',
      '-4 addr flush dev eth0',
      'addr add 10.0.0.5/24 broadcast 10.0.0.255 dev eth0',
      'route replace 10.0.0.0/24 dev eth0',
      'route replace 169.254.169.254/32 via 10.0.0.2 dev eth0',
      'route replace default via 10.0.0.1 dev eth0',
    ]);
    expect(r.said).to.deep.equal(['stackplay-guest: dhcp 10.0.0.5/24 via 10.0.0.1']);
    expect(r.resolv).to.equal('nameserver 10.0.0.3');
  });

  it('without them: the first router is the default route', async function () {
    const r = await hook('bound', { ...base, router: '10.0.0.1 10.0.0.9' });
    expect(r.ip.filter((c) => c.startsWith('route'))).to.deep.equal(['route replace default via 10.0.0.1 dev eth0']);
    expect(r.said).to.deep.equal(['stackplay-guest: dhcp 10.0.0.5/24 via 10.0.0.1']);
  });

  it('a renewal of the same address keeps it (no flush) and prints nothing', async function () {
    const r = await hook('renew', { ...base, router: '10.0.0.1' }, '    inet 10.0.0.5/24 brd 10.0.0.255 scope global eth0');
    expect(r.ip).to.deep.equal(['-4 addr show dev eth0', 'route replace default via 10.0.0.1 dev eth0']);
    expect(r.said).to.deep.equal([]);
  });
});
