import type { HostRecap, RunEvent, RunOutcome, TaskResult } from '../core/executor.js';
import type { Redactor } from '../core/secret.js';
import { formatDiff } from '../cli/reporter.js';

/**
 * What one run leaves behind for later questions ("what changed on compute1
 * last Tuesday, and how long did nova take?"): who ran what, from where, and
 * per host and task the status, timing, diff and handler runs. Built from the
 * executor's events as they come, so an interrupted or failed run has all it
 * did; everything passes through the redactor before it is kept.
 */

export const RECORD_FORMAT = 'stackplay-run/1';

/** How the run ended, from its exit code. */
export type RunStatus = 'ok' | 'failed' | 'unreachable' | 'interrupted' | 'not idempotent' | 'error';

/** A task's result as kept: the executor's, with when it started, and its diffs as masked text. */
export interface RecordedTask extends Omit<TaskResult, 'diffs'> {
  /** Milliseconds after the run started. */
  readonly startMs: number;
  /** What ran (changed and failed tasks only), masked and cut to a readable length. */
  readonly steps?: readonly string[];
  /** A unified diff of the files the task changed, secrets masked. */
  readonly diff?: string;
}

export interface RecordedRole {
  readonly host: string;
  readonly role: string;
  readonly startMs: number;
  readonly durationMs: number;
}

/** Who ran what, from where: known when the run starts. */
export interface RunMeta {
  readonly playbook: string;
  /** The command line after the program name (masked when the record is finished). */
  readonly argv: readonly string[];
  readonly inventory: string;
  readonly check: boolean;
  readonly user: string;
  readonly machine: string;
  readonly cwd: string;
  /** On a shared deploy host `user` is often root: who became it (sudo), and from which address they logged in (ssh). */
  readonly sudoUser?: string;
  readonly sshFrom?: string;
}

/** `op@machine (sudo from alice, ssh from 10.0.0.5)`: who ran it and from where, in one phrase. */
export function whoRan(r: Pick<RunMeta, 'user' | 'machine' | 'sudoUser' | 'sshFrom'>): string {
  const via = [r.sudoUser ? `sudo from ${r.sudoUser}` : '', r.sshFrom ? `ssh from ${r.sshFrom}` : ''].filter(Boolean);
  return `${r.user}@${r.machine}${via.length ? ` (${via.join(', ')})` : ''}`;
}

export interface RunRecord extends RunMeta {
  readonly format: typeof RECORD_FORMAT;
  /** Unique and sortable by start time: also the record's file name. */
  readonly id: string;
  readonly startedAt: string;
  readonly endedAt: string;
  readonly durationMs: number;
  readonly exitCode: number;
  readonly status: RunStatus;
  /** Why the run stopped early (failure policy, Ctrl-C), or null. */
  readonly aborted: string | null;
  /** An error that ended the run outside the executor's account (a bug, a lost disk), if any. */
  readonly error?: string;
  readonly plays: readonly { readonly name: string; readonly hosts: readonly string[]; readonly startMs: number }[];
  readonly recap: Readonly<Record<string, HostRecap>>;
  readonly unreachable: readonly { readonly host: string; readonly error: string; readonly atMs: number }[];
  readonly roles: readonly RecordedRole[];
  readonly tasks: readonly RecordedTask[];
}

/** A step's text beyond this is cut: a record is for finding what happened, the host keeps the rest. */
const STEP_CHARS = 2000;

export function statusOfExit(code: number): RunStatus {
  switch (code) {
    case 0:
      return 'ok';
    case 2:
      return 'failed';
    case 3:
      return 'not idempotent';
    case 4:
      return 'unreachable';
    case 130:
      return 'interrupted';
    default:
      return 'error';
  }
}

/** `20261206T114233.042Z`: compact, sortable to the millisecond (runs a second apart keep their order), safe in a file name. */
const stamp = (d: Date): string => d.toISOString().replace(/[-:]/g, '');

export class RunRecorder {
  readonly #meta: RunMeta;
  readonly #redactor: Redactor;
  readonly #now: () => number;
  readonly #started: number;
  readonly #suffix: string;
  /** Host → when its current task started: a host runs one task at a time. */
  readonly #taskStarts = new Map<string, number>();
  readonly #plays: { name: string; hosts: readonly string[]; startMs: number }[] = [];
  readonly #unreachable: { host: string; error: string; atMs: number }[] = [];
  readonly #roles: RecordedRole[] = [];
  readonly #tasks: RecordedTask[] = [];

  constructor(meta: RunMeta, redactor: Redactor, options: { now?: () => number; suffix: string }) {
    this.#meta = meta;
    this.#redactor = redactor;
    this.#now = options.now ?? Date.now;
    this.#started = this.#now();
    this.#suffix = options.suffix;
  }

  #at(): number {
    return this.#now() - this.#started;
  }

  /** The executor's events, as they come. */
  handle = (event: RunEvent): void => {
    switch (event.type) {
      case 'play':
        this.#plays.push({ name: event.name, hosts: event.hosts, startMs: this.#at() });
        break;
      case 'task-start':
        this.#taskStarts.set(event.host, this.#at());
        break;
      case 'task': {
        const r = event.result;
        const startMs = this.#taskStarts.get(r.host) ?? Math.max(0, this.#at() - r.durationMs);
        this.#taskStarts.delete(r.host);
        const keepSteps = r.status === 'changed' || r.status === 'failed';
        const diff = r.diffs?.length ? formatDiff(r, this.#redactor) : '';
        this.#tasks.push({
          host: r.host,
          role: r.role,
          task: r.task,
          module: r.module,
          handler: r.handler,
          status: r.status,
          startMs,
          durationMs: Math.round(r.durationMs),
          ...(r.reason !== undefined ? { reason: r.reason } : {}),
          ...(r.summary !== undefined && r.summary !== r.task ? { summary: r.summary } : {}),
          ...(r.error !== undefined ? { error: r.error } : {}),
          ...(r.ignored ? { ignored: true } : {}),
          ...(keepSteps && r.steps?.length ? { steps: r.steps.map((s) => (s.length > STEP_CHARS ? `${s.slice(0, STEP_CHARS)} …` : s)) } : {}),
          ...(diff ? { diff } : {}),
        });
        break;
      }
      case 'role-end':
        this.#roles.push({
          host: event.host,
          role: event.role,
          startMs: Math.max(0, Math.round(this.#at() - event.durationMs)),
          durationMs: Math.round(event.durationMs),
        });
        break;
      case 'unreachable':
        this.#taskStarts.delete(event.host);
        this.#unreachable.push({ host: event.host, error: event.error, atMs: this.#at() });
        break;
      case 'abort':
        break;
    }
  };

  /** Passes each event to `next` (the reporter) and keeps it. */
  tee(next: (event: RunEvent) => void): (event: RunEvent) => void {
    return (event) => {
      next(event);
      this.handle(event);
    };
  }

  /** The record of the run so far, redacted: the outcome when the executor gave one, the exit code the process ends with. */
  finish(exitCode: number, outcome?: RunOutcome, error?: unknown): RunRecord {
    const ended = this.#now();
    const record: RunRecord = {
      format: RECORD_FORMAT,
      id: `${stamp(new Date(this.#started))}-${this.#meta.playbook.replace(/[^A-Za-z0-9_.-]+/g, '_')}-${this.#suffix}`,
      ...this.#meta,
      startedAt: new Date(this.#started).toISOString(),
      endedAt: new Date(ended).toISOString(),
      durationMs: ended - this.#started,
      exitCode,
      status: statusOfExit(exitCode),
      aborted: outcome?.aborted ?? null,
      ...(error !== undefined ? { error: error instanceof Error ? `${error.name}: ${error.message}` : String(error) } : {}),
      plays: this.#plays,
      recap: Object.fromEntries(outcome?.recap ?? recapOf(this.#tasks, this.#unreachable)),
      unreachable: this.#unreachable,
      roles: this.#roles,
      tasks: this.#tasks,
    };
    return this.#redactor.redactDeep(record);
  }
}

/** Counts per host from the tasks seen, for a run the executor never finished (it threw). */
function recapOf(tasks: readonly RecordedTask[], unreachable: readonly { host: string }[]): Map<string, HostRecap> {
  const recap = new Map<string, HostRecap>();
  const of = (host: string) => recap.get(host) ?? recap.set(host, { ok: 0, changed: 0, failed: 0, skipped: 0, unreachable: 0, wouldRun: 0 }).get(host)!;
  for (const t of tasks) of(t.host)[t.status === 'would-run' ? 'wouldRun' : t.status]++;
  for (const u of unreachable) of(u.host).unreachable++;
  return recap;
}
