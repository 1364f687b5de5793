import type { FlushHandlers, Task } from './task.js';
import type { HostVars } from '../inventory/vars.js';
import type { Secret } from './secret.js';
import type { Inventory } from '../inventory/inventory.js';
import type { Simulation } from '../sim/hosts.js';
import type { OptionCatalog } from '../inventory/config-overrides.js';

/**
 * Roles are plain functions from a host's context to tasks and named
 * handlers. `notify` is typed by the handler names, so a misspelled handler
 * is a compile error, not a run-time surprise.
 */
export interface Role<H extends string = string> {
  readonly name: string;
  /** Run in this order, once each, at the end of the role (or at a flush) when notified. */
  readonly handlers: { readonly [K in H]: Task };
  readonly tasks: readonly (Task<H> | FlushHandlers)[];
}

/**
 * `defineRole('nova', { restartNova: service(…) }).tasks([…])`. Two steps on
 * purpose: the handler names are fixed before the tasks are checked, so
 * TypeScript reports a misspelled `notify` at the task that has it.
 */
export function defineRole<H extends string = never>(name: string, handlers: { readonly [K in H]: Task } = {} as { readonly [K in H]: Task }) {
  return {
    tasks: (tasks: readonly (Task<H> | FlushHandlers)[]): Role<H> => ({ name, handlers, tasks }),
  };
}

export interface HostContext {
  /** Inventory name of the host. */
  readonly host: string;
  readonly vars: HostVars;
  readonly inventory: Inventory;
  /** Every group the host is in, directly or through children. */
  readonly groups: readonly string[];
  /** A named secret for the inventory: generated once and stored, or `default_password`. */
  secret(name: string): Secret;
}

export type RoleFn = (ctx: HostContext) => Role<string>;

export interface Play {
  readonly name: string;
  /** Host pattern: a group, several separated by ':' or ',', or 'all'. */
  readonly hosts: string;
  readonly roles: readonly RoleFn[];
  /**
   * Ansible's `serial`: run the play on this many hosts at a time (a number,
   * or a percentage of the play's hosts like '25%'), each batch through all
   * its tasks and handlers before the next starts: rolling changes over
   * computes. The failure policy applies per batch.
   */
  readonly serial?: number | `${number}%`;
}

export interface Playbook {
  readonly name: string;
  readonly plays: readonly Play[];
  /** What `--plan` simulates besides hosts: the domain's fake services and default init system. */
  readonly simulation?: Simulation;
  /** The option names each config file accepts, for checking config overrides (the domain's). */
  readonly optionCatalog?: OptionCatalog;
}

export const playbook = (name: string, plays: readonly Play[], simulation?: Simulation, optionCatalog?: OptionCatalog): Playbook => ({
  name,
  plays,
  ...(simulation ? { simulation } : {}),
  ...(optionCatalog ? { optionCatalog } : {}),
});
