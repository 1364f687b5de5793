import { readFile } from 'node:fs/promises';
import { homedir, userInfo } from 'node:os';
import SSHConfig from 'ssh-config';
import { InputError } from '../core/errors.js';

/**
 * What an OpenSSH client config (`~/.ssh/config`) says about one host:
 * HostName, User, Port, IdentityFile, and how to reach it — ProxyJump, or a
 * ProxyCommand that is a plain `ssh -W %h:%p jump` (the form that predates
 * ProxyJump and means the same). Parsing and Host-pattern matching (wildcards,
 * negation, first value wins) are the `ssh-config` package's; what it does not
 * do is here: tokens, `~`, and turning ProxyCommand into a jump.
 */

export interface SshConfigHost {
  readonly hostName?: string;
  readonly user?: string;
  readonly port?: number;
  /** In the order given, `~` and tokens expanded. */
  readonly identityFiles: readonly string[];
  /** A ProxyJump list (`[user@]host[:port],…`); a ProxyCommand `ssh -W` is turned into one. */
  readonly proxyJump?: string;
}

/** Values the tokens stand for, as ssh_config(5) TOKENS. */
export interface Tokens {
  readonly h: string;
  readonly p: number;
  readonly r: string;
}

export class SshConfigFile {
  readonly #config: SSHConfig;
  readonly #lines: readonly string[];

  private constructor(
    readonly path: string,
    text: string,
  ) {
    this.#config = SSHConfig.parse(text);
    this.#lines = text.split('\n');
  }

  static parse(path: string, text: string): SshConfigFile {
    return new SshConfigFile(path, text);
  }

  /** The file, or undefined when there is none (as ssh without a config). */
  static async load(path: string): Promise<SshConfigFile | undefined> {
    let text: string;
    try {
      text = await readFile(path, 'utf8');
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') return undefined;
      throw new InputError(path, 0, `cannot read the SSH client config (${code ?? String(error)})`);
    }
    return SshConfigFile.parse(path, text);
  }

  /**
   * The settings for `alias` (the name ssh would be given). `given` holds what
   * the inventory already decided (it wins, as `ssh -o` beats the file), so
   * tokens expand to the values in force.
   */
  lookup(alias: string, given: { user?: string; port?: number } = {}): SshConfigHost {
    // matchExec false: a `Match exec` line would run a shell command while reading an inventory.
    const raw = this.#config.compute(alias, { ignoreCase: true, matchExec: false });
    const one = (name: string): string | undefined => {
      const v = raw[name];
      return Array.isArray(v) ? v[0] : v;
    };
    const hostName = one('hostname');
    const portText = one('port');
    let port: number | undefined;
    if (portText !== undefined) {
      port = Number(portText);
      if (!/^\d+$/.test(portText) || port < 1 || port > 65535) throw this.#bad(`Port ${portText}`, `Host ${alias}: Port must be 1 to 65535`);
    }
    const tokens: Tokens = {
      h: hostName !== undefined ? expandTokens(hostName, { h: alias, p: 0, r: '' }) : alias,
      p: given.port ?? port ?? 22,
      r: given.user ?? one('user') ?? '',
    };
    const identity = raw['identityfile'];
    const identityFiles = (Array.isArray(identity) ? identity : identity === undefined ? [] : [identity]).map((f) => expandPath(f, tokens));
    const jump = one('proxyjump');
    const command = one('proxycommand');
    let proxyJump: string | undefined;
    // As OpenSSH: whichever of ProxyJump and ProxyCommand comes first wins; `none` turns it off.
    const jumpFirst = jump !== undefined && (command === undefined || this.#lineOf(jump) <= this.#lineOf(command));
    if (jumpFirst) {
      if (jump.toLowerCase() !== 'none') proxyJump = expandTokens(jump, tokens);
    } else if (command !== undefined && command.toLowerCase() !== 'none') {
      proxyJump = proxyCommandJump(command, tokens);
      if (proxyJump === undefined) throw this.#bad(command, `Host ${alias}: ${PROXY_COMMAND_UNSUPPORTED}`);
    }
    const user = one('user');
    return {
      ...(hostName !== undefined ? { hostName: tokens.h } : {}),
      ...(user !== undefined ? { user: expandTokens(user, { ...tokens, r: '' }) } : {}),
      ...(port !== undefined ? { port } : {}),
      identityFiles,
      ...(proxyJump !== undefined ? { proxyJump } : {}),
    };
  }

  /** The first line holding `text` (the parser keeps no line numbers). */
  #lineOf(text: string): number {
    const i = this.#lines.findIndex((l) => l.includes(text));
    return i < 0 ? 0 : i + 1;
  }

  #bad(text: string, problem: string): InputError {
    return new InputError(this.path, this.#lineOf(text), problem, text);
  }
}

export const PROXY_COMMAND_UNSUPPORTED =
  'ProxyCommand is supported only as a plain `ssh -W %h:%p [user@]jump` (stackplay runs no local command); use ProxyJump for anything else';

/**
 * `ssh [-q] [-l user] [-p port] -W %h:%p [user@]jump` → `[user@]jump[:port]`
 * (a ProxyJump entry); undefined for any other command.
 */
export function proxyCommandJump(command: string, tokens: Tokens): string | undefined {
  const words = command.trim().split(/\s+/);
  if (words[0] === 'exec') words.shift();
  if (words.shift()?.replace(/^.*\//, '') !== 'ssh') return undefined;
  let user: string | undefined;
  let port: string | undefined;
  let forward: string | undefined;
  const rest: string[] = [];
  while (words.length > 0) {
    const w = words.shift() as string;
    if (w === '-q') continue;
    if (w === '-W' || w === '-p' || w === '-l') {
      const v = words.shift();
      if (v === undefined) return undefined;
      if (w === '-W') forward = v;
      else if (w === '-p') port = v;
      else user = v;
    } else if (w.startsWith('-')) return undefined;
    else rest.push(w);
  }
  if (forward !== '%h:%p' || rest.length !== 1) return undefined;
  const target = expandTokens(rest[0] as string, tokens);
  if (/[:,[]/.test(target) || (user !== undefined && target.includes('@'))) return undefined;
  const withUser = user !== undefined ? `${expandTokens(user, tokens)}@${target}` : target;
  return port !== undefined ? `${withUser}:${expandTokens(port, tokens)}` : withUser;
}

/** `%h`, `%p`, `%r`, `%%`; any other token is left as written. */
export function expandTokens(text: string, tokens: Tokens): string {
  return text.replace(/%([hpr%])/g, (_, t: string) => (t === 'h' ? tokens.h : t === 'p' ? String(tokens.p) : t === 'r' ? tokens.r : '%'));
}

/** IdentityFile: `~/`, `%d` (home), `%u` (local user) and the connection tokens. */
function expandPath(path: string, tokens: Tokens): string {
  const home = homedir();
  const withHome = path.startsWith('~/') ? `${home}${path.slice(1)}` : path;
  return expandTokens(withHome.replace(/%d/g, home).replace(/%u/g, userInfo().username), tokens);
}
