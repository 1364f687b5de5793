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
 * otherwise. Behind jump hosts (OpenSSH's ProxyJump) the target is reached
 * over a direct-tcpip channel of the last hop, whose connection is shared by
 * every host behind it (jump-pool.ts); each hop's key is checked against its
 * own known_hosts name. This module connects; ssh-handshake.ts does one
 * hop's handshake; ssh-transport.ts is the connection's Transport,
 * shell-session.ts and channel.ts run scripts, http-stream.ts carries HTTP,
 * ssh-options.ts holds the options and shared timings.
 */

import type { Duplex } from 'node:stream';
import type { Client } from 'ssh2';
import { UnreachableError, type Transport } from './transport.js';
import { SshTransport } from './ssh-transport.js';
import { DEFAULTS, type SshOptions } from './ssh-options.js';
import { forwardThrough, handshake, privateKeyState, readPrivateKey, tcpConnect, type Fail, type HandshakeParams } from './ssh-handshake.js';
import { JumpError, JumpPool, type HopConnector, type JumpLease } from './jump-pool.js';

type Auth = Pick<HandshakeParams, 'privateKey' | 'passphrase' | 'agent' | 'password'>;

/**
 * How to log in with what we were given: the key (decrypted with its
 * passphrase), else the agent (which may hold an encrypted key's decrypted
 * form), and a password last.
 */
async function authFor(
  given: { privateKey?: string | Buffer; privateKeyPath?: string; passphrase?: string; agent?: string; password?: string },
  fail: Fail,
): Promise<Auth> {
  let key = given.privateKey;
  if (key === undefined && given.privateKeyPath !== undefined) key = await readPrivateKey(given.privateKeyPath, fail);
  const name = given.privateKeyPath ?? 'private key';
  let usable: Auth = {};
  if (key !== undefined) {
    const state = privateKeyState(key, given.passphrase);
    if (state === 'usable') usable = { privateKey: key, ...(given.passphrase !== undefined ? { passphrase: given.passphrase } : {}) };
    else if (state === 'wrong-passphrase') throw fail(`wrong passphrase for ${name}`, false);
    else if (state === 'invalid') throw fail('private key could not be parsed', false);
    else if (given.agent === undefined) throw fail(`${name} is encrypted; give its passphrase (asked on a terminal) or add it to an SSH agent`, false);
  }
  const agent = usable.privateKey === undefined ? given.agent : undefined;
  if (usable.privateKey === undefined && agent === undefined && given.password === undefined)
    throw fail('no private key given (privateKey/privateKeyPath) and no SSH agent', false);
  return { ...usable, ...(agent !== undefined ? { agent } : {}), ...(given.password !== undefined ? { password: given.password } : {}) };
}

export async function connectSsh(options: SshOptions): Promise<Transport> {
  const port = options.port ?? DEFAULTS.port;
  const username = options.username ?? DEFAULTS.username;
  const policy = options.hostKeyPolicy ?? DEFAULTS.hostKeyPolicy;
  const timeoutMs = options.connectTimeoutMs ?? DEFAULTS.connectTimeoutMs;
  const target = `${username}@${options.address}:${port}`;
  const fail: Fail = (message, transient, cause) => new UnreachableError(options.host, message, transient, cause === undefined ? undefined : { cause });
  const agent = options.agent ?? (process.env['SSH_AUTH_SOCK'] || undefined);
  const auth = await authFor({ ...options, ...(agent !== undefined ? { agent } : {}) }, fail);
  const common = {
    knownHostsPath: options.knownHostsPath,
    hostKeyPolicy: policy,
    keepaliveIntervalMs: options.keepaliveIntervalMs ?? DEFAULTS.keepaliveIntervalMs,
    keepaliveCountMax: DEFAULTS.keepaliveCountMax,
  };

  let lease: JumpLease | undefined;
  let sock: Duplex;
  const jumps = options.jumps ?? [];
  if (jumps.length > 0) {
    const { password: _password, ...keyAuth } = auth;
    // A jump host logs in with its own IdentityFile when it has one, else with the target's key or agent; never a password.
    const connector: HopConnector = {
      tcp: (hop, f) => tcpConnect(hop.address, hop.port, timeoutMs, f),
      through: (via, viaHop, hop, f) => forwardThrough(via, `jump host ${viaHop.name}`, hop.address, hop.port, timeoutMs, f),
      handshake: async (hop, stream, f) => {
        const hopAuth = await authFor(
          hop.privateKeyPath !== undefined
            ? {
                privateKeyPath: hop.privateKeyPath,
                ...(hop.passphrase !== undefined ? { passphrase: hop.passphrase } : {}),
                ...(agent !== undefined ? { agent } : {}),
              }
            : keyAuth,
          f,
        ).catch((e: unknown) => {
          stream.destroy();
          throw e;
        });
        return handshake(stream, {
          ...common,
          ...hopAuth,
          address: hop.address,
          port: hop.port,
          username: hop.username,
          deadline: Date.now() + timeoutMs,
          fail: f,
        });
      },
    };
    const pool = options.jumpPool ?? new JumpPool();
    try {
      lease = await pool.acquire(jumps, `${options.knownHostsPath}\0${policy}\0${options.privateKeyPath ?? ''}`, connector);
    } catch (error) {
      if (error instanceof JumpError) throw fail(error.message, error.transient, error);
      throw error;
    }
    const held = lease;
    sock = await forwardThrough(held.client, `jump host ${held.hop.name}`, options.address, port, timeoutMs, fail).catch((e: unknown) => {
      held.release();
      throw e;
    });
  } else {
    sock = await tcpConnect(options.address, port, timeoutMs, fail);
  }

  let client: Client;
  try {
    client = await handshake(sock, { ...common, ...auth, address: options.address, port, username, deadline: Date.now() + timeoutMs, fail });
  } catch (error) {
    lease?.release();
    throw error;
  }
  // The jump connection lives as long as the last host behind it.
  if (lease !== undefined) client.once('close', () => lease.release());
  return new SshTransport(options.host, target, client, options);
}
