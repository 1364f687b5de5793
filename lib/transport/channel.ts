import { constants as osConstants } from 'node:os';
import type { ClientChannel } from 'ssh2';
import { UnreachableError, type ExecOptions, type ExecResult } from './transport.js';
import { CLOSE_GRACE_MS } from './ssh-options.js';

/** One script on a session channel of its own: wrapped, its pid learnt, killed as a tree on timeout, its exit status read. */

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
export const EXIT_GRACE_MS = 500;

const PID_MARKER = '__stackplay_pid=';
const PID_LINE = new RegExp(`${PID_MARKER}(\\d+)\n`);

/**
 * Run by the login shell (sshd always goes through it). `exec` makes sh
 * replace that shell, so sh is the session leader and its pid — announced
 * first on stdout, before any script output — names the process group to
 * kill on timeout.
 */
export const REMOTE_COMMAND = `echo ${PID_MARKER}$$; exec /bin/sh -s`;

interface ChannelHooks {
  lost(what: string): UnreachableError;
  killGroup(pid: number): void;
}

/** Feed `script` to an open `sh -s` channel and collect its outcome. */
export function runOnChannel(channel: ClientChannel, script: string, options: ExecOptions, hooks: ChannelHooks): Promise<ExecResult> {
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

export function signalName(n: number): string | undefined {
  for (const [name, num] of Object.entries(osConstants.signals)) if (num === n) return name;
  return undefined;
}

export function signalExitCode(signal: string | undefined): number {
  if (signal === undefined) return -1;
  const n = (osConstants.signals as Record<string, number | undefined>)[signal];
  return n === undefined ? -1 : 128 + n;
}
