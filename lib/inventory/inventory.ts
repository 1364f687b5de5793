/**
 * Ansible-compatible INI inventories: parsing, group membership, variable
 * precedence and `--limit` host patterns.
 *
 * Parsing follows Ansible's INI plugin (shlex-split host lines, `[g:vars]`,
 * `[g:children]`, host ranges) but is stricter where Ansible only warns or
 * silently picks a winner: every such case is a mistake that should stop the
 * run before any host is contacted, with the file and line to fix.
 */
import { readFile, stat } from 'node:fs/promises';
import { InventoryError } from '../core/errors.js';
import { loadConfigOverrides, type ConfigOverrides } from './config-overrides.js';

/** Where a value was defined. Line is 1-based; 0 means implicit (e.g. the built-in `all` group). */
export interface VarSource {
  readonly file: string;
  readonly line: number;
}

export interface SourcedValue {
  readonly value: string;
  readonly source: VarSource;
}

export interface InventoryHost {
  readonly name: string;
  /** Direct groups, in file order ('ungrouped' only when there is no other). */
  readonly groups: readonly string[];
  readonly source: VarSource;
}

export interface InventoryGroup {
  readonly name: string;
  /** Direct hosts, in file order. For 'all': every host. */
  readonly hosts: readonly string[];
  readonly children: readonly string[];
  readonly vars: ReadonlyMap<string, SourcedValue>;
  readonly source: VarSource;
}

export interface Inventory {
  readonly file: string;
  readonly hosts: ReadonlyMap<string, InventoryHost>;
  readonly groups: ReadonlyMap<string, InventoryGroup>;
  /** Every host in the group, including via children (recursively), file order, deduplicated. 'all' = every host. Unknown group -> InventoryError. */
  groupHosts(group: string): string[];
  /** All groups the host belongs to, directly or through children, plus 'all'. */
  hostGroups(host: string): string[];
  /** Resolved variables, precedence: host vars > group vars (child group beats parent; among unrelated groups, Ansible's rule: sort by depth then name, later wins) > [all:vars]. */
  hostVars(host: string): ReadonlyMap<string, SourcedValue>;
  /** The host's groups, lowest precedence first: the order `hostVars` applies them in. */
  groupPrecedence(host: string): string[];
  /** Config overrides beside the inventory file (`<name>.d/`), when there are any. */
  readonly configOverrides?: ConfigOverrides;
}

// ---------------------------------------------------------------------------
// Names and values

/** Ansible only warns about other characters, but they break `groups.x` in templates and `--limit`. */
const GROUP_NAME = /^[A-Za-z0-9_][A-Za-z0-9_-]*$/;
/** DNS names and IPv4 addresses; ':' is taken by the port, brackets by ranges. */
const HOST_NAME = /^[A-Za-z0-9_][A-Za-z0-9_.-]*$/;
/** Variables must be usable in templates, so only identifiers. */
const VAR_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
/** Built-in groups: they cannot be children, and a host of that name would make `--limit all` ambiguous. */
const RESERVED = new Set(['all', 'ungrouped']);
/** Ansible's group-vars tie breaker; not a variable of its own. */
const PRIORITY_VAR = 'ansible_group_priority';

/** `[a:vars]` values are plain strings: strip one pair of matching quotes, as Ansible's literal_eval does. */
function unquote(raw: string): string {
  const first = raw[0];
  if (raw.length >= 2 && (first === '"' || first === "'") && raw.endsWith(first)) return raw.slice(1, -1);
  return raw;
}

// ---------------------------------------------------------------------------
// Host lines

type Fail = (problem: string, text: string) => never;

/**
 * POSIX shlex split with `#` comments, as Ansible does for host lines.
 * Unlike shlex we reject a `#` glued to a word (`pass=ab#cd`): Ansible would
 * silently cut the value there, which is never what the author meant.
 */
function splitHostLine(line: string, fail: Fail): string[] {
  const tokens: string[] = [];
  let token = '';
  let inToken = false;
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!;
    if (c === ' ' || c === '\t') {
      if (inToken) tokens.push(token);
      token = '';
      inToken = false;
    } else if (c === '#') {
      if (inToken) fail("unquoted '#' inside a value starts a comment; quote the value", token + line.slice(i));
      break;
    } else if (c === "'" || c === '"') {
      const close = scanQuoted(line, i, fail);
      token += close.text;
      i = close.end;
      inToken = true;
    } else if (c === '\\') {
      if (i + 1 >= line.length) fail('line ends with a lone backslash', line);
      token += line[++i];
      inToken = true;
    } else {
      token += c;
      inToken = true;
    }
  }
  if (inToken) tokens.push(token);
  return tokens;
}

/** Read a quoted run starting at `start`; inside "…" a backslash escapes `"` and `\`, inside '…' nothing. */
function scanQuoted(line: string, start: number, fail: Fail): { text: string; end: number } {
  const quote = line[start];
  let text = '';
  for (let i = start + 1; i < line.length; i++) {
    const c = line[i]!;
    if (c === quote) return { text, end: i };
    const next = line[i + 1];
    if (quote === '"' && c === '\\' && (next === '"' || next === '\\')) {
      text += next;
      i++;
    } else {
      text += c;
    }
  }
  return fail(`unterminated ${quote} quote`, line.slice(start));
}

/** `web1:2222` -> name and port, as Ansible allows; colons inside a `[1:3]` range are not ports. */
function splitPort(spec: string, fail: Fail): { pattern: string; port?: string } {
  const colon = spec.lastIndexOf(':');
  const insideRange = spec.lastIndexOf('[') > spec.lastIndexOf(']') || colon < spec.lastIndexOf(']');
  if (colon < 0 || insideRange) return { pattern: spec };
  const port = spec.slice(colon + 1);
  if (!/^\d+$/.test(port) || Number(port) < 1 || Number(port) > 65535) fail('port after host name must be 1-65535', spec);
  return { pattern: spec.slice(0, colon), port: String(Number(port)) };
}

/**
 * Expand Ansible host ranges: `web[01:03]` (zero padding kept), `web[1:9:2]`
 * (stride), `db-[a:c]`; several ranges in one name multiply out.
 */
function expandHostRange(pattern: string, fail: Fail): string[] {
  const open = pattern.indexOf('[');
  if (open < 0) {
    if (pattern.includes(']')) fail("unbalanced ']' in host name", pattern);
    return [pattern];
  }
  const close = pattern.indexOf(']', open);
  if (close < 0) fail("unbalanced '[' in host range", pattern);
  const head = pattern.slice(0, open);
  const body = pattern.slice(open + 1, close);
  const tails = expandHostRange(pattern.slice(close + 1), fail);
  const items = rangeItems(body, pattern, fail);
  if (items.length * tails.length > MAX_RANGE_HOSTS) fail(`host range makes ${items.length * tails.length} hosts, more than ${MAX_RANGE_HOSTS}`, pattern);
  return items.flatMap((item) => tails.map((tail) => head + item + tail));
}

/** More hosts than one range could mean: a typo (`[0:9999999]`) must not exhaust memory. */
export const MAX_RANGE_HOSTS = 10_000;

function rangeItems(body: string, pattern: string, fail: Fail): string[] {
  const parts = body.split(':');
  if (parts.length < 2 || parts.length > 3) fail('host range must be [start:end] or [start:end:step]', pattern);
  const [rawBeg, end = '', rawStep] = parts as [string, string, string?];
  const beg = rawBeg === '' ? '0' : rawBeg;
  const step = rawStep === undefined || rawStep === '' ? 1 : Number(rawStep);
  if (!Number.isInteger(step) || step < 1) fail('host range step must be a positive integer', pattern);
  if (/^[a-zA-Z]$/.test(beg) && /^[a-zA-Z]$/.test(end)) return alphaRange(beg, end, step, pattern, fail);
  if (!/^\d+$/.test(beg) || !/^\d+$/.test(end)) fail('host range bounds must be both numbers or both single letters', pattern);
  // Ansible pads only when the start is written with a leading zero, and then both ends must agree on the width.
  const width = beg.length > 1 && beg.startsWith('0') ? beg.length : 0;
  if (width > 0 && end.length !== width) fail('zero-padded host range needs start and end of equal width', pattern);
  const from = Number(beg);
  const to = Number(end);
  if (from > to) fail('host range start is after its end', pattern);
  if (Math.floor((to - from) / step) + 1 > MAX_RANGE_HOSTS) fail(`host range makes more than ${MAX_RANGE_HOSTS} hosts`, pattern);
  const items: string[] = [];
  for (let n = from; n <= to; n += step) items.push(String(n).padStart(width, '0'));
  return items;
}

function alphaRange(beg: string, end: string, step: number, pattern: string, fail: Fail): string[] {
  const from = beg.charCodeAt(0);
  const to = end.charCodeAt(0);
  // Mixed case (a:Z) has no sensible meaning in ASCII order.
  if ((beg === beg.toLowerCase()) !== (end === end.toLowerCase()) || from > to) {
    fail('host range start is after its end', pattern);
  }
  const items: string[] = [];
  for (let c = from; c <= to; c += step) items.push(String.fromCharCode(c));
  return items;
}

// ---------------------------------------------------------------------------
// Parser

interface MutableGroup {
  name: string;
  hosts: string[];
  children: string[];
  /** Line of each host / child entry, for duplicate and reference errors. */
  hostLines: Map<string, number>;
  childLines: Map<string, number>;
  vars: Map<string, SourcedValue>;
  source: VarSource;
}

interface MutableHost {
  name: string;
  groups: string[];
  source: VarSource;
  vars: Map<string, SourcedValue>;
}

type SectionKind = 'hosts' | 'vars' | 'children';

class IniParser {
  private readonly groups = new Map<string, MutableGroup>();
  private readonly hosts = new Map<string, MutableHost>();
  private kind: SectionKind = 'hosts';
  /** Hosts before any header belong to 'ungrouped', as in Ansible. */
  private group = 'ungrouped';
  private lineNo = 0;

  constructor(private readonly file: string) {
    for (const name of RESERVED) this.groups.set(name, newGroup(name, { file, line: 0 }));
  }

  parse(text: string): Inventory {
    const lines = text.replace(/^\uFEFF/, '').split(/\r?\n/);
    lines.forEach((raw, i) => {
      this.lineNo = i + 1;
      // A carriage return, NUL or escape in a value would reach config files, command lines and terminals.
      const control = /[\x00-\x08\x0a-\x1f\x7f]/.exec(raw);
      if (control)
        this.fail(
          `control character \\x${control[0].charCodeAt(0).toString(16).padStart(2, '0')} in the inventory (names and values are one line of text)`,
          raw.trim(),
        );
      this.parseLine(raw.trim());
    });
    return this.finish();
  }

  private fail(problem: string, text?: string, line = this.lineNo): never {
    throw new InventoryError(this.file, line, problem, text);
  }

  private readonly failHere: Fail = (problem, text) => this.fail(problem, text);

  private here(): VarSource {
    return { file: this.file, line: this.lineNo };
  }

  private parseLine(line: string): void {
    if (line === '' || line.startsWith('#') || line.startsWith(';')) return;
    if (line.startsWith('[')) return this.header(line);
    if (this.kind === 'hosts') return this.hostLine(line);
    if (this.kind === 'vars') return this.varLine(line);
    return this.childLine(line);
  }

  private header(line: string): void {
    const m = /^\[([^:\]\s]+)(?::([^\]\s]*))?\]\s*(?:[#;].*)?$/.exec(line);
    if (!m) this.fail('malformed section header, expected [group], [group:vars] or [group:children]', line);
    const name = m[1]!;
    const suffix = m[2];
    this.checkGroupName(name, line);
    if (suffix !== undefined && suffix !== 'vars' && suffix !== 'children') {
      this.fail(`unknown section type ':${suffix}', expected :vars or :children`, line);
    }
    if (suffix === 'children' && RESERVED.has(name)) {
      this.fail(`'${name}' is built in and cannot have children`, line);
    }
    this.kind = suffix ?? 'hosts';
    // Hosts listed under [all] are just hosts without a group, which Ansible files as 'ungrouped'.
    this.group = this.kind === 'hosts' && name === 'all' ? 'ungrouped' : name;
    this.declareGroup(this.group);
  }

  private declareGroup(name: string): MutableGroup {
    const existing = this.groups.get(name);
    if (existing) {
      if (existing.source.line === 0) existing.source = this.here();
      return existing;
    }
    const group = newGroup(name, this.here());
    this.groups.set(name, group);
    return group;
  }

  private checkGroupName(name: string, text: string): void {
    if (!GROUP_NAME.test(name)) {
      this.fail(`invalid group name '${name}' (use letters, digits, '_' and '-')`, text);
    }
  }

  private hostLine(line: string): void {
    const [spec, ...assignments] = splitHostLine(line, this.failHere);
    if (spec === undefined) return;
    const { pattern, port } = splitPort(spec, this.failHere);
    const names = expandHostRange(pattern, this.failHere);
    for (const name of names) this.checkHostName(name, spec);
    const vars = new Map<string, SourcedValue>();
    if (port !== undefined) vars.set('ansible_port', { value: port, source: this.here() });
    for (const assignment of assignments) this.hostVar(vars, assignment);
    for (const name of names) this.addHost(name, vars);
  }

  private checkHostName(name: string, spec: string): void {
    if (!HOST_NAME.test(name)) {
      this.fail(`invalid host name '${name}' (use letters, digits, '.', '_' and '-')`, spec);
    }
    // Host names become system host names and /etc/hosts entries (RFC 1123 limits).
    if (name.length > 253 || name.split('.').some((label) => label.length > 63))
      this.fail(`host name too long (at most 63 characters between dots, 253 in all)`, spec.length > 80 ? `${spec.slice(0, 80)}…` : spec);
    if (RESERVED.has(name)) this.fail(`'${name}' is a built-in group name and cannot be a host`, spec);
  }

  private hostVar(vars: Map<string, SourcedValue>, assignment: string): void {
    const eq = assignment.indexOf('=');
    if (eq < 0) this.fail('host variable must be key=value', assignment);
    const key = assignment.slice(0, eq);
    if (key === '') this.fail('host variable has an empty name', assignment);
    this.checkVarName(key, assignment);
    if (vars.has(key)) this.fail(`variable '${key}' set twice on one host line`, assignment);
    vars.set(key, { value: assignment.slice(eq + 1), source: this.here() });
  }

  private checkVarName(key: string, text: string): void {
    if (!VAR_NAME.test(key)) {
      this.fail(`invalid variable name '${key}' (use letters, digits and '_', not starting with a digit)`, text);
    }
  }

  private addHost(name: string, vars: ReadonlyMap<string, SourcedValue>): void {
    const group = this.groups.get(this.group)!;
    const firstLine = group.hostLines.get(name);
    if (firstLine !== undefined) {
      this.fail(`host '${name}' listed twice in group '${group.name}' (first at line ${firstLine})`, name);
    }
    group.hosts.push(name);
    group.hostLines.set(name, this.lineNo);
    let host = this.hosts.get(name);
    if (!host) {
      host = { name, groups: [], source: this.here(), vars: new Map() };
      this.hosts.set(name, host);
    }
    host.groups.push(group.name);
    // Ansible lets a later line silently overwrite; two different values for one host is a mistake.
    for (const [key, value] of vars) {
      const prev = host.vars.get(key);
      if (prev && prev.value !== value.value) {
        this.fail(`host '${name}' variable '${key}' already set to a different value at line ${prev.source.line}`, `${key}=${value.value}`);
      }
      if (!prev) host.vars.set(key, value);
    }
  }

  private varLine(line: string): void {
    const eq = line.indexOf('=');
    if (eq < 0) this.fail(`[${this.group}:vars] entry must be key=value`, line);
    const key = line.slice(0, eq).trim();
    if (key === '') this.fail('variable has an empty name', line);
    this.checkVarName(key, line);
    const group = this.groups.get(this.group)!;
    const prev = group.vars.get(key);
    if (prev) this.fail(`variable '${key}' of group '${group.name}' already set at line ${prev.source.line}`, line);
    group.vars.set(key, { value: unquote(line.slice(eq + 1).trim()), source: this.here() });
  }

  private childLine(line: string): void {
    const m = /^([^\s#;]+)\s*(?:[#;].*)?$/.exec(line);
    if (!m) this.fail(`[${this.group}:children] takes one group name per line`, line);
    const child = m[1]!;
    this.checkGroupName(child, line);
    if (RESERVED.has(child)) this.fail(`'${child}' is built in and cannot be a child group`, child);
    const group = this.groups.get(this.group)!;
    if (child === group.name) this.fail(`group '${child}' cannot be its own child`, child);
    const firstLine = group.childLines.get(child);
    if (firstLine !== undefined) {
      this.fail(`group '${child}' listed twice in [${group.name}:children] (first at line ${firstLine})`, child);
    }
    group.children.push(child);
    group.childLines.set(child, this.lineNo);
  }

  /** Checks that need the whole file: children may name groups defined further down. */
  private finish(): Inventory {
    this.checkChildrenDefined();
    this.checkNoCycles();
    this.settleUngrouped();
    const all = this.groups.get('all')!;
    all.hosts = [...this.hosts.keys()];
    const priorities = this.priorities();
    return new IniInventory(this.file, this.freezeHosts(), this.freezeGroups(), this.hostOwnVars(), this.depths(), priorities);
  }

  private checkChildrenDefined(): void {
    for (const group of this.groups.values()) {
      for (const child of group.children) {
        if (this.groups.has(child)) continue;
        const line = group.childLines.get(child)!;
        const hint = this.hosts.has(child) ? ` ('${child}' is a host: list hosts under [${group.name}], not [${group.name}:children])` : '';
        this.fail(`[${group.name}:children] names undefined group '${child}'${hint}`, child, line);
      }
    }
  }

  private checkNoCycles(): void {
    const done = new Set<string>();
    const path: string[] = [];
    const visit = (name: string): void => {
      if (done.has(name)) return;
      path.push(name);
      const group = this.groups.get(name)!;
      for (const child of group.children) {
        if (path.includes(child)) {
          const cycle = [...path.slice(path.indexOf(child)), child].join(' -> ');
          this.fail(`[${name}:children] creates a cycle ${cycle}`, child, group.childLines.get(child)!);
        }
        visit(child);
      }
      path.pop();
      done.add(name);
    };
    for (const name of this.groups.keys()) visit(name);
  }

  /** Like Ansible, a host is 'ungrouped' only if no other group lists it (directly). */
  private settleUngrouped(): void {
    const ungrouped = this.groups.get('ungrouped')!;
    for (const host of this.hosts.values()) {
      if (host.groups.some((g) => g !== 'ungrouped')) host.groups = host.groups.filter((g) => g !== 'ungrouped');
    }
    ungrouped.hosts = ungrouped.hosts.filter((h) => this.hosts.get(h)!.groups.includes('ungrouped'));
  }

  /** Ansible's group depth: longest path from 'all'; top-level groups are 1. */
  private depths(): Map<string, number> {
    const parents = parentMap(this.groups);
    const depth = new Map<string, number>([['all', 0]]);
    const of = (name: string): number => {
      const known = depth.get(name);
      if (known !== undefined) return known;
      const d = 1 + Math.max(0, ...(parents.get(name) ?? []).map(of));
      depth.set(name, d);
      return d;
    };
    for (const name of this.groups.keys()) of(name);
    return depth;
  }

  private priorities(): Map<string, number> {
    const result = new Map<string, number>();
    for (const group of this.groups.values()) {
      const raw = group.vars.get(PRIORITY_VAR);
      if (!raw) continue;
      if (!/^-?\d+$/.test(raw.value)) this.fail(`${PRIORITY_VAR} must be an integer`, raw.value, raw.source.line);
      result.set(group.name, Number(raw.value));
    }
    return result;
  }

  private freezeHosts(): Map<string, InventoryHost> {
    const result = new Map<string, InventoryHost>();
    for (const h of this.hosts.values()) result.set(h.name, { name: h.name, groups: h.groups, source: h.source });
    return result;
  }

  private freezeGroups(): Map<string, InventoryGroup> {
    const result = new Map<string, InventoryGroup>();
    for (const g of this.groups.values()) {
      result.set(g.name, { name: g.name, hosts: g.hosts, children: g.children, vars: g.vars, source: g.source });
    }
    return result;
  }

  private hostOwnVars(): Map<string, ReadonlyMap<string, SourcedValue>> {
    return new Map([...this.hosts.values()].map((h) => [h.name, h.vars]));
  }
}

function newGroup(name: string, source: VarSource): MutableGroup {
  return { name, hosts: [], children: [], hostLines: new Map(), childLines: new Map(), vars: new Map(), source };
}

function parentMap(groups: ReadonlyMap<string, { readonly name: string; readonly children: readonly string[] }>): Map<string, string[]> {
  const parents = new Map<string, string[]>();
  for (const group of groups.values()) {
    for (const child of group.children) parents.set(child, [...(parents.get(child) ?? []), group.name]);
  }
  return parents;
}

// ---------------------------------------------------------------------------
// Queries

class IniInventory implements Inventory {
  private readonly parents: Map<string, string[]>;

  constructor(
    readonly file: string,
    readonly hosts: ReadonlyMap<string, InventoryHost>,
    readonly groups: ReadonlyMap<string, InventoryGroup>,
    private readonly ownVars: ReadonlyMap<string, ReadonlyMap<string, SourcedValue>>,
    private readonly depth: ReadonlyMap<string, number>,
    private readonly priority: ReadonlyMap<string, number>,
  ) {
    this.parents = parentMap(groups);
  }

  groupHosts(group: string): string[] {
    if (!this.groups.has(group)) throw new InventoryError(this.file, 0, 'unknown group', group);
    const members = new Set<string>();
    const seen = new Set<string>();
    const collect = (name: string): void => {
      if (seen.has(name)) return;
      seen.add(name);
      const g = this.groups.get(name)!;
      for (const h of g.hosts) members.add(h);
      for (const child of g.children) collect(child);
    };
    collect(group);
    return [...this.hosts.keys()].filter((h) => members.has(h));
  }

  hostGroups(host: string): string[] {
    const h = this.hosts.get(host);
    if (!h) throw new InventoryError(this.file, 0, 'unknown host', host);
    const member = new Set<string>(['all']);
    const climb = (name: string): void => {
      if (member.has(name)) return;
      member.add(name);
      for (const parent of this.parents.get(name) ?? []) climb(parent);
    };
    for (const g of h.groups) climb(g);
    // Group map order: 'all', 'ungrouped', then first appearance in the file.
    return [...this.groups.keys()].filter((g) => member.has(g));
  }

  /**
   * Ansible's sort_groups: (depth, priority, name) ascending, later wins, so
   * 'all' (depth 0) loses to everything and a child (deeper than any of its
   * parents) beats its parents. Host vars win over all groups.
   */
  groupPrecedence(host: string): string[] {
    return this.hostGroups(host).sort((a, b) => this.rank(a, b));
  }

  hostVars(host: string): ReadonlyMap<string, SourcedValue> {
    // The implicit localhost (not in the inventory) is in no group but `all`'s variables apply to it, as in Ansible.
    const ordered = host === 'localhost' && !this.hosts.has(host) ? ['all'] : this.groupPrecedence(host);
    const result = new Map<string, SourcedValue>();
    for (const name of ordered) {
      for (const [key, value] of this.groups.get(name)!.vars) {
        if (key !== PRIORITY_VAR) result.set(key, value);
      }
    }
    for (const [key, value] of this.ownVars.get(host) ?? []) result.set(key, value);
    return result;
  }

  private rank(a: string, b: string): number {
    const depth = (this.depth.get(a) ?? 0) - (this.depth.get(b) ?? 0);
    const priority = (this.priority.get(a) ?? 1) - (this.priority.get(b) ?? 1);
    return depth || priority || (a < b ? -1 : a > b ? 1 : 0);
  }
}

// ---------------------------------------------------------------------------
// Entry points

export function parseInventory(text: string, file: string): Inventory {
  return new IniParser(file).parse(text);
}

/**
 * Reads and parses an INI inventory, with its config overrides (`<name>.d/`
 * beside it); a missing or unreadable file is an InventoryError naming it.
 */
export async function loadInventory(path: string): Promise<Inventory> {
  let text: string;
  try {
    // A FIFO or `-i <(…)` would hang or vanish after one read, and the secrets file lives beside the inventory.
    const info = await stat(path);
    if (!info.isFile() && !info.isDirectory()) throw new InventoryError(path, 0, 'inventory is not a regular file (give the path of an INI file)');
    text = await readFile(path, 'utf8');
  } catch (err) {
    if (err instanceof InventoryError) throw err;
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new InventoryError(path, 0, 'inventory file not found');
    if (code === 'EISDIR') throw new InventoryError(path, 0, 'inventory is a directory; only INI files are supported');
    throw new InventoryError(path, 0, `cannot read inventory file (${code ?? String(err)})`);
  }
  const inventory = parseInventory(text, path);
  const configOverrides = await loadConfigOverrides(path, inventory);
  return configOverrides ? derivedInventory(inventory, { configOverrides }) : inventory;
}

/**
 * The same inventory with other host variables (`-e`) or config overrides:
 * everything else is answered by the original.
 */
export function derivedInventory(
  inventory: Inventory,
  changes: { readonly hostVars?: (host: string) => ReadonlyMap<string, SourcedValue>; readonly configOverrides?: ConfigOverrides },
): Inventory {
  const configOverrides = changes.configOverrides ?? inventory.configOverrides;
  return {
    file: inventory.file,
    hosts: inventory.hosts,
    groups: inventory.groups,
    groupHosts: (group) => inventory.groupHosts(group),
    hostGroups: (host) => inventory.hostGroups(host),
    hostVars: changes.hostVars ?? ((host) => inventory.hostVars(host)),
    groupPrecedence: (host) => inventory.groupPrecedence(host),
    ...(configOverrides ? { configOverrides } : {}),
  };
}

// ---------------------------------------------------------------------------
// Host patterns (--limit)

/**
 * Evaluate Ansible's host pattern against the inventory: comma (or colon)
 * separated group names, host names, `all`/`*`, globs with `*`/`?`,
 * `~regex`, subscripts `group[0]`/`group[1:3]`, `!excluded`, `&intersection`.
 * As in Ansible, plain terms are unioned first, then `&` terms intersect,
 * then `!` terms exclude, whatever their position; with no plain term the
 * start is 'all'. Result is in inventory order.
 *
 * A term matching nothing is an InventoryError (Ansible only warns, and a
 * typo in `!compute1` would otherwise run against the host meant to be
 * spared). `origin` names where the pattern came from in error messages,
 * e.g. a play's `hosts:` line; default `--limit`.
 */
export function selectHosts(inv: Inventory, pattern: string, origin: VarSource = { file: '--limit', line: 0 }): string[] {
  const fail = (problem: string, text: string): never => {
    throw new InventoryError(origin.file, origin.line, problem, text);
  };
  const terms = splitPattern(pattern);
  if (terms.length === 0) fail('empty host pattern', pattern);
  const plain = terms.filter((t) => !t.startsWith('!') && !t.startsWith('&'));
  const selected = new Set(plain.length > 0 ? plain.flatMap((t) => matchTerm(inv, t, fail)) : inv.groupHosts('all'));
  for (const term of terms.filter((t) => t.startsWith('&'))) {
    const keep = new Set(matchTerm(inv, term.slice(1), fail));
    for (const h of selected) if (!keep.has(h)) selected.delete(h);
  }
  for (const term of terms.filter((t) => t.startsWith('!'))) {
    for (const h of matchTerm(inv, term.slice(1), fail)) selected.delete(h);
  }
  return [...inv.hosts.keys()].filter((h) => selected.has(h));
}

/** Commas if there are any, else colons outside `[...]` (so `web[1:3]` stays whole), as Ansible splits. */
function splitPattern(pattern: string): string[] {
  const parts = pattern.includes(',') ? pattern.split(',') : pattern.split(/:(?![^[]*\])/);
  return parts.map((p) => p.trim()).filter((p) => p !== '');
}

/** Hosts matched by one term (without its `!`/`&`), in inventory order for subscripts. */
function matchTerm(inv: Inventory, term: string, fail: Fail): string[] {
  const { base, subscript } = splitSubscript(term);
  if (base === '') fail('empty host pattern term', term);
  const hosts = matchBase(inv, base, fail);
  if (hosts.length === 0) fail('host pattern matches no host or group', term);
  return subscript ? applySubscript(hosts, subscript, term, fail) : hosts;
}

function matchBase(inv: Inventory, base: string, fail: Fail): string[] {
  if (base === 'all' || base === '*') return inv.groupHosts('all');
  let test: ((name: string) => boolean) | undefined;
  if (base.startsWith('~')) test = regexTest(base.slice(1), base, fail);
  else if (/[*?]/.test(base)) test = globTest(base);
  if (!test) {
    if (inv.groups.has(base)) return inv.groupHosts(base);
    return inv.hosts.has(base) ? [base] : [];
  }
  // Patterns match both group names (taking their hosts) and host names.
  const matched = new Set<string>();
  for (const group of inv.groups.keys()) if (test(group)) for (const h of inv.groupHosts(group)) matched.add(h);
  for (const host of inv.hosts.keys()) if (test(host)) matched.add(host);
  return [...inv.hosts.keys()].filter((h) => matched.has(h));
}

function globTest(glob: string): (name: string) => boolean {
  const source = glob
    .replace(/[.+^${}()|[\]\\]/g, '\\$&')
    .replace(/\*/g, '.*')
    .replace(/\?/g, '.');
  const re = new RegExp(`^${source}$`);
  return (name) => re.test(name);
}

function regexTest(source: string, term: string, fail: Fail): (name: string) => boolean {
  try {
    const re = new RegExp(source);
    return (name) => re.test(name);
  } catch {
    return fail('invalid regular expression in host pattern', term);
  }
}

interface Subscript {
  readonly from: number;
  /** Inclusive, as in Ansible; undefined = single index (from), null = to the end. */
  readonly to: number | null | undefined;
}

/** Ansible's `name[3]`, `name[-1]`, `name[1:3]`, `name[2:]` (not for `~regex`). */
function splitSubscript(term: string): { base: string; subscript?: Subscript } {
  const m = /^(.+)\[(?:(-?\d+)|(\d+)[:-](\d*))\]$/.exec(term);
  if (!m || term.startsWith('~')) return { base: term };
  if (m[2] !== undefined) return { base: m[1]!, subscript: { from: Number(m[2]), to: undefined } };
  return { base: m[1]!, subscript: { from: Number(m[3]), to: m[4] === '' ? null : Number(m[4]) } };
}

function applySubscript(hosts: string[], sub: Subscript, term: string, fail: Fail): string[] {
  if (sub.to === undefined) {
    const host = hosts.at(sub.from);
    if (host === undefined) fail(`subscript out of range, pattern matches ${hosts.length} hosts`, term);
    return [host];
  }
  const end = sub.to === null ? hosts.length - 1 : sub.to;
  if (sub.from >= hosts.length || end < sub.from) fail(`subscript out of range, pattern matches ${hosts.length} hosts`, term);
  return hosts.slice(sub.from, end + 1);
}
