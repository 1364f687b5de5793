import { randomBytes } from 'node:crypto';
import { raw, sh, type Cmd } from './shell.js';
import type { SimHost } from '../sim/sim.js';
import type { ExecStep, Fact, Http, ShellFact, Step, WriteStep } from './task.js';
import type { ExecResult, HttpRequest, HttpResponse, Transport } from '../transport/transport.js';
import {
  beginScript,
  DEFAULT_STATE_DIR,
  donePendingScript,
  HostLockedError,
  notePendingScript,
  parseBegin,
  parsePendingName,
  pendingName,
  type HostSession,
  type LockHolder,
} from './host-session.js';

/**
 * Where facts are read and steps applied: a real host over a Transport, or a
 * simulated one for `--plan`. The executor sees only this interface.
 */
export interface HostRuntime {
  readonly host: string;
  /**
   * Once per run, before any task: asks for the run lock (only checked in
   * check mode) and the handlers a previous run left pending. Sends nothing
   * yet: a remote host gets the question with the first facts read.
   */
  begin(holder: LockHolder, takeLock: boolean): void;
  /**
   * The answer to `begin` (sent on its own if no facts read carried it).
   * Rejects with HostLockedError. Nothing is applied before it is known.
   */
  session(): Promise<HostSession>;
  gather(facts: readonly Fact<unknown>[]): Promise<unknown[]>;
  /** Applies one step; returns whether it changed something. Throws StepFailed. */
  apply(step: Step): Promise<boolean>;
  /** Records notified handlers on the host until they have run. */
  notePending(role: string, handlers: readonly string[]): Promise<void>;
  donePending(role: string, handler: string): Promise<void>;
  /** Closes the connection, which releases the run lock. */
  close(): Promise<void>;
}

/** A step ran and failed; `result` holds what the host said (unredacted: the reporter redacts). */
export class StepFailed extends Error {
  override readonly name = 'StepFailed';
  constructor(
    message: string,
    readonly result?: ExecResult,
  ) {
    super(message);
  }
}

export function describeStep(step: Step): string {
  switch (step.kind) {
    case 'exec':
      return step.cmd.display();
    case 'write':
      return `write ${step.path}${step.mode ? ` mode=${step.mode}` : ''}${step.owner ? ` owner=${step.owner}` : ''}${step.group ? ` group=${step.group}` : ''}`;
    case 'api':
      return step.description;
  }
}

// The managed script is read by `sh -s` from stdin: everything it runs gets
// /dev/null as stdin so no command can swallow the rest of the script.
const isolated = (cmd: Cmd): Cmd => sh`( ${cmd}\n) </dev/null`;

export function writeScript(step: WriteStep): Cmd {
  const data = Buffer.from(step.content, 'utf8').toString('base64').replace(/.{76}/g, '$&\n');
  const own = step.owner || step.group ? sh`chown ${`${step.owner ?? ''}${step.group ? `:${step.group}` : ''}`} "$t"\n` : raw('');
  const mode = step.mode ? sh`chmod ${step.mode} "$t"\n` : raw('');
  return sh`set -e
p=${step.path}
d=$(dirname "$p")
[ -d "$d" ] || mkdir -p "$d"
t=$(mktemp "$d/.stackplay-XXXXXX")
trap 'rm -f "$t"' EXIT
base64 -d >"$t" <<'SP_EOF'
${raw(data)}
SP_EOF
if [ -e "$p" ]; then chown --reference="$p" "$t"; chmod --reference="$p" "$t"; else chmod 0644 "$t"; fi
${own}${mode}sync "$t" 2>/dev/null || true
mv -f "$t" "$p"
trap - EXIT
if command -v restorecon >/dev/null 2>&1; then restorecon "$p" || true; fi
`;
}

function stepFailed(step: ExecStep, result: ExecResult): StepFailed {
  const detail = (result.stderr.trim() || result.stdout.trim()).split('\n').slice(-15).join('\n');
  return new StepFailed(`command exited ${result.exitCode}: ${step.cmd.display()}${detail ? `\n${detail}` : ''}`, result);
}

function judgeExec(step: ExecStep, result: ExecResult): boolean {
  if (!(step.okExitCodes ?? [0]).includes(result.exitCode)) throw stepFailed(step, result);
  return step.changedWhen ? step.changedWhen(result) : true;
}

/** The begin script, asked once per run; `answer` settles when its output arrives. */
interface Begin {
  readonly fact: ShellFact<string>;
  sent: boolean;
  readonly answer: Promise<HostSession>;
  settle(stdout: string | Error): void;
}

export class RemoteRuntime implements HostRuntime {
  #begin: Begin | undefined;
  readonly #stateDir: string;
  constructor(
    readonly transport: Transport,
    options: { readonly stateDir?: string | undefined } = {},
  ) {
    this.#stateDir = options.stateDir ?? DEFAULT_STATE_DIR;
  }

  begin(holder: LockHolder, takeLock: boolean): void {
    const script = beginScript(holder, takeLock, this.#stateDir);
    let settle!: (stdout: string | Error) => void;
    const answer = new Promise<HostSession>((resolve, reject) => {
      settle = (stdout) => {
        if (stdout instanceof Error) return reject(stdout);
        try {
          resolve(parseBegin(this.host, stdout));
        } catch (error) {
          reject(error);
        }
      };
    });
    // Whoever needs it awaits it; a run that never does must not see an unhandled rejection.
    answer.catch(() => {});
    this.#begin = { fact: { kind: 'shell', script, parse: (r) => r.stdout, simulate: () => '' }, sent: false, answer, settle };
  }

  async session(): Promise<HostSession> {
    const begin = this.#begin;
    // Used without begin (a one-off script, a test): no lock asked for, nothing pending to learn.
    if (!begin) return { pending: new Map() };
    if (!begin.sent) await this.probe([]);
    return begin.answer;
  }

  async notePending(role: string, handlers: readonly string[]): Promise<void> {
    await this.#must(notePendingScript(role, handlers, this.#stateDir).reveal(), 'record pending handlers');
  }

  async donePending(role: string, handler: string): Promise<void> {
    await this.#must(donePendingScript(role, handler, this.#stateDir).reveal(), 'clear a pending handler');
  }

  async #must(script: string, what: string): Promise<void> {
    await this.session();
    const r = await this.transport.exec(script);
    if (r.exitCode !== 0) throw new StepFailed(`cannot ${what} (exit ${r.exitCode}): ${r.stderr.trim()}`, r);
  }

  get host(): string {
    return this.transport.host;
  }

  readonly http: Http = (request) => this.transport.http(request);

  async gather(facts: readonly Fact<unknown>[]): Promise<unknown[]> {
    const values = new Array<unknown>(facts.length);
    const shell = facts.flatMap((f, i) => (f.kind === 'shell' ? [{ fact: f, i }] : []));
    if (shell.length > 0) {
      const results = await this.probe(shell.map((s) => s.fact));
      shell.forEach(({ fact, i }, j) => {
        const r = results[j];
        if (r instanceof StepFailed) throw r;
        values[i] = fact.parse(r as ExecResult);
      });
    }
    for (const [i, f] of facts.entries()) if (f.kind === 'api') values[i] = await f.run(this.http);
    return values;
  }

  /**
   * The raw output of shell probes, all in one round trip, delimited by a
   * per-call nonce. A probe whose output was cut short (the batch's shell
   * died) gets a StepFailed instead, so each caller fails on its own facts.
   */
  async probe(facts: readonly ShellFact<unknown>[]): Promise<(ExecResult | StepFailed)[]> {
    // The run's begin goes out with its first facts read: no round trip of its own.
    const begin = this.#begin !== undefined && !this.#begin.sent ? this.#begin : undefined;
    if (begin === undefined) return this.#probe(facts);
    begin.sent = true;
    let results: (ExecResult | StepFailed)[];
    try {
      results = await this.#probe([begin.fact, ...facts]);
    } catch (error) {
      begin.settle(error instanceof Error ? error : new Error(String(error)));
      throw error;
    }
    const [answer, ...rest] = results;
    begin.settle(answer instanceof StepFailed ? answer : answer!.stdout);
    return rest;
  }

  async #probe(facts: readonly ShellFact<unknown>[]): Promise<(ExecResult | StepFailed)[]> {
    const nonce = randomBytes(6).toString('hex');
    const script = facts
      .map((f, i) => `printf '%s\\n' '@@${nonce}:${i}'\n( ${f.script.reveal()}\n) </dev/null 2>/dev/null\nprintf '\\n@@${nonce}:%s\\n' "$?"\n`)
      .join('');
    const out = await this.transport.exec(script);
    const results: (ExecResult | StepFailed)[] = [];
    let pos = 0;
    for (let i = 0; i < facts.length; i++) {
      const begin = `@@${nonce}:${i}\n`;
      const start = out.stdout.indexOf(begin, pos);
      const endMark = `\n@@${nonce}:`;
      const end = start < 0 ? -1 : out.stdout.indexOf(endMark, start + begin.length);
      if (start < 0 || end < 0) {
        results.push(new StepFailed(`fact probe output was cut short (exit ${out.exitCode}): ${out.stderr.trim()}`));
        continue;
      }
      const lineEnd = out.stdout.indexOf('\n', end + endMark.length);
      const exitCode = Number(out.stdout.slice(end + endMark.length, lineEnd < 0 ? undefined : lineEnd));
      results.push({ exitCode, stdout: out.stdout.slice(start + begin.length, end), stderr: '' });
      pos = lineEnd < 0 ? out.stdout.length : lineEnd;
    }
    return results;
  }

  async apply(step: Step): Promise<boolean> {
    await this.session();
    switch (step.kind) {
      case 'exec':
        // A command may start daemons that keep writing to what they inherited: never into a shell later scripts share.
        return judgeExec(step, await this.transport.exec(isolated(step.cmd).reveal(), { ownChannel: true }));
      case 'write': {
        const result = await this.transport.exec(writeScript(step).reveal());
        if (result.exitCode !== 0) throw new StepFailed(`writing ${step.path} failed (exit ${result.exitCode}): ${result.stderr.trim()}`, result);
        return true;
      }
      case 'api':
        return (await step.run(this.http)) ?? true;
    }
  }

  /** The lock's keeper sees the connection go and exits: nothing to send. */
  async close(): Promise<void> {
    await this.transport.close();
  }
}

const SECRET_FIELD = /pass|secret|token|key/i;

/** JSON body with secret-looking fields masked, for commands.txt. */
export function describeBody(body: string | undefined): string {
  if (!body) return '';
  try {
    return ` ${JSON.stringify(JSON.parse(body), (k, v: unknown) => (SECRET_FIELD.test(k) && typeof v === 'string' ? '***' : v))}`;
  } catch {
    return ' <body>';
  }
}

export class SimRuntime implements HostRuntime {
  constructor(
    readonly sim: SimHost,
    /** Where logged API calls go: the host owning the address, else this one. */
    readonly hostByAddress: (address: string) => SimHost | undefined,
  ) {}

  get host(): string {
    return this.sim.name;
  }

  #session: Promise<HostSession> | undefined;

  begin(holder: LockHolder, takeLock: boolean): void {
    const held = this.sim.value('run-lock');
    if (!held && takeLock) this.sim.setValue('run-lock', `pid ${holder.pid}`);
    const pending = new Map<string, Set<string>>();
    for (const name of this.sim.set('pending')) {
      const parsed = parsePendingName(name);
      if (!parsed) continue;
      const [role, handler] = parsed;
      if (!pending.has(role)) pending.set(role, new Set());
      pending.get(role)!.add(handler);
    }
    this.#session = held ? Promise.reject(new HostLockedError(this.host, held)) : Promise.resolve({ pending });
    this.#session.catch(() => {});
  }

  session(): Promise<HostSession> {
    return this.#session ?? Promise.resolve({ pending: new Map() });
  }

  async notePending(role: string, handlers: readonly string[]): Promise<void> {
    for (const h of handlers) this.sim.set('pending').add(pendingName(role, h));
  }

  async donePending(role: string, handler: string): Promise<void> {
    this.sim.set('pending').delete(pendingName(role, handler));
  }

  readonly http: Http = async (request: HttpRequest): Promise<HttpResponse> => {
    if (request.method !== 'GET' && request.method !== 'HEAD') {
      const target = this.hostByAddress(request.host) ?? this.sim;
      target.log.push(`${request.method} http://${request.host}:${request.port}${request.path}${describeBody(request.body)}`);
    }
    return this.sim.network.request(request);
  };

  async gather(facts: readonly Fact<unknown>[]): Promise<unknown[]> {
    const values: unknown[] = [];
    // Registered facts are the executor's to answer.
    for (const f of facts) values.push(f.kind === 'shell' ? f.simulate(this.sim) : f.kind === 'api' ? await f.run(this.http) : undefined);
    return values;
  }

  async apply(step: Step): Promise<boolean> {
    switch (step.kind) {
      case 'exec': {
        this.sim.log.push(step.cmd.display());
        const pretend = step.simulate?.(this.sim) ?? {};
        return judgeExec(step, { exitCode: 0, stdout: '', stderr: '', ...pretend });
      }
      case 'write':
        this.sim.log.push(describeStep(step));
        this.sim.writeFile(step.path, step.content, { mode: step.mode, owner: step.owner, group: step.group });
        return true;
      case 'api':
        return (await step.run(this.http)) ?? true;
    }
  }

  async close(): Promise<void> {
    this.sim.setValue('run-lock', '');
  }
}
