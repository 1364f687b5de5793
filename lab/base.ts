/**
 * The hosts' shared root filesystem: Debian minbase plus what a managed
 * server needs (systemd, sshd, iproute2, procps...), debootstrapped once through
 * apt-cacher-ng into a temp dir and renamed into place only when complete,
 * so an interrupted build never leaves a half base behind.
 */
import fs from 'node:fs';
import path from 'node:path';
import { $ } from './sh.js';
import { onInterrupt } from './interrupt.js';
import { heartbeat, info, warn } from './log.js';
import { BASE_DIR, BASE_MARKER, CACHE_DIR, HOSTS_DIR, LOG_DIR, SUITE } from './paths.js';
import { interruptedBuilds } from './interrupted-builds.js';
import { proxyUrl, type Mirror } from './proxy.js';

export const BASE_PACKAGES = [
  'systemd',
  'systemd-sysv',
  'dbus',
  'openssh-server',
  'iproute2',
  'procps',
  'iputils-ping',
  'netbase',
  'kmod',
  'less',
  'ca-certificates',
] as const;

/** Bump when customize() changes, so bases built by an older lab/base.ts get rebuilt. */
export const BASE_FORMAT = 3;

/**
 * Units that cannot work in a lab host and would leave systemd `degraded`,
 * or that must never act on the machine's devices: no console to log in on,
 * and udev belongs to the machine alone (its /sys is read-only in the host
 * anyway).
 */
export const MASKED_UNITS = [
  'console-getty.service',
  'getty@.service',
  'systemd-udevd.service',
  'systemd-udev-trigger.service',
  'systemd-udev-settle.service',
] as const;

interface BaseMarker {
  format: number;
  suite: string;
  packages: string[];
  builtAt: string;
}

/** Mount points at or below `dir`, deepest first (from /proc/self/mounts). */
export function mountsUnder(dir: string): string[] {
  const unescape = (s: string): string => s.replace(/\\([0-7]{3})/g, (_m, oct: string) => String.fromCharCode(parseInt(oct, 8)));
  return fs
    .readFileSync('/proc/self/mounts', 'utf8')
    .split('\n')
    .map((line) => unescape(line.split(' ')[1] ?? ''))
    .filter((mp) => mp === dir || mp.startsWith(`${dir}/`))
    .sort((a, b) => b.length - a.length);
}

/** Remove a directory tree, after unmounting anything mounted inside it; never crosses into another filesystem. */
export async function removeTree(dir: string): Promise<void> {
  for (const mp of mountsUnder(dir)) await $`umount -l ${mp}`;
  await $`rm -rf --one-file-system ${dir}`;
}

/** Leftovers of interrupted base builds. */
async function removeStaleBuilds(): Promise<void> {
  for (const dir of interruptedBuilds(BASE_DIR, 'base')) {
    info(`removing interrupted base build ${dir}`);
    await removeTree(dir);
  }
}

/** Lines of debootstrap's output worth showing: the first of each phase ("I: Retrieving", "I: Unpacking", ...). */
function phaseOf(line: string): string | undefined {
  const verb = /^I: (\S+)/.exec(line)?.[1];
  // Per-package lines alternate "Retrieving x" / "Validating x": one phase.
  return verb === 'Validating' ? 'Retrieving' : verb;
}

function write(file: string, text: string, mode?: number): void {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, text, mode === undefined ? {} : { mode });
}

/** Make the fresh tree a base: no host identity, quiet shells, nothing that cannot run in a lab host. */
function customize(root: string): void {
  for (const f of fs.readdirSync(path.join(root, 'etc/ssh'))) {
    if (f.startsWith('ssh_host_')) fs.rmSync(path.join(root, 'etc/ssh', f)); // each host gets its own keys
  }
  // Debian's bash reads ~/.bashrc for every command run over ssh: keep it empty.
  write(path.join(root, 'root/.bashrc'), '');
  // Nothing may stop services from starting once the host runs.
  fs.rmSync(path.join(root, 'usr/sbin/policy-rc.d'), { force: true });
  for (const unit of MASKED_UNITS) {
    const link = path.join(root, 'etc/systemd/system', unit);
    fs.rmSync(link, { force: true });
    fs.mkdirSync(path.dirname(link), { recursive: true });
    fs.symlinkSync('/dev/null', link);
  }
  write(path.join(root, 'etc/resolv.conf'), '# stackplay lab: no DNS; lab hosts are in /etc/hosts\n');
  write(path.join(root, 'etc/apt/sources.list'), '# written per host by the stackplay lab\n');
  // The machine's mirror is a dated snapshot: its Release files are past Valid-Until.
  write(path.join(root, 'etc/apt/apt.conf.d/99stackplay-lab'), 'Acquire::Check-Valid-Until "false";\nAcquire::Check-Date "false";\n');
  fs.rmSync(path.join(root, 'etc/hostname'), { force: true });
  for (const f of fs.readdirSync(path.join(root, 'var/cache/apt/archives'))) {
    if (f.endsWith('.deb')) fs.rmSync(path.join(root, 'var/cache/apt/archives', f));
  }
}

export function baseReady(): boolean {
  return fs.existsSync(path.join(BASE_DIR, BASE_MARKER));
}

function readMarker(): BaseMarker | undefined {
  try {
    return JSON.parse(fs.readFileSync(path.join(BASE_DIR, BASE_MARKER), 'utf8')) as BaseMarker;
  } catch {
    return undefined;
  }
}

/** Why the cached base is not what this lab/base.ts would build, or undefined when it is. */
function outdated(marker: BaseMarker): string | undefined {
  if (marker.format !== BASE_FORMAT) return `format ${String(marker.format)}, lab/base.ts builds format ${BASE_FORMAT}`;
  if (marker.packages.join(',') !== BASE_PACKAGES.join(',')) return 'other packages than lab/base.ts asks for';
  return undefined;
}

/** Host disks (overlay upper dirs) exist: they were made against the current base, which must then stay. */
function baseInUse(): boolean {
  try {
    return fs.readdirSync(HOSTS_DIR).length > 0;
  } catch {
    return false;
  }
}

/**
 * Build the base unless a complete, current one is cached (an outdated one
 * is rebuilt when no host disk uses it). Needs the proxy on 127.0.0.1.
 */
export async function ensureBase(mirror: Mirror): Promise<string> {
  const marker = readMarker();
  if (marker) {
    const why = outdated(marker);
    if (!why) return `cached (${BASE_DIR}, built ${marker.builtAt})`;
    if (baseInUse()) {
      warn(`cached base ${BASE_DIR} is outdated (${why}), but host disks use it: run 'down', then 'base --rebuild'`);
      return `cached, outdated (${BASE_DIR})`;
    }
    info(`cached base ${BASE_DIR} is outdated (${why}): rebuilding`);
    await removeTree(BASE_DIR);
  }
  fs.mkdirSync(CACHE_DIR, { recursive: true });
  await removeStaleBuilds();
  if (fs.existsSync(BASE_DIR)) {
    // Only a complete base is ever renamed into place; a marker-less one was tampered with.
    warn(`${BASE_DIR} has no completion marker: rebuilding it`);
    await removeTree(BASE_DIR);
  }
  const tmp = `${BASE_DIR}.tmp-${process.pid}`;
  const rootfs = path.join(tmp, 'rootfs');
  const log = path.join(LOG_DIR, 'debootstrap.log');
  fs.mkdirSync(LOG_DIR, { recursive: true });
  fs.writeFileSync(log, '');
  const mirrorUrl = `${proxyUrl('127.0.0.1')}/${mirror.debian}`;
  info(`debootstrap --variant=minbase ${SUITE} from ${mirrorUrl} (log: ${log})`);
  const stop = heartbeat('debootstrap');
  const proc = $`debootstrap --variant=minbase --components=main --include=${BASE_PACKAGES.join(',')} ${SUITE} ${rootfs} ${mirrorUrl} 2>&1`.nothrow();
  const offInterrupt = onInterrupt(async () => {
    try {
      await proc.kill('SIGKILL');
    } catch {
      // already finished
    }
    await removeTree(tmp);
  });
  try {
    let phase: string | undefined;
    let count = 0;
    for await (const line of proc) {
      fs.appendFileSync(log, line + '\n');
      const p = phaseOf(line);
      if (p === undefined) continue;
      if (p !== phase) {
        if (count > 1) info(`  debootstrap: ... ${count} lines of ${phase ?? ''}`);
        phase = p;
        count = 0;
        info(`  debootstrap: ${line.slice(3)}`);
      }
      count++;
    }
    const out = await proc;
    if (out.exitCode !== 0) throw new Error(`debootstrap failed (exit ${out.exitCode}); see ${log}`);
  } catch (err) {
    await removeTree(tmp).catch(() => undefined);
    throw err;
  } finally {
    stop();
    offInterrupt();
  }
  const leftover = mountsUnder(tmp);
  if (leftover.length > 0) {
    await removeTree(tmp);
    throw new Error(`debootstrap left mounts in ${tmp}: ${leftover.join(' ')}`);
  }
  customize(rootfs);
  const built: BaseMarker = { format: BASE_FORMAT, suite: SUITE, packages: [...BASE_PACKAGES], builtAt: new Date().toISOString() };
  fs.writeFileSync(path.join(tmp, BASE_MARKER), JSON.stringify(built, null, 2) + '\n');
  fs.renameSync(tmp, BASE_DIR);
  return `built ${BASE_DIR}`;
}

/** Throw the cached base away (only when no lab host uses it). */
export async function removeBase(): Promise<void> {
  if (fs.existsSync(BASE_DIR)) await removeTree(BASE_DIR);
}
