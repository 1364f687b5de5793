/**
 * A lab host boots real systemd as PID 1, like the servers ops teams run
 * (LAB-NOTES "systemd hosts"): its own network, mount, UTS, IPC, PID and
 * cgroup namespaces, a cgroup subtree of its own on the machine
 * (`lab-<host>` in every hierarchy but cpuset), and its overlay root.
 * Every service, sshd included, is a systemd unit there.
 */
import fs from 'node:fs';
import path from 'node:path';
import { warn } from './log.js';

/** The cgroup hierarchies a host's systemd needs on the machine (a cgroup v1 hybrid: name=systemd plus cgroup2). */
export const CGROUP_ROOTS = ['/sys/fs/cgroup/systemd', '/sys/fs/cgroup/unified'] as const;

interface Hierarchy {
  readonly mount: string;
  /** This process's cgroup in it, e.g. `/` or `/process_api/<id>`. */
  readonly own: string;
}

/** The machine's mounted cgroup hierarchies, with this process's place in each (from /proc/self/cgroup). */
function hierarchies(): Hierarchy[] {
  const own = new Map<string, string>();
  for (const line of fs.readFileSync('/proc/self/cgroup', 'utf8').split('\n')) {
    const m = /^\d+:([^:]*):(.*)$/.exec(line);
    if (m) own.set(m[1] === '' ? 'cgroup2' : m[1]!, m[2]!);
  }
  const out: Hierarchy[] = [];
  for (const line of fs.readFileSync('/proc/self/mounts', 'utf8').split('\n')) {
    const [, mount, type, opts] = line.split(' ');
    if (mount === undefined || opts === undefined || (type !== 'cgroup' && type !== 'cgroup2')) continue;
    const key =
      type === 'cgroup2'
        ? 'cgroup2'
        : [...own.keys()].find((k) => {
            const names = k.split(',');
            return names.every((n) => opts.split(',').includes(n));
          });
    const path0 = key === undefined ? undefined : own.get(key);
    if (path0 !== undefined) out.push({ mount, own: path0 });
  }
  return out;
}

/**
 * The host's cgroups on the machine: `lab-<host>` below this process's own
 * cgroup in every mounted hierarchy, so the host's systemd (in a cgroup
 * namespace rooted there) creates its slices in a subtree of its own in
 * each controller it uses (memory, pids, devices), never beside another
 * host's. cpuset is left out: a new v1 cpuset cgroup has no CPUs until
 * configured, and systemd does not use it on v1.
 */
export function hostCgroups(name: string): string[] {
  return hierarchies()
    .filter((h) => path.basename(h.mount) !== 'cpuset')
    .map((h) => path.join(h.mount, h.own, `lab-${name}`));
}

/** Why this machine cannot boot systemd hosts, or undefined when it can. */
export function systemdHostsUnsupported(): string | undefined {
  const mounts = hierarchies().map((h) => h.mount);
  const missing = CGROUP_ROOTS.filter((root) => !mounts.includes(root));
  return missing.length === 0 ? undefined : `this machine has no cgroup hierarchy at ${missing.join(' and ')} (lab hosts need the cgroup v1 hybrid layout)`;
}

/**
 * On the machine: move this shell into the host's cgroups, then enter the
 * host's network namespace and new mount/UTS/IPC/PID/cgroup namespaces and
 * run BOOT. The cgroup move must come first and must not go through `ip
 * netns exec`, which remounts /sys: the move would then silently miss and
 * every host's systemd would share the machine's root cgroup.
 * Values are positional parameters: nothing is spliced into the scripts.
 */
const LAUNCH = `
set -e
name="$1"; root="$2"; netns="$3"; boot="$4"
shift 4
for d in "$@"; do
  mkdir -p "$d"
  echo $$ > "$d/cgroup.procs"
done
exec nsenter --net="/run/netns/$netns" unshare --mount --uts --ipc --pid --cgroup --fork --kill-child sh -c "$boot" stackplay-lab-boot "$name" "$root"
`;

/**
 * Inside the new namespaces: the host's API filesystems (its own /proc,
 * its netns' /sys read-only so no udev acts on the machine's devices, the
 * cgroup hierarchies rooted at its subtree), a fresh /run and /tmp, the
 * log file as /dev/console (systemd writes its status there, not on the
 * machine's console), then systemd as PID 1 chrooted into the root.
 */
const BOOT = `
set -e
name="$1"; root="$2"
mount --make-rprivate /
umount -R -l /run/netns 2>/dev/null || true
mount --bind "$root" "$root"
mount -t proc proc "$root/proc"
mount -t sysfs -o ro sysfs "$root/sys"
mount -t tmpfs -o nosuid,nodev,noexec,mode=755 cgroup "$root/sys/fs/cgroup"
mkdir "$root/sys/fs/cgroup/systemd" "$root/sys/fs/cgroup/unified"
mount -t cgroup -o none,name=systemd cgroup "$root/sys/fs/cgroup/systemd"
mount -t cgroup2 cgroup2 "$root/sys/fs/cgroup/unified"
mount --rbind /dev "$root/dev"
mount --bind /proc/self/fd/1 "$root/dev/console"
mount -t tmpfs -o nosuid,nodev,mode=1777 shm "$root/dev/shm"
mount -t tmpfs -o nosuid,nodev,mode=755 run "$root/run"
mount -t tmpfs -o nosuid,nodev,mode=1777 tmp "$root/tmp"
hostname "$name"
exec chroot "$root" /usr/bin/env -i container=stackplay-lab /lib/systemd/systemd --system --log-target=console --show-status=no
`;

/**
 * The machine-side command that boots a host in `cgroups` (hostCgroups);
 * its pid owns the host's PID namespace (its child is the host's systemd).
 */
export function bootArgv(netns: string, name: string, root: string, cgroups: readonly string[]): [string, ...string[]] {
  return ['sh', '-c', LAUNCH, 'stackplay-lab-launch', name, root, netns, BOOT, ...cgroups];
}

/** systemd's halt request (SIGRTMIN+3): a clean shutdown that ends the host's PID namespace. */
export const HALT_SIGNAL = 37;

/** Remove the host's cgroup subtrees, deepest first; a directory still holding processes is left (with a warning). */
export function removeHostCgroups(cgroups: readonly string[]): void {
  const rmTree = (dir: string): void => {
    let entries: fs.Dirent[];
    try {
      entries = fs.readdirSync(dir, { withFileTypes: true });
    } catch {
      return; // gone already
    }
    for (const e of entries) if (e.isDirectory()) rmTree(path.join(dir, e.name));
    try {
      fs.rmdirSync(dir);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== 'ENOENT') warn(`could not remove cgroup ${dir} (${code ?? String(err)})`);
    }
  };
  for (const dir of cgroups) rmTree(dir);
}
