import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { simulatedHosts } from '../../lib/sim/hosts.js';
import { execute, type RunOutcome, type TaskResult } from '../../lib/core/executor.js';
import { readIni } from '../../lib/modules/ini-edit.js';
import { loadInventory, parseInventory } from '../../lib/inventory/inventory.js';
import type { Playbook } from '../../lib/core/playbook.js';
import { resolvePlaybook } from '../../lib/core/resolve.js';
import { Redactor } from '../../lib/core/secret.js';
import { SecretStore } from '../../lib/inventory/secrets-store.js';

/** Mode (four octal digits), owner and group of a file as the plan leaves it. */
export interface FileAttributes {
  readonly mode: string;
  readonly owner: string;
  readonly group: string;
}

/** What `--plan` would write for one host, in memory. */
export interface HostPlan {
  /** Final content of every file the run created or changed. */
  readonly files: ReadonlyMap<string, string>;
  /** Mode, owner and group of every file in `files`. */
  readonly attributes: ReadonlyMap<string, FileAttributes>;
  readonly commands: readonly string[];
  /** section → key → value of an INI file in `files` (throws when the file was not written). */
  ini(path: string): Map<string, Map<string, string | null>>;
}

export interface SitePlan {
  readonly hosts: ReadonlyMap<string, HostPlan>;
  readonly first: RunOutcome;
  /** The same plays run again on the same simulated hosts. */
  readonly second: RunOutcome;
  readonly results: readonly TaskResult[];
  /** Task results of the second run: anything 'changed' here is an idempotence bug. */
  readonly secondResults: readonly TaskResult[];
}

/**
 * Runs `book` offline against simulated hosts of an inventory (a path, or
 * INI text), twice, like `--plan`. Secrets come from `default_password` or
 * are generated into a temporary secrets file.
 */
export async function planSite(book: Playbook, inventory: string, options: { limit?: string; text?: boolean } = {}): Promise<SitePlan> {
  const dir = await mkdtemp(join(tmpdir(), 'sp-plan-'));
  try {
    const inv = options.text ? parseInventory(inventory, join(dir, 'inline.ini')) : await loadInventory(inventory);
    const defaultPassword = inv.groups.get('all')?.vars.get('default_password')?.value;
    const secrets = new SecretStore(join(dir, 'secrets.ini'), new Redactor(), defaultPassword);
    const plays = resolvePlaybook(book, inv, secrets, options.limit);
    const sim = simulatedHosts(inv, book.simulation);
    const results: TaskResult[] = [];
    const base = { check: false, forks: 50, tags: [], skipTags: [], connect: sim.connect };
    const first = await execute(plays, { ...base, emit: (e) => e.type === 'task' && results.push(e.result) });
    const hosts = new Map<string, HostPlan>();
    for (const [name, h] of sim.hosts) {
      const files = new Map<string, string>();
      const attributes = new Map<string, FileAttributes>();
      for (const path of h.touched) {
        const e = h.files.get(path);
        if (e?.type !== 'file') continue;
        files.set(path, e.content);
        attributes.set(path, { mode: e.mode, owner: e.owner, group: e.group });
      }
      const commands = [...h.log];
      hosts.set(name, {
        files,
        attributes,
        commands,
        ini(path) {
          const text = files.get(path);
          if (text === undefined) throw new Error(`${name}: ${path} was not written by the plan`);
          return readIni(text);
        },
      });
    }
    const secondResults: TaskResult[] = [];
    const second = await execute(plays, { ...base, emit: (e) => e.type === 'task' && secondResults.push(e.result) });
    return { hosts, first, second, results, secondResults };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** The plan of one host of a site (throws when the site has none). */
export function host(site: SitePlan, name: string): HostPlan {
  const plan = site.hosts.get(name);
  if (!plan) throw new Error(`no plan for ${name}`);
  return plan;
}

/** The commands of a host's plan that contain `text`. */
export function commandsWith(plan: HostPlan, text: string): string[] {
  return plan.commands.filter((c) => c.includes(text));
}

/** Settings expected in an INI file: section → key → value (null: valueless key; undefined: must be absent). */
export type ExpectedIni = Readonly<Record<string, Readonly<Record<string, string | null | undefined>>>>;

/** Lists every mismatch between a plan's INI file and a table of expected settings (empty: all match). */
export function iniMismatches(plan: HostPlan, path: string, expected: ExpectedIni): string[] {
  const actual = plan.ini(path);
  const out: string[] = [];
  for (const [section, keys] of Object.entries(expected)) {
    for (const [key, value] of Object.entries(keys)) {
      const got = actual.get(section)?.get(key);
      if (value === undefined ? got !== undefined : got !== value)
        out.push(`${path} [${section}] ${key}: expected ${JSON.stringify(value)}, got ${JSON.stringify(got)}`);
    }
  }
  return out;
}
