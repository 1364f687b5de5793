import { readFile } from 'node:fs/promises';
import * as net from 'node:net';
import type { Duplex } from 'node:stream';
import ssh2, { Client } from 'ssh2';
import type { ConnectConfig } from 'ssh2';
import { errnoCode, TRANSIENT_SOCKET_CODES, type HostKeyPolicy, type Ssh2Error } from './ssh-options.js';
import {
  appendKnownHost,
  checkHostKey,
  fingerprint,
  hostKeyAlgorithms,
  keyBlobType,
  knownHostsName,
  loadKnownHosts,
  type KnownHostEntry,
} from './known-hosts.js';

/**
 * One SSH handshake over a given stream: a TCP socket to the first hop, or a
 * direct-tcpip channel of the hop before (a jump). Each hop is checked
 * against its own known_hosts name and authenticated on its own, as OpenSSH's
 * ProxyJump does: a jump host sees only an encrypted stream it forwards.
 */

/** Why a connection attempt failed; `transient` when trying again later may work. */
export type Fail = (message: string, transient: boolean, cause?: unknown) => Error;

export interface HandshakeParams {
  readonly address: string;
  readonly port: number;
  readonly username: string;
  readonly privateKey?: string | Buffer;
  readonly passphrase?: string;
  readonly password?: string;
  readonly agent?: string;
  readonly knownHostsPath: string;
  readonly hostKeyPolicy: HostKeyPolicy;
  /** Absolute time (ms) by which the handshake and authentication must be done. */
  readonly deadline: number;
  readonly keepaliveIntervalMs: number;
  readonly keepaliveCountMax: number;
  readonly fail: Fail;
}

/** Is this private key usable as it is, encrypted (needs a passphrase or the agent), or not a key? */
export function privateKeyState(key: string | Buffer, passphrase?: string): 'usable' | 'encrypted' | 'wrong-passphrase' | 'invalid' {
  // ssh2 is CommonJS whose `utils` Node's ESM loader cannot see as a named export.
  const parsed = ssh2.utils.parseKey(key, passphrase);
  if (!(parsed instanceof Error)) return 'usable';
  if (/no passphrase given/i.test(parsed.message)) return 'encrypted';
  if (passphrase !== undefined && /passphrase|decrypt|bad/i.test(parsed.message)) return 'wrong-passphrase';
  return 'invalid';
}

export async function readPrivateKey(path: string, fail: Fail): Promise<Buffer> {
  try {
    return await readFile(path);
  } catch (err) {
    throw fail(`cannot read private key ${path}: ${errnoCode(err) ?? 'error'}`, false);
  }
}

/** A TCP connection with Nagle off from the first byte (every small exec would stall ~40 ms on delayed ACKs otherwise). */
export function tcpConnect(address: string, port: number, timeoutMs: number, fail: Fail): Promise<net.Socket> {
  return new Promise<net.Socket>((resolve, reject) => {
    const s = net.connect({ host: address, port, noDelay: true });
    const timer = setTimeout(() => {
      s.destroy();
      reject(fail(`connect to ${address}:${port} timed out after ${timeoutMs} ms`, true));
    }, timeoutMs);
    s.once('connect', () => {
      clearTimeout(timer);
      s.removeAllListeners('error');
      resolve(s);
    });
    s.once('error', (err) => {
      clearTimeout(timer);
      const code = errnoCode(err) ?? 'error';
      reject(fail(`cannot connect to ${address}:${port}: ${code}`, TRANSIENT_SOCKET_CODES.has(code), err));
    });
  });
}

/** A stream to `address:port` opened by the jump host `via` (as `ssh -W`). */
export function forwardThrough(via: Client, viaName: string, address: string, port: number, timeoutMs: number, fail: Fail): Promise<Duplex> {
  return new Promise<Duplex>((resolve, reject) => {
    const timer = setTimeout(() => reject(fail(`${viaName} did not open a channel to ${address}:${port} within ${timeoutMs} ms`, true)), timeoutMs);
    via.forwardOut('127.0.0.1', 0, address, port, (err, channel) => {
      clearTimeout(timer);
      // The jump host's own refusal ("Connection refused", "administratively prohibited"); it may be booting the target.
      if (err) reject(fail(`cannot reach ${address}:${port} through ${viaName}: ${err.message}`, (err as { reason?: number }).reason !== 1, err));
      else resolve(channel);
    });
  });
}

/** The SSH handshake and authentication over `sock`; the client is ready when this resolves. */
export async function handshake(sock: Duplex, p: HandshakeParams): Promise<Client> {
  const { fail } = p;
  const target = `${p.username}@${p.address}:${p.port}`;
  const name = knownHostsName(p.address, p.port);
  let entries: KnownHostEntry[] = [];
  if (p.hostKeyPolicy !== 'insecure') {
    try {
      entries = await loadKnownHosts(p.knownHostsPath, true);
    } catch (err) {
      sock.destroy();
      throw fail(`cannot read known_hosts ${p.knownHostsPath}: ${errnoCode(err) ?? String(err)}`, false, err);
    }
  }

  const client = new Client();
  // Why the host verifier said no; ssh2 only reports "Host denied".
  let hostKeyProblem: Error | undefined;
  const hostVerifier = (key: Buffer, verify: (valid: boolean) => void): void => {
    if (p.hostKeyPolicy === 'insecure') return verify(true);
    const verdict = checkHostKey(entries, name, key);
    switch (verdict.kind) {
      case 'known':
        return verify(true);
      case 'revoked':
        hostKeyProblem = fail(`host key ${fingerprint(key)} for ${name} is revoked (${p.knownHostsPath}:${verdict.line})`, false);
        return verify(false);
      case 'changed':
        hostKeyProblem = fail(
          `host key changed for ${name}: server offers ${keyBlobType(key)} ${fingerprint(key)}, ` +
            `which does not match ${p.knownHostsPath}:${verdict.line}; ` +
            'if the host was reinstalled, remove that line',
          false,
        );
        return verify(false);
      case 'unknown':
        if (p.hostKeyPolicy === 'strict') {
          hostKeyProblem = fail(`host key ${keyBlobType(key)} ${fingerprint(key)} for ${name} is not in ${p.knownHostsPath} (strict host key checking)`, false);
          return verify(false);
        }
        appendKnownHost(p.knownHostsPath, name, key).then(
          () => verify(true),
          (err: unknown) => {
            hostKeyProblem = fail(`cannot record host key in ${p.knownHostsPath}: ${errnoCode(err) ?? String(err)}`, false, err);
            verify(false);
          },
        );
        return;
    }
  };

  const algorithms = p.hostKeyPolicy === 'insecure' ? undefined : hostKeyAlgorithms(entries, name);
  const config: ConnectConfig = {
    sock,
    username: p.username,
    hostVerifier,
    readyTimeout: Math.max(1, p.deadline - Date.now()),
    keepaliveInterval: p.keepaliveIntervalMs,
    keepaliveCountMax: p.keepaliveCountMax,
    // Key, then agent, then password: a password is only for hosts that do not hold our key yet.
    authHandler: ['none', 'publickey', 'agent', 'password'],
    ...(p.privateKey !== undefined ? { privateKey: p.privateKey } : {}),
    ...(p.passphrase !== undefined ? { passphrase: p.passphrase } : {}),
    ...(p.agent !== undefined ? { agent: p.agent } : {}),
    ...(p.password !== undefined ? { password: p.password } : {}),
    ...(algorithms !== undefined ? { algorithms: { serverHostKey: algorithms } } : {}),
  };

  const classify = (err: Ssh2Error): Error => {
    if (hostKeyProblem !== undefined) return hostKeyProblem;
    if (err.level === 'client-authentication') return fail(`authentication failed for ${target}`, false);
    if (err.level === 'client-timeout') return fail(`SSH handshake with ${p.address}:${p.port} timed out`, true);
    const code = errnoCode(err);
    if (err.level === 'client-socket' || code !== undefined) {
      return fail(`connection to ${p.address}:${p.port} failed: ${code ?? err.message}`, code === undefined || TRANSIENT_SOCKET_CODES.has(code), err);
    }
    if (/Connection lost before handshake/i.test(err.message)) {
      // sshd drops excess unauthenticated connections (MaxStartups) this way.
      return fail(`connection to ${p.address}:${p.port} dropped before SSH handshake`, true, err);
    }
    return fail(`SSH handshake with ${p.address}:${p.port} failed: ${err.message}`, false, err);
  };

  await new Promise<void>((resolve, reject) => {
    const onError = (err: Ssh2Error): void => {
      abandon();
      reject(classify(err));
    };
    const onClose = (): void => {
      abandon();
      reject(hostKeyProblem ?? fail(`connection to ${p.address}:${p.port} closed during handshake`, true));
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
      reject(fail(encrypted ? 'private key is encrypted; give its passphrase or add it to an SSH agent' : 'private key could not be parsed', false));
    }
  });
  return client;
}
