import type { JumpPool } from './jump-pool.js';

/** What connecting over SSH takes, and the timings every part of the SSH transport shares. */

export type HostKeyPolicy = 'accept-new' | 'strict' | 'insecure';

/** One jump host on the way to a target (OpenSSH's ProxyJump), outermost first. */
export interface SshHop {
  /** How messages name it: the name it was given (inventory, ProxyJump, ~/.ssh/config alias). */
  readonly name: string;
  readonly address: string;
  readonly port: number;
  readonly username: string;
  /** Its own key (an IdentityFile for it in ~/.ssh/config); else the target's key and agent. */
  readonly privateKeyPath?: string;
  readonly passphrase?: string;
}

export interface SshOptions {
  /** Inventory name (used in messages). */
  readonly host: string;
  /** ansible_host: what we actually connect to, and the name recorded in known_hosts. */
  readonly address: string;
  readonly port?: number;
  readonly username?: string;
  /** Private key contents (OpenSSH or PEM; encrypted ones need `passphrase`, or the agent holds them). */
  readonly privateKey?: string | Buffer;
  readonly privateKeyPath?: string;
  /** Passphrase of an encrypted private key (asked once on a terminal). */
  readonly passphrase?: string;
  /** Password authentication (ansible_password), tried after the key and the agent. */
  readonly password?: string;
  /** ssh-agent socket; default SSH_AUTH_SOCK. */
  readonly agent?: string;
  /** Jump hosts, outermost first; each hop's host key is checked against its own known_hosts name. */
  readonly jumps?: readonly SshHop[];
  /** Shares one connection per jump host among every host behind it; without one, the transport has its own. */
  readonly jumpPool?: JumpPool;
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

export const DEFAULTS = {
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
export const SESSION_OPEN_RETRY_MS = 10_000;

/** How long to wait for the server to confirm a channel close we asked for. */
export const CLOSE_GRACE_MS = 2_000;

/** Socket errors where trying again later may well work. */
export const TRANSIENT_SOCKET_CODES = new Set([
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

export type Ssh2Error = Error & { level?: string; code?: string };

export function errnoCode(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}
