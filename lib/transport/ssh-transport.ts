import { appendFileSync } from 'node:fs';
import PQueue from 'p-queue';
import { Client } from 'ssh2';
import type { ClientChannel } from 'ssh2';
import { ForwardError, UnreachableError, type ExecOptions, type ExecResult, type HttpRequest, type HttpResponse, type Transport } from './transport.js';

import { CLOSE_GRACE_MS, DEFAULTS, errnoCode, SESSION_OPEN_RETRY_MS, type Ssh2Error, type SshOptions } from './ssh-options.js';
import { SHELL_COMMAND, ShellSession, killTreeScript } from './shell-session.js';
import { httpOverStream, pathOnly } from './http-stream.js';
import { REMOTE_COMMAND, runOnChannel } from './channel.js';

/**
 * The Transport over one ssh2 connection: scripts on pooled persistent shells
 * (shell-session.ts) or on channels of their own (channel.ts), HTTP over
 * direct-tcpip (http-stream.ts), and closing.
 */

export class SshTransport implements Transport {
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
