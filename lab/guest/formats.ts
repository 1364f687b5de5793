/**
 * The two binary formats the guest build reads and writes itself, so that it
 * needs no host tool beyond apt and dpkg-deb: the newc cpio archive the kernel
 * unpacks as initramfs, and the few ELF fields that say what a binary or a
 * kernel module needs (the packages ship no modules.dep: depmod runs at install).
 */
import zlib from 'node:zlib';

type Entry =
  | { kind: 'dir'; path: string; mode: number }
  | { kind: 'file'; path: string; mode: number; data: Buffer }
  | { kind: 'symlink'; path: string; target: string }
  | { kind: 'chardev'; path: string; mode: number; major: number; minor: number };

const S_IFDIR = 0o040000;
const S_IFREG = 0o100000;
const S_IFLNK = 0o120000;
const S_IFCHR = 0o020000;

/**
 * An initramfs assembled in memory: every entry owned by root, parents
 * created before children (the kernel's unpacker does not create them), one
 * entry per path (later additions of the same path are refused, so a busybox
 * applet link can never silently replace /init or a library).
 */
export class Initramfs {
  private readonly entries = new Map<string, Entry>();

  has(p: string): boolean {
    return this.entries.has(normal(p));
  }

  dir(p: string, mode = 0o755): void {
    const key = normal(p);
    const existing = this.entries.get(key);
    if (existing?.kind === 'dir') return;
    this.parents(key);
    this.add({ kind: 'dir', path: key, mode });
  }

  file(p: string, data: Buffer | string, mode = 0o644): void {
    const key = normal(p);
    this.parents(key);
    this.add({ kind: 'file', path: key, mode, data: typeof data === 'string' ? Buffer.from(data) : data });
  }

  symlink(p: string, target: string): void {
    const key = normal(p);
    this.parents(key);
    this.add({ kind: 'symlink', path: key, target });
  }

  chardev(p: string, mode: number, major: number, minor: number): void {
    const key = normal(p);
    this.parents(key);
    this.add({ kind: 'chardev', path: key, mode, major, minor });
  }

  /** The archive, gzip'd (the Debian kernels have CONFIG_RD_GZIP=y). */
  gzip(): Buffer {
    return zlib.gzipSync(this.cpio(), { level: 9 });
  }

  /** newc ("070701") cpio: the only format the kernel's initramfs unpacker reads. */
  cpio(): Buffer {
    const parts: Buffer[] = [];
    let ino = 1;
    for (const e of this.entries.values()) parts.push(...record(ino++, e));
    parts.push(...record(ino, { kind: 'file', path: 'TRAILER!!!', mode: 0, data: Buffer.alloc(0) }));
    return Buffer.concat(parts);
  }

  private parents(key: string): void {
    const parent = key.includes('/') ? key.slice(0, key.lastIndexOf('/')) : '';
    if (parent && !this.entries.has(parent)) this.dir(parent);
  }

  private add(e: Entry): void {
    if (this.entries.has(e.path)) throw new Error(`initramfs: ${e.path} added twice`);
    this.entries.set(e.path, e);
  }
}

/** Archive paths are relative ("bin/sh"), as the kernel expects. */
function normal(p: string): string {
  const key = p.replace(/^\/+/, '').replace(/\/+$/, '');
  if (!key || key.split('/').some((c) => c === '..' || c === '.' || c === '')) throw new Error(`initramfs: bad path ${JSON.stringify(p)}`);
  return key;
}

function pad4(n: number): Buffer {
  return Buffer.alloc((4 - (n % 4)) % 4);
}

function record(ino: number, e: Entry): Buffer[] {
  let mode: number;
  let data: Buffer = Buffer.alloc(0);
  let rdev = [0, 0];
  switch (e.kind) {
    case 'dir':
      mode = S_IFDIR | e.mode;
      break;
    case 'file':
      mode = e.path === 'TRAILER!!!' ? 0 : S_IFREG | e.mode;
      data = e.data;
      break;
    case 'symlink':
      mode = S_IFLNK | 0o777;
      data = Buffer.from(e.target);
      break;
    case 'chardev':
      mode = S_IFCHR | e.mode;
      rdev = [e.major, e.minor];
      break;
  }
  const name = Buffer.from(`${e.path}\0`);
  // ino mode uid gid nlink mtime filesize devmajor devminor rdevmajor rdevminor namesize check;
  // mtime 0 keeps the archive byte-identical across rebuilds of the same packages.
  const fields = [ino, mode, 0, 0, e.kind === 'dir' ? 2 : 1, 0, data.length, 0, 0, rdev[0] ?? 0, rdev[1] ?? 0, name.length, 0];
  const header = Buffer.from('070701' + fields.map((f) => f.toString(16).padStart(8, '0')).join(''));
  return [header, name, pad4(header.length + name.length), data, pad4(data.length)];
}

const ELF_MAGIC = Buffer.from([0x7f, 0x45, 0x4c, 0x46]);

/** Checks for a little-endian 64-bit ELF file, the only kind an amd64 guest has. */
function elf64(buf: Buffer, what: string): void {
  if (buf.length < 64 || !buf.subarray(0, 4).equals(ELF_MAGIC) || buf[4] !== 2 || buf[5] !== 1) throw new Error(`${what}: not a little-endian 64-bit ELF file`);
}

/** The program interpreter (PT_INTERP) of a dynamically linked executable, undefined for a static one. */
export function elfInterpreter(buf: Buffer, what: string): string | undefined {
  elf64(buf, what);
  const phoff = Number(buf.readBigUInt64LE(0x20));
  const phentsize = buf.readUInt16LE(0x36);
  const phnum = buf.readUInt16LE(0x38);
  for (let i = 0; i < phnum; i++) {
    const ph = phoff + i * phentsize;
    if (buf.readUInt32LE(ph) !== 3 /* PT_INTERP */) continue;
    const off = Number(buf.readBigUInt64LE(ph + 8));
    const size = Number(buf.readBigUInt64LE(ph + 32));
    return buf.toString('latin1', off, off + size).replace(/\0+$/, '');
  }
  return undefined;
}

/** A kernel module's .modinfo section ("key=value" strings): depends, vermagic, name... Keys may repeat. */
export function moduleInfo(buf: Buffer, what: string): Map<string, string[]> {
  elf64(buf, what);
  const shoff = Number(buf.readBigUInt64LE(0x28));
  const shentsize = buf.readUInt16LE(0x3a);
  const shnum = buf.readUInt16LE(0x3c);
  const shstrndx = buf.readUInt16LE(0x3e);
  const section = (i: number): { name: number; offset: number; size: number } => {
    const sh = shoff + i * shentsize;
    return { name: buf.readUInt32LE(sh), offset: Number(buf.readBigUInt64LE(sh + 24)), size: Number(buf.readBigUInt64LE(sh + 32)) };
  };
  const names = section(shstrndx);
  const nameOf = (off: number): string => {
    const start = names.offset + off;
    return buf.toString('latin1', start, buf.indexOf(0, start));
  };
  for (let i = 0; i < shnum; i++) {
    const s = section(i);
    if (nameOf(s.name) !== '.modinfo') continue;
    const info = new Map<string, string[]>();
    for (const kv of buf.toString('latin1', s.offset, s.offset + s.size).split('\0')) {
      const eq = kv.indexOf('=');
      if (eq <= 0) continue;
      const key = kv.slice(0, eq);
      info.set(key, [...(info.get(key) ?? []), kv.slice(eq + 1)]);
    }
    return info;
  }
  throw new Error(`${what}: no .modinfo section (not a kernel module?)`);
}
