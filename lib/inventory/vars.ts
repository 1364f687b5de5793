import { InputError } from '../core/errors.js';
import type { Inventory, SourcedValue, VarSource } from './inventory.js';

/**
 * A host's variables with typed getters. Every error names where the value
 * came from (file:line) or, for a missing one, the host's inventory line.
 * Precedence: inventory (host > group > all) > role defaults given to the
 * getter.
 */
export class HostVars {
  /** Every variable name a role asked for (found or not): unread inventory variables may be typos. */
  readonly read = new Set<string>();

  constructor(
    readonly host: string,
    readonly values: ReadonlyMap<string, SourcedValue>,
    /** Where the host is declared, for "missing variable" errors. */
    readonly declaredAt: VarSource,
  ) {}

  has(name: string): boolean {
    this.read.add(name);
    return this.values.has(name);
  }

  /** A value, the default, or an error naming the host and variable. */
  str(name: string, fallback?: string): string {
    this.read.add(name);
    const v = this.values.get(name);
    if (v !== undefined) return v.value;
    if (fallback !== undefined) return fallback;
    throw new InputError(this.declaredAt.file, this.declaredAt.line, `host ${this.host}: variable ${name} is not set`);
  }

  opt(name: string): string | undefined {
    this.read.add(name);
    return this.values.get(name)?.value;
  }

  bad(name: string, problem: string): InputError {
    return this.#bad(name, problem);
  }

  #bad(name: string, problem: string): InputError {
    const v = this.values.get(name);
    const at = v?.source ?? this.declaredAt;
    return new InputError(at.file, at.line, `host ${this.host}: ${name} ${problem}`, v ? `${name}=${v.value}` : undefined);
  }

  oneOf<const T extends string>(name: string, allowed: readonly T[], fallback?: T): T {
    const value = this.str(name, fallback);
    if (!(allowed as readonly string[]).includes(value)) throw this.#bad(name, `must be one of ${allowed.join(', ')}`);
    return value as T;
  }

  int(name: string, fallback?: number): number {
    const raw = this.opt(name);
    if (raw === undefined) {
      if (fallback !== undefined) return fallback;
      return Number(this.str(name));
    }
    if (!/^-?\d+$/.test(raw.trim())) throw this.#bad(name, 'must be a whole number');
    return Number(raw);
  }

  bool(name: string, fallback?: boolean): boolean {
    const raw = this.opt(name);
    if (raw === undefined) {
      if (fallback !== undefined) return fallback;
      this.str(name);
    }
    const v = String(raw).toLowerCase();
    if (['true', 'yes', '1', 'on'].includes(v)) return true;
    if (['false', 'no', '0', 'off'].includes(v)) return false;
    throw this.#bad(name, 'must be true or false');
  }

  /** Comma- or space-separated list. */
  list(name: string, fallback: readonly string[] = []): string[] {
    const raw = this.opt(name);
    if (raw === undefined) return [...fallback];
    return raw.split(/[\s,]+/).filter(Boolean);
  }

  /** A value that must look like an IPv4 address. */
  ipv4(name: string, fallback?: string): string {
    const value = this.str(name, fallback);
    if (!isIpv4(value)) throw this.#bad(name, 'must be an IPv4 address');
    return value;
  }

  /** An IPv4 address or a DNS name. */
  address(name: string, fallback?: string): string {
    const value = this.str(name, fallback);
    if (!isAddress(value)) throw this.#bad(name, 'must be an IPv4 address or a DNS name');
    return value;
  }

  /** A list of IPv4 addresses or DNS names (comma- or space-separated). */
  addresses(name: string, fallback: readonly string[] = []): string[] {
    const list = this.list(name, fallback);
    const bad = list.find((a) => !isAddress(a));
    if (bad !== undefined) throw this.#bad(name, `must list IPv4 addresses or DNS names (not ${JSON.stringify(bad)})`);
    return list;
  }

  /** A value matching `pattern` (described for the error), e.g. a region name. */
  matching(name: string, pattern: RegExp, description: string, fallback?: string): string {
    const value = this.str(name, fallback);
    if (!pattern.test(value)) throw this.#bad(name, `must be ${description}`);
    return value;
  }
}

function isIpv4(value: string): boolean {
  const parts = value.split('.');
  return parts.length === 4 && parts.every((p) => /^\d{1,3}$/.test(p) && Number(p) <= 255);
}

/** An IPv4 address, or a DNS name that is not a malformed address (`999.1.1.1`). */
function isAddress(value: string): boolean {
  if (/^[\d.]+$/.test(value)) return isIpv4(value);
  return value.length <= 253 && value.split('.').every((l) => /^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/.test(l));
}

/**
 * The connection variables of a host, checked before any connection (a bad
 * one would otherwise be found only after login, or hang the run); returns
 * the address the host is reached at.
 */
export function checkConnectionVars(vars: HostVars): string {
  const address = vars.address('ansible_host', vars.host);
  const port = vars.int('ansible_port', 22);
  if (port < 1 || port > 65535) throw vars.bad('ansible_port', 'must be 1 to 65535');
  vars.bool('ansible_become', false);
  for (const [name, min] of [
    ['stackplay_connect_timeout', 1],
    ['stackplay_connect_retries', 0],
  ] as const) {
    if (vars.opt(name) !== undefined && vars.int(name) < min) throw vars.bad(name, `must be at least ${min}`);
  }
  if (vars.opt('stackplay_init') !== undefined) vars.oneOf('stackplay_init', ['systemd', 'upstart', 'sysv']);
  vars.oneOf('stackplay_host_key_checking', ['accept-new', 'strict'], 'accept-new');
  return `${address}:${port}`;
}

export function hostVarsOf(inventory: Inventory, host: string): HostVars {
  const entry = inventory.hosts.get(host);
  if (!entry) throw new InputError(inventory.file, 0, `unknown host ${host}`);
  return new HostVars(host, inventory.hostVars(host), entry.source);
}
