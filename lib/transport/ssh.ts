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
 * Host keys are checked against an OpenSSH-format known_hosts file
 * (known-hosts.ts): ssh2 itself accepts any host key unless a verifier says
 * otherwise. This module connects; ssh-transport.ts is the connection's
 * Transport, shell-session.ts and channel.ts run scripts, http-stream.ts
 * carries HTTP, ssh-options.ts holds the options and shared timings.
 */

import { readFile } from 'node:fs/promises';
import * as net from 'node:net';
import { Client } from 'ssh2';
import type { ConnectConfig } from 'ssh2';
import { UnreachableError, type Transport } from './transport.js';
import { SshTransport } from './ssh-transport.js';
import { DEFAULTS, errnoCode, TRANSIENT_SOCKET_CODES, type Ssh2Error, type SshOptions } from './ssh-options.js';
import {
  type KnownHostEntry,
  appendKnownHost,
  checkHostKey,
  fingerprint,
  hostKeyAlgorithms,
  keyBlobType,
  knownHostsName,
  loadKnownHosts,
} from './known-hosts.js';

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
