import { randomBytes } from 'node:crypto';
import type { ClientChannel } from 'ssh2';
import { UnreachableError, type ExecOptions, type ExecResult } from './transport.js';
import { CLOSE_GRACE_MS } from './ssh-options.js';
import { EXIT_GRACE_MS, signalExitCode, signalName, wrapScript } from './channel.js';

/**
 * Persistent shells: one long-lived `/bin/sh` per session channel that starts
 * every script as a fresh `/bin/sh -s` child (one round trip per exec), and
 * the kill of a timed-out script's process tree.
 */

/**
 * What a persistent session channel runs (through the login shell, once per
 * channel; SHELL_SETUP is its first input). SHELL_SETUP also exports
 * STACKPLAY_SSH_PID, the connection's sshd process (the session shell's
 * parent; a script's own $PPID is the session shell), for anything that must
 * outlive one script but not the connection, such as a run lock.
 */
export const SHELL_COMMAND = 'exec /bin/sh -s';
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
export class ShellSession {
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
