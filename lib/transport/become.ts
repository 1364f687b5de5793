import { Secret } from '../core/secret.js';
import { quote } from '../core/shell.js';
import type { ExecOptions, ExecResult, HttpRequest, HttpResponse, Transport } from './transport.js';

/**
 * Privilege escalation (Ansible's become, method sudo) around any transport.
 * The password reaches sudo on its stdin through `printf` (a shell builtin:
 * no process has it in argv); the script follows on the same stdin for the
 * root shell sudo starts. The password is checked once, at connect, with a
 * single attempt, so a wrong one fails in seconds with a clear message
 * instead of sudo eating the script as further attempts.
 */
export class BecomeError extends Error {
  override readonly name = 'BecomeError';
}

const PROMPT = 'stackplay-sudo-prompt:';

export class BecomeTransport implements Transport {
  private constructor(
    readonly inner: Transport,
    readonly user: string,
    readonly password: Secret | undefined,
  ) {}

  get host(): string {
    return this.inner.host;
  }

  /** Wraps `inner`, checking first that sudo accepts the password (or needs none). */
  static async open(inner: Transport, options: { user?: string; password?: Secret | undefined } = {}): Promise<BecomeTransport> {
    const t = new BecomeTransport(inner, options.user ?? 'root', options.password);
    const check = await inner.exec(t.#sudo('-v', ''), { timeoutMs: 15_000 });
    if (check.exitCode !== 0) {
      const said = check.stderr.replaceAll(PROMPT, '').trim().split('\n').filter(Boolean).pop() ?? `exit ${check.exitCode}`;
      throw new BecomeError(`${inner.host}: sudo refused ${options.password ? 'the become password' : 'without a password'} (${said})`);
    }
    return t;
  }

  /** `printf` the password (if any) then the body into `sudo -S`; -k forgets cached credentials, so the password is always checked. */
  #sudo(args: string, body: string): string {
    const feed = this.password ? `printf '%s\\n' ${quote(this.password.reveal())}` : ':';
    const delimiter = `SP_BECOME_${Math.random().toString(36).slice(2, 10)}`;
    // sudo resets the environment: hand the connection's sshd pid (the run lock's holder) to the root shell first.
    const pid = `printf 'STACKPLAY_SSH_PID=%s; export STACKPLAY_SSH_PID\\n' "\${STACKPLAY_SSH_PID:-$PPID}"\n`;
    const rest = body === '' ? '' : `${pid}cat <<'${delimiter}'\n${body}${body.endsWith('\n') ? '' : '\n'}${delimiter}\n`;
    return `{ ${feed}\n${rest}} | sudo -S -k -p ${quote(PROMPT)} -u ${quote(this.user)} ${args}\n`;
  }

  exec(script: string, options?: ExecOptions): Promise<ExecResult> {
    return this.inner.exec(this.#sudo('/bin/sh -s', script), options).then((r) => ({ ...r, stderr: r.stderr.replaceAll(PROMPT, '') }));
  }

  http(request: HttpRequest): Promise<HttpResponse> {
    return this.inner.http(request);
  }

  close(): Promise<void> {
    return this.inner.close();
  }
}
