/**
 * One lab host: an overlay root over the cached base, its identity and
 * config files, and systemd booted as PID 1 in the host's own namespaces
 * (lab/boot.ts). The benchmark's lightweight hosts run the same base with
 * sshd as PID 1 instead (hostInitArgv).
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { $ } from './sh.js';
import { warn } from './log.js';
import { HOSTKEY_DIR, LOG_DIR, BASE_ROOTFS, PROXY_PORT, SUITE } from './paths.js';
import type { HostPlan, LabPlan } from './plan.js';
import { childPids, isRunning, spawnDaemon, stopProcess, waitFor } from './proc.js';
import { isMountPoint, netnsPids } from './netns.js';
import { bootArgv, HALT_SIGNAL, hostCgroups, removeHostCgroups } from './boot.js';
import { tcpOpen, type Mirror } from './proxy.js';
import type { HostRecord, ProcRecord } from './state.js';

export function hostPaths(host: HostPlan): { root: string; upper: string; work: string } {
  return { root: path.join(host.dir, 'root'), upper: path.join(host.dir, 'upper'), work: path.join(host.dir, 'work') };
}

/** Mount the host's overlay root (lower = base, upper/work = the host's disk). Returns true when it mounted it. */
export async function ensureDisk(host: HostPlan): Promise<boolean> {
  const { root, upper, work } = hostPaths(host);
  if (isMountPoint(root)) return false;
  for (const p of [BASE_ROOTFS, upper, work]) {
    if (/[,:\s]/.test(p)) throw new Error(`overlay paths cannot contain ',', ':' or spaces: ${p}`);
  }
  for (const d of [root, upper, work]) fs.mkdirSync(d, { recursive: true });
  await $`mount -t overlay ${`stackplay-${host.name}`} -o ${`lowerdir=${BASE_ROOTFS},upperdir=${upper},workdir=${work}`} ${root}`;
  return true;
}

/**
 * Loop devices set up inside the host (losetup on a file of its disk, e.g. a
 * cinder volume group's backing file) belong to the machine and outlive the
 * host unless detached. Only those whose backing file lives on the host's
 * overlay (same device number as its root) are touched.
 */
export async function detachLoops(root: string): Promise<string[]> {
  if (!isMountPoint(root)) return [];
  const dev = fs.statSync(root, { bigint: true }).dev;
  const major = ((dev >> 8n) & 0xfffn) | ((dev >> 32n) & ~0xfffn);
  const minor = (dev & 0xffn) | ((dev >> 12n) & ~0xffn);
  const out = await $`losetup -J --list -O NAME,BACK-MAJ:MIN,BACK-FILE`.nothrow();
  if (out.exitCode !== 0 || out.stdout.trim() === '') return [];
  const list = (JSON.parse(out.stdout) as { loopdevices?: { name: string; 'back-maj:min'?: string; 'back-file'?: string }[] }).loopdevices ?? [];
  const detached: string[] = [];
  for (const loop of list) {
    const onDisk = loop['back-maj:min']?.trim() === `${major}:${minor}` || (loop['back-file'] ?? '').startsWith(`${root}/`);
    if (!onDisk) continue;
    const res = await $`losetup -d ${loop.name}`.nothrow();
    if (res.exitCode === 0) detached.push(loop.name);
    else warn(`could not detach ${loop.name} (${loop['back-file'] ?? '?'}): ${res.stderr.trim()}`);
  }
  return detached;
}

/** Unmount the overlay; lazily (with a warning) if something still holds it. */
export async function releaseDisk(root: string): Promise<void> {
  if (!isMountPoint(root)) return;
  const out = await $`umount ${root}`.nothrow();
  if (out.exitCode !== 0) {
    warn(`${root} busy (${out.stderr.trim()}); detaching it lazily`);
    await $`umount -l ${root}`;
  }
}

/** Write only when the content differs; returns true when it wrote. */
function put(file: string, text: string, mode = 0o644): boolean {
  let current: string | undefined;
  try {
    current = fs.readFileSync(file, 'utf8');
  } catch {
    current = undefined;
  }
  fs.mkdirSync(path.dirname(file), { recursive: true });
  if (current !== text) fs.writeFileSync(file, text, { mode });
  fs.chmodSync(file, mode);
  return current !== text;
}

/** The host's own SSH host key, kept outside its disk so it survives `down`/`up` and known_hosts stays valid. */
export async function ensureHostKey(plan: LabPlan, host: HostPlan): Promise<{ key: string; pub: string }> {
  const dir = path.join(HOSTKEY_DIR, host.name);
  const key = path.join(dir, 'ssh_host_ed25519_key');
  if (!fs.existsSync(key)) {
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    fs.rmSync(`${key}.pub`, { force: true });
    await $`ssh-keygen -q -t ed25519 -N ${''} -C ${`root@${host.name}`} -f ${key}`;
    // A new key for an address the lab's known_hosts may remember from an older lab.
    if (fs.existsSync(plan.knownHosts)) await $`ssh-keygen -q -R ${host.address.ip} -f ${plan.knownHosts}`.nothrow();
  }
  return { key: fs.readFileSync(key, 'utf8'), pub: fs.readFileSync(`${key}.pub`, 'utf8') };
}

export interface HostFiles {
  readonly plan: LabPlan;
  readonly host: HostPlan;
  readonly mirror: Mirror;
  readonly authorizedKey: string;
  readonly hostKey: { key: string; pub: string };
}

/** Identity, access and apt config inside the host's root. Returns the files it changed. */
export function configureHost({ plan, host, mirror, authorizedKey, hostKey }: HostFiles): string[] {
  const { root } = hostPaths(host);
  const at = (p: string): string => path.join(root, p);
  const changed: string[] = [];
  const write = (p: string, text: string, mode?: number): void => {
    if (put(at(p), text, mode)) changed.push(p);
  };
  write('etc/hostname', `${host.name}\n`);
  const labHosts = plan.hosts.map((h) => `${h.address.ip}\t${h.name}`).join('\n');
  // Only on a new disk: afterwards /etc/hosts is the deployment's (the common role writes its entries there).
  if (!fs.existsSync(at('etc/hosts')) || !fs.readFileSync(at('etc/hosts'), 'utf8').includes('# stackplay lab hosts'))
    write(
      'etc/hosts',
      `127.0.0.1\tlocalhost\n::1\t\tlocalhost ip6-localhost ip6-loopback\nff02::1\t\tip6-allnodes\nff02::2\t\tip6-allrouters\n\n# stackplay lab hosts\n${labHosts}\n`,
    );
  if (!fs.existsSync(at('etc/machine-id')) || fs.readFileSync(at('etc/machine-id'), 'utf8').trim() === '') {
    write('etc/machine-id', `${randomBytes(16).toString('hex')}\n`, 0o444);
  }
  fs.mkdirSync(at('root/.ssh'), { recursive: true, mode: 0o700 });
  fs.chmodSync(at('root/.ssh'), 0o700);
  write('root/.ssh/authorized_keys', authorizedKey.trim() + '\n', 0o600);
  write('etc/ssh/ssh_host_ed25519_key', hostKey.key, 0o600);
  write('etc/ssh/ssh_host_ed25519_key.pub', hostKey.pub, 0o644);
  write(
    'etc/ssh/sshd_config.d/stackplay-lab.conf',
    [
      '# stackplay lab: key-only root access; PAM would add nothing to a key login as root',
      'HostKey /etc/ssh/ssh_host_ed25519_key',
      'PermitRootLogin prohibit-password',
      'PasswordAuthentication no',
      'KbdInteractiveAuthentication no',
      'UsePAM no',
      'UseDNS no',
      '',
    ].join('\n'),
  );
  const proxy = `http://${plan.bridge.ip}:${PROXY_PORT}`;
  write(
    'etc/apt/sources.list',
    [
      `# stackplay lab: through apt-cacher-ng on the lab bridge (${proxy})`,
      `deb ${proxy}/${mirror.debian} ${SUITE} main`,
      `deb ${proxy}/${mirror.debian} ${SUITE}-updates main`,
      `deb ${proxy}/${mirror.security} ${SUITE}-security main`,
      '',
    ].join('\n'),
  );
  // Services must start from package scripts and `service`: no policy layer may forbid it.
  if (fs.existsSync(at('usr/sbin/policy-rc.d'))) {
    fs.rmSync(at('usr/sbin/policy-rc.d'));
    changed.push('usr/sbin/policy-rc.d (removed)');
  }
  return changed;
}

/**
 * The benchmark's hosts (bench/hosts.ts): sshd as PID 1, no init system.
 * Runs as PID 1's parent-to-be inside the host's namespaces: name the host,
 * give its root /proc (its own PID namespace), /sys (its netns view), /dev,
 * a private /dev/shm and a fresh /run, then become sshd.
 * Values arrive as positional parameters: nothing is spliced into the script.
 */
const INIT_SCRIPT = `
set -e
name="$1"
root="$2"
hostname "$name"
umount -R -l /run/netns 2>/dev/null || true
mount -t proc proc "$root/proc"
mount --bind /sys "$root/sys"
mount --rbind /dev "$root/dev"
mount -t tmpfs -o nosuid,nodev,mode=1777 shm "$root/dev/shm"
mount -t tmpfs -o nosuid,nodev,mode=755 run "$root/run"
mkdir -p "$root/run/sshd" "$root/run/lock"
chmod 1777 "$root/run/lock"
exec chroot "$root" /usr/sbin/sshd -D -e
`;

/**
 * The command that runs a benchmark host: in its network namespace,
 * `unshare` gives it its own mount, UTS, IPC and PID namespaces and runs
 * INIT_SCRIPT, which ends as sshd (PID 1 there) chrooted into `root`.
 * `label` (the script's $0, what `ps` shows) names the kind of host.
 */
export function hostInitArgv(netns: string, name: string, root: string, label: string): [string, ...string[]] {
  return ['ip', 'netns', 'exec', netns, 'unshare', '--mount', '--uts', '--ipc', '--pid', '--fork', '--kill-child', 'sh', '-c', INIT_SCRIPT, label, name, root];
}

export function hostLog(name: string): string {
  return path.join(LOG_DIR, `${name}.log`);
}

/**
 * Boot the host (systemd) detached, in the cgroups `cgroups` (hostCgroups;
 * recorded by the caller before the boot so `down` finds them); returns the
 * record of the `unshare` that owns its PID namespace. The log is its console.
 */
export function startHost(host: HostPlan, cgroups: readonly string[] = hostCgroups(host.name)): ProcRecord {
  return spawnDaemon(bootArgv(host.netns, host.name, hostPaths(host).root, cgroups), hostLog(host.name));
}

/** systemd, PID 1 of the host (the child of the recorded unshare). */
export function hostInitPid(init: ProcRecord): number | undefined {
  return isRunning(init) ? childPids(init.pid)[0] : undefined;
}

/** A booting systemd starts ssh.service after its early units: allow for a loaded machine. */
export async function waitForSsh(address: string, init: ProcRecord, timeoutMs = 90_000): Promise<boolean> {
  return waitFor(async () => !isRunning(init) || (await tcpOpen(address, 22, 300)), timeoutMs, 100).then((ok) => ok && isRunning(init));
}

export function isHostUp(rec: HostRecord): boolean {
  return rec.init !== undefined && isRunning(rec.init);
}

/**
 * Stop everything the host runs: ask its systemd to halt (services stop in
 * order, databases flush), SIGKILL PID 1 if it has not ended within
 * `graceMs` (the kernel then kills every other process of the host), then
 * anything left in its network namespace (e.g. started with `ip netns
 * exec`); remove its cgroups.
 */
export async function stopHost(rec: HostRecord, graceMs = 60_000): Promise<string[]> {
  const notes: string[] = [];
  if (rec.init && isRunning(rec.init)) {
    const init = rec.init;
    const pid1 = hostInitPid(init);
    const signal = (sig: number | NodeJS.Signals): void => {
      try {
        if (pid1 !== undefined) process.kill(pid1, sig);
      } catch {
        // already gone
      }
    };
    signal(HALT_SIGNAL);
    if (await waitFor(() => !isRunning(init), graceMs, 200)) notes.push(`halted (pid ${init.pid})`);
    else {
      signal('SIGKILL');
      if (!(await waitFor(() => !isRunning(init), 5000))) await stopProcess(init, 'SIGKILL');
      notes.push(`killed after ${graceMs / 1000}s without halting (pid ${init.pid})`);
    }
  }
  const strays = await netnsPids(rec.netns);
  if (strays.length > 0) {
    notes.push(`killed ${strays.length} other process(es) left in netns ${rec.netns}: ${strays.join(' ')}`);
    for (const pid of strays) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // gone
      }
    }
    await waitFor(async () => (await netnsPids(rec.netns)).length === 0, 5000);
  }
  const loops = await detachLoops(rec.root);
  if (loops.length > 0) notes.push(`detached ${loops.join(' ')}`);
  removeHostCgroups(rec.cgroups ?? []);
  return notes;
}
