/**
 * The machine's side of package installs: the packages the lab needs on the
 * machine, and apt-cacher-ng listening on loopback (for debootstrap) and on
 * the bridge address (for the hosts). Its cache (/var/cache/apt-cacher-ng)
 * outlives the lab, so a second build downloads nothing.
 */
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { $ } from './sh.js';
import { info, warn } from './log.js';
import { APT_CACHE_DIR, LOG_DIR, PROXY_PORT, STATE_DIR } from './paths.js';
import { isRunning, spawnDaemon, stopProcess, waitFor } from './proc.js';
import type { ProcRecord } from './state.js';

/** Packages the lab needs on the machine. */
export const MACHINE_PACKAGES = ['debootstrap', 'apt-cacher-ng', 'openssh-client', 'iproute2', 'nftables'] as const;

async function missingPackages(names: readonly string[]): Promise<string[]> {
  const missing: string[] = [];
  for (const name of names) {
    const out = await $`dpkg-query -W -f=${'${Status}'} ${name}`.nothrow();
    if (!out.stdout.includes('install ok installed')) missing.push(name);
  }
  return missing;
}

/** apt-get install whatever is missing (noninteractive). Returns a note for the progress line. */
export async function ensureMachinePackages(): Promise<string> {
  const missing = await missingPackages(MACHINE_PACKAGES);
  if (missing.length === 0) return 'already installed';
  info(`installing on the machine: ${missing.join(' ')}`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  // The lab starts its own apt-cacher-ng; do not let the package offer an HTTPS tunnel.
  await $({ input: 'apt-cacher-ng apt-cacher-ng/tunnelenable boolean false\n', env })`debconf-set-selections`;
  await $({ env })`apt-get update -q`;
  await $({ env })`apt-get install -y -q --no-install-recommends -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold ${missing}`;
  return `installed ${missing.join(' ')}`;
}

export interface Mirror {
  /** e.g. deb.debian.org/debian — what goes after http://<proxy>:3142/ */
  readonly debian: string;
  /** e.g. deb.debian.org/debian-security */
  readonly security: string;
  /** Backend URI for apt-cacher-ng, e.g. http://deb.debian.org/debian/ */
  readonly backend: string;
}

/** The Debian mirror the machine's own apt uses (deb822 .sources or one-line .list files). */
export function machineMirror(): Mirror {
  const uris: string[] = [];
  const files = ['/etc/apt/sources.list'];
  try {
    for (const f of fs.readdirSync('/etc/apt/sources.list.d')) files.push(path.join('/etc/apt/sources.list.d', f));
  } catch {
    // no directory
  }
  for (const file of files) {
    if (!file.endsWith('.list') && !file.endsWith('.sources')) continue;
    let text: string;
    try {
      text = fs.readFileSync(file, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n')) {
      const deb822 = /^URIs:\s*(.+)$/i.exec(line.trim());
      const oneLine = /^deb\s+(?:\[[^\]]*\]\s+)?(\S+)/.exec(line.trim());
      const found = deb822?.[1]?.split(/\s+/) ?? (oneLine?.[1] ? [oneLine[1]] : []);
      uris.push(...found);
    }
  }
  const hostPaths = uris.map((u) => /^https?:\/\/([^/]+\/.*?)\/?$/.exec(u)?.[1]).filter((u): u is string => u !== undefined);
  const debian = hostPaths.find((u) => /\/debian$/.test(u));
  if (!debian) throw new Error('no Debian mirror (http://HOST/debian) found in /etc/apt/sources.list{,.d}');
  const security = hostPaths.find((u) => /\/debian-security$/.test(u)) ?? `${debian}-security`;
  return { debian, security, backend: `http://${debian}/` };
}

/** Point apt-cacher-ng's Debian backend at the machine's mirror (its default is not reachable here). */
export function configureBackend(mirror: Mirror): boolean {
  const file = '/etc/apt-cacher-ng/backends_debian';
  const wanted = `# Written by stackplay lab (lab/proxy.ts): the mirror from the machine's apt sources.\n${mirror.backend}\n`;
  let current = '';
  try {
    current = fs.readFileSync(file, 'utf8');
  } catch {
    // missing
  }
  if (current === wanted) return false;
  fs.writeFileSync(file, wanted);
  return true;
}

export function tcpOpen(host: string, port: number, timeoutMs = 500): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host, port });
    const done = (ok: boolean): void => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

export function proxyUrl(address: string): string {
  return `http://${address}:${PROXY_PORT}`;
}

/** apt-cacher-ng answers its report page; anything else on :3142 is not it. */
async function isAptCacher(address: string): Promise<boolean> {
  try {
    const res = await fetch(`${proxyUrl(address)}/acng-report.html`, { signal: AbortSignal.timeout(2000) });
    const body = await res.text();
    return res.ok && /apt-cacher/i.test(body);
  } catch {
    return false;
  }
}

/** The apt-cacher-ng the lab started, recorded the moment it is spawned (so even a crashed run's proxy is found again). */
export interface ProxyRecord extends ProcRecord {
  readonly binds: readonly string[];
}

const PROXY_RECORD = path.join(STATE_DIR, 'run', 'apt-cacher-ng.json');
const PROXY_SOCKET = path.join(STATE_DIR, 'run', 'acng.socket');

export function loadProxyRecord(): ProxyRecord | undefined {
  try {
    return JSON.parse(fs.readFileSync(PROXY_RECORD, 'utf8')) as ProxyRecord;
  } catch {
    return undefined;
  }
}

/** Stop the apt-cacher-ng the lab started (if it runs) and forget it. The cache stays. */
export async function stopLabProxy(): Promise<ProxyRecord | undefined> {
  const rec = loadProxyRecord();
  const stopped = rec !== undefined && (await stopProcess(rec));
  fs.rmSync(PROXY_RECORD, { force: true });
  fs.rmSync(PROXY_SOCKET, { force: true });
  return stopped ? rec : undefined;
}

/**
 * apt-cacher-ng moves an index it refreshes (InRelease, Release…) aside to
 * `NAME.<number>` and never removes those copies; the number repeats, and a
 * refresh that finds its name taken fails ("Failure to move file … out of
 * the way … File exists") and leaves the client's connection hanging (seen
 * on the Zed lab: apt-get update stalled until killed). The copies are of no
 * use to it: remove them before starting it.
 */
function removeMovedIndexes(cache: string): void {
  if (!fs.existsSync(cache)) return;
  for (const repo of fs.readdirSync(cache)) {
    const dists = path.join(cache, repo, 'dists');
    if (!fs.existsSync(dists)) continue;
    for (const suite of fs.readdirSync(dists)) {
      const dir = path.join(dists, suite);
      if (!fs.statSync(dir).isDirectory()) continue;
      for (const f of fs.readdirSync(dir)) if (/^(In)?Release(\.gpg)?\.\d+$/.test(f)) fs.rmSync(path.join(dir, f), { force: true });
    }
  }
}

/**
 * Make sure apt-cacher-ng answers on 127.0.0.1 (debootstrap) and, given a
 * bridge address, there too (the hosts). Reuses the lab's own if it already
 * binds what is needed, else (re)starts it; uses one started by someone
 * else if it answers on every address needed, and never stops that one.
 */
export async function ensureProxy(bridgeIp: string | undefined, backendChanged: boolean): Promise<{ note: string; started: boolean }> {
  const binds = [...new Set(['127.0.0.1', ...(bridgeIp ? [bridgeIp] : [])])];
  const answers = async (): Promise<boolean> => (await Promise.all(binds.map(isAptCacher))).every(Boolean);
  const rec = loadProxyRecord();
  if (rec && isRunning(rec)) {
    if (!backendChanged && binds.every((b) => rec.binds.includes(b)) && (await answers())) {
      return { note: `already running (pid ${rec.pid})`, started: false };
    }
    await stopLabProxy(); // ours, but bound elsewhere or with an old backend: restart it
  } else if (rec) {
    await stopLabProxy();
  }
  if (await tcpOpen('127.0.0.1', PROXY_PORT)) {
    if (!(await isAptCacher('127.0.0.1'))) throw new Error(`something that is not apt-cacher-ng listens on 127.0.0.1:${PROXY_PORT}`);
    if (!(await answers())) {
      throw new Error(
        `an apt-cacher-ng not started by the lab runs on 127.0.0.1:${PROXY_PORT} but does not answer on ${binds.join(' and ')}: stop it or bind it there too`,
      );
    }
    if (backendChanged) warn('apt-cacher-ng was already running when its Debian backend was changed: restart it to use the new backend');
    return { note: 'using the apt-cacher-ng already running (not started by the lab)', started: false };
  }
  // Its own user, in the foreground (so the recorded pid is the daemon), on loopback (+ bridge) only.
  fs.mkdirSync(path.dirname(PROXY_RECORD), { recursive: true });
  fs.mkdirSync(APT_CACHE_DIR, { recursive: true });
  await $`chown apt-cacher-ng:apt-cacher-ng ${APT_CACHE_DIR}`;
  removeMovedIndexes(APT_CACHE_DIR);
  await $`chown apt-cacher-ng:apt-cacher-ng ${path.dirname(PROXY_SOCKET)}`;
  const log = path.join(LOG_DIR, 'apt-cacher-ng.log');
  const proc = spawnDaemon(
    [
      'setpriv',
      '--reuid=apt-cacher-ng',
      '--regid=apt-cacher-ng',
      '--init-groups',
      '/usr/sbin/apt-cacher-ng',
      '-c',
      '/etc/apt-cacher-ng',
      // Lab hosts refresh the same indexes within minutes of each other: serve them fresh for 10 minutes (default 27 s).
      'ForeGround=1',
      'FreshIndexMaxAge=600',
      `CacheDir=${APT_CACHE_DIR}`,
      `Port=${PROXY_PORT}`,
      `BindAddress=${binds.join(' ')}`,
      `SocketPath=${PROXY_SOCKET}`,
    ],
    log,
  );
  const record: ProxyRecord = { ...proc, binds };
  fs.writeFileSync(PROXY_RECORD, JSON.stringify(record, null, 2) + '\n');
  const up = await waitFor(async () => !isRunning(proc) || (await answers()), 15_000, 200);
  if (!up || !isRunning(proc)) {
    await stopLabProxy();
    throw new Error(`apt-cacher-ng did not come up; see ${log}`);
  }
  return { note: `started (pid ${proc.pid}) on ${binds.join(' and ')}`, started: true };
}
