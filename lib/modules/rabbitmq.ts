import { createHash } from 'node:crypto';
import type { Secret } from '../core/secret.js';
import { raw, sh, withStdin, type Cmd } from '../core/shell.js';
import type { SimHost } from '../sim/sim.js';
import { makeTask, noChange, type ExecStep, type Plan, type ShellFact, type Task, type TaskOptions } from '../core/task.js';

/**
 * A RabbitMQ user with its password and permissions on one vhost
 * (`rabbitmqctl add_user openstack RABBIT_PASS`, `set_permissions openstack
 * ".*" ".*" ".*"`, Juno's `change_password guest RABBIT_PASS`).
 *
 * Seed 004 lost the guest password after a restart, so the password is
 * verified on every run and reset when it does not authenticate.
 *
 * The password never goes into argv. Two routes, chosen by the probe:
 * - 'stdin': rabbitmqctl ≥ 3.7.17 / 3.8 reads the password of add_user,
 *   change_password and authenticate_user from stdin when the argument is
 *   left out (rabbitmq-cli#365); it arrives through a here-document.
 * - 'eval': older brokers (Ubuntu 14.04's 3.2, EPEL's 3.3, 3.6) only take it
 *   as an argument. There the password is written through a here-document to
 *   a 0600 file owned by the broker's user in /var/lib/rabbitmq, and
 *   `rabbitmqctl eval` has the broker node read it and call the same
 *   internal functions the CLI would (rabbit_auth_backend_internal,
 *   rabbit_access_control:check_user_pass_login); the file is removed by the
 *   same script. The eval argument holds only the file's path.
 * When neither route can verify the password ('unknown'), it is reset
 * through 'eval' and reported as changed.
 */

export interface RabbitmqUserArgs {
  readonly user: string;
  /** rabbitmqctl trims what it reads from stdin, so no surrounding whitespace or newlines. */
  readonly password: Secret;
  /** @default '/' (must exist) */
  readonly vhost?: string;
  /** configure, write, read regexps. @default ['.*', '.*', '.*'] */
  readonly permissions?: readonly [string, string, string];
  /** User tags such as ['administrator']; left alone when not given. */
  readonly tags?: readonly string[];
}

export type RabbitmqAuth = 'ok' | 'refused' | 'unknown';

export interface RabbitmqUserState {
  /** User name → tags. */
  readonly users: ReadonlyMap<string, readonly string[]>;
  /** User name → [configure, write, read] on the vhost. */
  readonly permissions: ReadonlyMap<string, readonly [string, string, string]>;
  /** Whether the wanted password authenticates the user. */
  readonly auth: RabbitmqAuth;
  /** How this broker takes passwords: see the module comment. */
  readonly passwordRoute: 'stdin' | 'eval';
}

const CTL = sh`rabbitmqctl`;
/** The broker user's home on Debian, Ubuntu and CentOS packages: readable by the broker node, not by others. */
const BROKER_HOME = '/var/lib/rabbitmq';

/** Erlang binary literal for a user name. */
const erlBinary = (value: string): string => `<<"${value.replace(/[\\"]/g, '\\$&')}">>`;

/**
 * A script that hands the password to `expression` (Erlang, evaluated on
 * the broker node, with the password bound to P) through a file only the
 * broker user can read.
 */
function evalWithPassword(password: Secret, expression: string): Cmd {
  const read = 'P = case file:read_file(F) of {ok, B} when byte_size(B) > 0 -> binary:part(B, 0, byte_size(B) - 1) end, ';
  return sh`(
f=$(mktemp ${`${BROKER_HOME}/.stackplay-XXXXXX`}) || exit 1
trap 'rm -f "$f"' EXIT
${withStdin(sh`cat >"$f"`, password)}
chown rabbitmq "$f" 2>/dev/null
${CTL} -q eval ${'F = "'}"$f"${`", ${read}${expression}`}
)`;
}

/** Calls `fun` of rabbit_auth_backend_internal with (User, P) — or (User, P, ActingUser) on 3.7+. */
function internalCall(fun: 'add_user' | 'change_password', user: string): string {
  const u = erlBinary(user);
  // `ok =` turns an error returned (rather than raised) into a failed eval, so the step fails instead of reporting a change.
  return `M = rabbit_auth_backend_internal, ok = case erlang:function_exported(M, ${fun}, 3) of true -> M:${fun}(${u}, P, <<"stackplay">>); false -> M:${fun}(${u}, P) end.`;
}

const authCheck = (user: string): string =>
  `case rabbit_access_control:check_user_pass_login(${erlBinary(user)}, P) of {ok, _} -> stackplay_auth_ok; _ -> stackplay_auth_refused end.`;

function validate(args: RabbitmqUserArgs): void {
  if (args.user === '' || /[\x00-\x1f\x7f]/.test(args.user))
    throw new Error(`RabbitMQ user ${JSON.stringify(args.user)}: empty names and control characters are not supported`);
  const pw = args.password.reveal();
  if (pw !== pw.trim() || /[\r\n]/.test(pw))
    throw new Error(
      `RabbitMQ password of ${args.user}: rabbitmqctl reads it from stdin and trims it, so leading/trailing whitespace and newlines cannot be set`,
    );
}

/** `rabbitmqctl -q list_…` rows, without the header 3.7+ prints even with -q. */
function rows(text: string, header: string): string[][] {
  return text
    .split('\n')
    .filter((l, i) => l !== '' && !(i === 0 && l === header))
    .map((l) => l.split('\t'));
}

const parseTags = (field: string): string[] =>
  field
    .replace(/^\[|\]$/g, '')
    .split(',')
    .map((t) => t.trim())
    .filter((t) => t !== '');

export function rabbitmqUserFact(args: RabbitmqUserArgs): ShellFact<RabbitmqUserState> {
  const vhost = args.vhost ?? '/';
  // 3.8+ answers "Error: failed to authenticate user"; without the stdin
  // route (3.7.16 and older) the one-argument form is a usage error, and
  // then the broker node checks the password itself through eval. (The
  // space in `$( (` keeps dash from reading an arithmetic `$((`.)
  const script = sh`${CTL} -q list_users 2>/dev/null; echo "@@list_users $?"
${CTL} -q list_permissions -p ${vhost} 2>/dev/null; echo "@@list_permissions $?"
out=$(${withStdin(sh`${CTL} authenticate_user ${args.user} 2>&1`, args.password)}
)
rc=$?
case $rc:$out in
0:*) echo '@@auth ok stdin' ;;
*'failed to authenticate'*) echo '@@auth refused stdin' ;;
*)
out=$( ${evalWithPassword(args.password, authCheck(args.user))} 2>/dev/null)
case $out in
*stackplay_auth_ok*) echo '@@auth ok eval' ;;
*stackplay_auth_refused*) echo '@@auth refused eval' ;;
*) echo '@@auth unknown eval' ;;
esac ;;
esac`;
  return {
    kind: 'shell',
    script,
    parse({ stdout }) {
      const sections = new Map<string, { rc: number; text: string }>();
      let auth: RabbitmqAuth = 'unknown';
      let passwordRoute: 'stdin' | 'eval' = 'eval';
      let pending: string[] = [];
      for (const line of stdout.split('\n')) {
        const marker = /^@@(list_users|list_permissions) (\d+)$/.exec(line);
        const authLine = /^@@auth (ok|refused|unknown) (stdin|eval)$/.exec(line);
        if (marker?.[1] && marker[2]) {
          sections.set(marker[1], { rc: Number(marker[2]), text: pending.join('\n') });
          pending = [];
        } else if (authLine?.[1] && authLine[2]) {
          auth = authLine[1] as RabbitmqAuth;
          passwordRoute = authLine[2] as 'stdin' | 'eval';
        } else pending.push(line);
      }
      for (const name of ['list_users', 'list_permissions']) {
        const s = sections.get(name);
        if (!s) throw new Error(`rabbitmqctl probe output was cut short (no ${name} result)`);
        if (s.rc !== 0)
          throw new Error(
            `rabbitmqctl ${name}${name === 'list_permissions' ? ` -p ${vhost}` : ''} failed (exit ${s.rc}): is rabbitmq-server running${vhost !== '/' ? ` and does vhost ${vhost} exist` : ''}?`,
          );
      }
      const users = new Map(rows(sections.get('list_users')?.text ?? '', 'user\ttags').map(([u = '', tags = '']) => [u, parseTags(tags)] as const));
      const permissions = new Map(
        rows(sections.get('list_permissions')?.text ?? '', 'user\tconfigure\twrite\tread').map(
          ([u = '', c = '', w = '', r = '']) => [u, [c, w, r] as const] as const,
        ),
      );
      return { users, permissions, auth, passwordRoute };
    },
    simulate(host) {
      const users = new Map(
        [...host.set('rabbitmq:users')].map((u) => [u, (host.value(`rabbitmq:tags:${u}`) ?? '').split(',').filter((t) => t !== '')] as const),
      );
      const permissions = new Map(
        [...host.set(`rabbitmq:permissions:${vhost}`)].map((entry) => {
          const [u = '', c = '', w = '', r = ''] = entry.split('\t');
          return [u, [c, w, r] as const] as const;
        }),
      );
      const stored = host.value(`rabbitmq:password:${args.user}`);
      const auth: RabbitmqAuth = users.has(args.user) && stored === passwordDigest(args.password) ? 'ok' : 'refused';
      return { users, permissions, auth, passwordRoute: 'stdin' };
    },
  };
}

/** What a simulated broker stores instead of the password. */
const passwordDigest = (password: Secret): string => createHash('sha256').update(password.reveal()).digest('hex');

function passwordStep(args: RabbitmqUserArgs, action: 'add_user' | 'change_password', route: 'stdin' | 'eval'): ExecStep {
  const cmd =
    route === 'stdin' ? withStdin(sh`${CTL} ${raw(action)} ${args.user}`, args.password) : evalWithPassword(args.password, internalCall(action, args.user));
  return {
    kind: 'exec',
    cmd,
    simulate: (h: SimHost) => {
      h.set('rabbitmq:users').add(args.user);
      h.setValue(`rabbitmq:password:${args.user}`, passwordDigest(args.password));
    },
  };
}

export function rabbitmqUser<H extends string = never>(args: RabbitmqUserArgs, options?: TaskOptions<H>): Task<H> {
  validate(args);
  const vhost = args.vhost ?? '/';
  const [configure, write, read] = args.permissions ?? ['.*', '.*', '.*'];
  return makeTask({
    module: 'rabbitmq',
    name: `rabbitmq user ${args.user}`,
    options,
    facts: { current: rabbitmqUserFact(args) },
    plan: ({ current }): Plan => {
      const steps: ExecStep[] = [];
      const what: string[] = [];
      const exists = current.users.has(args.user);
      if (!exists) {
        steps.push(passwordStep(args, 'add_user', current.passwordRoute));
        what.push(`add user ${args.user}`);
      } else if (current.auth !== 'ok') {
        steps.push(passwordStep(args, 'change_password', current.auth === 'unknown' ? 'eval' : current.passwordRoute));
        what.push(current.auth === 'unknown' ? `reset password of ${args.user} (cannot be verified on this broker)` : `reset password of ${args.user}`);
      }
      const perms = current.permissions.get(args.user);
      if (!exists || !perms || perms[0] !== configure || perms[1] !== write || perms[2] !== read) {
        steps.push({
          kind: 'exec',
          cmd: sh`${CTL} set_permissions -p ${vhost} ${args.user} ${configure} ${write} ${read}`,
          simulate: (h) => {
            const set = h.set(`rabbitmq:permissions:${vhost}`);
            for (const e of set) if (e.startsWith(`${args.user}\t`)) set.delete(e);
            set.add([args.user, configure, write, read].join('\t'));
          },
        });
        what.push(`permissions on ${vhost}: "${configure}" "${write}" "${read}"`);
      }
      if (args.tags) {
        const want = [...args.tags].sort();
        const have = [...(current.users.get(args.user) ?? [])].sort();
        if (!exists || want.join(',') !== have.join(',')) {
          steps.push({
            kind: 'exec',
            cmd: sh`${CTL} set_user_tags ${args.user} ${args.tags}`,
            simulate: (h) => h.setValue(`rabbitmq:tags:${args.user}`, want.join(',')),
          });
          what.push(`tags [${want.join(', ')}]`);
        }
      }
      if (steps.length === 0) return noChange(`${args.user} authenticates and has permissions on ${vhost}`);
      return { action: 'change', summary: what.join('; '), steps };
    },
  });
}
