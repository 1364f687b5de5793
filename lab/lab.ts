/**
 * `up`, `down` and `status` of the whole lab, driven by the inventory (up)
 * and by the state file (down, status).
 */
import fs from 'node:fs';
import path from 'node:path';
import chalk from 'chalk';
import { $ } from './sh.js';
import { loadInventory } from '../lib/inventory/inventory.js';
import { baseReady, ensureBase, removeBase, removeTree } from './base.js';
import { configureHost, ensureDisk, ensureHostKey, hostLog, hostPaths, isHostUp, releaseDisk, startHost, stopHost, waitForSsh } from './host.js';
import { onInterrupt } from './interrupt.js';
import { hostCgroups, systemdHostsUnsupported } from './boot.js';
import { ensureGuest, installGuest } from './guest.js';
import { info, seconds, step, warn } from './log.js';
import {
  checkSubnetsFree,
  cleanupRunNetns,
  deleteBridge,
  deleteHostNet,
  ensureBridge,
  ensureHostNet,
  isMountPoint,
  linkExists,
  nameservers,
  netnsExists,
  type Remote,
  runNetnsBefore,
} from './netns.js';
import { BASE_DIR, PROXY_PORT, STATE_DIR } from './paths.js';
import { applyFirewall, FIREWALL_TABLE, firewallPresent, nftUsable, removeFirewall } from './firewall.js';
import { cidrText, networkText } from './net.js';
import { labSubnets, planLab, type HostPlan, type LabPlan } from './plan.js';
import { isRunning } from './proc.js';
import { configureBackend, ensureMachinePackages, ensureProxy, loadProxyRecord, machineMirror, stopLabProxy, tcpOpen, type Mirror } from './proxy.js';
import { loadState, removeState, saveState, type HostRecord, type LabState } from './state.js';

export const DEFAULT_INVENTORY = 'hosts/lab.ini';

function requireRoot(): void {
  if (process.getuid?.() !== 0) throw new Error('the lab needs root (network namespaces, mounts, debootstrap)');
}

/** One lab command at a time on this machine (a lock file holding the pid; a dead holder's lock is taken over). */
async function withLock<T>(fn: () => Promise<T>): Promise<T> {
  const lock = path.join(STATE_DIR, 'lock');
  fs.mkdirSync(STATE_DIR, { recursive: true });
  for (let attempt = 0; ; attempt++) {
    try {
      fs.writeFileSync(lock, `${process.pid}\n`, { flag: 'wx' });
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST' || attempt > 0) throw err;
      const holder = Number(fs.readFileSync(lock, 'utf8').trim());
      if (Number.isInteger(holder) && holder > 0 && fs.existsSync(`/proc/${holder}`)) {
        throw new Error(`another lab command is running (pid ${holder}, ${lock})`);
      }
      fs.rmSync(lock, { force: true });
    }
  }
  const release = onInterrupt(() => fs.rmSync(lock, { force: true }));
  try {
    return await fn();
  } finally {
    release();
    fs.rmSync(lock, { force: true });
  }
}

export async function loadPlan(inventoryPath: string): Promise<LabPlan> {
  return planLab(await loadInventory(inventoryPath));
}

async function ensureLabKey(plan: LabPlan): Promise<string> {
  const pub = `${plan.keyFile}.pub`;
  if (!fs.existsSync(plan.keyFile)) {
    fs.mkdirSync(path.dirname(plan.keyFile), { recursive: true, mode: 0o700 });
    fs.rmSync(pub, { force: true });
    await $`ssh-keygen -q -t ed25519 -N ${''} -C stackplay-lab -f ${plan.keyFile}`;
  } else if (!fs.existsSync(pub)) {
    fs.writeFileSync(pub, (await $`ssh-keygen -y -f ${plan.keyFile}`).stdout);
  }
  return fs.readFileSync(pub, 'utf8');
}

/** Run `ssh root@<address> <command>` against a lab host exactly as a user would. */
function sshTo(plan: LabPlan, address: string, command: string) {
  return $`ssh -i ${plan.keyFile} -o StrictHostKeyChecking=accept-new -o UserKnownHostsFile=${plan.knownHosts} -o HashKnownHosts=no -o BatchMode=yes -o ConnectTimeout=5 ${`root@${address}`} ${command}`;
}

/** `ssh ... hostname`; returns what it printed. */
export async function sshHostname(plan: LabPlan, address: string): Promise<string> {
  return (await sshTo(plan, address, 'hostname')).stdout.trim();
}

/**
 * The host's systemd once it has finished booting (`running`), or an error
 * naming the units that failed (`degraded`) or the jobs it is still stuck on.
 * A fresh host boots in a second; one whose disk holds a deployed cloud
 * starts every OpenStack service first (minutes on 2 CPUs).
 */
export async function bootedSystemd(plan: LabPlan, host: HostPlan, timeoutS = 900): Promise<string> {
  const out = await sshTo(plan, host.address.ip, `cat /proc/1/comm; timeout ${timeoutS} systemctl is-system-running --wait`).nothrow();
  const [comm, state] = out.stdout.trim().split('\n');
  if (comm !== 'systemd') throw new Error(`${host.name}: PID 1 is '${comm ?? '?'}', not systemd`);
  if (state === 'running') return state;
  const why = (await sshTo(plan, host.address.ip, 'systemctl --failed --no-legend --plain; systemctl list-jobs --no-legend').nothrow()).stdout
    .trim()
    .replace(/\s+/g, ' ');
  const what = state === undefined || state === '' ? `still starting after ${timeoutS}s` : `'${state}'`;
  throw new Error(`${host.name}: systemd is ${what}${why ? `; failed units and pending jobs: ${why}` : ''} (console: ${hostLog(host.name)})`);
}

async function upHost(plan: LabPlan, host: HostPlan, state: LabState, mirror: Mirror, authorizedKey: string): Promise<string> {
  const rec = state.hosts[host.name]!;
  const { root } = hostPaths(host);
  const wasUp = isHostUp(rec) && rec.mounted && netnsExists(host.netns) && linkExists(host.vethHost);
  if (await ensureDisk(host)) {
    rec.mounted = true;
    saveState(state);
  } else if (!rec.mounted) {
    throw new Error(`${root} is already mounted, but not by this lab`);
  }
  const hostKey = await ensureHostKey(plan, host);
  const changed = configureHost({ plan, host, mirror, authorizedKey, hostKey });
  if (host.guestDir !== undefined && installGuest(root, host.guestDir)) changed.push(`${host.guestDir} (bootable guest)`);
  if (wasUp) {
    if (changed.length > 0) info(`${host.name}: updated ${changed.join(', ')}`);
    if (await tcpOpen(host.address.ip, 22, 1000)) return `already up (${host.address.ip})`;
    throw new Error(`${host.name}: running but sshd does not answer on ${host.address.ip}:22; see ${hostLog(host.name)}`);
  }
  if (rec.init && isRunning(rec.init)) await stopHost(rec); // half-up host: start it cleanly
  delete rec.init;
  rec.cgroups = hostCgroups(host.name);
  saveState(state);
  const init = startHost(host, rec.cgroups);
  rec.init = init;
  saveState(state);
  if (!(await waitForSsh(host.address.ip, init))) {
    const tail = fs.existsSync(hostLog(host.name)) ? fs.readFileSync(hostLog(host.name), 'utf8').split('\n').slice(-15).join('\n') : '';
    throw new Error(`${host.name}: sshd did not come up on ${host.address.ip}:22 (log ${hostLog(host.name)}):\n${tail}`);
  }
  return `up (${host.address.ip}, pid ${init.pid})`;
}

export async function up(inventoryPath: string): Promise<void> {
  requireRoot();
  return withLock(() => upLocked(inventoryPath));
}

async function upLocked(inventoryPath: string): Promise<void> {
  const t0 = Date.now();
  const plan = await loadPlan(inventoryPath);
  let state = loadState();
  if (state && state.inventory !== plan.inventory) {
    throw new Error(`a lab from ${state.inventory} is up: run 'down' first`);
  }
  state ??= { version: 1, inventory: plan.inventory, hosts: {} };
  const extra = Object.keys(state.hosts).filter((h) => !plan.hosts.some((p) => p.name === h));
  if (extra.length > 0) throw new Error(`the lab runs hosts no longer in ${inventoryPath} (${extra.join(', ')}): run 'down' first`);
  const lab = state;
  saveState(lab);

  const unsupported = systemdHostsUnsupported();
  if (unsupported !== undefined) throw new Error(unsupported);
  await step('machine packages', ensureMachinePackages);
  await step(`lab subnets ${labSubnets(plan).map(networkText).join(', ')} free on this machine`, async () => {
    const mirror = machineMirror();
    const remotes: Remote[] = [
      ...[mirror.debian, mirror.security].map((m) => ({ host: m.split('/')[0]!, what: 'package mirror' })),
      ...nameservers().map((ip) => ({ host: ip, what: 'DNS server' })),
    ];
    await checkSubnetsFree(labSubnets(plan), [plan.bridgeName, ...(plan.external ? [plan.external.bridgeName] : [])], remotes);
  });
  const authorizedKey = await step(`lab key ${plan.keyFile}`, async () => {
    const existed = fs.existsSync(plan.keyFile);
    await ensureLabKey(plan);
    return existed ? 'present' : 'generated';
  }).then(() => fs.readFileSync(`${plan.keyFile}.pub`, 'utf8'));

  await step(`bridge ${plan.bridgeName} ${plan.bridge.ip}/${plan.bridge.prefix}`, async () => {
    if (linkExists(plan.bridgeName) && !lab.bridge) throw new Error(`${plan.bridgeName} exists but was not made by the lab; remove it or set lab_bridge_name`);
    lab.bridge = { name: plan.bridgeName, cidr: `${plan.bridge.ip}/${plan.bridge.prefix}` };
    saveState(lab);
    return (await ensureBridge(plan.bridgeName, plan.bridge)) ? 'created' : 'present';
  });

  const external = plan.external;
  if (external) {
    await step(`external bridge ${external.bridgeName} ${cidrText(external.gateway)} (floating IPs, reached from this machine only)`, async () => {
      if (linkExists(external.bridgeName) && !lab.externalBridge)
        throw new Error(`${external.bridgeName} exists but was not made by the lab; remove it or set lab_external_bridge_name`);
      lab.externalBridge = { name: external.bridgeName, cidr: cidrText(external.gateway) };
      saveState(lab);
      return (await ensureBridge(external.bridgeName, external.gateway)) ? 'created' : 'present';
    });
  }

  await step(`firewall: lab reaches the machine only at ${plan.bridge.ip}:${PROXY_PORT}`, async () => {
    if (!(await nftUsable())) {
      warn('nftables is not usable here: hosts can reach every address of the machine (still nothing beyond it)');
      return 'skipped';
    }
    // Applied every time (one atomic nft transaction): a lab from an older checkout gets today's rules.
    const present = lab.firewall !== undefined && (await firewallPresent());
    lab.firewall = { table: FIREWALL_TABLE };
    saveState(lab);
    await applyFirewall(plan);
    return present ? 'reapplied' : 'applied';
  });

  const mirror = machineMirror();
  await step(`apt-cacher-ng (backend http://${mirror.debian}/)`, async () => {
    const changed = configureBackend(mirror);
    return (await ensureProxy(plan.bridge.ip, changed)).note;
  });

  await step(baseReady() ? 'base image' : 'base image (first build: debootstrap, a few minutes)', () => ensureBase(mirror));
  if (plan.hosts.some((h) => h.guestDir !== undefined)) await step('bootable guest for the instances (Debian kernel, busybox, dropbear)', ensureGuest);

  await step('host namespaces', async () => {
    const before = runNetnsBefore();
    for (const host of plan.hosts) {
      lab.hosts[host.name] ??= {
        name: host.name,
        netns: host.netns,
        vethHost: host.vethHost,
        addresses: [host.address, ...(host.tunnel ? [host.tunnel] : [])].map((c) => `${c.ip}/${c.prefix}`),
        root: hostPaths(host).root,
        netnsCreated: false,
        mounted: false,
      };
      const rec = lab.hosts[host.name]!;
      if (netnsExists(host.netns) && !rec.netnsCreated) throw new Error(`network namespace ${host.netns} exists but was not made by the lab`);
      rec.netnsCreated = true;
      saveState(lab);
      await ensureHostNet(plan, host);
    }
    lab.runNetns ??= {
      createdDir: !before.dir && fs.existsSync('/run/netns'),
      createdMount: !before.mount && isMountPoint('/run/netns'),
    };
    saveState(lab);
  });

  // Hosts this `up` started: only they are waited for to finish booting. A host already up may run a deployed
  // cloud whose units are its own business (rabbitmq's epmd.socket fails once rabbitmq started epmd itself).
  const startedNow = new Set<string>();
  const results = await Promise.allSettled(
    plan.hosts.map((host) =>
      step(`host ${host.name}`, async () => {
        const note = await upHost(plan, host, lab, mirror, authorizedKey);
        if (!note.startsWith('already up')) startedNow.add(host.name);
        return note;
      }),
    ),
  );
  const failed = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed.length > 0) throw new Error(failed.map((r) => String(r.reason instanceof Error ? r.reason.message : r.reason)).join('\n'));

  await step('ssh hostname on every host', async () => {
    const got = await Promise.all(plan.hosts.map(async (h) => [h.name, await sshHostname(plan, h.address.ip)] as const));
    const wrong = got.filter(([name, out]) => name !== out);
    if (wrong.length > 0) throw new Error(`hostname mismatch: ${wrong.map(([n, o]) => `${n} said '${o}'`).join(', ')}`);
    return got.map(([n]) => n).join(', ');
  });
  await step('systemd booted on every host started now', async () => {
    const started = plan.hosts.filter((h) => startedNow.has(h.name));
    await Promise.all(started.map((h) => bootedSystemd(plan, h)));
    return started.length > 0 ? `running: ${started.map((h) => h.name).join(', ')}` : 'none started';
  });
  const bastion = plan.bastion;
  if (bastion) {
    // Last, so that up's own checks above reach every host directly.
    await step(`bastion: this machine reaches ${bastion.name} only, the other hosts through it`, async () => {
      if (!(await nftUsable())) throw new Error('lab_bastion needs nftables on this machine');
      lab.bastion = bastion.name;
      saveState(lab);
      await applyFirewall(plan, { bastion: true });
      return 'applied';
    });
  }
  info(chalk.bold(`lab up in ${seconds(Date.now() - t0)}: ${plan.hosts.length} hosts on ${plan.bridgeName}`));
  info(
    `ssh -i ${path.relative(process.cwd(), plan.keyFile) || plan.keyFile} -o UserKnownHostsFile=${path.relative(process.cwd(), plan.knownHosts)} -o StrictHostKeyChecking=accept-new root@${plan.hosts[0]!.address.ip}`,
  );
}

export interface DownOptions {
  /** Keep the hosts' disks (overlay upper dirs) for the next `up`. */
  readonly keepDisks?: boolean;
}

export async function down(options: DownOptions = {}): Promise<void> {
  requireRoot();
  return withLock(() => downLocked(options));
}

async function downLocked(options: DownOptions): Promise<void> {
  const t0 = Date.now();
  const state = loadState();
  if (!state) {
    info('lab is not up (no state file): nothing to do');
    return;
  }
  const hosts = Object.values(state.hosts);
  // Every host's processes first: a host's namespaces can hold on to another's mounts.
  await Promise.all(
    hosts.map((rec) =>
      step(`stop ${rec.name}`, async () => {
        const notes = await stopHost(rec);
        delete rec.init;
        saveState(state);
        return notes.join('; ') || 'not running';
      }),
    ),
  );
  await Promise.all(
    hosts.map((rec) =>
      step(`remove ${rec.name}`, async () => {
        if (rec.mounted) await releaseDisk(rec.root);
        rec.mounted = false;
        if (rec.netnsCreated) await deleteHostNet(rec.netns, rec.vethHost);
        rec.netnsCreated = false;
        if (!options.keepDisks) await removeTree(path.dirname(rec.root));
        delete state.hosts[rec.name];
        saveState(state);
        return options.keepDisks ? 'removed (disk kept)' : 'removed';
      }),
    ),
  );
  if (state.externalBridge) {
    const bridge = state.externalBridge;
    await step(`external bridge ${bridge.name}`, async () => {
      await deleteBridge(bridge.name);
      delete state.externalBridge;
      saveState(state);
      return 'removed';
    });
  }
  if (state.bridge) {
    const bridge = state.bridge;
    await step(`bridge ${bridge.name}`, async () => {
      await deleteBridge(bridge.name);
      delete state.bridge;
      saveState(state);
      return 'removed';
    });
  }
  if (state.firewall) {
    await step('firewall', async () => {
      await removeFirewall();
      delete state.firewall;
      saveState(state);
      return 'removed';
    });
  }
  await step('apt-cacher-ng', async () => {
    const stopped = await stopLabProxy();
    return stopped ? `stopped (pid ${stopped.pid}); cache kept` : 'not started by the lab';
  });
  if (state.runNetns) await cleanupRunNetns(state.runNetns);
  removeState();
  info(chalk.bold(`lab down in ${seconds(Date.now() - t0)}`));
}

function formatUptime(ms: number): string {
  const s = Math.floor(ms / 1000);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  return h > 0 ? `${h}h${String(m).padStart(2, '0')}m` : m > 0 ? `${m}m${String(s % 60).padStart(2, '0')}s` : `${s}s`;
}

export interface HostStatus {
  readonly name: string;
  readonly address: string;
  readonly running: boolean;
  readonly sshd: boolean;
  /** Reached through `lab_bastion` (this machine cannot reach it directly): sshd was asked from the bastion's namespace. */
  readonly viaBastion?: string;
  readonly uptimeMs?: number;
}

/** Whether `address:22` accepts a connection from inside the bastion's network namespace. */
async function tcpOpenFrom(netns: string, address: string): Promise<boolean> {
  return (await $`ip netns exec ${netns} timeout 2 bash -c ${`exec 3<>/dev/tcp/${address}/22`}`.nothrow()).exitCode === 0;
}

export async function hostStatuses(): Promise<HostStatus[] | undefined> {
  const state = loadState();
  if (!state) return undefined;
  return Promise.all(
    Object.values(state.hosts).map(async (rec: HostRecord): Promise<HostStatus> => {
      const address = (rec.addresses[0] ?? '').split('/')[0] ?? '';
      const running = isHostUp(rec);
      const bastion = state.bastion !== undefined && state.bastion !== rec.name ? state.hosts[state.bastion] : undefined;
      const sshd = address !== '' && (bastion ? await tcpOpenFrom(bastion.netns, address) : await tcpOpen(address, 22, 1000));
      return {
        name: rec.name,
        address,
        running,
        sshd,
        ...(bastion ? { viaBastion: bastion.name } : {}),
        ...(running && rec.init ? { uptimeMs: Date.now() - Date.parse(rec.init.startedAt) } : {}),
      };
    }),
  );
}

export async function status(): Promise<boolean> {
  const state = loadState();
  const rows = await hostStatuses();
  if (!state || !rows) {
    console.log('lab is not up');
    return false;
  }
  const table = [
    ['HOST', 'ADDRESS', 'SSHD', 'UPTIME'],
    ...rows.map((r) => [
      r.name,
      r.address,
      (r.sshd ? 'up' : r.running ? 'not answering' : 'down') + (r.viaBastion ? ` (via ${r.viaBastion})` : ''),
      r.uptimeMs === undefined ? '-' : formatUptime(r.uptimeMs),
    ]),
  ];
  const widths = table[0]!.map((_, i) => Math.max(...table.map((row) => row[i]!.length)));
  for (const [i, row] of table.entries()) {
    const line = row
      .map((cell, j) => cell.padEnd(widths[j]!))
      .join('  ')
      .trimEnd();
    console.log(i === 0 ? chalk.bold(line) : line);
  }
  const rec = loadProxyRecord();
  const proxy = rec ? (isRunning(rec) ? `running (pid ${rec.pid})` : 'not running') : 'not started by the lab';
  console.log(chalk.dim(`inventory ${state.inventory}; bridge ${state.bridge?.name ?? '-'} ${state.bridge?.cidr ?? ''}; apt-cacher-ng ${proxy}`));
  return rows.every((r) => r.sshd);
}

/** (Re)build the cached base without bringing hosts up. */
export async function buildBase(rebuild: boolean): Promise<void> {
  requireRoot();
  return withLock(() => buildBaseLocked(rebuild));
}

async function buildBaseLocked(rebuild: boolean): Promise<void> {
  if (rebuild) {
    if (loadState()) throw new Error(`the lab is up and its hosts use ${BASE_DIR}: run 'down' first`);
    await step(`remove ${BASE_DIR}`, async () => removeBase());
  }
  // The proxy is needed for debootstrap; it goes away again afterwards unless a lab is up.
  await step('machine packages', ensureMachinePackages);
  const mirror = machineMirror();
  const changed = configureBackend(mirror);
  let started = false;
  await step('apt-cacher-ng', async () => {
    const res = await ensureProxy(undefined, changed);
    started = res.started;
    return res.note;
  });
  // A proxy started only for this build goes away again afterwards (a running lab's stays).
  const offInterrupt = onInterrupt(() => started && stopLabProxy());
  try {
    await step('base image', () => ensureBase(mirror));
  } finally {
    offInterrupt();
    if (started) {
      const rec = await stopLabProxy();
      if (rec) info(`apt-cacher-ng stopped (pid ${rec.pid})`);
    }
  }
  if (!fs.existsSync(BASE_DIR)) warn('no base built');
}
