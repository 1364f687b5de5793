import { inspect } from 'node:util';

export const MASK = '***';

/**
 * A value that must never be shown. It prints as `***` through every path
 * that turns it into text by accident (template strings, JSON, console.log);
 * only `reveal()` gives the value, and only code that writes it to a host
 * calls that.
 */
export class Secret {
  readonly #value: string;
  constructor(value: string) {
    this.#value = value;
  }
  reveal(): string {
    return this.#value;
  }
  toString(): string {
    return MASK;
  }
  toJSON(): string {
    return MASK;
  }
  [inspect.custom](): string {
    return `Secret(${MASK})`;
  }
}

export function isSecret(value: unknown): value is Secret {
  return value instanceof Secret;
}

// Values this run does not know can still be secrets: an old password in a
// file's previous content, a credential someone else set. They are masked by
// shape — URL credentials, and assignments to password/secret/token keys —
// wherever text is shown (diff lines keep their +/-/space marker).
const URL_CREDENTIALS = /\b([a-z][a-z0-9+.-]*:\/\/[^:/@\s]+):[^@\s/]+@/gi;
const SECRET_ASSIGNMENT = /^([+\- ]?\s*(?:export\s+)?[\w.-]*(?:pass(?:word)?|passwd|secret|token|credential)[\w.-]*\s*[=:]\s*)(?!\*\*\*$)(\S.*?)\s*$/gim;

export function maskByShape(text: string): string {
  return text.replace(URL_CREDENTIALS, `$1:${MASK}@`).replace(SECRET_ASSIGNMENT, `$1${MASK}`);
}

/**
 * Masks known secret values in text that came back from a host (stderr,
 * file contents before a change, API bodies). Structural masking covers what
 * we build; this covers what hosts echo back to us.
 */
export class Redactor {
  readonly #values = new Set<string>();
  #pattern: RegExp | null = null;

  add(value: Secret | string): void {
    const text = typeof value === 'string' ? value : value.reveal();
    if (text.length === 0 || this.#values.has(text)) return;
    this.#values.add(text);
    this.#pattern = null;
  }

  redact(text: string): string {
    if (text.length === 0) return text;
    text = maskByShape(text);
    if (this.#values.size === 0) return text;
    // Longest first: a secret may contain another. Not inside a longer word
    // or name: with default_password=openstack the password is masked, but
    // `openstack-dashboard` and `python3-openstackclient` still read as such.
    this.#pattern ??= new RegExp(
      `(?<![A-Za-z0-9_-])(?:${[...this.#values]
        .sort((a, b) => b.length - a.length)
        .map((v) => v.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'))
        .join('|')})(?![A-Za-z0-9_-])`,
      'g',
    );
    return text.replace(this.#pattern, MASK);
  }

  /** Deep-redacts strings inside plain data (reports, JSON). */
  redactDeep<T>(value: T): T {
    if (typeof value === 'string') return this.redact(value) as T;
    if (Array.isArray(value)) return value.map((v) => this.redactDeep(v)) as T;
    if (value instanceof Secret) return MASK as T;
    if (value !== null && typeof value === 'object') {
      return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, this.redactDeep(v)])) as T;
    }
    return value;
  }
}
