import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { resolve } from 'node:path';
import { InputError } from '../core/errors.js';
import type { HostVars } from '../inventory/vars.js';
import { proxyCommandJump, PROXY_COMMAND_UNSUPPORTED, SshConfigFile, type SshConfigHost } from './ssh-config.js';
import type { HostKeyPolicy, SshHop, SshOptions } from './ssh-options.js';

/**
 * How a host is reached, from its inventory variables and the SSH client
 * config, as `ssh` would with Ansible's options: the inventory wins
 * (`ansible_host`, `ansible_port`, `ansible_user`, the key; jumps from
 * `stackplay_jump_host` or `ansible_ssh_common_args`), then the config's
 * Host blocks matched against `ansible_host` (HostName, Port, User,
 * IdentityFile, ProxyJump or `ProxyCommand ssh -W`), then the defaults.
 * Jump hosts are looked up in the config too (their own HostName, User,
 * IdentityFile and ProxyJump, so a chain nests). Pure apart from reading
 * which IdentityFiles exist; secrets (passphrases, passwords) are added by
 * the caller.
 */

/** Where a value came from, to build an error naming it. */
export type Blame = (problem: string) => InputError;

/** One private key a connection would use, and whom to blame for it. */
export interface KeyUse {
  readonly path: string;
  readonly blame: Blame;
}

export interface HostReach {
  /** Everything but the secrets (passphrase, password) and the shared jump pool. */
  readonly options: SshOptions;
  /** The keys this host's connection reads: its own, then each jump host's. */
  readonly keys: readonly KeyUse[];
}

/** Nested ProxyJumps deeper than this are a loop in the config. */
const MAX_HOPS = 8;

/** A ProxyJump entry: `[user@]host[:port]` or `ssh://[user@]host[:port]`. */
export function parseJumpEntry(entry: string): { user?: string; host: string; port?: number } | string {
  const m = /^(?:ssh:\/\/)?(?:([^@\s/:]+)@)?([^@\s/:[\]]+|\[[^\]]+\])(?::(\d+))?$/.exec(entry.trim());
  if (m === null) return `${JSON.stringify(entry)} is not [user@]host[:port]`;
  const port = m[3] === undefined ? undefined : Number(m[3]);
  if (port !== undefined && (port < 1 || port > 65535)) return `port of ${JSON.stringify(entry)} must be 1 to 65535`;
  const host = (m[2] as string).replace(/^\[|\]$/g, '');
  return { ...(m[1] !== undefined ? { user: m[1] } : {}), host, ...(port !== undefined ? { port } : {}) };
}

/** Shell-like words (quotes group, backslash escapes), as Ansible splits ansible_ssh_common_args. */
function shellWords(text: string): string[] | undefined {
  const words: string[] = [];
  const re = /\s*(?:"((?:[^"\\]|\\.)*)"|'([^']*)'|((?:[^\s"'\\]|\\.)+))/gy;
  let word: string | undefined;
  let last = 0;
  for (let m = re.exec(text); m !== null; m = re.exec(text)) {
    const glued = m.index === last && word !== undefined && !/^\s/.test(m[0]);
    const part = m[1] ?? m[2] ?? (m[3] as string).replace(/\\(.)/g, '$1');
    if (glued) words[words.length - 1] += part;
    else words.push(part);
    word = part;
    last = re.lastIndex;
  }
  return text.slice(last).trim() === '' ? words : undefined;
}

/**
 * The jump list `ansible_ssh_common_args` asks for (`-o ProxyJump=…`, `-J …`,
 * `-o ProxyCommand="ssh -W %h:%p …"`); any other option is refused, since
 * stackplay runs no ssh binary that would honour it.
 */
export function jumpFromCommonArgs(args: string, tokens: { h: string; p: number; r: string }): string | undefined {
  const words = shellWords(args);
  if (words === undefined) throw new Error('has an unclosed quote');
  let jump: string | undefined;
  for (let i = 0; i < words.length; i++) {
    const w = words[i] as string;
    let option: string | undefined;
    if (w === '-J') {
      option = `ProxyJump=${words[++i] ?? ''}`;
    } else if (w === '-o') option = words[++i];
    else if (w.startsWith('-o')) option = w.slice(2);
    if (option === undefined)
      throw new Error(`option ${JSON.stringify(w)} is not understood (only -o ProxyJump=…, -J … and -o ProxyCommand="ssh -W %h:%p jump")`);
    const m = /^(\w+)\s*[= ]\s*(.*)$/s.exec(option.trim());
    const name = m?.[1]?.toLowerCase();
    const value = m?.[2] ?? '';
    if (name === 'proxyjump') jump ??= value;
    else if (name === 'proxycommand') {
      const fromCommand = proxyCommandJump(value, tokens);
      if (fromCommand === undefined) throw new Error(PROXY_COMMAND_UNSUPPORTED);
      jump ??= fromCommand;
    } else
      throw new Error(
        `option ${JSON.stringify(option)} is not understood (only ProxyJump and ProxyCommand; host keys: stackplay_host_key_checking, --insecure-host-keys)`,
      );
  }
  return jump;
}

/** The first IdentityFile that exists (OpenSSH skips missing ones silently). */
function firstExisting(files: readonly string[]): string | undefined {
  return files.find((f) => existsSync(f));
}

/** The host's connection, as far as the inventory and the SSH config tell. */
export function hostReach(vars: HostVars, config: SshConfigFile | undefined, insecure: boolean): HostReach {
  const alias = vars.str('ansible_host', vars.host);
  const looked: SshConfigHost = config?.lookup(alias, {
    ...(vars.opt('ansible_user') !== undefined ? { user: vars.str('ansible_user') } : {}),
    ...(vars.opt('ansible_port') !== undefined ? { port: vars.int('ansible_port') } : {}),
  }) ?? { identityFiles: [] };
  const address = looked.hostName ?? alias;
  const port = vars.opt('ansible_port') !== undefined ? vars.int('ansible_port') : (looked.port ?? 22);
  const username = vars.opt('ansible_user') ?? looked.user ?? 'root';
  const configBlame: Blame = (problem) => new InputError(config?.path ?? '~/.ssh/config', 0, problem);

  const keyVar = vars.opt('ansible_ssh_private_key_file') !== undefined ? 'ansible_ssh_private_key_file' : 'ansible_private_key_file';
  const inventoryKey = vars.opt(keyVar);
  const configKey = firstExisting(looked.identityFiles);
  const keys: KeyUse[] = [];
  let privateKeyPath: string | undefined;
  if (inventoryKey !== undefined) {
    privateKeyPath = resolve(inventoryKey);
    keys.push({ path: privateKeyPath, blame: (p) => vars.bad(keyVar, p) });
  } else if (configKey !== undefined) {
    privateKeyPath = configKey;
    keys.push({ path: configKey, blame: (p) => configBlame(`Host ${alias}: IdentityFile ${configKey} ${p}`) });
  }

  const jumpVar = vars.opt('stackplay_jump_host');
  const commonArgs = vars.opt('ansible_ssh_common_args');
  if (jumpVar !== undefined && commonArgs !== undefined && /ProxyJump|ProxyCommand|-J\b/i.test(commonArgs))
    throw vars.bad('stackplay_jump_host', 'and a jump in ansible_ssh_common_args are both set; keep one');
  let jumpSpec: string | undefined;
  let jumpBlame: Blame = configBlame;
  if (jumpVar !== undefined) {
    jumpSpec = jumpVar.toLowerCase() === 'none' ? undefined : jumpVar;
    jumpBlame = (p) => vars.bad('stackplay_jump_host', p);
  } else if (commonArgs !== undefined) {
    try {
      jumpSpec = jumpFromCommonArgs(commonArgs, { h: address, p: port, r: username });
    } catch (error) {
      throw vars.bad('ansible_ssh_common_args', (error as Error).message);
    }
    jumpBlame = (p) => vars.bad('ansible_ssh_common_args', p);
    if (jumpSpec?.toLowerCase() === 'none') jumpSpec = undefined;
  } else jumpSpec = looked.proxyJump;
  const jumps = jumpSpec === undefined ? [] : resolveJumps(jumpSpec, config, username, jumpBlame, keys, 0);

  const options: SshOptions = {
    host: vars.host,
    address,
    port,
    username,
    ...(privateKeyPath !== undefined ? { privateKeyPath } : {}),
    ...(jumps.length > 0 ? { jumps } : {}),
    knownHostsPath: resolve(vars.str('stackplay_known_hosts', `${homedir()}/.ssh/known_hosts`)),
    hostKeyPolicy: insecure
      ? 'insecure'
      : vars.oneOf<Exclude<HostKeyPolicy, 'insecure'>>('stackplay_host_key_checking', ['accept-new', 'strict'], 'accept-new'),
    connectTimeoutMs: vars.int('stackplay_connect_timeout', 10) * 1000,
  };
  return { options, keys };
}

/** A ProxyJump list as hops, outermost first, each looked up in the config (whose own ProxyJump comes before it). */
function resolveJumps(spec: string, config: SshConfigFile | undefined, defaultUser: string, blame: Blame, keys: KeyUse[], depth: number): SshHop[] {
  if (depth >= MAX_HOPS) throw blame(`leads through more than ${MAX_HOPS} jump hosts (a ProxyJump loop in the SSH config?)`);
  const hops: SshHop[] = [];
  for (const entry of spec.split(',')) {
    const parsed = parseJumpEntry(entry);
    if (typeof parsed === 'string') throw blame(parsed);
    const looked = config?.lookup(parsed.host, {
      ...(parsed.user !== undefined ? { user: parsed.user } : {}),
      ...(parsed.port !== undefined ? { port: parsed.port } : {}),
    });
    if (looked?.proxyJump !== undefined) hops.push(...resolveJumps(looked.proxyJump, config, defaultUser, blame, keys, depth + 1));
    const key = firstExisting(looked?.identityFiles ?? []);
    if (key !== undefined) keys.push({ path: key, blame: (p) => new InputError(config?.path ?? '', 0, `Host ${parsed.host}: IdentityFile ${key} ${p}`) });
    hops.push({
      name: parsed.host,
      address: looked?.hostName ?? parsed.host,
      port: parsed.port ?? looked?.port ?? 22,
      // OpenSSH would log in to a jump host as the local user; stackplay's hosts are all reached as the target's user unless told.
      username: parsed.user ?? looked?.user ?? defaultUser,
      ...(key !== undefined ? { privateKeyPath: key } : {}),
    });
  }
  if (hops.length > MAX_HOPS) throw blame(`leads through more than ${MAX_HOPS} jump hosts`);
  return hops;
}

/** The SSH client config a host reads: `stackplay_ssh_config`, `none` for no file, default `~/.ssh/config`. */
export function sshConfigPath(vars: HostVars): string | undefined {
  const path = vars.str('stackplay_ssh_config', `${homedir()}/.ssh/config`);
  return path === 'none' ? undefined : resolve(path);
}
