import type { Duplex } from 'node:stream';
import type { Client } from 'ssh2';
import type { SshHop } from './ssh-options.js';
import type { Fail } from './ssh-handshake.js';

/**
 * One connection per jump host, shared by every host behind it (OpenSSH
 * opens one per `ssh -J`; fifty hosts behind a bastion would be fifty logins
 * to it, and its MaxStartups would start dropping them). A chain of jumps is
 * shared hop by hop: `a,b` reuses `a`'s connection of `a,c`.
 *
 * Reference-counted: each host behind a hop holds it until its own
 * connection closes; the last one out closes it. A hop that failed for good
 * (changed host key, authentication) stays failed for the pool's life, so
 * every host behind it gets the same message without knocking on the jump
 * host again; a transient failure is forgotten, so a retry connects anew.
 */

/** How to reach and open one hop; the pool decides which hops are opened, and over what. */
export interface HopConnector {
  /** A TCP stream to the first hop. */
  tcp(hop: SshHop, fail: Fail): Promise<Duplex>;
  /** A stream to `hop` opened by the hop before it (`via`). */
  through(via: Client, viaHop: SshHop, hop: SshHop, fail: Fail): Promise<Duplex>;
  /** Handshake, host key check against the hop's own known_hosts name, authentication. */
  handshake(hop: SshHop, stream: Duplex, fail: Fail): Promise<Client>;
}

/** A failure of a jump host, to be reported by each host behind it. */
export class JumpError extends Error {
  override name = 'JumpError';
  constructor(
    message: string,
    readonly transient: boolean,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

interface Entry {
  readonly key: string;
  readonly hop: SshHop;
  readonly client: Promise<Client>;
  readonly parent: Entry | undefined;
  refs: number;
  /** The parent was given back (this hop failed or closed). */
  parentReleased: boolean;
}

/** What a host holds while it is connected behind jumps: the last hop's connection, and how to let go. */
export interface JumpLease {
  readonly client: Client;
  readonly hop: SshHop;
  release(): void;
}

export class JumpPool {
  readonly #entries = new Map<string, Entry>();
  /** Connections this pool opened (tests and diagnostics). */
  opened = 0;

  /**
   * The connection to the last of `hops` (outermost first), opening what is
   * not open yet. `key` tells apart hosts that must not share (another
   * known_hosts file or host key policy, another key).
   */
  async acquire(hops: readonly SshHop[], key: string, connector: HopConnector): Promise<JumpLease> {
    if (hops.length === 0) throw new Error('acquire needs at least one hop');
    const entry = this.#take(hops, hops.length - 1, key, connector);
    let client: Client;
    try {
      client = await entry.client;
    } catch (error) {
      this.#release(entry);
      throw error;
    }
    let released = false;
    return {
      client,
      hop: entry.hop,
      release: () => {
        if (released) return;
        released = true;
        this.#release(entry);
      },
    };
  }

  /** The entry for `hops[0..i]`, one more reference to it; created (with its parents) when missing. */
  #take(hops: readonly SshHop[], i: number, key: string, connector: HopConnector): Entry {
    const id = `${key}\0${hops
      .slice(0, i + 1)
      .map((h) => `${h.username}@${h.address}:${h.port}:${h.privateKeyPath ?? ''}`)
      .join(',')}`;
    const existing = this.#entries.get(id);
    if (existing !== undefined) {
      existing.refs++;
      return existing;
    }
    const hop = hops[i] as SshHop;
    const parent = i > 0 ? this.#take(hops, i - 1, key, connector) : undefined;
    // Every failure of this hop names it: each host behind it reports the jump host, not itself.
    const fail: Fail = (message, transient, cause) =>
      new JumpError(`jump host ${hop.name} (${hop.username}@${hop.address}:${hop.port}): ${message}`, transient, cause === undefined ? undefined : { cause });
    const client = (async () => {
      const via = parent === undefined ? undefined : await parent.client;
      this.opened++;
      const stream = via === undefined || parent === undefined ? await connector.tcp(hop, fail) : await connector.through(via, parent.hop, hop, fail);
      return connector.handshake(hop, stream, fail);
    })();
    const entry: Entry = { key: id, hop, client, parent, refs: 1, parentReleased: false };
    this.#entries.set(id, entry);
    client.then(
      (c) => {
        c.on('close', () => {
          // Gone (the jump host went away, or we closed it): the next host behind it connects anew.
          if (this.#entries.get(id) === entry) this.#entries.delete(id);
          this.#releaseParent(entry);
        });
      },
      (error: unknown) => {
        this.#releaseParent(entry);
        const permanent = error instanceof JumpError && !error.transient;
        if (!permanent && this.#entries.get(id) === entry) this.#entries.delete(id);
      },
    );
    return entry;
  }

  #release(entry: Entry): void {
    entry.refs--;
    if (entry.refs > 0) return;
    entry.client.then(
      (c) => {
        if (this.#entries.get(entry.key) === entry) this.#entries.delete(entry.key);
        c.end();
      },
      () => {},
    );
  }

  #releaseParent(entry: Entry): void {
    if (entry.parentReleased || entry.parent === undefined) return;
    entry.parentReleased = true;
    this.#release(entry.parent);
  }
}
