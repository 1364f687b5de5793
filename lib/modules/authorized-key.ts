import { pathFact } from './facts.js';
import { makeTask, type Task, type TaskOptions } from '../core/task.js';
import { planContent } from './file.js';

/**
 * Ansible's authorized_key: an SSH public key present in (or absent from) an
 * authorized_keys file, compared by key type and blob so a different comment
 * or options on the line already there count as present. The way to move a
 * host from password login (first contact) to key login: run it once with
 * `ansible_password`, and later runs log in with the key.
 */
export interface AuthorizedKeyArgs {
  /** The public key line, `ssh-ed25519 AAAA… comment` (options in front are kept as given). */
  readonly key: string;
  /** The authorized_keys file; its directory must exist (e.g. `/root/.ssh`). */
  readonly path: string;
  readonly state?: 'present' | 'absent';
  readonly owner?: string;
  readonly group?: string;
}

/** `type base64` of a public key line, options and comment left out; undefined when the line holds no key. */
export function keyIdentity(line: string): string | undefined {
  const words = line.trim().split(/\s+/);
  const i = words.findIndex((w, j) => /^(ssh-|ecdsa-|sk-)/.test(w) && /^[A-Za-z0-9+/]+=*$/.test(words[j + 1] ?? ''));
  return i < 0 ? undefined : `${words[i]} ${words[i + 1]}`;
}

export function editAuthorizedKeys(content: string, args: AuthorizedKeyArgs): string {
  const want = keyIdentity(args.key);
  if (want === undefined) throw new Error(`authorizedKey: ${args.path}: the key is not an SSH public key line`);
  const lines = content === '' ? [] : content.replace(/\n$/, '').split('\n');
  const has = lines.some((l) => keyIdentity(l) === want);
  if ((args.state ?? 'present') === 'absent') {
    const kept = lines.filter((l) => keyIdentity(l) !== want);
    return kept.length === lines.length ? content : kept.length > 0 ? `${kept.join('\n')}\n` : '';
  }
  return has ? content : `${[...lines, args.key.trim()].join('\n')}\n`;
}

export function authorizedKey<H extends string = never>(args: AuthorizedKeyArgs, options?: TaskOptions<H>): Task<H> {
  const id = keyIdentity(args.key);
  if (id === undefined) throw new Error(`authorizedKey: ${args.path}: the key is not an SSH public key line`);
  return makeTask({
    module: 'authorized_key',
    name: `authorized_key ${args.path}: ${args.state === 'absent' ? 'absent' : 'present'} ${id.split(' ')[0]}`,
    options,
    facts: { current: pathFact(args.path) },
    plan: ({ current }) => {
      if (!current && args.state === 'absent') return { action: 'none', reason: `${args.path} does not exist` };
      const before = current?.type === 'file' ? current.content : '';
      const after = editAuthorizedKeys(before, args);
      // sshd (StrictModes) refuses an authorized_keys file others can write; 0600 as ssh-copy-id leaves it.
      return planContent(
        args.path,
        current,
        after,
        { mode: '0600', owner: args.owner, group: args.group },
        args.state === 'absent' ? 'key absent' : 'key present',
      );
    },
  });
}
