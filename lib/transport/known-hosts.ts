import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { mkdir, readFile, appendFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { ServerHostKeyAlgorithm } from 'ssh2';

/**
 * Host keys checked against an OpenSSH-format known_hosts file (ssh2 itself
 * accepts any host key unless a verifier says otherwise): parsing, hashed and
 * glob patterns, verdicts, appending new keys without losing concurrent ones.
 */

/** The name OpenSSH records for a host: bare for port 22, `[addr]:port` otherwise. */
export function knownHostsName(address: string, port: number): string {
  return port === 22 ? address : `[${address}]:${port}`;
}

export interface KnownHostEntry {
  readonly line: number;
  readonly marker: '' | '@revoked' | '@cert-authority';
  readonly hosts: string;
  readonly keyType: string;
  readonly key: Buffer;
}

/** Parse known_hosts text; malformed lines are skipped rather than fatal, as OpenSSH does. */
export function parseKnownHosts(text: string): KnownHostEntry[] {
  const entries: KnownHostEntry[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const raw = (lines[i] ?? '').trim();
    if (raw === '' || raw.startsWith('#')) continue;
    const fields = raw.split(/\s+/);
    let marker: KnownHostEntry['marker'] = '';
    if (fields[0]?.startsWith('@')) {
      const m = fields.shift();
      if (m !== '@revoked' && m !== '@cert-authority') continue;
      marker = m;
    }
    const [hosts, keyType, b64] = fields;
    if (hosts === undefined || keyType === undefined || b64 === undefined) continue;
    if (!/^[A-Za-z0-9+/]+=*$/.test(b64)) continue;
    entries.push({ line: i + 1, marker, hosts, keyType, key: Buffer.from(b64, 'base64') });
  }
  return entries;
}

function globToRegExp(glob: string): RegExp {
  const body = glob
    .replace(/[.+^${}()|[\]\\]/g, '\\$&')
    .replace(/\*/g, '.*')
    .replace(/\?/g, '.');
  return new RegExp(`^${body}$`, 'i');
}

/** `|1|salt|hash` entries: hash = HMAC-SHA1(key = salt, data = name). */
function hashedMatches(pattern: string, name: string): boolean {
  const parts = pattern.split('|');
  // ['', '1', salt, hash]
  if (parts.length !== 4 || parts[1] !== '1' || parts[2] === undefined || parts[3] === undefined) return false;
  const salt = Buffer.from(parts[2], 'base64');
  const want = Buffer.from(parts[3], 'base64');
  const got = createHmac('sha1', salt).update(name).digest();
  return want.length === got.length && timingSafeEqual(want, got);
}

/** OpenSSH host-pattern semantics: comma list, `*`/`?` wildcards, `!` negation wins. */
export function hostPatternMatches(hosts: string, name: string): boolean {
  if (hosts.startsWith('|')) return hashedMatches(hosts, name);
  let matched = false;
  for (const pat of hosts.split(',')) {
    if (pat === '') continue;
    const negated = pat.startsWith('!');
    const p = negated ? pat.slice(1) : pat;
    if (globToRegExp(p).test(name)) {
      if (negated) return false;
      matched = true;
    }
  }
  return matched;
}

/** The algorithm name embedded at the start of an SSH public key blob. */
export function keyBlobType(blob: Buffer): string {
  if (blob.length < 4) return '';
  const len = blob.readUInt32BE(0);
  if (len > blob.length - 4) return '';
  return blob.subarray(4, 4 + len).toString('latin1');
}

/** `SHA256:…` as printed by ssh-keygen -l. */
export function fingerprint(blob: Buffer): string {
  return `SHA256:${createHash('sha256').update(blob).digest('base64').replace(/=+$/, '')}`;
}

export type HostKeyVerdict =
  | { readonly kind: 'known'; readonly line: number }
  | { readonly kind: 'unknown' }
  | { readonly kind: 'changed'; readonly line: number }
  | { readonly kind: 'revoked'; readonly line: number };

/** Compare a presented key with what known_hosts says about `name`. */
export function checkHostKey(entries: readonly KnownHostEntry[], name: string, blob: Buffer): HostKeyVerdict {
  let changedLine: number | undefined;
  let knownLine: number | undefined;
  for (const e of entries) {
    // Certificates are not supported, so CA lines can neither vouch nor object.
    if (e.marker === '@cert-authority') continue;
    if (e.marker === '@revoked') {
      // Revocation lines apply to a key regardless of the host pattern's specifics.
      if (e.key.equals(blob) && (e.hosts === '*' || hostPatternMatches(e.hosts, name))) {
        return { kind: 'revoked', line: e.line };
      }
      continue;
    }
    if (!hostPatternMatches(e.hosts, name)) continue;
    if (e.key.equals(blob)) knownLine ??= e.line;
    else changedLine ??= e.line;
  }
  if (knownLine !== undefined) return { kind: 'known', line: knownLine };
  // Any recorded key for this name that is not the presented one means the
  // server's identity changed: the algorithm list below makes the server
  // present a recorded type when it still has one.
  if (changedLine !== undefined) return { kind: 'changed', line: changedLine };
  return { kind: 'unknown' };
}

/** Lines this process already appended, so parallel first contacts to one host add one line. */
const appendedLines = new Map<string, Promise<void>>();

/**
 * Append one `name type base64` line. A single write on an O_APPEND fd is
 * positioned atomically by the kernel, so concurrent writers (threads or
 * processes) never interleave inside a line.
 */
export function appendKnownHost(path: string, name: string, blob: Buffer): Promise<void> {
  const line = `${name} ${keyBlobType(blob)} ${blob.toString('base64')}\n`;
  const id = `${path}\0${line}`;
  let pending = appendedLines.get(id);
  if (pending === undefined) {
    pending = appendFile(path, line, { flag: 'a', mode: 0o600 });
    appendedLines.set(id, pending);
    // A failed write may be retried by a later connection.
    pending.catch(() => appendedLines.delete(id));
  }
  return pending;
}

export async function loadKnownHosts(path: string, create: boolean): Promise<KnownHostEntry[]> {
  try {
    return parseKnownHosts(await readFile(path, 'utf8'));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    if (create) {
      await mkdir(dirname(path), { recursive: true, mode: 0o700 });
      await appendFile(path, '', { flag: 'a', mode: 0o600 });
    }
    return [];
  }
}

const ALL_HOST_KEY_ALGOS: readonly ServerHostKeyAlgorithm[] = [
  'ssh-ed25519',
  'ecdsa-sha2-nistp256',
  'ecdsa-sha2-nistp384',
  'ecdsa-sha2-nistp521',
  'rsa-sha2-512',
  'rsa-sha2-256',
  'ssh-rsa',
];

/**
 * Put algorithms for already-recorded key types first, as OpenSSH does;
 * otherwise a server holding both an RSA and an ed25519 key, recorded with
 * RSA only, would look "changed" just because ssh2 prefers ed25519.
 */
export function hostKeyAlgorithms(entries: readonly KnownHostEntry[], name: string): ServerHostKeyAlgorithm[] | undefined {
  const preferred: ServerHostKeyAlgorithm[] = [];
  for (const e of entries) {
    if (e.marker !== '' || !hostPatternMatches(e.hosts, name)) continue;
    const algos: readonly ServerHostKeyAlgorithm[] =
      e.keyType === 'ssh-rsa' ? ['rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa'] : ALL_HOST_KEY_ALGOS.filter((a) => a === e.keyType);
    for (const a of algos) if (!preferred.includes(a)) preferred.push(a);
  }
  if (preferred.length === 0) return undefined;
  return [...preferred, ...ALL_HOST_KEY_ALGOS.filter((a) => !preferred.includes(a))];
}
