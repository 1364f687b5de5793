/**
 * Byte-preserving INI editor for oslo.config files, my.cnf fragments and
 * php.ini-like files.
 *
 * The whole point is that an operator can diff the result against the
 * distribution's sample config and see only the lines they asked for: every
 * comment, blank line, ordering, indentation and line ending that we do not
 * need to touch comes back byte for byte. Behaviour follows Ansible's
 * `ini_file` / crudini where they agree, and is stricter about preservation.
 */

export interface IniSetting {
  readonly section: string;
  readonly key: string;
  /** string: `key = value`; null: a valueless key like `innodb_file_per_table` or `skip-name-resolve` (written bare). */
  readonly value?: string | null;
  /** default 'present'. 'absent' removes every active line of this key in the section (commented lines are left alone). */
  readonly state?: 'present' | 'absent';
}

export interface IniEditResult {
  readonly text: string;
  readonly changed: boolean;
}

/** One physical line: its content and the terminator it came with ('' only for a final unterminated line). */
interface Line {
  text: string;
  eol: string;
}

type Parsed =
  | { readonly kind: 'blank' }
  | { readonly kind: 'comment' }
  /** my.cnf `!include` / `!includedir`: not a key, and must stay where it is (usually the file's tail). */
  | { readonly kind: 'directive' }
  | { readonly kind: 'header'; readonly name: string }
  | { readonly kind: 'key'; readonly key: string; readonly value: string | null };

/** A run of lines belonging to one section; a section name may own several runs (repeated headers). */
interface Block {
  readonly name: string;
  /** Index of the header line, or -1 for the headerless top region (section ''). */
  readonly header: number;
  /** First body line (header + 1, or 0 for the top region). */
  readonly start: number;
  /** Exclusive end: the next header, or lines.length. */
  readonly end: number;
}

// `[name]`, optionally with whitespace around and a trailing comment (my.cnf allows `[mysqld] # ...`).
const HEADER_RE = /^\s*\[([^\]]*)\]\s*(?:[#;].*)?$/;

function splitLines(text: string): Line[] {
  if (text === '') return [];
  // Split after each '\n' so every piece keeps its own terminator (mixed endings survive).
  return text.split(/(?<=\n)/).map((piece) => {
    if (piece.endsWith('\r\n')) return { text: piece.slice(0, -2), eol: '\r\n' };
    if (piece.endsWith('\n')) return { text: piece.slice(0, -1), eol: '\n' };
    return { text: piece, eol: '' };
  });
}

function joinLines(lines: readonly Line[]): string {
  return lines.map((l) => l.text + l.eol).join('');
}

function parseLine(text: string): Parsed {
  const trimmed = text.trim();
  if (trimmed === '') return { kind: 'blank' };
  if (trimmed.startsWith('#') || trimmed.startsWith(';')) return { kind: 'comment' };
  if (trimmed.startsWith('!')) return { kind: 'directive' };
  const header = HEADER_RE.exec(text);
  if (header) return { kind: 'header', name: (header[1] ?? '').trim() };
  // oslo.config splits on the first '=' only and has no inline comments, so
  // everything after it (including '=', '#', ';') is value. ':' is not a separator here.
  const eq = trimmed.indexOf('=');
  if (eq === -1) return { kind: 'key', key: trimmed, value: null };
  return { kind: 'key', key: trimmed.slice(0, eq).trim(), value: trimmed.slice(eq + 1).trim() };
}

function blocksOf(lines: readonly Line[]): Block[] {
  const blocks: Block[] = [];
  let name = '';
  let header = -1;
  let start = 0;
  lines.forEach((line, i) => {
    const p = parseLine(line.text);
    if (p.kind !== 'header') return;
    blocks.push({ name, header, start, end: i });
    name = p.name;
    header = i;
    start = i + 1;
  });
  blocks.push({ name, header, start, end: lines.length });
  return blocks;
}

/** `#key = x`, `# key=x`, `;key`, `#key` — a commented-out default for `key`. */
function isCommentedDefault(text: string, key: string): boolean {
  const rest = text
    .trimStart()
    .replace(/^[#;]+/, '')
    .trimStart();
  if (!rest.startsWith(key)) return false;
  const after = rest.slice(key.length).trimStart();
  return after === '' || after.startsWith('=');
}

function validate(s: IniSetting): void {
  const where = `ini-edit: setting [${s.section}] ${JSON.stringify(s.key)}`;
  if (typeof s.section !== 'string' || /[\]\r\n]/.test(s.section)) {
    throw new Error(`${where}: invalid section name ${JSON.stringify(s.section)} (no ']' or newlines)`);
  }
  if (typeof s.key !== 'string' || s.key.trim() === '') throw new Error(`${where}: key must be a non-empty string`);
  if (/[=\r\n]/.test(s.key)) throw new Error(`${where}: key must not contain '=' or a newline`);
  // A key that starts like a comment or a header would not read back as a key.
  if (/^[#;[]/.test(s.key.trim())) throw new Error(`${where}: key must not start with '#', ';' or '['`);
  if (s.state !== undefined && s.state !== 'present' && s.state !== 'absent') {
    throw new Error(`${where}: state must be 'present' or 'absent', got ${JSON.stringify(s.state)}`);
  }
  if (s.value !== undefined && s.value !== null) {
    if (typeof s.value !== 'string') throw new Error(`${where}: value must be a string or null`);
    if (/[\r\n]/.test(s.value)) throw new Error(`${where}: value must not contain a newline`);
  }
}

/** Build `key = value` / bare `key`; trailing spaces are dropped so `key = ''` reads back as `key =`. */
function formatLine(indent: string, key: string, value: string | null, separator: string): string {
  return value === null ? indent + key : (indent + key + separator + value).trimEnd();
}

/** Rewrite an existing key line to a new value, keeping its own key/separator spacing where it has one. */
function rewriteLine(text: string, key: string, value: string | null, separator: string): string {
  const indent = /^\s*/.exec(text)?.[0] ?? '';
  if (value === null) return formatLine(indent, key, null, separator);
  // `<indent>key<ws>=<ws>oldvalue`: keep everything up to the old value.
  const m = /^(\s*[^=]*?\s*=\s*)\S/.exec(text);
  if (m?.[1] !== undefined) return (m[1] + value).trimEnd();
  return formatLine(indent, key, value, separator);
}

/** Where a new key goes when the section has no commented default for it. */
function endOfBlockInsertAt(lines: readonly Line[], block: Block): number {
  const kindAt = (i: number): Parsed['kind'] => parseLine(lines[i]?.text ?? '').kind;
  let last = block.end - 1;
  const skipBack = (...kinds: Parsed['kind'][]): void => {
    while (last >= block.start && kinds.includes(kindAt(last))) last--;
  };
  skipBack('blank');
  if (last >= block.start && kindAt(last) === 'directive') {
    // my.cnf's trailing `!includedir` must stay last so included files still override.
    skipBack('blank', 'directive');
  } else if (last === block.end - 1 && block.end < lines.length) {
    // A comment run glued to the next header but set off from this section by a
    // blank line describes the next section; don't wedge the key inside it.
    const runEnd = last;
    skipBack('comment');
    if (last < runEnd && last >= block.start && kindAt(last) === 'blank') skipBack('blank');
    else last = runEnd;
  }
  // last < block.start: empty section body, so insert right after the header (or at the top).
  return Math.max(last + 1, block.start);
}

/** Insert at index `at`; inserted lines always end with a newline, so an unterminated line before them gets one. */
function insertLines(lines: Line[], at: number, texts: readonly string[], eol: string): void {
  const prev = lines[at - 1];
  if (prev !== undefined && prev.eol === '') prev.eol = eol;
  lines.splice(at, 0, ...texts.map((text) => ({ text, eol })));
}

/** Remove line `i`; if it was the unterminated last line, keep the file unterminated. */
function removeLine(lines: Line[], i: number): void {
  const [removed] = lines.splice(i, 1);
  if (removed !== undefined && removed.eol === '' && i === lines.length) {
    const prev = lines[i - 1];
    if (prev !== undefined) prev.eol = '';
  }
}

/** Apply one validated setting in place; returns whether anything changed. */
function applyOne(lines: Line[], s: IniSetting, separator: string, eol: string): boolean {
  const key = s.key.trim();
  const value = s.value === undefined || s.value === null ? null : s.value.trim();
  const blocks = blocksOf(lines).filter((b) => b.name === s.section);

  const active: number[] = [];
  for (const b of blocks) {
    for (let i = b.start; i < b.end; i++) {
      const p = parseLine(lines[i]?.text ?? '');
      if (p.kind === 'key' && p.key === key) active.push(i);
    }
  }

  if (s.state === 'absent') {
    // Remove from the bottom so earlier indices stay valid.
    for (const i of [...active].reverse()) removeLine(lines, i);
    return active.length > 0;
  }

  const [first, ...duplicates] = active;
  if (first !== undefined) {
    let changed = false;
    for (const i of [...duplicates].reverse()) removeLine(lines, i);
    if (duplicates.length > 0) changed = true;
    const line = lines[first];
    const p = parseLine(line?.text ?? '');
    if (line !== undefined && p.kind === 'key' && p.value !== value) {
      line.text = rewriteLine(line.text, key, value, separator);
      changed = true;
    }
    return changed;
  }

  if (blocks.length === 0) {
    // Missing section: append a header, separated by one blank line from whatever precedes it.
    const last = lines[lines.length - 1];
    const texts: string[] = [];
    if (last !== undefined && last.text.trim() !== '') texts.push('');
    texts.push(`[${s.section}]`, formatLine('', key, value, separator));
    insertLines(lines, lines.length, texts, eol);
    return true;
  }

  // Prefer landing next to the section's commented default (the last one, if several).
  let commented = -1;
  for (const b of blocks) {
    for (let i = b.start; i < b.end; i++) {
      const text = lines[i]?.text ?? '';
      if (parseLine(text).kind === 'comment' && isCommentedDefault(text, key)) commented = i;
    }
  }
  if (commented !== -1) {
    const indent = /^\s*/.exec(lines[commented]?.text ?? '')?.[0] ?? '';
    insertLines(lines, commented + 1, [formatLine(indent, key, value, separator)], eol);
    return true;
  }

  // Otherwise append to the section's last run (repeated headers: the later one wins, as on read).
  const block = blocks[blocks.length - 1];
  if (block === undefined) return false;
  insertLines(lines, endOfBlockInsertAt(lines, block), [formatLine('', key, value, separator)], eol);
  return true;
}

/** Pure: apply all settings to `text`, touching nothing else. */
export function editIni(text: string, settings: readonly IniSetting[], options?: { separator?: string }): IniEditResult {
  // Validate everything first so a bad setting never yields a half-applied result.
  settings.forEach(validate);
  const separator = options?.separator ?? ' = ';
  if (/[\r\n]/.test(separator) || !separator.includes('=')) {
    throw new Error(`ini-edit: separator must contain '=' and no newline, got ${JSON.stringify(separator)}`);
  }
  const lines = splitLines(text);
  // New lines follow the file's own convention (first terminated line decides).
  const eol = lines.find((l) => l.eol !== '')?.eol ?? '\n';
  let changed = false;
  for (const s of settings) {
    if (applyOne(lines, s, separator, eol)) changed = true;
  }
  // A "change" can net out (e.g. remove then re-add); report what the bytes say.
  const out = changed ? joinLines(lines) : text;
  return out === text ? { text, changed: false } : { text: out, changed: true };
}

/** Parse to section -> key -> value (null for valueless); last occurrence wins; keys before any section header go under '' . */
export function readIni(text: string): Map<string, Map<string, string | null>> {
  const result = new Map<string, Map<string, string | null>>();
  let current = '';
  const sectionMap = (name: string): Map<string, string | null> => {
    let m = result.get(name);
    if (m === undefined) {
      m = new Map();
      result.set(name, m);
    }
    return m;
  };
  for (const line of splitLines(text)) {
    const p = parseLine(line.text);
    if (p.kind === 'header') {
      current = p.name;
      sectionMap(current);
    } else if (p.kind === 'key' && p.key !== '') {
      sectionMap(current).set(p.key, p.value);
    }
  }
  return result;
}
