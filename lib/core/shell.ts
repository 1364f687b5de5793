import { randomBytes } from 'node:crypto';
import { MASK, Secret } from './secret.js';

/**
 * Shell commands as data (pyinfra's StringCommand + MaskString, zx's
 * quoting-by-construction): a command is a list of already-quoted pieces,
 * some of them secret. `reveal()` is what runs; `display()` is what anyone
 * sees.
 */
interface Piece {
  readonly text: string;
  readonly secret: boolean;
  /** What display() shows instead of `text` (stable names for run-specific values). */
  readonly label?: string;
}

export class Cmd {
  readonly #pieces: readonly Piece[];
  constructor(pieces: readonly Piece[]) {
    this.#pieces = pieces;
  }
  reveal(): string {
    return this.#pieces.map((p) => p.text).join('');
  }
  display(): string {
    return this.#pieces.map((p) => (p.secret ? MASK : (p.label ?? p.text))).join('');
  }
  get hasSecret(): boolean {
    return this.#pieces.some((p) => p.secret);
  }
  get pieces(): readonly Piece[] {
    return this.#pieces;
  }
  toString(): string {
    return this.display();
  }
  toJSON(): string {
    return this.display();
  }
}

/** Unquoted text inserted as is: only for fixed shell syntax chosen by code, never for user values. */
export class Raw {
  constructor(readonly text: string) {}
}
export const raw = (text: string): Raw => new Raw(text);

/** A value shown under a stable label, e.g. the run id as `$RUN_ID`, so plans are reproducible. */
export class Labeled {
  constructor(
    readonly value: string,
    readonly label: string,
  ) {}
}

export type ShArg = string | number | Secret | Cmd | Raw | Labeled | readonly (string | number | Secret)[];

/** POSIX single-quote quoting; safe for any byte except NUL. */
export function quote(value: string): string {
  if (value !== '' && /^[A-Za-z0-9_@%+=:,./-]+$/.test(value)) return value;
  return `'${value.replace(/'/g, `'\\''`)}'`;
}

function piecesOf(arg: ShArg): Piece[] {
  if (arg instanceof Cmd) return [...arg.pieces];
  if (arg instanceof Raw) return [{ text: arg.text, secret: false }];
  if (arg instanceof Secret) return [{ text: quote(arg.reveal()), secret: true }];
  if (arg instanceof Labeled) return [{ text: quote(arg.value), secret: false, label: arg.label }];
  if (Array.isArray(arg)) {
    const out: Piece[] = [];
    (arg as readonly (string | number | Secret)[]).forEach((a, i) => {
      if (i > 0) out.push({ text: ' ', secret: false });
      out.push(...piecesOf(a));
    });
    return out;
  }
  return [{ text: quote(String(arg)), secret: false }];
}

/** Tagged template: `sh\`chown ${owner} ${path}\`` quotes every interpolation. */
export function sh(strings: TemplateStringsArray, ...args: ShArg[]): Cmd {
  const pieces: Piece[] = [];
  strings.forEach((s, i) => {
    if (s) pieces.push({ text: s, secret: false });
    if (i < args.length) pieces.push(...piecesOf(args[i] as ShArg));
  });
  return new Cmd(pieces);
}

/** Joins commands with a separator such as ' && ' or '\n'. */
export function joinCmds(cmds: readonly Cmd[], separator: string): Cmd {
  const pieces: Piece[] = [];
  cmds.forEach((c, i) => {
    if (i > 0) pieces.push({ text: separator, secret: false });
    pieces.push(...c.pieces);
  });
  return new Cmd(pieces);
}

/**
 * Feeds `input` to `cmd` on stdin through a here-document: the data never
 * becomes part of any process's argv (dash implements here-documents with a
 * pipe), which is how secrets reach mysql, rabbitmqctl and friends.
 */
export function withStdin(cmd: Cmd, input: string | Secret | Cmd): Cmd {
  const text = input instanceof Cmd ? input.reveal() : input instanceof Secret ? input.reveal() : input;
  const secret = input instanceof Secret || (input instanceof Cmd && input.hasSecret);
  let delimiter = 'SP_EOF';
  while (text.split('\n').includes(delimiter)) delimiter = `SP_EOF_${randomBytes(4).toString('hex')}`;
  const body = text.endsWith('\n') ? text.slice(0, -1) : text;
  return new Cmd([...cmd.pieces, { text: ` <<'${delimiter}'\n`, secret: false }, { text: body, secret }, { text: `\n${delimiter}`, secret: false }]);
}
