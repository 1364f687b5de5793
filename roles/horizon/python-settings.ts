import { pathFact } from '../../lib/modules/facts.js';
import { makeTask, type Task, type TaskOptions } from '../../lib/core/task.js';
import { planContent } from '../../lib/modules/file.js';

/**
 * Top-level `NAME = value` assignments of a Python settings module (Django's
 * local_settings.py), edited as text: every top-level assignment of NAME is
 * replaced — a value spanning lines (a dict, a list, a triple-quoted string)
 * up to its closing bracket — or, when there is none, one is appended.
 * Comments (including commented-out examples), indented code and every other
 * line stay byte for byte. Values are rendered from data, never pasted as
 * source, so inventory values cannot inject code.
 */

/** Python source used as is, e.g. a reference to another setting. Only for fixed text chosen by code. */
export class PyExpr {
  constructor(readonly source: string) {}
}

export type PyValue = string | number | boolean | null | PyExpr | readonly PyValue[] | { readonly [key: string]: PyValue };

/** A Python 2 and 3 string literal; non-ASCII is refused (Python 2 reads settings files as ASCII without a coding line). */
export function pyString(value: string): string {
  let out = "'";
  for (const ch of value) {
    const code = ch.codePointAt(0)!;
    if (ch === '\\' || ch === "'") out += `\\${ch}`;
    else if (ch === '\n') out += '\\n';
    else if (ch === '\t') out += '\\t';
    else if (code < 0x20 || code === 0x7f) out += `\\x${code.toString(16).padStart(2, '0')}`;
    else if (code > 0x7e) throw new Error(`python settings: non-ASCII text is not supported: ${JSON.stringify(value)}`);
    else out += ch;
  }
  return `${out}'`;
}

/** Python source for a value; dicts one key per line, indented by four spaces a level, lists on one line. */
export function pyLiteral(value: PyValue, level = 0): string {
  if (value instanceof PyExpr) return value.source;
  if (value === null) return 'None';
  if (typeof value === 'boolean') return value ? 'True' : 'False';
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw new Error(`python settings: ${value} has no literal`);
    return String(value);
  }
  if (typeof value === 'string') return pyString(value);
  if (Array.isArray(value)) return `[${(value as readonly PyValue[]).map((v) => pyLiteral(v, level)).join(', ')}]`;
  const entries = Object.entries(value as { readonly [key: string]: PyValue });
  if (entries.length === 0) return '{}';
  const pad = '    '.repeat(level + 1);
  return `{\n${entries.map(([k, v]) => `${pad}${pyString(k)}: ${pyLiteral(v, level + 1)},\n`).join('')}${'    '.repeat(level)}}`;
}

/** One logical line (statement) of the module: its physical lines [start, end] and what it assigns at top level. */
interface Statement {
  readonly start: number;
  readonly end: number;
  /** Name of a simple top-level assignment `NAME = …` (one statement on the line), else null. */
  readonly target: string | null;
}

const ASSIGNMENT = /^([A-Za-z_][A-Za-z0-9_]*)\s*=(?!=)/;

/**
 * Splits Python source into statements the way the tokenizer joins lines:
 * open brackets, triple-quoted strings and backslash continuations carry a
 * statement onto the next line; `#` outside strings ends the line's code.
 */
function statements(lines: readonly string[]): Statement[] {
  const out: Statement[] = [];
  let depth = 0;
  let triple: string | null = null;
  let start = 0;
  let semicolon = false;
  for (let n = 0; n < lines.length; n++) {
    const line = lines[n]!;
    let continued = false;
    for (let i = 0; i < line.length; i++) {
      const c = line[i]!;
      if (triple !== null) {
        if (c === '\\') i++;
        else if (line.startsWith(triple, i)) {
          i += 2;
          triple = null;
        }
        continue;
      }
      if (c === '#') break;
      if (c === '"' || c === "'") {
        if (line.startsWith(c.repeat(3), i)) {
          triple = c.repeat(3);
          i += 2;
          continue;
        }
        // A one-line string: to its closing quote (an unterminated one ends with the line).
        for (i++; i < line.length && line[i] !== c; i++) if (line[i] === '\\') i++;
        continue;
      }
      if ('([{'.includes(c)) depth++;
      else if (')]}'.includes(c)) depth = Math.max(0, depth - 1);
      else if (c === ';' && depth === 0) semicolon = true;
      else if (c === '\\' && i === line.length - 1) continued = true;
    }
    if (depth > 0 || triple !== null || continued) continue;
    const first = lines[start]!;
    const target = semicolon ? null : (ASSIGNMENT.exec(first)?.[1] ?? null);
    out.push({ start, end: n, target });
    start = n + 1;
    semicolon = false;
  }
  // An unclosed bracket or string at the end of the file: the rest is one statement that assigns nothing we touch.
  if (start < lines.length) out.push({ start, end: lines.length - 1, target: null });
  return out;
}

function splitLines(text: string): string[] {
  return text === '' ? [] : text.replace(/\n$/, '').split('\n');
}

export interface PythonSetting {
  readonly name: string;
  readonly value: PyValue;
}

/** Pure: every setting applied in order to `text`; unchanged text comes back identical. */
export function setPythonSettings(text: string, settings: readonly PythonSetting[]): string {
  let lines = splitLines(text);
  for (const { name, value } of settings) {
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) throw new Error(`python settings: invalid name ${JSON.stringify(name)}`);
    const wanted = `${name} = ${pyLiteral(value)}`.split('\n');
    const found = statements(lines).filter((s) => s.target === name);
    if (found.length === 0) {
      lines = [...lines, ...wanted];
      continue;
    }
    // From the bottom up, so earlier line numbers stay valid.
    for (const s of [...found].reverse()) lines.splice(s.start, s.end - s.start + 1, ...wanted);
  }
  const result = lines.length === 0 ? '' : `${lines.join('\n')}\n`;
  // Byte-identical input when nothing changed (a missing final newline is not worth a write).
  return result === text || result === `${text}\n` ? text : result;
}

/** The source text after `NAME =` of the last top-level assignment (the one Python keeps), or undefined. */
export function readPythonSetting(text: string, name: string): string | undefined {
  const lines = splitLines(text);
  const last = statements(lines)
    .filter((s) => s.target === name)
    .pop();
  if (!last) return undefined;
  const source = lines.slice(last.start, last.end + 1).join('\n');
  return source.slice(source.indexOf('=') + 1).trim();
}

export interface PythonSettingsArgs {
  readonly path: string;
  readonly settings: readonly PythonSetting[];
  readonly mode?: string;
  readonly owner?: string;
  readonly group?: string;
}

/** Many settings of one Python settings file in one task and one diff. */
export function pythonSettings<H extends string = never>(args: PythonSettingsArgs, options?: TaskOptions<H>): Task<H> {
  // Render once up front: a value that cannot be written fails when the role is built, not mid-run.
  for (const s of args.settings) pyLiteral(s.value);
  return makeTask({
    module: 'python_settings',
    name: `python settings ${args.path} (${args.settings.map((s) => s.name).join(', ')})`,
    options,
    facts: { current: pathFact(args.path) },
    plan: ({ current }) => {
      const before = current?.type === 'file' ? current.content : '';
      return planContent(args.path, current, setPythonSettings(before, args.settings), args, `${args.settings.length} setting(s) already set`);
    },
  });
}
