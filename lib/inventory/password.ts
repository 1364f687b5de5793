/**
 * Why a password given by hand (`default_password`, a value edited into the
 * secrets file) cannot be used, or undefined. Passwords land in connection
 * URLs (encoded there), INI files read by oslo.config (which expands
 * `$name`) and command input; generated ones are hex.
 */
export function passwordProblem(value: string): string | undefined {
  if (value.length < 8) return 'must be at least 8 characters long';
  if (value.includes('$')) return "must not contain '$' (oslo.config would read it as a reference to another option)";
  if (/\s/.test(value)) return 'must not contain spaces';
  return undefined;
}
