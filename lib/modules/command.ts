import { pathFact } from './facts.js';
import type { Cmd } from '../core/shell.js';
import { sh } from '../core/shell.js';
import { makeTask, noChange, type Plan, type ShellFact, type Task, type TaskOptions } from '../core/task.js';
import type { ExecResult } from '../transport/transport.js';

/**
 * Ansible's command/shell: run only when needed (`creates`, `removes`,
 * `unless`, `onlyIf`), and report changed only when `changedWhen` says so.
 * Everything runs through /bin/sh, so command and shell are one module.
 */
export interface CommandArgs {
  readonly cmd: Cmd;
  /** Skip when this path exists. */
  readonly creates?: string;
  /** Skip unless this path exists. */
  readonly removes?: string;
  /** Skip when this probe exits 0. */
  readonly unless?: Cmd;
  /** Skip unless this probe exits 0. */
  readonly onlyIf?: Cmd;
  readonly changedWhen?: (result: ExecResult) => boolean;
  readonly okExitCodes?: readonly number[];
  /** Its exit code and output are the task's result (an ad-hoc command), shown by the reporter. */
  readonly reportOutput?: boolean;
}

// On a simulated host a probe is answered from memory of what this run (or
// the previous one) already did, so `unless` behaves like on a real host.
const probe = (cmd: Cmd, satisfiedWhenRan: string): ShellFact<boolean> => ({
  kind: 'shell',
  script: cmd,
  parse: ({ exitCode }) => exitCode === 0,
  simulate: (h) => h.set('commands:ran').has(satisfiedWhenRan),
});

export function command<H extends string = never>(args: CommandArgs, options?: TaskOptions<H>): Task<H> {
  const key = args.cmd.reveal();
  // A constant for a probe the task does not have (one round trip reads nothing for it).
  const constant = <T>(value: T): ShellFact<T> => ({ kind: 'shell', script: sh`true`, parse: () => value, simulate: () => value });
  return makeTask({
    module: 'command',
    name: args.cmd.display().split('\n')[0]!.slice(0, 100),
    options,
    facts: {
      creates: args.creates ? pathFact(args.creates) : constant(null),
      removes: args.removes ? pathFact(args.removes) : constant(null),
      unless: args.unless ? probe(args.unless, key) : constant(false),
      onlyIf: args.onlyIf ? probe(args.onlyIf, key) : constant(true),
    },
    plan: ({ creates, removes, unless, onlyIf }): Plan => {
      if (args.creates && creates) return noChange(`${args.creates} exists`);
      if (args.removes && !removes) return noChange(`${args.removes} does not exist`);
      if (unless) return noChange(`unless-probe succeeded: ${args.unless?.display()}`);
      if (!onlyIf) return noChange(`only-if probe failed: ${args.onlyIf?.display()}`);
      const step = {
        kind: 'exec' as const,
        cmd: args.cmd,
        ...(args.okExitCodes ? { okExitCodes: args.okExitCodes } : {}),
        ...(args.changedWhen ? { changedWhen: args.changedWhen } : {}),
        ...(args.reportOutput ? { reportOutput: true } : {}),
        simulate: (h: import('../sim/sim.js').SimHost) => {
          h.set('commands:ran').add(key);
          if (args.creates) h.materialize(args.creates);
          if (args.removes) h.remove(args.removes);
        },
      };
      return args.changedWhen
        ? { action: 'run', summary: args.cmd.display(), steps: [step] }
        : { action: 'change', summary: args.cmd.display(), steps: [step] };
    },
  });
}

export const shell = command;
