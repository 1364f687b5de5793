import { randomBytes } from 'node:crypto';
import { rename, rm, writeFile } from 'node:fs/promises';
import type { RunEvent, RunOutcome } from '../core/executor.js';
import { currentHolder } from '../core/executor.js';
import { RUN_ID } from '../core/run-id.js';
import type { Redactor } from '../core/secret.js';
import { renderReport } from '../report/html.js';
import { RunRecorder } from './record.js';
import { RunStore } from './store.js';

/**
 * The CLI's one handle on history: it records the run's events and, when the
 * run is over (done, failed, interrupted, or thrown), writes the record to
 * the store and the HTML report where --report asked. Neither ever changes
 * the run's exit code: a record that cannot be written is said on stderr.
 */
export interface RunLogOptions {
  readonly playbook: string;
  readonly argv: readonly string[];
  readonly inventory: string;
  readonly check: boolean;
  /** Where records go; absent: the run is not recorded (--plan, --no-history). */
  readonly store?: RunStore | undefined;
  /** --report FILE. */
  readonly report?: string | undefined;
  readonly redactor: Redactor;
  readonly stderr: NodeJS.WritableStream;
  /** Name the record's file on stdout at -v. */
  readonly say?: ((line: string) => void) | undefined;
}

/** Runs this process has recorded so far. */
let runsInProcess = 0;

export class RunLog {
  readonly #o: RunLogOptions;
  readonly #recorder: RunRecorder;

  constructor(options: RunLogOptions) {
    this.#o = options;
    const who = currentHolder();
    this.#recorder = new RunRecorder(
      {
        playbook: options.playbook,
        argv: options.argv,
        inventory: options.inventory,
        check: options.check,
        user: who.user,
        ...(process.env['SUDO_USER'] ? { sudoUser: process.env['SUDO_USER'] } : {}),
        ...(process.env['SSH_CLIENT'] ? { sshFrom: process.env['SSH_CLIENT'].split(' ')[0]! } : {}),
        machine: who.machine,
        cwd: process.cwd(),
      },
      options.redactor,
      // The run id ties the record to what the run left on the hosts; the count keeps runs of one process (tests) apart.
      { suffix: `${RUN_ID.slice(0, 6)}${++runsInProcess > 1 ? `-${runsInProcess}` : ''}` },
    );
  }

  /** The event sink to hand the executor: `next` (the reporter) first, then the record. */
  tee(next: (event: RunEvent) => void): (event: RunEvent) => void {
    return this.#recorder.tee(next);
  }

  async close(exitCode: number, outcome?: RunOutcome, error?: unknown): Promise<void> {
    const record = this.#recorder.finish(exitCode, outcome, error);
    const complain = (what: string, e: unknown) =>
      this.#o.stderr.write(`error: cannot write ${what}: ${this.#o.redactor.redact(e instanceof Error ? e.message : String(e))}\n`);
    if (this.#o.store) {
      await this.#o.store.save(record).then(
        (path) => this.#o.say?.(`run recorded: ${path}`),
        (e: unknown) => complain(`the run record in ${this.#o.store!.dir}`, e),
      );
    }
    if (this.#o.report !== undefined) {
      const path = this.#o.report;
      await writeAtomically(path, this.#o.redactor.redact(renderReport(record))).catch((e: unknown) => complain(path, e));
    }
  }
}

/** Write beside, then rename: a reader never sees half a report. */
export async function writeAtomically(path: string, text: string, mode = 0o600): Promise<void> {
  const tmp = `${path}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
  try {
    await writeFile(tmp, text, { mode, flag: 'wx' });
    await rename(tmp, path);
  } finally {
    await rm(tmp, { force: true });
  }
}
