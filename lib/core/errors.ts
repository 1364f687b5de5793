/**
 * Errors for bad user input (inventories, playbooks, command-line patterns).
 * They are raised before any host is contacted, so the message alone must
 * tell the user where to look and what to fix.
 */

/**
 * Bad user input, found before any host is contacted.
 * `message` is `${file}:${line}: ${problem}: \`${text}\``; the `:line` part is
 * left out when line is 0 (input without lines, e.g. a --limit pattern or a
 * missing file), the text part when there is no offending text.
 */
export class InputError extends Error {
  override name = 'InputError';
  readonly file: string;
  readonly line: number;
  readonly problem: string;
  readonly text: string | undefined;

  constructor(file: string, line: number, problem: string, text?: string) {
    super(formatInputError(file, line, problem, text));
    this.file = file;
    this.line = line;
    this.problem = problem;
    this.text = text;
  }
}

/** Bad inventory file or host pattern. */
export class InventoryError extends InputError {
  override name = 'InventoryError';
}

function formatInputError(file: string, line: number, problem: string, text: string | undefined): string {
  const where = line > 0 ? `${file}:${line}` : file;
  return text === undefined ? `${where}: ${printable(problem)}` : `${where}: ${printable(problem)}: \`${printable(maskSecretAssignments(text))}\``;
}

/** Control characters as `\xNN`: an inventory must not move the terminal's cursor or colour its output. */
export function printable(text: string): string {
  return text.replace(/[\x00-\x1f\x7f-\x9f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
}

/** A variable whose name says it holds a secret. */
export const SECRET_NAME = /pass|secret|token|(?<!ssh_private_)key(?!_file)/i;

/**
 * `name=value` pairs of secret-named variables with the value masked: an
 * error echoes the offending line, and the line may hold a password the run
 * has not learned yet (so the redactor cannot know it).
 */
export function maskSecretAssignments(text: string): string {
  // Each `name=value` runs to the next ` name=` (a host line's next variable) or the end; quotes end a quoted value.
  return text.replace(/\b([A-Za-z_][A-Za-z0-9_]*)(\s*=\s*)("[^"]*"?|'[^']*'?|.*?)(?=\s+[A-Za-z_][A-Za-z0-9_]*=|$)/gs, (whole, name: string, eq: string) =>
    SECRET_NAME.test(name) ? `${name}${eq}***` : whole,
  );
}
