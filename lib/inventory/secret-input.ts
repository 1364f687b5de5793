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

/** Why a file holding secrets (the secrets file, an SSH private key) may not be used: others can read it. As OpenSSH refuses such a key. */
export function privateModeProblem(mode: number): string | undefined {
  return (mode & 0o077) === 0 ? undefined : `is readable by others (mode ${(mode & 0o777).toString(8).padStart(4, '0')}); chmod 600 it`;
}
