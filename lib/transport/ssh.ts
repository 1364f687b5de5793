/**
 * SSH transport: one ssh2 connection per host, scripts fed to `/bin/sh -s`
 * on a session channel's stdin, HTTP tunnelled over direct-tcpip channels.
 *
 * By default a session channel is not opened per script: each channel runs
 * one long-lived `/bin/sh` (see ShellSession) that starts every script as a
 * fresh `/bin/sh -s` child, so an exec costs one round trip and two process
 * starts on the host instead of a channel open, a login shell (which on
 * Debian reads ~/.bashrc) and a channel close.
 *
 * Host keys are checked against an OpenSSH-format known_hosts file by this
 * module: ssh2 itself accepts any host key unless a verifier says otherwise.
 */

import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { appendFileSync } from 'node:fs';
import { mkdir, readFile, appendFile } from 'node:fs/promises';
import { constants as osConstants } from 'node:os';
import * as http from 'node:http';
import * as net from 'node:net';
import { dirname } from 'node:path';
import type { Duplex } from 'node:stream';
import PQueue from 'p-queue';
import { Client } from 'ssh2';
import type { ClientChannel, ConnectConfig, ServerHostKeyAlgorithm } from 'ssh2';
import { ForwardError, UnreachableError, type ExecOptions, type ExecResult, type HttpRequest, type HttpResponse, type Transport } from './transport.js';

export type HostKeyPolicy = 'accept-new' | 'strict' | 'insecure';

export interface SshOptions {
  /** Inventory name (used in messages). */
  readonly host: string;
  /** ansible_host: what we actually connect to, and the name recorded in known_hosts. */
  readonly address: string;
  readonly port?: number;
  readonly username?: string;
  /** Private key contents (OpenSSH or PEM, unencrypted). */
  readonly privateKey?: string | Buffer;
  readonly privateKeyPath?: string;
  /** OpenSSH known_hosts file; created if missing (except with the insecure policy). */
  readonly knownHostsPath: string;
  readonly hostKeyPolicy?: HostKeyPolicy;
  /** Budget for TCP connect + SSH handshake + authentication. */
  readonly connectTimeoutMs?: number;
  readonly keepaliveIntervalMs?: number;
  /** Upper bound for one `http()` call, from channel open to full body. */
  readonly httpTimeoutMs?: number;
  /** Session channels open at once on this connection; sshd's MaxSessions defaults to 10. */
  readonly maxSessions?: number;
  /** Reserved for privilege escalation (not used yet). */
  readonly sudoPassword?: string;
  /**
   * Run scripts through long-lived `/bin/sh` sessions (one channel each,
   * reused for every exec) instead of a new channel and login shell per
   * exec. Default true.
   */
  readonly persistentShell?: boolean;
}

const DEFAULTS = {
  port: 22,
  username: 'root',
  hostKeyPolicy: 'accept-new' as HostKeyPolicy,
  connectTimeoutMs: 10_000,
  keepaliveIntervalMs: 5_000,
  keepaliveCountMax: 3,
  httpTimeoutMs: 60_000,
  // Below sshd's default MaxSessions (10) so a forwarded channel or a
  // not-yet-reaped session on the server side never tips us over.
  maxSessions: 8,
};

/** How long to keep retrying a session channel the server refused to open. */
const SESSION_OPEN_RETRY_MS = 10_000;

/** How long to wait for the server to confirm a channel close we asked for. */
const CLOSE_GRACE_MS = 2_000;

/** Socket errors where trying again later may well work. */
const TRANSIENT_SOCKET_CODES = new Set([
  'ECONNREFUSED',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EHOSTDOWN',
  'ECONNRESET',
  'ECONNABORTED',
  'EPIPE',
  'EAI_AGAIN',
]);

// ---------------------------------------------------------------------------
// known_hosts

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

async function loadKnownHosts(path: string, create: boolean): Promise<KnownHostEntry[]> {
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
function hostKeyAlgorithms(entries: readonly KnownHostEntry[], name: string): ServerHostKeyAlgorithm[] | undefined {
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

// ---------------------------------------------------------------------------
// connect

type Ssh2Error = Error & { level?: string; code?: string };

function errnoCode(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}

export async function connectSsh(options: SshOptions): Promise<Transport> {
  const port = options.port ?? DEFAULTS.port;
  const username = options.username ?? DEFAULTS.username;
  const policy = options.hostKeyPolicy ?? DEFAULTS.hostKeyPolicy;
  const timeoutMs = options.connectTimeoutMs ?? DEFAULTS.connectTimeoutMs;
  const target = `${username}@${options.address}:${port}`;
  const fail = (message: string, transient: boolean, cause?: unknown): UnreachableError =>
    new UnreachableError(options.host, message, transient, cause === undefined ? undefined : { cause });

  let privateKey: string | Buffer | undefined = options.privateKey;
  if (privateKey === undefined && options.privateKeyPath !== undefined) {
    try {
      privateKey = await readFile(options.privateKeyPath);
    } catch (err) {
      throw fail(`cannot read private key ${options.privateKeyPath}: ${errnoCode(err) ?? 'error'}`, false);
    }
  }
  const agent = privateKey === undefined ? process.env['SSH_AUTH_SOCK'] : undefined;
  if (privateKey === undefined && agent === undefined) {
    throw fail('no private key given (privateKey/privateKeyPath) and no SSH agent', false);
  }

  const name = knownHostsName(options.address, port);
  let entries: KnownHostEntry[] = [];
  if (policy !== 'insecure') {
    try {
      entries = await loadKnownHosts(options.knownHostsPath, true);
    } catch (err) {
      throw fail(`cannot read known_hosts ${options.knownHostsPath}: ${errnoCode(err) ?? String(err)}`, false, err);
    }
  }

  const started = Date.now();
  // Our own socket so Nagle is off from the first byte (otherwise every
  // small exec round trip stalls ~40 ms on delayed ACKs) and so TCP errors
  // arrive with their errno codes intact.
  const sock = await new Promise<net.Socket>((resolve, reject) => {
    const s = net.connect({ host: options.address, port, noDelay: true });
    const timer = setTimeout(() => {
      s.destroy();
      reject(fail(`connect to ${options.address}:${port} timed out after ${timeoutMs} ms`, true));
    }, timeoutMs);
    s.once('connect', () => {
      clearTimeout(timer);
      s.removeAllListeners('error');
      resolve(s);
    });
    s.once('error', (err) => {
      clearTimeout(timer);
      const code = errnoCode(err) ?? 'error';
      reject(fail(`cannot connect to ${options.address}:${port}: ${code}`, TRANSIENT_SOCKET_CODES.has(code), err));
    });
  });

  const client = new Client();
  // Why the host verifier said no; ssh2 only reports "Host denied".
  let hostKeyProblem: UnreachableError | undefined;

  const hostVerifier = (key: Buffer, verify: (valid: boolean) => void): void => {
    if (policy === 'insecure') return verify(true);
    const verdict = checkHostKey(entries, name, key);
    switch (verdict.kind) {
      case 'known':
        return verify(true);
      case 'revoked':
        hostKeyProblem = fail(`host key ${fingerprint(key)} for ${name} is revoked (${options.knownHostsPath}:${verdict.line})`, false);
        return verify(false);
      case 'changed':
        hostKeyProblem = fail(
          `host key changed for ${name}: server offers ${keyBlobType(key)} ${fingerprint(key)}, ` +
            `which does not match ${options.knownHostsPath}:${verdict.line}; ` +
            'if the host was reinstalled, remove that line',
          false,
        );
        return verify(false);
      case 'unknown':
        if (policy === 'strict') {
          hostKeyProblem = fail(
            `host key ${keyBlobType(key)} ${fingerprint(key)} for ${name} is not in ${options.knownHostsPath} (strict host key checking)`,
            false,
          );
          return verify(false);
        }
        appendKnownHost(options.knownHostsPath, name, key).then(
          () => verify(true),
          (err: unknown) => {
            hostKeyProblem = fail(`cannot record host key in ${options.knownHostsPath}: ${errnoCode(err) ?? String(err)}`, false, err);
            verify(false);
          },
        );
        return;
    }
  };

  const algorithms = policy === 'insecure' ? undefined : hostKeyAlgorithms(entries, name);
  const config: ConnectConfig = {
    sock,
    username,
    hostVerifier,
    readyTimeout: Math.max(1, timeoutMs - (Date.now() - started)),
    keepaliveInterval: options.keepaliveIntervalMs ?? DEFAULTS.keepaliveIntervalMs,
    keepaliveCountMax: DEFAULTS.keepaliveCountMax,
    ...(privateKey !== undefined ? { privateKey } : {}),
    ...(agent !== undefined ? { agent } : {}),
    ...(algorithms !== undefined ? { algorithms: { serverHostKey: algorithms } } : {}),
  };

  await new Promise<void>((resolve, reject) => {
    const onError = (err: Ssh2Error): void => {
      abandon();
      reject(classifyConnectError(err));
    };
    const onClose = (): void => {
      abandon();
      reject(hostKeyProblem ?? fail(`connection to ${options.address}:${port} closed during handshake`, true));
    };
    const onReady = (): void => {
      cleanup();
      resolve();
    };
    const cleanup = (): void => {
      client.off('error', onError).off('close', onClose).off('ready', onReady);
    };
    const abandon = (): void => {
      cleanup();
      // ssh2 may emit a second error while tearing down (e.g. "Connection
      // lost before handshake" after a handshake timeout); unheard, it
      // would crash the process.
      client.on('error', () => {});
      sock.destroy();
    };
    client.on('error', onError).on('close', onClose).on('ready', onReady);
    try {
      client.connect(config);
    } catch (err) {
      // ssh2 throws synchronously for unusable keys; its message may quote
      // the parser, never the key, but keep ours generic anyway.
      abandon();
      const encrypted = err instanceof Error && /passphrase|encrypted/i.test(err.message);
      reject(fail(encrypted ? 'private key is encrypted; give an unencrypted key or use an SSH agent' : 'private key could not be parsed', false));
    }
  });

  return new SshTransport(options.host, target, client, options);

  function classifyConnectError(err: Ssh2Error): UnreachableError {
    if (hostKeyProblem !== undefined) return hostKeyProblem;
    if (err.level === 'client-authentication') {
      return fail(`authentication failed for ${target}`, false);
    }
    if (err.level === 'client-timeout') {
      return fail(`SSH handshake with ${options.address}:${port} timed out after ${timeoutMs} ms`, true);
    }
    const code = errnoCode(err);
    if (err.level === 'client-socket' || code !== undefined) {
      return fail(`connection to ${options.address}:${port} failed: ${code ?? err.message}`, code === undefined || TRANSIENT_SOCKET_CODES.has(code), err);
    }
    if (/Connection lost before handshake/i.test(err.message)) {
      // sshd drops excess unauthenticated connections (MaxStartups) this way.
      return fail(`connection to ${options.address}:${port} dropped before SSH handshake`, true, err);
    }
    return fail(`SSH handshake with ${options.address}:${port} failed: ${err.message}`, false, err);
  }
}

// ---------------------------------------------------------------------------
// transport

function signalExitCode(signal: string | undefined): number {
  if (signal === undefined) return -1;
  const n = (osConstants.signals as Record<string, number | undefined>)[signal];
  return n === undefined ? -1 : 128 + n;
}

class SshTransport implements Transport {
  readonly #client: Client;
  readonly #target: string;
  readonly #sessions: PQueue;
  readonly #forwards: PQueue;
  readonly #control = new PQueue({ concurrency: 1 });
  readonly #httpTimeoutMs: number;
  readonly #persistent: boolean;
  readonly #maxShells: number;
  /** Long-lived shells (persistent mode); idle ones are reused, at most #maxShells. */
  readonly #shells: ShellSession[] = [];
  #shellsOpening = 0;
  /** Per-exec channels (ownChannel scripts) open right now: they share sshd's MaxSessions with the shells. */
  #ownChannels = 0;
  #shellWaiters: (() => void)[] = [];
  /** What this connection did (for STACKPLAY_EXEC_COUNT). */
  readonly #counts = { execs: 0, http: 0, channels: 0 };
  /** Set once the connection is gone; the reason later calls report. */
  #dead: UnreachableError | undefined;
  #closing: Promise<void> | undefined;
  /** The underlying connection has emitted 'close' (ssh2 emits it only once). */
  #disconnected = false;

  constructor(
    readonly host: string,
    target: string,
    client: Client,
    options: SshOptions,
  ) {
    this.#client = client;
    this.#target = target;
    const concurrency = options.maxSessions ?? DEFAULTS.maxSessions;
    this.#sessions = new PQueue({ concurrency });
    // Separate queue: a slow API call should not hold up scripts, and
    // direct-tcpip channels do not count against MaxSessions.
    this.#forwards = new PQueue({ concurrency });
    this.#httpTimeoutMs = options.httpTimeoutMs ?? DEFAULTS.httpTimeoutMs;
    // STACKPLAY_PERSISTENT_SHELL=0 goes back to a channel per exec (for comparisons).
    this.#persistent = options.persistentShell ?? process.env['STACKPLAY_PERSISTENT_SHELL'] !== '0';
    this.#maxShells = concurrency;
    // ssh2 emits 'error' for keepalive timeouts and socket resets; without a
    // listener that would crash the process.
    client.on('error', (err: Ssh2Error) => {
      this.#dead ??= new UnreachableError(host, `connection to ${target} lost: ${errnoCode(err) ?? err.message}`, true, { cause: err });
    });
    client.on('close', () => {
      this.#disconnected = true;
      this.#dead ??= new UnreachableError(host, `connection to ${target} lost`, true);
      this.#wakeShellWaiters(true);
    });
  }

  #checkAlive(): void {
    if (this.#dead !== undefined) throw this.#dead;
  }

  async exec(script: string, options: ExecOptions = {}): Promise<ExecResult> {
    this.#checkAlive();
    this.#counts.execs++;
    const shell = this.#persistent && options.ownChannel !== true;
    return this.#sessions.add(() => (shell ? this.#execInShell(script, options) : this.#execNow(script, options)));
  }

  async #execInShell(script: string, options: ExecOptions): Promise<ExecResult> {
    for (;;) {
      const shell = await this.#acquireShell();
      // A shell that ended while idle ran nothing of this script: take another.
      if (!shell.usable) {
        this.#dropShell(shell);
        continue;
      }
      try {
        return await shell.run(script, options);
      } finally {
        this.#releaseShell(shell);
      }
    }
  }

  /** An idle shell, a new one while fewer than #maxShells exist, or the next one to become free. */
  async #acquireShell(): Promise<ShellSession> {
    for (;;) {
      this.#checkAlive();
      const idle = this.#shells.find((s) => s.idle);
      if (idle !== undefined) {
        idle.idle = false;
        return idle;
      }
      if (this.#shells.length + this.#shellsOpening + this.#ownChannels < this.#maxShells) {
        this.#shellsOpening++;
        let shell: ShellSession;
        try {
          shell = new ShellSession(await this.#openSession(SHELL_COMMAND), {
            lost: (what) => this.#lost(what),
            killTree: (pid) => this.#killRemote(killTreeScript(pid)),
            ended: (s) => this.#dropShell(s),
            freed: () => this.#wakeShellWaiters(false),
          });
        } finally {
          this.#shellsOpening--;
        }
        this.#shells.push(shell);
        return shell;
      }
      await new Promise<void>((resolve) => this.#shellWaiters.push(resolve));
    }
  }

  #releaseShell(shell: ShellSession): void {
    // A timed-out script's session stays busy until its shell reports the kill (then `freed`).
    if (shell.reusable && !shell.busy) shell.idle = true;
    this.#wakeShellWaiters(false);
  }

  #dropShell(shell: ShellSession): void {
    const i = this.#shells.indexOf(shell);
    if (i >= 0) this.#shells.splice(i, 1);
    this.#wakeShellWaiters(false);
  }

  #wakeShellWaiters(all: boolean): void {
    const wake = all ? this.#shellWaiters.splice(0) : this.#shellWaiters.splice(0, 1);
    for (const w of wake) w();
  }

  #lost(what: string, cause?: unknown): UnreachableError {
    if (this.#dead !== undefined) return this.#dead;
    return new UnreachableError(this.host, `${what} on ${this.#target}`, true, cause === undefined ? undefined : { cause });
  }

  async #execNow(script: string, options: ExecOptions): Promise<ExecResult> {
    // Shells kept open for later use must not crowd this channel out of sshd's MaxSessions.
    while (this.#shells.length + this.#shellsOpening + this.#ownChannels >= this.#maxShells) {
      const idle = this.#shells.find((s) => s.idle);
      if (idle === undefined) break;
      idle.retire();
    }
    this.#ownChannels++;
    try {
      const channel = await this.#openSession(REMOTE_COMMAND);
      return await runOnChannel(channel, script, options, {
        lost: (what) => this.#lost(what),
        killGroup: (pid) => this.#killGroup(pid),
      });
    } finally {
      this.#ownChannels--;
      this.#wakeShellWaiters(false);
    }
  }

  /**
   * Open a session channel running `command`, retrying refusals. Even
   * with fewer channels open than MaxSessions, sshd refuses ("open failed")
   * when our next open arrives in the same read as the close of a finished
   * session: it frees the session only in a later garbage-collection pass.
   * A refused open ran nothing, so retrying is safe.
   */
  async #openSession(command: string): Promise<ClientChannel> {
    const deadline = Date.now() + SESSION_OPEN_RETRY_MS;
    for (let attempt = 0; ; attempt++) {
      this.#checkAlive();
      try {
        const channel = await new Promise<ClientChannel>((resolve, reject) => {
          this.#client.exec(command, (err, channel) => (err ? reject(err) : resolve(channel)));
        });
        this.#counts.channels++;
        return channel;
      } catch (err) {
        if (this.#dead !== undefined) throw this.#dead;
        const message = err instanceof Error ? err.message : String(err);
        // Only the server's refusal is retried; anything else (e.g. "Not
        // connected") means the connection is going away.
        if (!/Channel open failure/i.test(message) || Date.now() >= deadline) {
          throw this.#lost(`cannot open session channel (${message})`, err);
        }
      }
      await new Promise((r) => setTimeout(r, Math.min(5 * 2 ** attempt, 100)));
    }
  }

  /**
   * Kill a timed-out script's process group from a separate session. The
   * SSH "signal" request would be neater, but OpenSSH refuses it for root
   * logins ("session signalling requires privilege separation"), and root is
   * our default user. Runs outside the session queue (which may be full of
   * the very commands that are timing out) but one at a time, so we stay at
   * most one session above the queue's limit.
   */
  #killGroup(pid: number): void {
    // sshd makes the session's process a session (and group) leader,
    // and REMOTE_COMMAND execs sh in place, so -pid is the script and
    // everything it started that did not detach itself.
    this.#killRemote(`kill -9 -- -${pid} 2>/dev/null; kill -9 ${pid} 2>/dev/null; true`);
  }

  #killRemote(command: string): void {
    if (this.#dead !== undefined) return;
    void this.#control
      .add(async () => {
        const ch = await this.#openSession(command);
        await new Promise<void>((resolve) => {
          ch.on('close', () => resolve()).on('error', () => resolve());
          ch.resume();
          ch.stderr.resume();
          ch.end();
        });
      })
      .catch(() => {
        // Best effort: the connection may be gone, taking the script with it.
      });
  }

  async http(request: HttpRequest): Promise<HttpResponse> {
    this.#checkAlive();
    this.#counts.http++;
    return this.#forwards.add(() => this.#httpNow(request));
  }

  #httpNow(request: HttpRequest): Promise<HttpResponse> {
    this.#checkAlive();
    const dest = `${request.host}:${request.port}`;
    return new Promise<HttpResponse>((resolve, reject) => {
      this.#client.forwardOut('127.0.0.1', 0, request.host, request.port, (err, channel) => {
        if (err) {
          // "Connection refused" etc. from the host's point of view, or the
          // SSH connection itself is gone.
          reject(
            this.#dead ??
              // ssh2 passes the RFC 4254 reason code: 1 is "administratively prohibited".
              new ForwardError(
                this.host,
                (err as { reason?: number }).reason === 1 ? 'prohibited' : 'refused',
                `cannot reach ${dest} from ${this.#target}: ${err.message}`,
                {
                  cause: err,
                },
              ),
          );
          return;
        }
        httpOverStream(channel, request, this.#httpTimeoutMs).then(resolve, (e: unknown) => {
          channel.destroy();
          reject(
            this.#dead ??
              new ForwardError(
                this.host,
                'broken',
                `HTTP ${request.method} http://${dest}${pathOnly(request.path)} via ${this.#target} failed: ${e instanceof Error ? e.message : String(e)}`,
                { cause: e },
              ),
          );
        });
      });
    });
  }

  close(): Promise<void> {
    if (this.#closing === undefined) recordCounts(this.host, this.#counts);
    this.#closing ??= new Promise<void>((resolve) => {
      this.#dead ??= new UnreachableError(this.host, `transport to ${this.#target} was closed`, false);
      const client = this.#client;
      if (this.#disconnected) return resolve();
      const timer = setTimeout(() => {
        client.destroy();
        resolve();
      }, CLOSE_GRACE_MS);
      client.once('close', () => {
        clearTimeout(timer);
        resolve();
      });
      client.end();
    });
    return this.#closing;
  }
}

/**
 * Send an SSH "signal" request. ssh2's `channel.signal()` silently does
 * nothing once our side has sent EOF — which we always have, right after the
 * script — although the protocol allows it; so go one level down.
 */
function sendSignal(channel: ClientChannel, signal: string): void {
  const ch = channel as unknown as {
    outgoing?: { id?: number; state?: string };
    _client?: { _protocol?: { signal?: (id: number, signal: string) => void } };
  };
  const id = ch.outgoing?.id;
  const state = ch.outgoing?.state;
  const protocol = ch._client?._protocol;
  if (id === undefined || (state !== 'open' && state !== 'eof') || typeof protocol?.signal !== 'function') return;
  try {
    protocol.signal(id, signal);
  } catch {
    // Connection already gone; the close path reports it.
  }
}

/**
 * What goes down the channel. The brace group makes sh parse the whole
 * script before running any of it, and `</dev/null` keeps commands in the
 * script from reading (and eating) the rest of the script from stdin — the
 * classic `ssh host sh -s < script` trap with `read` loops or `ssh`/`mysql`.
 * A syntax error anywhere therefore means nothing runs.
 */
export function wrapScript(script: string): string {
  return `{\n${script}${script.endsWith('\n') ? '' : '\n'}} </dev/null\n`;
}

/** How long output may still trail the exit status before the result is settled without EOF. */
const EXIT_GRACE_MS = 500;

const PID_MARKER = '__stackplay_pid=';
const PID_LINE = new RegExp(`${PID_MARKER}(\\d+)\n`);

/**
 * Run by the login shell (sshd always goes through it). `exec` makes sh
 * replace that shell, so sh is the session leader and its pid — announced
 * first on stdout, before any script output — names the process group to
 * kill on timeout.
 */
const REMOTE_COMMAND = `echo ${PID_MARKER}$$; exec /bin/sh -s`;

interface ChannelHooks {
  lost(what: string): UnreachableError;
  killGroup(pid: number): void;
}

/** Feed `script` to an open `sh -s` channel and collect its outcome. */
function runOnChannel(channel: ClientChannel, script: string, options: ExecOptions, hooks: ChannelHooks): Promise<ExecResult> {
  return new Promise<ExecResult>((resolve, reject) => {
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let exitCode: number | undefined;
    let exitNote = '';
    let timedOut = false;
    let settled = false;
    let stderrEnded = false;
    let channelClosed = false;

    const text = (chunks: Buffer[]): string => Buffer.concat(chunks).toString('utf8');
    let pid: number | undefined;

    const finish = (): void => {
      // Wait for both streams: 'close' follows stdout's end, but stderr may
      // still hold buffered data at that moment.
      if (settled || !channelClosed || !stderrEnded) return;
      settled = true;
      if (timer !== undefined) clearTimeout(timer);
      if (afterExit !== undefined) clearTimeout(afterExit);
      if (exitCode === undefined) {
        reject(hooks.lost('connection lost while a command was running (it may or may not have completed)'));
        return;
      }
      resolve({ exitCode, stdout: text(out).replace(PID_LINE, ''), stderr: text(err) + exitNote });
    };

    // A daemon started by the script (a package's postinst starting chronyd,
    // say) inherits the channel's stdout/stderr and keeps them open, so EOF
    // never comes although the script has exited. After the exit status,
    // give trailing output a short grace (renewed while it still flows),
    // then settle and close the channel.
    let afterExit: NodeJS.Timeout | undefined;
    const armAfterExit = (): void => {
      if (exitCode === undefined || timedOut || settled) return;
      if (afterExit !== undefined) clearTimeout(afterExit);
      afterExit = setTimeout(() => {
        if (settled) return;
        channelClosed = true;
        stderrEnded = true;
        finish();
        channel.close();
      }, EXIT_GRACE_MS);
      afterExit.unref();
    };

    channel.on('data', (chunk: Buffer) => {
      out.push(chunk);
      armAfterExit();
      if (pid === undefined) {
        const m = PID_LINE.exec(text(out));
        if (m?.[1] !== undefined) pid = Number(m[1]);
      }
    });
    channel.stderr.on('data', (chunk: Buffer) => {
      err.push(chunk);
      armAfterExit();
    });
    channel.stderr.once('end', () => {
      stderrEnded = true;
      finish();
    });
    channel.on('exit', (code: number | null, signal?: string, _dump?: unknown, desc?: string) => {
      if (timedOut) return;
      if (code !== null) {
        exitCode = code;
      } else {
        exitCode = signalExitCode(signal);
        exitNote = `${exitNote && '\n'}killed by ${signal ?? 'unknown signal'}${desc ? `: ${desc}` : ''}\n`;
      }
      armAfterExit();
    });
    channel.once('close', () => {
      channelClosed = true;
      // A dead connection pushes no end on stderr if it never flowed.
      stderrEnded ||= channel.stderr.readableEnded || !channel.stderr.readable;
      finish();
    });
    channel.on('error', () => {
      // Surfaced through 'close' without an exit status.
    });

    let timer: NodeJS.Timeout | undefined;
    const { timeoutMs } = options;
    if (timeoutMs !== undefined) {
      timer = setTimeout(() => {
        if (settled) return;
        timedOut = true;
        exitCode = 124;
        exitNote = `${err.length > 0 ? '\n' : ''}timed out after ${timeoutMs} ms\n`;
        // Closing the channel alone leaves the script (say a hung apt-get
        // holding the dpkg lock) running. The signal request covers non-root
        // logins; killGroup covers root, where sshd refuses signals.
        sendSignal(channel, 'KILL');
        if (pid !== undefined) hooks.killGroup(pid);
        channel.close();
        // Hold the session slot until the server confirms, but not forever.
        setTimeout(() => {
          channelClosed = true;
          stderrEnded = true;
          finish();
        }, CLOSE_GRACE_MS).unref();
      }, timeoutMs);
    }

    channel.end(wrapScript(script));
  });
}

// ---------------------------------------------------------------------------
// persistent shell sessions

/**
 * What a persistent session channel runs (through the login shell, once per
 * channel; SHELL_SETUP is its first input). SHELL_SETUP also exports
 * STACKPLAY_SSH_PID, the connection's sshd process (the session shell's
 * parent; a script's own $PPID is the session shell), for anything that must
 * outlive one script but not the connection, such as a run lock.
 */
const SHELL_COMMAND = 'exec /bin/sh -s';
const SHELL_SETUP = 'STACKPLAY_SSH_PID=$PPID; export STACKPLAY_SSH_PID\n';

/**
 * Kills a timed-out script's process tree: stop it top-down (a stopped
 * process cannot fork), collecting children from /proc (or pgrep), then
 * SIGKILL all of it. The script's own shell is not a process-group leader
 * (`setsid` would make it one, at ~3 ms per exec), so a group kill is not
 * available; daemons that detached themselves are left alone either way.
 */
export function killTreeScript(pid: number): string {
  return `q=${pid}; all=
while [ -n "$q" ]; do
  next=
  for p in $q; do
    kill -STOP "$p" 2>/dev/null || continue
    all="$all $p"
    c=$(cat /proc/"$p"/task/*/children 2>/dev/null || pgrep -P "$p")
    next="$next $c"
  done
  q=$(echo $next)
done
[ -n "$all" ] && kill -9 $all 2>/dev/null; true`;
}

interface ShellHooks {
  lost(what: string): UnreachableError;
  killTree(pid: number): void;
  ended(session: ShellSession): void;
  /** A session that was busy with a timed-out script is free again. */
  freed(): void;
}

interface ShellRun {
  readonly nonce: string;
  readonly outBegin: Buffer;
  readonly outEnd: Buffer;
  readonly errBegin: Buffer;
  readonly errEnd: Buffer;
  pid?: number;
  outStart: number;
  errStart: number;
  /** Already answered (timed out): the session waits for the end markers, then is free again. */
  answered: boolean;
  timer?: NodeJS.Timeout;
  resolve(result: ExecResult): void;
  reject(error: unknown): void;
}

/**
 * One session channel running a long-lived `/bin/sh` that reads, from the
 * channel's stdin, one small program per exec:
 *
 *     /bin/sh -s <<'@@NONCE'
 *     printf '@@NONCE:b:%s\n' "$$"; printf '@@NONCE:b\n' >&2
 *     {
 *     SCRIPT
 *     } </dev/null
 *     @@NONCE
 *     printf '\n@@NONCE:e:%s\n' "$?"; printf '\n@@NONCE:e\n' >&2
 *
 * The script runs in its own `/bin/sh`, as before: `exit`, `set -e`, traps,
 * variables and a syntax error (exit 2, nothing run) stay inside it; the
 * here-document keeps the script off every argv; `</dev/null` keeps its
 * commands from reading the rest of it. Output between the begin and end
 * markers (a fresh random nonce per exec) is the result; anything outside
 * them is dropped. A process a script leaves running keeps the shell's
 * stdout, so what it prints while a later script runs would land in that
 * script's result: scripts that may start daemons (every exec step: service
 * starts, package installs) say `ownChannel` and get a channel of their own.
 * One exec at a time per session.
 */
class ShellSession {
  idle = false;
  /** False once the shell is gone or stuck on a killed script. */
  reusable = true;
  readonly #channel: ClientChannel;
  readonly #hooks: ShellHooks;
  #out: Buffer = Buffer.alloc(0);
  #err: Buffer = Buffer.alloc(0);
  #run: ShellRun | undefined;
  #exit: { code: number | null; signal?: string } | undefined;
  #closed = false;

  get busy(): boolean {
    return this.#run !== undefined;
  }

  /** Its shell is still there and nothing runs in it. */
  get usable(): boolean {
    return !this.#closed && this.#run === undefined && this.reusable;
  }

  constructor(channel: ClientChannel, hooks: ShellHooks) {
    this.#channel = channel;
    this.#hooks = hooks;
    channel.on('data', (chunk: Buffer) => {
      this.#out = this.#out.length === 0 ? chunk : Buffer.concat([this.#out, chunk]);
      this.#check();
    });
    channel.stderr.on('data', (chunk: Buffer) => {
      this.#err = this.#err.length === 0 ? chunk : Buffer.concat([this.#err, chunk]);
      this.#check();
    });
    channel.on('exit', (code: number | null, signal?: string) => {
      this.#exit = signal === undefined ? { code } : { code, signal };
      // The shell is gone; a process it left may hold the channel open for long: settle soon anyway.
      setTimeout(() => {
        if (this.#closed) return;
        this.#onClose();
        this.#channel.close();
      }, EXIT_GRACE_MS).unref();
    });
    channel.on('close', () => this.#onClose());
    channel.on('error', () => {
      // Surfaced through 'close'.
    });
    channel.write(SHELL_SETUP);
  }

  run(script: string, options: ExecOptions): Promise<ExecResult> {
    if (this.#closed || this.#run !== undefined) return Promise.reject(this.#hooks.lost('shell session is not usable'));
    let nonce = randomBytes(8).toString('hex');
    while (script.includes(nonce)) nonce = randomBytes(8).toString('hex');
    const m = `@@${nonce}`;
    return new Promise<ExecResult>((resolve, reject) => {
      const run: ShellRun = {
        nonce,
        outBegin: Buffer.from(`${m}:b:`),
        outEnd: Buffer.from(`\n${m}:e:`),
        errBegin: Buffer.from(`${m}:b\n`),
        errEnd: Buffer.from(`\n${m}:e\n`),
        outStart: -1,
        errStart: -1,
        answered: false,
        resolve,
        reject,
      };
      this.#run = run;
      // Whatever arrived while idle is stray output of earlier scripts' children.
      this.#out = Buffer.alloc(0);
      this.#err = Buffer.alloc(0);
      if (options.timeoutMs !== undefined) {
        const timeoutMs = options.timeoutMs;
        run.timer = setTimeout(() => this.#timeout(run, timeoutMs), timeoutMs);
      }
      const body = wrapScript(script);
      this.#channel.write(
        `/bin/sh -s <<'${m}'\n` +
          `printf '${m}:b:%s\\n' "$$"; printf '${m}:b\\n' >&2\n` +
          `${body}${m}\n` +
          `printf '\\n${m}:e:%s\\n' "$?"; printf '\\n${m}:e\\n' >&2\n`,
      );
    });
  }

  /** Text between the markers so far (up to `end` when given). */
  #slice(buf: Buffer, start: number, end?: number): string {
    return buf.subarray(Math.max(0, start), end).toString('utf8');
  }

  #check(): void {
    const run = this.#run;
    if (run === undefined) {
      this.#out = Buffer.alloc(0);
      this.#err = Buffer.alloc(0);
      return;
    }
    if (run.outStart < 0) {
      const b = this.#out.indexOf(run.outBegin);
      const nl = b < 0 ? -1 : this.#out.indexOf(10, b + run.outBegin.length);
      if (nl >= 0) {
        run.pid = Number(this.#out.subarray(b + run.outBegin.length, nl).toString('latin1'));
        run.outStart = nl + 1;
      }
    }
    if (run.errStart < 0) {
      const b = this.#err.indexOf(run.errBegin);
      if (b >= 0) run.errStart = b + run.errBegin.length;
    }
    const outEnd = this.#out.indexOf(run.outEnd, Math.max(0, run.outStart - 1));
    const codeEnd = outEnd < 0 ? -1 : this.#out.indexOf(10, outEnd + run.outEnd.length);
    const errEnd = this.#err.indexOf(run.errEnd, Math.max(0, run.errStart - 1));
    if (codeEnd < 0 || errEnd < 0) return;
    const exitCode = Number(this.#out.subarray(outEnd + run.outEnd.length, codeEnd).toString('latin1'));
    // No begin marker: the script's shell never started; everything before the end marker is the shell's complaint.
    const stdout = this.#slice(this.#out, run.outStart < 0 ? 0 : run.outStart, outEnd);
    let stderr = this.#slice(this.#err, run.errStart < 0 ? 0 : run.errStart, errEnd);
    this.#finishRun(run);
    if (run.answered) {
      if (this.reusable) {
        this.idle = true;
        this.#hooks.freed();
      }
      return;
    }
    const sig = exitCode > 128 ? signalName(exitCode - 128) : undefined;
    if (sig !== undefined) stderr += `${stderr && !stderr.endsWith('\n') ? '\n' : ''}exit ${exitCode}: killed by ${sig} (or exited ${exitCode})\n`;
    run.resolve({ exitCode, stdout, stderr });
  }

  #finishRun(run: ShellRun): void {
    if (run.timer !== undefined) clearTimeout(run.timer);
    this.#run = undefined;
    this.#out = Buffer.alloc(0);
    this.#err = Buffer.alloc(0);
  }

  #timeout(run: ShellRun, timeoutMs: number): void {
    if (this.#run !== run || run.answered) return;
    run.answered = true;
    const stdout = run.outStart < 0 ? '' : this.#slice(this.#out, run.outStart);
    const stderr = run.errStart < 0 ? '' : this.#slice(this.#err, run.errStart);
    run.resolve({ exitCode: 124, stdout, stderr: `${stderr}${stderr ? '\n' : ''}timed out after ${timeoutMs} ms\n` });
    if (run.pid !== undefined && Number.isInteger(run.pid)) this.#hooks.killTree(run.pid);
    // Free again once the killed script's end markers arrive; if they do not, give the session up.
    run.timer = setTimeout(() => {
      if (this.#run === run) this.#abandon();
    }, CLOSE_GRACE_MS);
    run.timer.unref();
  }

  /** Stop using this session: close its channel, which ends its shell. */
  /** Close an idle session to free its channel. */
  retire(): void {
    if (this.#run === undefined) this.#abandon();
  }

  #abandon(): void {
    this.reusable = false;
    this.idle = false;
    this.#channel.close();
    this.#hooks.ended(this);
  }

  #onClose(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.reusable = false;
    this.idle = false;
    const run = this.#run;
    this.#run = undefined;
    if (run !== undefined) {
      if (run.timer !== undefined) clearTimeout(run.timer);
      if (!run.answered) {
        const exit = this.#exit;
        if (exit === undefined) {
          run.reject(this.#hooks.lost('connection lost while a command was running (it may or may not have completed)'));
        } else {
          // The session's shell itself ended (killed, say, by the script): report it as the old per-exec shell would have.
          const exitCode = exit.code ?? signalExitCode(exit.signal);
          const stdout = run.outStart < 0 ? '' : this.#slice(this.#out, run.outStart);
          const stderr = run.errStart < 0 ? '' : this.#slice(this.#err, run.errStart);
          run.resolve({
            exitCode,
            stdout,
            stderr: `${stderr}${stderr ? '\n' : ''}the remote shell ended${exit.signal ? ` (killed by ${exit.signal})` : ` (exit ${exitCode})`}\n`,
          });
        }
      }
    }
    this.#hooks.ended(this);
  }
}

function signalName(n: number): string | undefined {
  for (const [name, num] of Object.entries(osConstants.signals)) if (num === n) return name;
  return undefined;
}

/**
 * STACKPLAY_EXEC_COUNT=FILE: at close, each connection appends one JSON line
 * `{"host", "execs", "http", "channels"}` — how many round trips a run made,
 * for benchmarks. Off unless set.
 */
function recordCounts(host: string, counts: { execs: number; http: number; channels: number }): void {
  const file = process.env['STACKPLAY_EXEC_COUNT'];
  if (!file) return;
  try {
    appendFileSync(file, `${JSON.stringify({ host, ...counts })}\n`);
  } catch {
    // Counting is a diagnostic; it never fails a run.
  }
}

/** Path without its query string, for messages: queries may carry values callers would not want logged. */
function pathOnly(path: string): string {
  const q = path.indexOf('?');
  return q === -1 ? path : `${path.slice(0, q)}?…`;
}

/** One HTTP/1.1 exchange over an already-open stream (an SSH direct-tcpip channel). */
function httpOverStream(stream: Duplex, request: HttpRequest, timeoutMs: number): Promise<HttpResponse> {
  return new Promise<HttpResponse>((resolve, reject) => {
    const headers: Record<string, string> = { connection: 'close', ...request.headers };
    if (request.body !== undefined) headers['content-length'] = String(Buffer.byteLength(request.body));
    // No `agent` key on purpose: with `agent: false` node builds a fresh
    // Agent that ignores createConnection and dials host:port directly from
    // this machine, silently bypassing the tunnel.
    const req = http.request({
      method: request.method,
      host: request.host,
      port: request.port,
      path: request.path,
      headers,
      createConnection: () => stream as unknown as net.Socket,
    });
    const timer = setTimeout(() => {
      req.destroy(new Error(`timed out after ${timeoutMs} ms`));
    }, timeoutMs);
    req.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    req.on('response', (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('error', (e) => {
        clearTimeout(timer);
        reject(e);
      });
      res.on('end', () => {
        clearTimeout(timer);
        const out: Record<string, string> = {};
        for (const [k, v] of Object.entries(res.headers)) {
          if (v === undefined) continue;
          out[k.toLowerCase()] = Array.isArray(v) ? v.join(', ') : v;
        }
        resolve({ status: res.statusCode ?? 0, headers: out, body: Buffer.concat(chunks).toString('utf8') });
        stream.end();
      });
    });
    req.end(request.body);
  });
}
