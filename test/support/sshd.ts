/**
 * A throwaway OpenSSH server on 127.0.0.1 for integration tests: own host
 * key, own client key, own config, nothing from /etc/ssh. Needs root (it
 * lets the client log in as root) and /usr/sbin/sshd.
 */

import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { access, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import * as net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
const SSHD = '/usr/sbin/sshd';
const START_TIMEOUT_MS = 5_000;

export interface TestSshd {
  readonly port: number;
  readonly address: '127.0.0.1';
  readonly clientKeyPath: string;
  readonly clientKey: string;
  /** Empty file for the client to record the host key in. */
  readonly knownHostsPath: string;
  readonly dir: string;
  /** Public half of the server's host key, `ssh-ed25519 AAAA…`. */
  readonly hostPublicKey: string;
  readonly pid: number;
  /** What sshd wrote to stderr so far (raise LogLevel via extraConfig to see more). */
  log(): string;
  stop(): Promise<void>;
}

export interface SshdOptions {
  /**
   * Extra sshd_config lines. They go first because sshd keeps the first
   * value it reads for a keyword, so they override the defaults below.
   */
  readonly extraConfig?: readonly string[];
  /** Let the login shell read root's rc files, as a real host would (default false). */
  readonly loginRcFiles?: boolean;
  /** Use this client key pair (`path`, `path.pub`) instead of a new one, so several sshds accept one key. */
  readonly clientKeyPath?: string;
  /**
   * A root password sshd accepts (password authentication on). sshd reads
   * passwords from /etc/shadow, so it runs in a mount namespace of its own
   * where a temporary shadow file holding only root's entry is bound over
   * /etc/shadow; the machine's file is never touched.
   */
  readonly rootPassword?: string;
}

/** TCP connections the sshd accepted so far (needs `LogLevel VERBOSE` in extraConfig). */
export const acceptedConnections = (sshd: TestSshd): number => (sshd.log().match(/Connection from 127\.0\.0\.1 port \d+ on/g) ?? []).length;

/** A port that was free a moment ago (bind 0, read it, release it). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      srv.close(() => {
        if (addr !== null && typeof addr === 'object') resolve(addr.port);
        else reject(new Error('could not determine a free port'));
      });
    });
  });
}

/** Generate an unencrypted ed25519 key pair at `path` / `path.pub`. */
export async function keygen(path: string): Promise<void> {
  await run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'stackplay-test', '-f', path]);
}

/** A SHA-512 crypt(3) hash, as /etc/shadow holds (the password travels on stdin, never in argv). */
async function hashPassword(password: string): Promise<string> {
  const child = execFile('openssl', ['passwd', '-6', '-stdin']);
  const out = new Promise<string>((resolve, reject) => {
    let text = '';
    child.stdout?.on('data', (d: Buffer) => (text += d.toString()));
    child.once('error', reject);
    child.once('close', (code) => (code === 0 ? resolve(text.trim()) : reject(new Error(`openssl passwd exited ${code}`))));
  });
  child.stdin?.end(`${password}\n`);
  return out;
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ host: '127.0.0.1', port });
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export async function startSshd(options: SshdOptions = {}): Promise<TestSshd> {
  try {
    await access(SSHD);
  } catch {
    throw new Error(`${SSHD} not found: run \`make test\`, which installs openssh-server`);
  }

  const dir = await mkdtemp(join(tmpdir(), 'stackplay-sshd-'));
  try {
    const hostKeyPath = join(dir, 'ssh_host_ed25519_key');
    const clientKeyPath = options.clientKeyPath ?? join(dir, 'id_ed25519');
    const authorizedKeysPath = join(dir, 'authorized_keys');
    const knownHostsPath = join(dir, 'known_hosts');
    const configPath = join(dir, 'sshd_config');
    await Promise.all([keygen(hostKeyPath), options.clientKeyPath === undefined ? keygen(clientKeyPath) : Promise.resolve()]);
    let shadowPath: string | undefined;
    if (options.rootPassword !== undefined) {
      shadowPath = join(dir, 'shadow');
      const hash = await hashPassword(options.rootPassword);
      await writeFile(shadowPath, `root:${hash}:19000:0:99999:7:::\n`, { mode: 0o600 });
    }
    await writeFile(authorizedKeysPath, await readFile(`${clientKeyPath}.pub`), { mode: 0o600 });
    await writeFile(knownHostsPath, '', { mode: 0o600 });
    const hostPublicKey = (await readFile(`${hostKeyPath}.pub`, 'utf8')).split(' ').slice(0, 2).join(' ');
    // Privilege-separation directory; normally created by the service unit.
    await mkdir('/run/sshd', { recursive: true, mode: 0o755 });

    // The port is picked then released, so another process may grab it
    // before sshd binds; retry a couple of times if sshd dies on bind.
    let lastError = '';
    for (let attempt = 0; attempt < 3; attempt++) {
      const port = await freePort();
      const config = [
        ...(options.extraConfig ?? []),
        `ListenAddress 127.0.0.1`,
        `Port ${port}`,
        `HostKey ${hostKeyPath}`,
        `PidFile ${join(dir, 'sshd.pid')}`,
        `AuthorizedKeysFile ${authorizedKeysPath}`,
        `PermitRootLogin ${options.rootPassword !== undefined ? 'yes' : 'prohibit-password'}`,
        'PubkeyAuthentication yes',
        `PasswordAuthentication ${options.rootPassword !== undefined ? 'yes' : 'no'}`,
        'KbdInteractiveAuthentication no',
        'UsePAM no',
        'StrictModes no',
        'MaxSessions 10',
        // Tests open many connections at once; the default 10:30:100 would
        // randomly drop unauthenticated ones.
        'MaxStartups 200',
        'LogLevel ERROR',
        // sshd always runs commands through the login shell, and Debian's
        // bash sources ~/.bashrc when it sees SSH_CLIENT at SHLVL < 2. This
        // machine's /root/.bashrc runs `pyenv init`, which costs ~75 ms per
        // exec and, under concurrency, prints rehash races on stderr. Starting
        // bash at SHLVL 2 keeps tests independent of root's dotfiles.
        ...(options.loginRcFiles === true ? [] : ['SetEnv SHLVL=1']),
        '',
      ].join('\n');
      await writeFile(configPath, config);

      const child =
        shadowPath === undefined
          ? spawn(SSHD, ['-D', '-e', '-f', configPath], { stdio: ['ignore', 'ignore', 'pipe'] })
          : // unshare's default propagation is private: the bind mount is seen by this sshd and its children only.
            spawn('unshare', ['--mount', 'sh', '-c', 'mount --bind "$1" /etc/shadow && exec "$2" -D -e -f "$3"', 'sshd-ns', shadowPath, SSHD, configPath], {
              stdio: ['ignore', 'ignore', 'pipe'],
            });
      let stderr = '';
      child.stderr?.setEncoding('utf8').on('data', (d: string) => (stderr += d));
      let exited = false;
      const exit = new Promise<void>((resolve) => {
        child.once('exit', () => {
          exited = true;
          resolve();
        });
        child.once('error', (e) => {
          stderr += String(e);
          exited = true;
          resolve();
        });
      });

      const deadline = Date.now() + START_TIMEOUT_MS;
      while (!exited && Date.now() < deadline) {
        if (await canConnect(port)) {
          return makeHandle(child, exit, () => stderr, { port, dir, clientKeyPath, knownHostsPath, hostPublicKey });
        }
        await sleep(25);
      }
      if (!exited && child.pid !== undefined) process.kill(child.pid, 'SIGKILL');
      await exit;
      lastError = stderr.trim() || `sshd did not listen on 127.0.0.1:${port} within ${START_TIMEOUT_MS} ms`;
    }
    throw new Error(`test sshd failed to start: ${lastError}`);
  } catch (err) {
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
}

async function makeHandle(
  child: ChildProcess,
  exit: Promise<void>,
  log: () => string,
  info: { port: number; dir: string; clientKeyPath: string; knownHostsPath: string; hostPublicKey: string },
): Promise<TestSshd> {
  const pid = child.pid;
  if (pid === undefined) throw new Error('sshd has no pid');
  const clientKey = await readFile(info.clientKeyPath, 'utf8');
  let stopping: Promise<void> | undefined;
  return {
    ...info,
    address: '127.0.0.1',
    clientKey,
    pid,
    log,
    stop() {
      stopping ??= (async () => {
        if (child.exitCode === null && child.signalCode === null) {
          // Only the listener we spawned; per-connection sshd children end
          // with their clients.
          process.kill(pid, 'SIGTERM');
          const timer = setTimeout(() => {
            if (child.exitCode === null && child.signalCode === null) process.kill(pid, 'SIGKILL');
          }, 2_000);
          await exit;
          clearTimeout(timer);
        }
        await rm(info.dir, { recursive: true, force: true });
      })();
      return stopping;
    },
  };
}
