/**
 * Benchmark hosts: N lightweight Debian hosts on this machine, each a network
 * namespace with sshd on its own overlay root, on their own bridge and subnet
 * (spbench0, 10.43.0.0/16) so they never touch the lab (splab0, 10.42.0.0/24).
 *
 * Root filesystem per host: overlay of
 *   upper  /var/lib/stackplay-bench/hosts/<h>/upper   (private, writable: /etc ...)
 *   lower  /var/cache/stackplay-bench/layer-v<N>/upper (python3 + python3-apt for
 *          Ansible, three small init-script services for the service checks)
 *   lower  /var/cache/stackplay-lab/base-bookworm/rootfs (the lab's cached base;
 *          built with `npx tsx lab/cli.ts base` when missing)
 *
 * Reuses the lab's network and process helpers (lab/netns.ts, lab/proc.ts)
 * and its host start-up (lab/host.ts: sshd as PID 1 of the host's own
 * namespaces) without changing what the lab does. Everything made is recorded in
 * /var/lib/stackplay-bench/state.json so `down` removes exactly that, even
 * after an interrupted run.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { $ } from '../lab/sh.js';
import { BASE_DIR, BASE_MARKER, BASE_ROOTFS, REPO_ROOT } from '../lab/paths.js';
import {
  checkSubnetsFree,
  cleanupRunNetns,
  deleteBridge,
  deleteHostNet,
  ensureBridge,
  ensureHostNet,
  isMountPoint,
  linkExists,
  netnsExists,
  netnsPids,
  runNetnsBefore,
} from '../lab/netns.js';
import { childPids, isRunning, spawnDaemon, stopProcess, waitFor } from '../lab/proc.js';
import type { ProcRecord } from '../lab/state.js';
import { mountsUnder } from '../lab/base.js';
import { tcpOpen } from '../lab/proxy.js';
import { hostInitArgv } from '../lab/host.js';
import type { Cidr } from '../lab/net.js';

export const BENCH_DIR = '/var/lib/stackplay-bench';
const STATE_FILE = path.join(BENCH_DIR, 'state.json');
const HOSTS_DIR = path.join(BENCH_DIR, 'hosts');
const LOG_DIR = path.join(BENCH_DIR, 'log');
export const KEY_FILE = path.join(BENCH_DIR, 'id_ed25519');
export const KNOWN_HOSTS = path.join(BENCH_DIR, 'known_hosts');

/** Bump when buildLayer() changes. */
const LAYER_FORMAT = 1;
const LAYER_DIR = `/var/cache/stackplay-bench/layer-v${LAYER_FORMAT}`;
const LAYER = path.join(LAYER_DIR, 'upper');
const LAYER_MARKER = path.join(LAYER_DIR, 'layer.json');
const LAYER_PACKAGES = ['python3-minimal', 'python3-apt'];

export const BRIDGE = 'spbench0';
export const BRIDGE_CIDR: Cidr = { ip: '10.43.0.1', prefix: 16 };

export interface BenchHost {
  readonly name: string;
  readonly netns: string;
  readonly vethHost: string;
  readonly address: Cidr;
  readonly dir: string;
}

interface HostState {
  name: string;
  netns: string;
  vethHost: string;
  root: string;
  netnsCreated: boolean;
  mounted: boolean;
  init?: ProcRecord;
}

interface BenchState {
  bridge?: boolean;
  runNetns?: { createdDir: boolean; createdMount: boolean };
  hosts: Record<string, HostState>;
}

export function benchHost(i: number): BenchHost {
  const name = `bh${String(i).padStart(3, '0')}`;
  // 10.43.1.1 … 10.43.1.250, 10.43.2.1 …: never the bridge's 10.43.0.1.
  const ip = `10.43.${1 + Math.floor((i - 1) / 250)}.${1 + ((i - 1) % 250)}`;
  return { name, netns: `spb-${name}`, vethHost: `spb-${name}`, address: { ip, prefix: 16 }, dir: path.join(HOSTS_DIR, name) };
}

const plan = { bridgeName: BRIDGE, bridge: BRIDGE_CIDR };

function loadState(): BenchState {
  try {
    return JSON.parse(fs.readFileSync(STATE_FILE, 'utf8')) as BenchState;
  } catch {
    return { hosts: {} };
  }
}

function saveState(state: BenchState): void {
  fs.mkdirSync(BENCH_DIR, { recursive: true });
  fs.writeFileSync(`${STATE_FILE}.tmp`, JSON.stringify(state, null, 2));
  fs.renameSync(`${STATE_FILE}.tmp`, STATE_FILE);
}

function log(message: string): void {
  process.stderr.write(`bench: ${message}\n`);
}

function write(file: string, text: string, mode = 0o644): void {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, text, { mode });
  fs.chmodSync(file, mode);
}

/** A long-running daemon with a pid file, as a packaged service would be. */
function initScript(name: string): string {
  return `#!/bin/sh
### BEGIN INIT INFO
# Provides:          ${name}
# Required-Start:
# Required-Stop:
# Default-Start:     2 3 4 5
# Default-Stop:      0 1 6
# Short-Description: stackplay benchmark service
### END INIT INFO
PIDFILE=/run/${name}.pid
running() { [ -f "$PIDFILE" ] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null; }
case "$1" in
  start) running || start-stop-daemon --start --quiet --background --make-pidfile --pidfile "$PIDFILE" --exec /bin/sleep -- 1000000 ;;
  stop) if running; then kill "$(cat "$PIDFILE")"; fi; rm -f "$PIDFILE" ;;
  restart) "$0" stop; "$0" start ;;
  status) if running; then echo "${name} is running"; exit 0; else echo "${name} is not running"; exit 3; fi ;;
  *) echo "usage: $0 {start|stop|restart|status}" >&2; exit 2 ;;
esac
`;
}
export const SERVICES = ['bench-a', 'bench-b', 'bench-c'] as const;

/** The layer on top of the lab base: python for Ansible, and the benchmark's services. */
async function ensureLayer(): Promise<void> {
  if (fs.existsSync(LAYER_MARKER)) return;
  if (!fs.existsSync(path.join(BASE_DIR, BASE_MARKER))) {
    log('lab base missing: npx tsx lab/cli.ts base');
    execFileSync('npx', ['tsx', 'lab/cli.ts', 'base'], { cwd: REPO_ROOT, stdio: 'inherit' });
  }
  log(`building ${LAYER_DIR} (${LAYER_PACKAGES.join(' ')})`);
  const tmp = `${LAYER_DIR}.tmp-${process.pid}`;
  for (const mp of mountsUnder(tmp)) await $`umount -l ${mp}`;
  fs.rmSync(tmp, { recursive: true, force: true });
  const upper = path.join(tmp, 'upper');
  const work = path.join(tmp, 'work');
  const root = path.join(tmp, 'root');
  for (const d of [upper, work, root]) fs.mkdirSync(d, { recursive: true });
  await $`mount -t overlay stackplay-bench-layer -o ${`lowerdir=${BASE_ROOTFS},upperdir=${upper},workdir=${work}`} ${root}`;
  try {
    // apt straight from the machine's Debian mirror (the chroot shares the machine's network).
    const sources = fs.readdirSync('/etc/apt/sources.list.d').filter((f) => f.endsWith('.sources') || f.endsWith('.list'));
    for (const f of sources) fs.copyFileSync(path.join('/etc/apt/sources.list.d', f), path.join(root, 'etc/apt/sources.list.d', f));
    if (fs.existsSync('/etc/apt/sources.list')) fs.copyFileSync('/etc/apt/sources.list', path.join(root, 'etc/apt/sources.list'));
    fs.copyFileSync('/etc/resolv.conf', path.join(root, 'etc/resolv.conf'));
    write(path.join(root, 'usr/sbin/policy-rc.d'), '#!/bin/sh\nexit 101\n', 0o755);
    await $`mount --bind /proc ${path.join(root, 'proc')}`;
    await $`mount --bind /dev ${path.join(root, 'dev')}`;
    try {
      const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
      await $({ env })`chroot ${root} apt-get update -q`;
      await $({ env })`chroot ${root} apt-get install -y -q --no-install-recommends ${LAYER_PACKAGES}`;
      await $`chroot ${root} apt-get clean`;
    } finally {
      await $`umount ${path.join(root, 'dev')}`;
      await $`umount ${path.join(root, 'proc')}`;
    }
    for (const f of sources) fs.rmSync(path.join(root, 'etc/apt/sources.list.d', f));
    fs.writeFileSync(path.join(root, 'etc/apt/sources.list'), '# stackplay bench host: no apt sources\n');
    fs.writeFileSync(path.join(root, 'etc/resolv.conf'), '# stackplay bench: no DNS\n');
    fs.rmSync(path.join(root, 'usr/sbin/policy-rc.d'));
    fs.rmSync(path.join(root, 'var/lib/apt/lists'), { recursive: true, force: true });
    fs.mkdirSync(path.join(root, 'var/lib/apt/lists/partial'), { recursive: true });
    for (const s of SERVICES) {
      write(path.join(root, 'etc/init.d', s), initScript(s), 0o755);
      fs.symlinkSync(`../init.d/${s}`, path.join(root, 'etc/rc2.d', `S01${s}`));
    }
  } finally {
    await $`umount ${root}`;
  }
  fs.rmSync(work, { recursive: true, force: true });
  fs.writeFileSync(path.join(tmp, 'layer.json'), JSON.stringify({ format: LAYER_FORMAT, packages: LAYER_PACKAGES, builtAt: new Date().toISOString() }));
  fs.rmSync(LAYER_DIR, { recursive: true, force: true });
  fs.renameSync(tmp, LAYER_DIR);
}

async function ensureKey(): Promise<string> {
  if (!fs.existsSync(KEY_FILE)) {
    fs.mkdirSync(BENCH_DIR, { recursive: true });
    fs.rmSync(`${KEY_FILE}.pub`, { force: true });
    await $`ssh-keygen -q -t ed25519 -N ${''} -C stackplay-bench -f ${KEY_FILE}`;
  }
  return fs.readFileSync(`${KEY_FILE}.pub`, 'utf8');
}

/** Host keys persist across runs so known_hosts stays valid. */
async function hostKey(h: BenchHost): Promise<{ key: string; pub: string }> {
  const file = path.join(BENCH_DIR, 'hostkeys', h.name, 'ssh_host_ed25519_key');
  if (!fs.existsSync(file)) {
    fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
    fs.rmSync(`${file}.pub`, { force: true });
    await $`ssh-keygen -q -t ed25519 -N ${''} -C ${`root@${h.name}`} -f ${file}`;
    if (fs.existsSync(KNOWN_HOSTS)) await $`ssh-keygen -q -R ${h.address.ip} -f ${KNOWN_HOSTS}`.nothrow();
  }
  return { key: fs.readFileSync(file, 'utf8'), pub: fs.readFileSync(`${file}.pub`, 'utf8') };
}

async function upHost(h: BenchHost, state: BenchState, authorizedKey: string): Promise<void> {
  const rec = (state.hosts[h.name] ??= {
    name: h.name,
    netns: h.netns,
    vethHost: h.vethHost,
    root: path.join(h.dir, 'root'),
    netnsCreated: false,
    mounted: false,
  });
  if (rec.init && isRunning(rec.init) && (await tcpOpen(h.address.ip, 22, 500))) return;
  if (netnsExists(h.netns) && !rec.netnsCreated) throw new Error(`netns ${h.netns} exists but was not made by the bench`);
  rec.netnsCreated = true;
  saveState(state);
  await ensureHostNet(plan as never, { ...h, tunnel: undefined } as never);
  const upper = path.join(h.dir, 'upper');
  const work = path.join(h.dir, 'work');
  if (!isMountPoint(rec.root)) {
    for (const d of [upper, work, rec.root]) fs.mkdirSync(d, { recursive: true });
    await $`mount -t overlay ${`stackplay-${h.name}`} -o ${`lowerdir=${LAYER}:${BASE_ROOTFS},upperdir=${upper},workdir=${work}`} ${rec.root}`;
    rec.mounted = true;
    saveState(state);
  }
  const at = (p: string): string => path.join(rec.root, p);
  const key = await hostKey(h);
  write(at('etc/hostname'), `${h.name}\n`);
  fs.mkdirSync(at('root/.ssh'), { recursive: true, mode: 0o700 });
  write(at('root/.ssh/authorized_keys'), authorizedKey, 0o600);
  write(at('etc/ssh/ssh_host_ed25519_key'), key.key, 0o600);
  write(at('etc/ssh/ssh_host_ed25519_key.pub'), key.pub);
  write(
    at('etc/ssh/sshd_config.d/stackplay-bench.conf'),
    'HostKey /etc/ssh/ssh_host_ed25519_key\nPermitRootLogin prohibit-password\nPasswordAuthentication no\nKbdInteractiveAuthentication no\nUsePAM no\nUseDNS no\n',
  );
  fs.mkdirSync(LOG_DIR, { recursive: true });
  // The lab's own host start-up (lab/host.ts): sshd as PID 1 in the host's namespaces, chrooted into its overlay.
  rec.init = spawnDaemon(hostInitArgv(h.netns, h.name, rec.root, 'stackplay-bench-init'), path.join(LOG_DIR, `${h.name}.log`));
  saveState(state);
  const init = rec.init;
  if (!(await waitFor(async () => !isRunning(init) || (await tcpOpen(h.address.ip, 22, 300)), 20_000)) || !isRunning(init)) {
    throw new Error(`${h.name}: sshd did not come up (log ${path.join(LOG_DIR, `${h.name}.log`)})`);
  }
}

/** Bring hosts 1..n up (idempotent). */
export async function up(n: number): Promise<BenchHost[]> {
  if (process.getuid?.() !== 0) throw new Error('the benchmark hosts need root');
  await ensureLayer();
  const authorizedKey = await ensureKey();
  const state = loadState();
  if (!state.bridge) {
    if (linkExists(BRIDGE)) throw new Error(`${BRIDGE} exists but was not made by the bench`);
    await checkSubnetsFree([BRIDGE_CIDR], [BRIDGE]);
  }
  const before = runNetnsBefore();
  state.bridge = true;
  saveState(state);
  await ensureBridge(plan.bridgeName, plan.bridge);
  const hosts = Array.from({ length: n }, (_, i) => benchHost(i + 1));
  // A few at a time: 50 sshd start-ups at once are fine, but keep the machine responsive.
  for (let i = 0; i < hosts.length; i += 10) await Promise.all(hosts.slice(i, i + 10).map((h) => upHost(h, state, authorizedKey)));
  state.runNetns ??= { createdDir: !before.dir && fs.existsSync('/run/netns'), createdMount: !before.mount && isMountPoint('/run/netns') };
  saveState(state);
  return hosts;
}

/** Remove everything up() made. */
export async function down(): Promise<void> {
  const state = loadState();
  const recs = Object.values(state.hosts);
  await Promise.all(
    recs.map(async (rec) => {
      if (rec.init && isRunning(rec.init)) {
        const pid1 = childPids(rec.init.pid)[0];
        if (pid1 !== undefined) {
          try {
            process.kill(pid1, 'SIGTERM');
          } catch {
            // gone
          }
        }
        const init = rec.init;
        if (!(await waitFor(() => !isRunning(init), 5000))) await stopProcess(init, 'SIGKILL');
      }
      for (const pid of await netnsPids(rec.netns)) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // gone
        }
      }
      if (rec.mounted) {
        for (const mp of mountsUnder(rec.root)) await $`umount -l ${mp}`.nothrow();
        rec.mounted = false;
      }
      if (rec.netnsCreated) await deleteHostNet(rec.netns, rec.vethHost);
      fs.rmSync(path.dirname(rec.root), { recursive: true, force: true });
      delete state.hosts[rec.name];
      saveState(state);
    }),
  );
  if (state.bridge) {
    await deleteBridge(BRIDGE);
    delete state.bridge;
  }
  if (state.runNetns) await cleanupRunNetns(state.runNetns);
  fs.rmSync(STATE_FILE, { force: true });
}

/** Inventory (INI, read by both stackplay and Ansible) for hosts 1..n. */
export function inventory(hosts: readonly BenchHost[]): string {
  return [
    '[bench]',
    ...hosts.map((h) => `${h.name} ansible_host=${h.address.ip}`),
    '',
    '[all:vars]',
    'ansible_user=root',
    `ansible_ssh_private_key_file=${KEY_FILE}`,
    `stackplay_known_hosts=${KNOWN_HOSTS}`,
    'ansible_python_interpreter=/usr/bin/python3',
    '',
  ].join('\n');
}
