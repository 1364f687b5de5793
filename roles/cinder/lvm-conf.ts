import { pathFact } from '../../lib/modules/facts.js';
import { makeTask, type Task, type TaskOptions } from '../../lib/core/task.js';
import { planContent } from '../../lib/modules/file.js';

/**
 * A careful editor for one option of /etc/lvm/lvm.conf, which is not INI:
 * sections are `name {` … `}`, values may be arrays spanning lines, and `#`
 * starts a comment outside strings. Only the active `key = …` lines of the
 * named top-level section are touched; comments, other sections and the
 * layout stay byte for byte. Layouts it does not understand (a brace sharing
 * a line with anything else) are refused rather than guessed at.
 */

interface Scan {
  /** Text of the line without its comment (strings respected). */
  readonly code: string;
  /** Bracket depth change of the line's code ([ and ], outside strings). */
  readonly bracketDelta: number;
  readonly braces: number;
}

function scanLine(line: string): Scan {
  let code = '';
  let inString = false;
  let bracketDelta = 0;
  let braces = 0;
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!;
    if (inString) {
      code += c;
      if (c === '\\' && i + 1 < line.length) code += line[++i]!;
      else if (c === '"') inString = false;
      continue;
    }
    if (c === '#') break;
    code += c;
    if (c === '"') inString = true;
    else if (c === '[') bracketDelta++;
    else if (c === ']') bracketDelta--;
    else if (c === '{' || c === '}') braces++;
  }
  return { code, bracketDelta, braces };
}

interface Located {
  /** Active `key = …` statements in the section: [first line, last line] inclusive. */
  readonly spans: [number, number][];
  /** Last commented-out `# key = …` line inside the section, or -1. */
  readonly commented: number;
  /** Line of the section's closing brace, or -1 when there is no such section. */
  readonly close: number;
}

const SECTION_OPEN = /^\s*([A-Za-z_][A-Za-z0-9_]*)\s*\{\s*$/;
const SECTION_CLOSE = /^\s*\}\s*$/;

function locate(lines: readonly string[], section: string, key: string): Located {
  const keyRe = new RegExp(`^\\s*${key}\\s*=`);
  const commentedRe = new RegExp(`^\\s*#\\s*${key}\\s*=`);
  const stack: string[] = [];
  const spans: [number, number][] = [];
  let commented = -1;
  let close = -1;
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    const scan = scanLine(line);
    const inSection = stack.length === 1 && stack[0] === section;
    if (scan.braces > 0) {
      const open = SECTION_OPEN.exec(scan.code);
      if (open?.[1] !== undefined) stack.push(open[1]);
      else if (SECTION_CLOSE.test(scan.code) && stack.length > 0) {
        if (inSection && close < 0) close = i;
        stack.pop();
      } else throw new Error(`lvm.conf line ${i + 1}: a brace shares the line with other text; refusing to edit: ${line.trim()}`);
      continue;
    }
    if (!inSection) continue;
    if (keyRe.test(scan.code)) {
      // An array may run over several lines: follow it to its closing bracket.
      let depth = scan.bracketDelta;
      let end = i;
      while (depth > 0 && end + 1 < lines.length) {
        end++;
        const next = scanLine(lines[end]!);
        if (next.braces > 0) throw new Error(`lvm.conf line ${end + 1}: unterminated ${key} value`);
        depth += next.bracketDelta;
      }
      if (depth > 0) throw new Error(`lvm.conf line ${i + 1}: unterminated ${key} value`);
      spans.push([i, end]);
      i = end;
    } else if (commentedRe.test(line)) commented = i;
  }
  if (stack.length > 0) throw new Error(`lvm.conf: section ${stack.join('/')} is not closed`);
  return { spans, commented, close };
}

/** Pure: `key = value` inside the top-level `section {}` of an lvm.conf text; everything else unchanged. */
export function setLvmOption(text: string, section: string, key: string, value: string): string {
  if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(section) || !/^[A-Za-z_][A-Za-z0-9_]*$/.test(key)) throw new Error(`lvm.conf: bad name ${section}/${key}`);
  if (/[\r\n]/.test(value)) throw new Error(`lvm.conf: ${key} value must be one line`);
  const trailingNewline = text === '' || text.endsWith('\n');
  const lines = text === '' ? [] : text.replace(/\n$/, '').split('\n');
  const found = locate(lines, section, key);
  const [first, ...duplicates] = found.spans;
  if (first) {
    const indent = /^\s*/.exec(lines[first[0]]!)?.[0] ?? '';
    const wanted = `${indent}${key} = ${value}`;
    const current = lines.slice(first[0], first[1] + 1);
    if (duplicates.length === 0 && current.length === 1 && current[0] === wanted) return text;
    // Later duplicates go first so earlier indices stay valid.
    for (const [from, to] of [...duplicates].reverse()) lines.splice(from, to - from + 1);
    lines.splice(first[0], first[1] - first[0] + 1, wanted);
  } else if (found.close >= 0) {
    if (found.commented >= 0) {
      // Next to the commented example, indented like it.
      const indent = /^\s*/.exec(lines[found.commented]!)?.[0] ?? '\t';
      lines.splice(found.commented + 1, 0, `${indent}${key} = ${value}`);
    } else lines.splice(found.close, 0, `\t${key} = ${value}`);
  } else {
    if (lines.length > 0 && lines[lines.length - 1]!.trim() !== '') lines.push('');
    lines.push(`${section} {`, `\t${key} = ${value}`, '}');
  }
  return `${lines.join('\n')}${trailingNewline || lines.length > 0 ? '\n' : ''}`;
}

/** The active value of `section/key` as written (last one wins), or undefined. */
export function readLvmOption(text: string, section: string, key: string): string | undefined {
  const lines = text.replace(/\n$/, '').split('\n');
  const { spans } = locate(lines, section, key);
  const last = spans[spans.length - 1];
  if (!last) return undefined;
  const joined = lines
    .slice(last[0], last[1] + 1)
    .map((l) => scanLine(l).code.trim())
    .join(' ');
  return joined.slice(joined.indexOf('=') + 1).trim();
}

/** An lvm.conf string literal; device names never need escapes, anything else is refused. */
function lvmString(value: string): string {
  if (/["\\\r\n]/.test(value)) throw new Error(`lvm.conf: cannot write ${JSON.stringify(value)} as a string`);
  return `"${value}"`;
}

/**
 * The guide's filter: accept the named devices, reject everything else, e.g.
 * `/dev/sdb` → `[ "a/sdb/", "r/.*\/" ]`. Names are matched unanchored, as in
 * the install guides (`a/sdb/` also accepts sdb1).
 */
export function lvmAcceptFilter(devices: readonly string[]): string {
  if (devices.length === 0) throw new Error('lvm filter: no devices to accept');
  const names = devices.map((d) => {
    const name = d.replace(/^\/dev\//, '');
    // Directly under /dev, and nothing a regular expression would read specially.
    if (!/^[A-Za-z0-9_-]+$/.test(name)) throw new Error(`lvm filter: unsupported device name ${JSON.stringify(d)} (give a device directly under /dev)`);
    return name;
  });
  return `[ ${[...new Set(names)].map((n) => lvmString(`a/${n}/`)).join(', ')}, ${lvmString('r/.*/')} ]`;
}

export interface LvmConfArgs {
  readonly section: string;
  readonly key: string;
  /** The value as lvm.conf spells it, e.g. `[ "a/sdb/", "r/.*\/" ]`. */
  readonly value: string;
  /** @default '/etc/lvm/lvm.conf' */
  readonly path?: string;
}

export function lvmConf<H extends string = never>(args: LvmConfArgs, options?: TaskOptions<H>): Task<H> {
  const path = args.path ?? '/etc/lvm/lvm.conf';
  return makeTask({
    module: 'lvm_conf',
    name: `lvm.conf ${args.section}/${args.key} = ${args.value}`,
    options,
    facts: { current: pathFact(path) },
    plan: ({ current }) => {
      const before = current?.type === 'file' ? current.content : '';
      return planContent(path, current, setLvmOption(before, args.section, args.key, args.value), {}, `${args.section}/${args.key} already set`);
    },
  });
}
