import { readFileSync, statSync } from 'node:fs';
import { InputError } from '../core/errors.js';
import type { ResolvedPlay } from '../core/executor.js';
import { isImplicitLocalhost } from '../core/resolve.js';
import type { Redactor } from '../core/secret.js';
import type { Inventory } from '../inventory/inventory.js';
import { privateModeProblem } from '../inventory/secret-input.js';
import { hostVarsOf } from '../inventory/vars.js';
import { JumpPool } from '../transport/jump-pool.js';
import { privateKeyState } from '../transport/ssh-handshake.js';
import { SshConfigFile } from '../transport/ssh-config.js';
import type { SshOptions } from '../transport/ssh-options.js';
import { hostReach, sshConfigPath, type HostReach, type KeyUse } from '../transport/ssh-reach.js';
import type { Ask } from './prompt.js';

/**
 * Everything the run's SSH connections need, settled before the first one:
 * each host's reach (inventory + SSH config, jump hosts), its keys readable
 * and private, each encrypted key's passphrase asked once on the terminal
 * (or left to the agent), the login password (ansible_password, or asked
 * once with --ask-pass). A key nobody can unlock stops the run here (exit
 * 5), not host by host later. Passphrases and passwords go to the redactor.
 */

export interface SshPreflightOptions {
  readonly insecureHostKeys: boolean;
  /** Asks on the terminal; undefined when there is none. */
  readonly ask: Ask | undefined;
  /** --ask-pass: ask the SSH login password once for hosts without ansible_password. */
  readonly askPass: boolean;
  /** The agent's socket (SSH_AUTH_SOCK), if one runs. */
  readonly agent: string | undefined;
  readonly redactor: Redactor;
}

/** Wrong passphrases allowed before giving up, as ssh's NumberOfPasswordPrompts. */
const PASSPHRASE_TRIES = 3;

export async function prepareSshReach(inventory: Inventory, plays: readonly ResolvedPlay[], o: SshPreflightOptions): Promise<(host: string) => SshOptions> {
  const configs = new Map<string, SshConfigFile | undefined>();
  const reaches = new Map<string, HostReach>();
  const passwords = new Map<string, string>();
  let asked: string | undefined;
  for (const host of new Set(plays.flatMap((p) => [...p.hosts.keys()]))) {
    if (isImplicitLocalhost(inventory, host)) continue;
    const vars = hostVarsOf(inventory, host);
    const path = sshConfigPath(vars);
    if (path !== undefined && !configs.has(path)) configs.set(path, await SshConfigFile.load(path));
    reaches.set(host, hostReach(vars, path === undefined ? undefined : configs.get(path), o.insecureHostKeys));
    const password = vars.opt('ansible_password') ?? vars.opt('ansible_ssh_pass');
    if (password !== undefined) {
      o.redactor.add(password);
      passwords.set(host, password);
    } else if (o.askPass) {
      if (o.ask === undefined) throw new InputError('--ask-pass', 0, 'there is no terminal to ask the SSH password on; set ansible_password instead');
      asked ??= await o.ask('SSH password: ');
      o.redactor.add(asked);
      passwords.set(host, asked);
    }
  }

  const passphrases = new Map<string, string>();
  const checked = new Set<string>();
  for (const reach of reaches.values())
    for (const key of reach.keys) {
      if (checked.has(key.path)) continue;
      checked.add(key.path);
      const passphrase = await unlock(key, o);
      if (passphrase !== undefined) passphrases.set(key.path, passphrase);
    }

  const pool = new JumpPool();
  return (host) => {
    const reach = reaches.get(host);
    if (reach === undefined) throw new Error(`no SSH reach prepared for ${host}`);
    const r = reach.options;
    const passphrase = r.privateKeyPath === undefined ? undefined : passphrases.get(r.privateKeyPath);
    const password = passwords.get(host);
    return {
      ...r,
      ...(passphrase !== undefined ? { passphrase } : {}),
      ...(password !== undefined ? { password } : {}),
      ...(o.agent !== undefined ? { agent: o.agent } : {}),
      ...(r.jumps !== undefined
        ? {
            jumps: r.jumps.map((hop) => {
              const p = hop.privateKeyPath === undefined ? undefined : passphrases.get(hop.privateKeyPath);
              return p === undefined ? hop : { ...hop, passphrase: p };
            }),
          }
        : {}),
      jumpPool: pool,
    };
  };
}

/** The key is a private file we can use: its passphrase when it is encrypted and no agent runs, else undefined. */
async function unlock(key: KeyUse, o: SshPreflightOptions): Promise<string | undefined> {
  let data: Buffer;
  try {
    const info = statSync(key.path);
    if (!info.isFile()) throw key.blame(`${key.path} is not a file`);
    const exposed = privateModeProblem(info.mode);
    if (exposed) throw key.blame(`${key.path} ${exposed}`);
    data = readFileSync(key.path);
  } catch (error) {
    if (error instanceof InputError) throw error;
    throw key.blame(`cannot read ${key.path} (${(error as NodeJS.ErrnoException).code ?? String(error)})`);
  }
  const state = privateKeyState(data);
  if (state === 'usable') return undefined;
  if (state !== 'encrypted') throw key.blame(`${key.path} is not a private key stackplay can read (OpenSSH, PEM or PPK)`);
  // The agent holds the decrypted key (ssh-add asked for the passphrase once); a passphrase asked here would only be needed without it.
  if (o.agent !== undefined) return undefined;
  if (o.ask === undefined)
    throw key.blame(
      `${key.path} is encrypted, and there is neither an SSH agent (SSH_AUTH_SOCK) holding it nor a terminal to ask its passphrase on; add it to an agent with ssh-add, or run from a terminal`,
    );
  for (let i = 0; i < PASSPHRASE_TRIES; i++) {
    const passphrase = await o.ask(`Enter passphrase for key '${key.path}': `);
    if (privateKeyState(data, passphrase) === 'usable') {
      o.redactor.add(passphrase);
      return passphrase;
    }
  }
  throw key.blame(`${key.path}: wrong passphrase (${PASSPHRASE_TRIES} tries)`);
}
