/**
 * A tiny guest for the lab's OpenStack instances: a Debian kernel plus an
 * initramfs with busybox and dropbear, made only from Debian 12 packages
 * (apt-get download, dpkg-deb -x). Nova boots it by direct kernel boot
 * (aki/ari kernel and ramdisk images, a raw root disk with kernel_id and
 * ramdisk_id); its /init brings up virtio, DHCP, reads the EC2
 * metadata and runs sshd for the instance's key pair, printing
 * `stackplay-guest: ...` progress lines on the serial console.
 *
 * Built into a temp dir beside the cache dir and renamed into place only
 * when complete, like the base image (lab/base.ts).
 */
import { execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import { Initramfs, elfInterpreter, moduleInfo } from './guest/formats.js';
import { GUEST_LIB, MODULE_LIST, commonSh, etcFiles, initScript, udhcpcScript } from './guest/scripts.js';
import { onInterrupt } from './interrupt.js';
import { info } from './log.js';
import { CACHE_DIR } from './paths.js';
import { interruptedBuilds } from './interrupted-builds.js';
import { $ } from './sh.js';

/** Bump when the guest's contents or scripts change, so a cached guest of an older format is rebuilt. */
export const GUEST_FORMAT = 3;
export const GUEST_DIR = path.join(CACHE_DIR, `guest-${GUEST_FORMAT}`);
export const GUEST_MARKER = 'guest.json';

/** Debian's kernel flavour for VMs: virtio and serial console, a quarter of the generic one's size. */
export const KERNEL_METAPACKAGE = 'linux-image-cloud-amd64';
/** busybox for everything but sshd; dropbear and the libraries it links (checked at build time). */
export const GUEST_PACKAGES = ['busybox-static', 'dropbear-bin', 'libc6', 'libcrypt1', 'libgmp10', 'libtomcrypt1', 'libtommath1', 'zlib1g'] as const;
/** What nova's virtio NIC and disk need, and udhcpc's raw sockets; dependencies are added from .modinfo. */
export const GUEST_MODULES = ['virtio_pci', 'virtio_net', 'virtio_blk', 'af_packet'] as const;

/** The root disk image (raw): nothing reads it, but nova wants a root disk (root=/dev/vda). */
const DISK_BYTES = 1 << 20;
const MULTIARCH_DIRS = ['lib/x86_64-linux-gnu', 'usr/lib/x86_64-linux-gnu'];

export interface GuestFiles {
  dir: string;
  kernel: string;
  initrd: string;
  disk: string;
  marker: string;
}

export interface GuestMarker {
  format: number;
  kernel: { package: string; version: string; release: string };
  packages: { name: string; version: string }[];
  /** Modules in the initrd in load order, and the wanted ones the kernel has built in. */
  modules: { loaded: string[]; builtin: string[] };
  sha256: Record<'vmlinuz' | 'initrd.img' | 'disk.img', string>;
  builtAt: string;
}

export function guestFiles(dir: string = GUEST_DIR): GuestFiles {
  return {
    dir,
    kernel: path.join(dir, 'vmlinuz'),
    initrd: path.join(dir, 'initrd.img'),
    disk: path.join(dir, 'disk.img'),
    marker: path.join(dir, GUEST_MARKER),
  };
}

export function readGuestMarker(dir: string = GUEST_DIR): GuestMarker | undefined {
  try {
    return JSON.parse(fs.readFileSync(guestFiles(dir).marker, 'utf8')) as GuestMarker;
  } catch {
    return undefined;
  }
}

/** Build the guest unless a complete one of this format is cached; its directory. */
export async function ensureGuest(): Promise<string> {
  const files = guestFiles();
  const marker = readGuestMarker();
  if (marker?.format === GUEST_FORMAT && [files.kernel, files.initrd, files.disk].every((f) => fs.existsSync(f))) return GUEST_DIR;
  fs.mkdirSync(CACHE_DIR, { recursive: true });
  removeStaleBuilds();
  if (fs.existsSync(GUEST_DIR)) {
    // Only complete guests are renamed into place: this one was tampered with.
    info(`${GUEST_DIR} is incomplete: rebuilding it`);
    fs.rmSync(GUEST_DIR, { recursive: true, force: true });
  }
  const tmp = `${GUEST_DIR}.tmp-${process.pid}`;
  const offInterrupt = onInterrupt(() => fs.rmSync(tmp, { recursive: true, force: true }));
  try {
    fs.mkdirSync(tmp);
    await build(tmp);
    fs.renameSync(tmp, GUEST_DIR);
  } catch (err) {
    fs.rmSync(tmp, { recursive: true, force: true });
    throw err;
  } finally {
    offInterrupt();
  }
  return GUEST_DIR;
}

/** Leftovers of interrupted guest builds, and guests of older formats. */
function removeStaleBuilds(): void {
  for (const entry of fs.readdirSync(CACHE_DIR)) {
    if (/^guest-\d+$/.test(entry) && entry !== path.basename(GUEST_DIR)) {
      info(`removing the guest of an older format ${path.join(CACHE_DIR, entry)}`);
      fs.rmSync(path.join(CACHE_DIR, entry), { recursive: true, force: true });
    }
  }
  for (const dir of interruptedBuilds(GUEST_DIR, 'guest')) {
    info(`removing interrupted guest build ${dir}`);
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

interface Deb {
  name: string;
  version: string;
  file: string;
}

async function build(out: string): Promise<void> {
  const work = path.join(out, 'work');
  const debDir = path.join(work, 'debs');
  const userRoot = path.join(work, 'root');
  const kernelRoot = path.join(work, 'kernel');
  for (const d of [debDir, userRoot, kernelRoot]) fs.mkdirSync(d, { recursive: true });

  const kernelPkg = await kernelPackage();
  info(`guest: downloading ${kernelPkg} ${GUEST_PACKAGES.join(' ')}`);
  const debs = await download([kernelPkg, ...GUEST_PACKAGES], debDir);
  const kernelDeb = debs.find((d) => d.name === kernelPkg);
  if (!kernelDeb) throw new Error(`apt-get download gave no ${kernelPkg}`);
  for (const deb of debs) await $`dpkg-deb -x ${deb.file} ${deb === kernelDeb ? kernelRoot : userRoot}`;

  const release = kernelRelease(kernelRoot);
  const modules = resolveModules(kernelRoot, release, GUEST_MODULES);
  info(`guest: kernel ${release}; modules ${modules.ordered.map((m) => m.name).join(' ')}; built in: ${modules.builtin.join(' ') || 'none'}`);
  const initrd = await assembleInitramfs(userRoot, release, modules.ordered);

  const files = guestFiles(out);
  fs.copyFileSync(path.join(kernelRoot, 'boot', `vmlinuz-${release}`), files.kernel);
  fs.writeFileSync(files.initrd, initrd);
  fs.writeFileSync(files.disk, Buffer.alloc(DISK_BYTES));
  info(`guest: initrd.img ${(initrd.length / 1e6).toFixed(1)} MB`);
  fs.rmSync(work, { recursive: true, force: true });

  const marker: GuestMarker = {
    format: GUEST_FORMAT,
    kernel: { package: kernelDeb.name, version: kernelDeb.version, release },
    packages: debs.filter((d) => d !== kernelDeb).map(({ name, version }) => ({ name, version })),
    modules: { loaded: modules.ordered.map((m) => m.name), builtin: modules.builtin },
    sha256: { vmlinuz: sha256(files.kernel), 'initrd.img': sha256(files.initrd), 'disk.img': sha256(files.disk) },
    builtAt: new Date().toISOString(),
  };
  fs.writeFileSync(files.marker, JSON.stringify(marker, null, 2) + '\n');
}

function sha256(file: string): string {
  return crypto.createHash('sha256').update(fs.readFileSync(file)).digest('hex');
}

/** The versioned kernel package the metapackage points at (apt-get download takes no metapackage's dependencies). */
async function kernelPackage(): Promise<string> {
  const show = async (): Promise<string> => (await $`apt-cache show --no-all-versions ${KERNEL_METAPACKAGE}`.nothrow()).stdout;
  let text = await show();
  if (!text.trim()) {
    // A fresh machine has no package lists yet.
    info(`guest: apt knows no ${KERNEL_METAPACKAGE}: running apt-get update`);
    await $`apt-get update -q`;
    text = await show();
  }
  const pkg = /^Depends: (linux-image-[^\s,(]+)/m.exec(text)?.[1];
  if (!pkg) throw new Error(`apt-cache show ${KERNEL_METAPACKAGE} names no linux-image package:\n${text}`);
  return pkg;
}

/** apt-get download the packages' candidate versions into `dir`; what each .deb is, read from the .deb itself. */
async function download(names: readonly string[], dir: string): Promise<Deb[]> {
  // As root apt downloads as _apt, which cannot write a root-owned temp dir; download as root instead.
  await $`cd ${dir} && apt-get download -q -o APT::Sandbox::User=root ${names}`;
  const debs: Deb[] = [];
  for (const f of fs.readdirSync(dir).filter((f) => f.endsWith('.deb'))) {
    const file = path.join(dir, f);
    const [name = '', version = ''] = (await $`dpkg-deb -f ${file} Package Version`).stdout.split('\n').map((l) => l.replace(/^\w+: /, ''));
    debs.push({ name, version, file });
  }
  const missing = names.filter((n) => !debs.some((d) => d.name === n));
  if (missing.length > 0) throw new Error(`apt-get download did not fetch ${missing.join(' ')}`);
  return debs.sort((a, b) => names.indexOf(a.name) - names.indexOf(b.name));
}

function kernelRelease(kernelRoot: string): string {
  const images = fs.readdirSync(path.join(kernelRoot, 'boot')).filter((f) => f.startsWith('vmlinuz-'));
  if (images.length !== 1) throw new Error(`expected one vmlinuz in the kernel package, found: ${images.join(' ') || 'none'}`);
  return images[0]!.slice('vmlinuz-'.length);
}

interface KernelModule {
  name: string;
  data: Buffer;
}

/** Module names as the kernel knows them: '-' and '_' are the same. */
function modName(file: string): string {
  return path
    .basename(file)
    .replace(/\.ko(\.(gz|xz|zst))?$/, '')
    .replace(/-/g, '_');
}

/**
 * The wanted modules and their dependencies (from each module's .modinfo,
 * since the package ships no modules.dep), dependencies first; wanted
 * modules the kernel has built in (modules.builtin) are listed apart.
 */
function resolveModules(kernelRoot: string, release: string, wanted: readonly string[]): { ordered: KernelModule[]; builtin: string[] } {
  const modDir = path.join(kernelRoot, 'lib/modules', release);
  const builtinSet = new Set(fs.readFileSync(path.join(modDir, 'modules.builtin'), 'utf8').split('\n').filter(Boolean).map(modName));
  const index = new Map<string, string>();
  for (const f of fs.readdirSync(path.join(modDir, 'kernel'), { recursive: true, encoding: 'utf8' })) {
    if (/\.ko(\.(gz|xz|zst))?$/.test(f)) index.set(modName(f), path.join(modDir, 'kernel', f));
  }
  const ordered: KernelModule[] = [];
  const builtin: string[] = [];
  const visiting = new Set<string>();
  const visit = (name: string): void => {
    if (ordered.some((m) => m.name === name) || builtin.includes(name)) return;
    if (builtinSet.has(name)) {
      builtin.push(name);
      return;
    }
    const file = index.get(name);
    if (!file) throw new Error(`kernel module ${name} is neither built in nor in the kernel package`);
    if (visiting.has(name)) throw new Error(`kernel module dependency cycle at ${name}`);
    visiting.add(name);
    const data = readModule(file);
    const modinfo = moduleInfo(data, file);
    const vermagic = modinfo.get('vermagic')?.[0]?.split(' ')[0];
    if (vermagic !== release) throw new Error(`${file}: vermagic ${vermagic ?? 'missing'}, kernel is ${release}`);
    for (const dep of (modinfo.get('depends')?.[0] ?? '').split(',').filter(Boolean)) visit(dep.replace(/-/g, '_'));
    visiting.delete(name);
    ordered.push({ name, data });
  };
  for (const name of wanted) visit(name);
  return { ordered, builtin };
}

/**
 * A module file uncompressed. Bookworm's kernels ship plain .ko
 * (CONFIG_MODULE_COMPRESS_NONE); later ones compress them, and busybox
 * insmod may not read every format, so they are decompressed here.
 */
function readModule(file: string): Buffer {
  if (file.endsWith('.ko')) return fs.readFileSync(file);
  if (file.endsWith('.gz')) return zlib.gunzipSync(fs.readFileSync(file));
  const tool = file.endsWith('.xz') ? 'xz' : 'zstd';
  try {
    return execFileSync(tool, ['-dc', file], { maxBuffer: 256 << 20 });
  } catch (err) {
    throw new Error(`cannot decompress ${file} with ${tool} (install ${tool === 'xz' ? 'xz-utils' : 'zstd'}?): ${String(err)}`);
  }
}

/**
 * `p` (an absolute path inside the extracted packages) with every symlink
 * followed as if `root` were `/`: libc6 ships /lib64/ld-linux-x86-64.so.2 as
 * an absolute link, which read on this machine would leave the packages.
 */
function inRoot(root: string, p: string, hops = 0): string {
  if (hops > 40) throw new Error(`too many symlinks resolving ${p} in ${root}`);
  const parts = p.split('/').filter(Boolean);
  let cur = '/';
  for (let i = 0; i < parts.length; i++) {
    const next = path.posix.join(cur, parts[i]!);
    const host = path.join(root, next);
    if (fs.lstatSync(host).isSymbolicLink()) {
      const target = fs.readlinkSync(host);
      const joined = path.posix.join(target.startsWith('/') ? target : path.posix.join(cur, target), ...parts.slice(i + 1));
      return inRoot(root, joined, hops + 1);
    }
    cur = next;
  }
  return path.join(root, cur);
}

/**
 * The shared libraries `binary` (a path inside `root`) loads, as guest paths
 * with the host file holding each: the packages' own dynamic loader lists
 * them with the packages' library dirs first. A library found only on this
 * machine means a package is missing from GUEST_PACKAGES.
 */
async function sharedLibraries(root: string, binary: string, interp: string): Promise<Map<string, string>> {
  const loader = inRoot(root, interp);
  const libPath = MULTIARCH_DIRS.map((d) => path.join(root, d)).join(':');
  const out = (await $`${loader} --library-path ${libPath} --list ${path.join(root, binary)}`).stdout;
  const libs = new Map<string, string>();
  for (const line of out.split('\n')) {
    const m = /^\s*(\S+) => (.+?)(?: \(0x[0-9a-f]+\))?$/.exec(line);
    const soname = m?.[1];
    const found = m?.[2];
    if (!soname || !found || soname.startsWith('/')) continue; // no "=>": the vdso; an absolute name: the loader itself
    if (found === 'not found') throw new Error(`${binary} needs ${soname}, which no package in GUEST_PACKAGES has`);
    if (!found.startsWith(`${root}/`)) throw new Error(`${binary} needs ${soname}, found only on this machine (${found}): add its package to GUEST_PACKAGES`);
    const guestPath = `/${path.relative(root, found)}`;
    libs.set(guestPath, inRoot(root, guestPath));
  }
  return libs;
}

/** Every file, link and directory of the guest, as a gzip'd newc cpio. */
async function assembleInitramfs(root: string, release: string, modules: KernelModule[]): Promise<Buffer> {
  const fsb = new Initramfs();
  for (const d of ['proc', 'sys', 'dev', 'run', 'etc/dropbear', 'var/log', 'bin', 'sbin', 'usr/bin', 'usr/sbin']) fsb.dir(d);
  fsb.dir('tmp', 0o1777);
  fsb.dir('root', 0o700);
  // The kernel opens /dev/console for /init's stdio before devtmpfs is mounted.
  fsb.chardev('dev/console', 0o600, 5, 1);
  fsb.chardev('dev/null', 0o666, 1, 3);

  fsb.file('init', initScript(), 0o755);
  fsb.file(`${GUEST_LIB}/common.sh`, commonSh());
  fsb.file(`${GUEST_LIB}/udhcpc.script`, udhcpcScript(), 0o755);
  for (const [file, text] of Object.entries(etcFiles())) fsb.file(file, text);

  const moduleDir = `lib/modules/${release}`;
  for (const m of modules) fsb.file(`${moduleDir}/${m.name}.ko`, m.data);
  fsb.file(MODULE_LIST, modules.map((m) => `/${moduleDir}/${m.name}.ko\n`).join(''));

  await addBusybox(fsb, root);
  await addDropbear(fsb, root);
  return fsb.gzip();
}

/** busybox-static and a link for each of its applets (sh, ip, udhcpc, wget, ping, init...) where Debian would put it. */
async function addBusybox(fsb: Initramfs, root: string): Promise<void> {
  const busybox = path.join(root, 'bin/busybox');
  const data = fs.readFileSync(busybox);
  if (elfInterpreter(data, busybox) !== undefined) throw new Error(`${busybox} is dynamically linked; expected busybox-static`);
  fsb.file('bin/busybox', data, 0o755);
  const applets = (await $`${busybox} --list-full`).stdout.split('\n').filter((a) => a.includes('/'));
  for (const applet of applets) if (!fsb.has(applet)) fsb.symlink(applet, '/bin/busybox');
}

async function addDropbear(fsb: Initramfs, root: string): Promise<void> {
  const binary = '/usr/sbin/dropbear';
  const data = fs.readFileSync(path.join(root, binary));
  const interp = elfInterpreter(data, binary);
  if (!interp) throw new Error(`${binary} has no program interpreter; expected a dynamically linked dropbear`);
  fsb.file(binary, data, 0o755);
  fsb.file(interp, fs.readFileSync(inRoot(root, interp)), 0o755);
  for (const [guestPath, hostFile] of await sharedLibraries(root, binary, interp)) fsb.file(guestPath, fs.readFileSync(hostFile), 0o644);
}

/**
 * Put the cached guest into a lab host's root at `dir` (its
 * `verify_guest_dir`), where the verify playbook uploads it to glance.
 * Copied only when the host's guest.json differs from the cache's. Returns
 * true when it copied.
 */
export function installGuest(root: string, dir: string): boolean {
  const from = guestFiles();
  const to = guestFiles(path.join(root, dir));
  const same = fs.existsSync(to.marker) && fs.readFileSync(to.marker, 'utf8') === fs.readFileSync(from.marker, 'utf8');
  if (same) return false;
  fs.mkdirSync(to.dir, { recursive: true });
  // The marker last: a copy interrupted half-way is copied again.
  fs.rmSync(to.marker, { force: true });
  for (const key of ['kernel', 'initrd', 'disk', 'marker'] as const) fs.copyFileSync(from[key], to[key]);
  return true;
}
