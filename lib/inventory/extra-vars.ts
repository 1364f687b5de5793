import { readFile } from 'node:fs/promises';
import { InputError, SECRET_NAME } from '../core/errors.js';
import { derivedInventory, type Inventory, type SourcedValue } from './inventory.js';

/**
 * `-e key=value` and `-e @FILE` (Ansible's --extra-vars): variables above
 * every level of the inventory, for every host. They are typed where roles
 * read them, like any inventory variable, so a bad value or a misspelled name
 * stops the run naming where it was given (`--extra-vars #2`, or the file and
 * line). A FILE holds `key=value` lines (`#` and `;` comments) or one JSON
 * object of scalars. A secret-named variable is refused on the command line:
 * its value would show in `ps` and in the shell's history (give it in a FILE).
 */

const VAR_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

const unquote = (v: string): string => (/^(["']).*\1$/s.test(v) ? v.slice(1, -1) : v);

function check(name: string, where: string, line: number): void {
  if (!VAR_NAME.test(name)) throw new InputError(where, line, `extra variable ${JSON.stringify(name)}: a name is letters, digits and _`);
}

function fromArgument(arg: string, index: number): [string, SourcedValue][] {
  const where = `--extra-vars #${index + 1}`;
  const out: [string, SourcedValue][] = [];
  // One `name=value`, the value quoted or up to the next blank; sticky, so nothing between pairs is skipped.
  const PAIR = /\s*([^\s=]+)=("[^"]*"|'[^']*'|\S*)\s*/y;
  while (PAIR.lastIndex < arg.length) {
    const at = PAIR.lastIndex;
    const m = PAIR.exec(arg);
    if (!m) throw new InputError(where, 0, 'expected key=value pairs or @FILE', arg.slice(at));
    const name = m[1]!;
    check(name, where, 0);
    if (SECRET_NAME.test(name))
      throw new InputError(
        where,
        0,
        `${name} looks like a secret: a value on the command line shows in ps and in the shell's history; put it in the secrets file beside the inventory, or in -e @FILE`,
      );
    out.push([name, { value: unquote(m[2]!), source: { file: where, line: 0 } }]);
  }
  return out;
}

async function fromFile(file: string): Promise<[string, SourcedValue][]> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    throw new InputError(file, 0, `cannot read extra variables: ${(error as NodeJS.ErrnoException).code ?? String(error)}`);
  }
  const lines = text.split('\n');
  if (text.trimStart().startsWith('{')) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch (error) {
      throw new InputError(file, 0, `not valid JSON: ${error instanceof Error ? error.message : String(error)}`);
    }
    if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) throw new InputError(file, 1, 'extra variables must be one JSON object');
    return Object.entries(parsed as Record<string, unknown>).map(([name, v]) => {
      const line = lines.findIndex((l) => l.includes(JSON.stringify(name))) + 1;
      check(name, file, line);
      if (v === null || typeof v === 'object') throw new InputError(file, line, `${name}: a value is a string, a number or true/false`);
      return [name, { value: String(v), source: { file, line } }];
    });
  }
  const out: [string, SourcedValue][] = [];
  lines.forEach((raw, i) => {
    const l = raw.trim();
    if (l === '' || l.startsWith('#') || l.startsWith(';')) return;
    const eq = l.indexOf('=');
    if (eq <= 0) throw new InputError(file, i + 1, 'expected key=value', l);
    const name = l.slice(0, eq).trim();
    check(name, file, i + 1);
    out.push([name, { value: unquote(l.slice(eq + 1).trim()), source: { file, line: i + 1 } }]);
  });
  return out;
}

/** Every -e in order: a later one wins over an earlier one, as in Ansible. */
export async function loadExtraVars(args: readonly string[]): Promise<Map<string, SourcedValue>> {
  const vars = new Map<string, SourcedValue>();
  for (const [i, arg] of args.entries()) {
    for (const [name, v] of arg.startsWith('@') ? await fromFile(arg.slice(1)) : fromArgument(arg, i)) vars.set(name, v);
  }
  return vars;
}

/** `inventory` with `extras` above every host's own variables. */
export function withExtraVars(inventory: Inventory, extras: ReadonlyMap<string, SourcedValue>): Inventory {
  if (extras.size === 0) return inventory;
  return derivedInventory(inventory, { hostVars: (host) => new Map([...inventory.hostVars(host), ...extras]) });
}
