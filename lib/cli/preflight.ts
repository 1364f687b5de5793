import { constants, statSync } from 'node:fs';
import { access, readdir, stat } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { InputError } from '../core/errors.js';
import type { ResolvedPlay } from '../core/executor.js';
import type { Inventory } from '../inventory/inventory.js';
import { hostVarsOf } from '../inventory/vars.js';
import { isImplicitLocalhost } from '../core/resolve.js';
import { passwordProblem, privateModeProblem } from '../inventory/secret-input.js';

/**
 * What the command line asks for, checked before any host is touched: a
 * report path that cannot be written would otherwise fail after every
 * change was applied (and lose the run's exit code), a `--plan DIR` could
 * delete what is not a plan, and a misspelled tag would run nothing and say
 * nothing.
 */

/** The file `--plan` leaves in its directory, so a later `--plan` may replace what it wrote (and nothing else). */
export const PLAN_MARKER = '.stackplay-plan';

/** A file the run will write (--json, --report): not a directory, in a directory that exists and can be written. */
export async function checkJsonPath(path: string, flag = '--json'): Promise<void> {
  const info = await stat(path).catch(() => undefined);
  if (info?.isDirectory()) throw new InputError(flag, 0, `${path} is a directory; give a file name`);
  const dir = dirname(resolve(path));
  const parent = await stat(dir).catch(() => undefined);
  if (!parent?.isDirectory()) throw new InputError(flag, 0, `cannot write ${path}: directory ${dir} does not exist`);
  await access(info ? path : dir, constants.W_OK).catch(() => {
    throw new InputError(flag, 0, `cannot write ${path}: permission denied`);
  });
}

export async function checkPlanDir(dir: string): Promise<void> {
  const info = await stat(dir).catch(() => undefined);
  if (info === undefined) return;
  if (!info.isDirectory()) throw new InputError('--plan', 0, `${dir} exists and is not a directory`);
  const entries = await readdir(dir);
  // A plan written before the marker existed: only host directories, each with its commands.txt.
  const oldPlan = async () =>
    (
      await Promise.all(
        entries.map((e) =>
          stat(`${dir}/${e}/commands.txt`).then(
            (s) => s.isFile(),
            () => false,
          ),
        ),
      )
    ).every(Boolean);
  if (entries.length > 0 && !entries.includes(PLAN_MARKER) && !(await oldPlan()))
    throw new InputError(
      '--plan',
      0,
      `${dir} is not empty and holds no earlier plan (no ${PLAN_MARKER}); --plan replaces what it wrote there, so give a new or empty directory`,
    );
}

export function checkInventoryHasHosts(inventory: Inventory): void {
  if (inventory.hosts.size === 0) throw new InputError(inventory.file, 0, 'the inventory has no hosts');
}

/**
 * `default_password` (every service password at once, packstack's
 * CONFIG_DEFAULT_PASSWORD) is read from `[all:vars]` only; set anywhere else
 * it would be ignored. It lands in connection URLs (encoded there), INI files
 * read by oslo.config (which expands `$name`) and shell-free command input.
 */
export function checkDefaultPassword(inventory: Inventory): void {
  for (const [name, group] of inventory.groups) {
    const v = group.vars.get('default_password');
    if (v && name !== 'all') throw new InputError(v.source.file, v.source.line, `default_password is read from [all:vars] only, not from group ${name}`);
  }
  const v = inventory.groups.get('all')?.vars.get('default_password');
  for (const name of inventory.hosts.keys()) {
    const own = inventory.hostVars(name).get('default_password');
    if (own && own.source !== v?.source)
      throw new InputError(own.source.file, own.source.line, `default_password is read from [all:vars] only, not from host ${name}`);
  }
  if (v === undefined) return;
  const problem = passwordProblem(v.value);
  if (problem) throw new InputError(v.source.file, v.source.line, `default_password ${problem}`);
}

/**
 * The private key of every host the run connects to exists and is not
 * readable by others: OpenSSH refuses such a key (UNPROTECTED PRIVATE KEY
 * FILE), so must we. Not for `--plan`, which connects nowhere.
 */
export function checkPrivateKeys(inventory: Inventory, plays: readonly ResolvedPlay[]): void {
  const hosts = new Set(plays.flatMap((p) => [...p.hosts.keys()]));
  for (const host of hosts) {
    if (isImplicitLocalhost(inventory, host)) continue;
    const vars = hostVarsOf(inventory, host);
    const name = vars.opt('ansible_ssh_private_key_file') !== undefined ? 'ansible_ssh_private_key_file' : 'ansible_private_key_file';
    const path = vars.opt(name);
    if (path === undefined) continue;
    let mode: number;
    try {
      const info = statSync(path);
      if (!info.isFile()) throw vars.bad(name, `${path} is not a file`);
      mode = info.mode;
    } catch (error) {
      if (error instanceof InputError) throw error;
      throw vars.bad(name, `cannot read ${path} (${(error as NodeJS.ErrnoException).code ?? String(error)})`);
    }
    const exposed = privateModeProblem(mode);
    if (exposed) throw vars.bad(name, `${path} ${exposed}`);
  }
}

/** Every tag named by --tags / --skip-tags must be on some task of the run (`always` aside). */
export function checkTags(plays: readonly ResolvedPlay[], tags: readonly string[], skipTags: readonly string[]): void {
  const known = new Set<string>(['always']);
  for (const play of plays)
    for (const roles of play.hosts.values())
      for (const role of roles)
        for (const task of [...role.tasks, ...Object.values(role.handlers)]) if (task.kind === 'task') task.tags.forEach((t) => known.add(t));
  for (const [flag, names] of [
    ['--tags', tags],
    ['--skip-tags', skipTags],
  ] as const) {
    const unknown = names.filter((t) => !known.has(t));
    if (unknown.length > 0) throw new InputError(flag, 0, `no task of this run has tag ${unknown.join(', ')} (its tags: ${[...known].sort().join(', ')})`);
  }
}
