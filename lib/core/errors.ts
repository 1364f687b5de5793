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
  return text === undefined ? `${where}: ${problem}` : `${where}: ${problem}: \`${text}\``;
}
