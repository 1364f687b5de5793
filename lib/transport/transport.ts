/**
 * The one thing the executor needs from a host: run a /bin/sh script and
 * reach a TCP service as the host sees it. SSH, the simulated host used by
 * `--plan`, and the fault-injecting fakes in tests all implement this.
 */

export interface ExecResult {
  readonly exitCode: number;
  readonly stdout: string;
  readonly stderr: string;
}

export interface ExecOptions {
  /** Abort the command (and report it as failed, not unreachable) after this long. */
  readonly timeoutMs?: number;
  /**
   * The script may start processes that outlive it (a service start, a
   * package install whose postinst starts a daemon): run it where nothing
   * it leaves behind can ever write into a later script's output. Over SSH:
   * a session channel of its own instead of the connection's long-lived
   * shell. Fact probes and file writes leave nothing behind and need not.
   */
  readonly ownChannel?: boolean;
}

export interface HttpRequest {
  readonly method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE' | 'HEAD';
  /** Address as seen from the managed host, e.g. 127.0.0.1 or the controller's management IP. */
  readonly host: string;
  readonly port: number;
  /** Path with query, e.g. `/v3/projects?name=admin`. */
  readonly path: string;
  readonly headers?: Readonly<Record<string, string>>;
  readonly body?: string;
}

export interface HttpResponse {
  readonly status: number;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: string;
}

export interface Transport {
  /** Inventory name of the host. */
  readonly host: string;
  /**
   * Run `script` with /bin/sh on the host. The script travels on the
   * channel's stdin (never in argv), so secrets inside it are not visible
   * in /proc/<pid>/cmdline as long as they are only given to shell builtins
   * or here-documents.
   * A non-zero exit is a result, not an error. Errors thrown are
   * `UnreachableError` (host or channel lost) only.
   */
  exec(script: string, options?: ExecOptions): Promise<ExecResult>;
  /** HTTP over a TCP connection opened from the host (SSH direct-tcpip). */
  http(request: HttpRequest): Promise<HttpResponse>;
  close(): Promise<void>;
}

/** The host could not be reached, refused us, or dropped the connection mid-command. */
export class UnreachableError extends Error {
  override readonly name = 'UnreachableError';
  constructor(
    readonly host: string,
    message: string,
    /** True when retrying may help (refused, timed out, reset) — never for auth or host-key failures. */
    readonly transient: boolean,
    options?: { cause?: unknown },
  ) {
    super(`${host}: ${message}`, options);
  }
}

/**
 * The SSH link is fine but the service behind an `http()` call is not:
 * nothing listens there yet (`refused`, e.g. keystone restarting), the
 * exchange broke off (`broken`), or sshd forbids forwarding (`prohibited`).
 * A task failure, never a reason to mark the host unreachable.
 */
export class ForwardError extends Error {
  override readonly name = 'ForwardError';
  constructor(
    readonly host: string,
    readonly reason: 'refused' | 'broken' | 'prohibited',
    message: string,
    options?: { cause?: unknown },
  ) {
    super(`${host}: ${message}`, options);
  }
}
