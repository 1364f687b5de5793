import { Chalk, type ChalkInstance } from 'chalk';
import { createTwoFilesPatch } from 'diff';
import type { CommandOutput, HostRecap, RunEvent, RunOutcome, TaskResult } from '../core/executor.js';
import type { Redactor } from '../core/secret.js';

/**
 * Turns the executor's events into what people read: a task line per change
 * or failure (every line at -v), diffs with --diff, a live status line on a
 * terminal, and Ansible's recap. Everything passes through the redactor.
 */
export interface ReporterOptions {
  readonly out: NodeJS.WritableStream;
  readonly color: boolean;
  /** Draw a live status line (terminals only). */
  readonly live: boolean;
  readonly verbose: number;
  readonly diff: boolean;
  readonly redactor: Redactor;
  /** Check mode: the recap counts tasks that would run with an outcome known only by running them. */
  readonly check?: boolean;
  /**
   * Ad-hoc commands (playbooks/exec.ts), as `ansible` prints them: one block per
   * host, `host | CHANGED | rc=0 >>` and what the command printed, or
   * `host | SUCCESS => reason` for a module; no role times.
   */
  readonly adhoc?: boolean;
}

export function formatDiff(result: Pick<TaskResult, 'diffs'>, redactor: Redactor): string {
  return (result.diffs ?? [])
    .map((d) => {
      const before = redactor.redact(d.before ?? '');
      const after = redactor.redact(d.after ?? '');
      // Masked, a change of secrets alone looks like no change: say so rather than print an empty diff.
      if (before === after && d.before !== d.after) return `--- ${d.path}\n    (only secret values changed; not shown)\n`;
      return createTwoFilesPatch(
        d.before === null ? '/dev/null' : `before: ${d.path}`,
        d.after === null ? '/dev/null' : `after: ${d.path}`,
        before,
        after,
        undefined,
        undefined,
        { context: 3 },
      ).replace(/^=+\n/, '');
    })
    .join('');
}

/** How many tasks the summary after the recap names: a few, or at -v as many as profile_tasks shows. */
const SLOWEST = 5;
const SLOWEST_VERBOSE = 20;

export class Reporter {
  readonly #o: ReporterOptions;
  readonly #c: ChalkInstance;
  readonly #running = new Map<string, string>();
  readonly #roleTimes = new Map<string, number>();
  readonly results: TaskResult[] = [];
  #liveShown = false;

  constructor(options: ReporterOptions) {
    this.#o = options;
    this.#c = new Chalk({ level: options.color ? 1 : 0 });
  }

  #print(text: string): void {
    this.#clearLive();
    this.#o.out.write(`${this.#o.redactor.redact(text)}\n`);
  }

  #clearLive(): void {
    if (this.#liveShown) this.#o.out.write('\r\x1b[2K');
    this.#liveShown = false;
  }

  #drawLive(): void {
    if (!this.#o.live || this.#running.size === 0) return;
    const parts = [...this.#running].map(([h, t]) => `${h}: ${t}`);
    const cols = (this.#o.out as NodeJS.WriteStream).columns ?? 100;
    const line = this.#o.redactor.redact(`[${this.#running.size} running] ${parts.join(' | ')}`).slice(0, cols - 1);
    this.#o.out.write(`\r\x1b[2K${this.#c.dim(line)}`);
    this.#liveShown = true;
  }

  handle = (event: RunEvent): void => {
    const c = this.#c;
    switch (event.type) {
      case 'play':
        this.#print(c.bold(`\nPLAY [${event.name}] (${event.hosts.length} host${event.hosts.length === 1 ? '' : 's'})`));
        break;
      case 'task-start':
        this.#running.set(event.host, `${event.role} | ${event.task}`);
        this.#drawLive();
        break;
      case 'task':
        this.#onResult(event.result);
        break;
      case 'role-end':
        this.#roleTimes.set(event.role, Math.max(this.#roleTimes.get(event.role) ?? 0, event.durationMs));
        if (this.#o.verbose > 0 && !this.#o.adhoc) this.#print(c.dim(`[${event.host}] role ${event.role} done in ${(event.durationMs / 1000).toFixed(2)}s`));
        break;
      case 'unreachable':
        this.#running.delete(event.host);
        this.#print(c.red(this.#o.adhoc ? `${event.host} | UNREACHABLE! => ${event.error}` : `unreachable: [${event.host}] ${event.error}`));
        break;
      case 'abort':
        this.#print(c.red.bold(`aborting: ${event.reason}; no further task starts on any host`));
        break;
    }
  };

  #onResult(result: TaskResult): void {
    const c = this.#c;
    this.#running.delete(result.host);
    // What a command printed may hold anything the host knows: masked before it is kept for --json or shown.
    const r = result.output ? { ...result, output: this.#o.redactor.redactDeep(result.output) } : result;
    this.results.push(r);
    if (this.#o.adhoc) {
      this.#onAdhocResult(r);
      this.#drawLive();
      return;
    }
    const label = `[${r.host}] ${r.role} | ${r.handler ? 'handler: ' : ''}${r.task}`;
    const v = this.#o.verbose;
    if (r.status === 'changed') {
      this.#print(`${c.yellow('changed:')} ${label}${v >= 1 && r.summary && r.summary !== r.task ? c.dim(` — ${r.summary}`) : ''}`);
      if (v >= 2) for (const s of r.steps ?? []) this.#print(c.dim(`    $ ${s.split('\n').join('\n      ')}`));
      if (this.#o.diff && r.diffs?.length) this.#print(formatDiff(r, this.#o.redactor).trimEnd());
    } else if (r.status === 'would-run') {
      // What would run (its summary names the command) and why its outcome cannot be predicted; the steps at -v, whole at -vv.
      const what = r.summary && r.summary !== r.task ? `: ${firstLine(r.summary)}` : '';
      this.#print(`${c.magenta('would run:')} ${label}${what}${r.reason ? c.dim(` — ${r.reason}`) : ''}`);
      if (v >= 1) for (const s of r.steps ?? []) this.#print(c.dim(`    $ ${v >= 2 ? s.split('\n').join('\n      ') : firstLine(s)}`));
      if (this.#o.diff && r.diffs?.length) this.#print(formatDiff(r, this.#o.redactor).trimEnd());
    } else if (r.status === 'failed') {
      // As Ansible prints it: the failure, then `...ignoring` when the task ignores errors and the host goes on.
      this.#print(`${c.red('failed:')} ${label}\n${c.red(indent(r.error ?? 'failed'))}${r.ignored ? `\n${c.cyan('...ignoring')}` : ''}`);
    } else if (v >= 1) {
      const word = r.status === 'ok' ? c.green('ok:') : c.cyan('skipped:');
      this.#print(`${word} ${label}${r.reason ? c.dim(` — ${r.reason}`) : ''}`);
    }
    this.#drawLive();
  }

  #onAdhocResult(r: TaskResult): void {
    const c = this.#c;
    const word = {
      ok: c.green('SUCCESS'),
      changed: c.yellow('CHANGED'),
      failed: c.red('FAILED'),
      skipped: c.cyan('SKIPPED'),
      'would-run': c.magenta('WOULD RUN'),
    }[r.status];
    if (r.output) {
      const text = printed(r.output);
      this.#print(`${r.host} | ${word} | rc=${r.output.rc} >>${text === '' ? '' : `\n${text}`}`);
    } else {
      const detail = r.status === 'failed' ? r.error : r.status === 'changed' ? r.summary : (r.reason ?? r.summary);
      this.#print(`${r.host} | ${word}${r.status === 'failed' ? '!' : ''} => ${detail ?? ''}`.trimEnd());
    }
    if (this.#o.verbose >= 2) for (const s of r.steps ?? []) this.#print(c.dim(`    $ ${s.split('\n').join('\n      ')}`));
    if (this.#o.diff && r.diffs?.length) this.#print(formatDiff(r, this.#o.redactor).trimEnd());
  }

  recap(outcome: RunOutcome): void {
    const c = this.#c;
    const width = Math.max(0, ...[...outcome.recap.keys()].map((h) => h.length));
    const lines = [...outcome.recap].map(([host, r]: [string, HostRecap]) => {
      const name = r.failed
        ? c.red(host.padEnd(width))
        : r.unreachable
          ? c.red(host.padEnd(width))
          : r.changed
            ? c.yellow(host.padEnd(width))
            : c.green(host.padEnd(width));
      return `${name} : ok=${r.ok} changed=${r.changed} unreachable=${r.unreachable} failed=${r.failed} skipped=${r.skipped}${this.#o.check ? ` would_run=${r.wouldRun}` : ''}`;
    });
    this.#print(c.bold('\nPLAY RECAP'));
    this.#print(lines.join('\n') || '(no hosts)');
    // One task per host: where the time went is each host's line above.
    if (this.#o.adhoc) return;
    if (this.#roleTimes.size > 0) {
      const times = [...this.#roleTimes].map(([role, ms]) => `${role} ${(ms / 1000).toFixed(1)}s`).join(', ');
      this.#print(c.dim(`role times (slowest host): ${times}`));
    }
    // As Ansible's profile_tasks callback: where the time went, task by task (all of them at -v).
    const slowest = [...this.results].sort((a, b) => b.durationMs - a.durationMs).slice(0, this.#o.verbose > 0 ? SLOWEST_VERBOSE : SLOWEST);
    if (slowest.length > 0 && slowest[0]!.durationMs >= 1) {
      this.#print(c.dim('slowest tasks:'));
      this.#print(
        c.dim(
          slowest
            .map((r) => `  ${(r.durationMs / 1000).toFixed(2).padStart(7)}s  [${r.host}] ${r.role} | ${r.handler ? 'handler: ' : ''}${firstLine(r.task)}`)
            .join('\n'),
        ),
      );
    }
  }

  roleTimes(): ReadonlyMap<string, number> {
    return this.#roleTimes;
  }
}

const firstLine = (text: string): string => {
  const line = text.split('\n')[0]!;
  return line.length > 160 || text.includes('\n') ? `${line.slice(0, 160)} …` : line;
};

/** A command's stdout then stderr, as `ansible` shows them, each ending its last line; no final newline (printing adds it). */
const printed = (output: CommandOutput): string => {
  const text = [output.stdout, output.stderr]
    .filter((t) => t !== '')
    .map((t) => (t.endsWith('\n') ? t : `${t}\n`))
    .join('');
  return text.replace(/\n$/, '');
};

const indent = (text: string): string =>
  text
    .split('\n')
    .map((l) => `    ${l}`)
    .join('\n');
