import { createHash } from 'node:crypto';
import { Secret } from '../core/secret.js';
import { Cmd, raw, sh } from '../core/shell.js';
import { makeTask, noChange, type Plan, type ShellFact, type Task, type TaskOptions } from '../core/task.js';

/**
 * Debconf answers given before a package asks (Ansible's debconf module,
 * `debconf-set-selections`): Debian's OpenStack packages ask whether to
 * configure the database, register endpoints, create an admin… and a role
 * that owns that configuration preseeds "no".
 *
 * The fact asks debconf itself (`debconf-communicate`, part of `debconf`,
 * which every Debian and Ubuntu host has; `debconf-get-selections` needs
 * debconf-utils and `debconf-show` omits passwords). Values of `password`
 * questions are hashed as soon as they are read and compared as hashes; the
 * step hands every answer to `debconf-set-selections` on stdin, never in
 * argv, and a plan shows the answers with only the secret values as `***`.
 */

export type DebconfType = 'boolean' | 'string' | 'select' | 'multiselect' | 'password' | 'note' | 'text' | 'error' | 'title';

export interface DebconfSetting {
  /** `keystone/configure_db` */
  readonly question: string;
  readonly type: DebconfType;
  readonly value: string | boolean | Secret;
}

export interface DebconfArgs {
  /** Owner of the questions, e.g. 'keystone'. */
  readonly package: string;
  readonly settings: readonly DebconfSetting[];
}

/** Question → current value (hashed for passwords); null when debconf has no such question. */
export type DebconfState = ReadonlyMap<string, string | null>;

const PACKAGE = /^[a-z0-9][a-z0-9+.-]*$/;
const QUESTION = /^[A-Za-z0-9][A-Za-z0-9+._-]*(\/[A-Za-z0-9+._-]+)+$/;

const digest = (value: string): string => `sha256:${createHash('sha256').update(value).digest('hex')}`;

function text(value: string | boolean | Secret): string {
  return value instanceof Secret ? value.reveal() : typeof value === 'boolean' ? (value ? 'true' : 'false') : value;
}

/** What the fact reports for a wanted setting when it is in place. */
function expected(s: DebconfSetting): string {
  return s.type === 'password' ? digest(text(s.value)) : text(s.value);
}

function validate(args: DebconfArgs): void {
  if (!PACKAGE.test(args.package)) throw new Error(`debconf: invalid package name ${JSON.stringify(args.package)}`);
  if (args.settings.length === 0) throw new Error(`debconf ${args.package}: no settings`);
  for (const s of args.settings) {
    if (!QUESTION.test(s.question)) throw new Error(`debconf ${args.package}: invalid question name ${JSON.stringify(s.question)}`);
    // debconf-set-selections reads one answer per line; debconf-communicate answers one per line.
    if (/[\r\n\x00]/.test(text(s.value))) throw new Error(`debconf ${s.question}: values cannot contain newlines`);
    if (s.type === 'boolean' && !['true', 'false'].includes(text(s.value))) throw new Error(`debconf ${s.question}: a boolean is true or false`);
    if (s.type === 'password' && !(s.value instanceof Secret)) throw new Error(`debconf ${s.question}: a password value must be a Secret`);
  }
}

export function debconfFact(args: DebconfArgs): ShellFact<DebconfState> {
  const gets = args.settings.map((s) => `GET ${s.question}`).join('\n');
  return {
    kind: 'shell',
    // One reply line per GET: "0 value", or "10 … doesn't exist". The marker tells a missing debconf from empty answers.
    script: sh`debconf-communicate ${args.package} 2>/dev/null <<'SP_EOF'
${raw(gets)}
SP_EOF
echo @@end`,
    parse({ stdout }) {
      const lines = stdout.split('\n');
      if (!lines.includes('@@end')) throw new Error(`debconf ${args.package}: probe output was cut short`);
      const replies = lines.filter((l) => /^\d+( |$)/.test(l));
      const state = new Map<string, string | null>();
      args.settings.forEach((s, i) => {
        const m = /^(\d+)(?: (.*))?$/.exec(replies[i] ?? '');
        if (!m || m[1] !== '0') state.set(s.question, null);
        // Hashed right here: the clear value of a password never leaves parse().
        else state.set(s.question, s.type === 'password' ? digest(m[2] ?? '') : (m[2] ?? ''));
      });
      return state;
    },
    simulate: (host) => new Map(args.settings.map((s) => [s.question, host.value(`debconf:${s.question}`) ?? null] as const)),
    absorb: (host, answers) => answers.forEach((v, q) => v !== null && host.setValue(`debconf:${q}`, v)),
  };
}

/** Whether the package owning the questions is installed (dpkg's status). */
function packageInstalledFact(pkg: string): ShellFact<boolean> {
  return {
    kind: 'shell',
    script: sh`dpkg-query -W -f='\${Status}' -- ${pkg} 2>/dev/null; true`,
    parse: ({ stdout }) => stdout.trim().endsWith(' installed'),
    simulate: (host) => host.set('packages').has(pkg),
    absorb: (host, installed) => (installed ? host.set('packages').add(pkg) : host.set('packages').delete(pkg)),
  };
}

/** Preseeds debconf answers; only the ones that differ are set again. */
export function debconf<H extends string = never>(args: DebconfArgs, options?: TaskOptions<H>): Task<H> {
  validate(args);
  return makeTask({
    module: 'debconf',
    name: `debconf ${args.package}: ${args.settings.map((s) => s.question).join(' ')}`,
    options,
    facts: { current: debconfFact(args), installed: packageInstalledFact(args.package) },
    plan: ({ current, installed }): Plan => {
      // A question the installed package has unregistered (keystone's postinst ends with
      // `db_unregister keystone/create-admin-tenant`) has been asked and answered: nothing is left to preseed.
      // An upgrade registers it again, and the answer is set then.
      const unregistered = args.settings.filter((s) => installed === true && current.get(s.question) === null);
      const todo = args.settings.filter((s) => current.get(s.question) !== expected(s) && !unregistered.includes(s));
      if (todo.length === 0)
        return noChange(
          `${args.settings.length - unregistered.length} answer(s) already set${unregistered.length ? `; ${unregistered.map((s) => s.question).join(', ')} unregistered by installed ${args.package}` : ''}`,
        );
      // The here-document body piece by piece, so only secret values show as ***.
      const body: { text: string; secret: boolean }[] = [];
      todo.forEach((s, i) => {
        body.push({ text: `${i > 0 ? '\n' : ''}${args.package} ${s.question} ${s.type} `, secret: false });
        body.push({ text: text(s.value), secret: s.value instanceof Secret });
      });
      // Every line starts with "<package> ", so none can be the bare delimiter.
      const cmd = new Cmd([...sh`debconf-set-selections`.pieces, { text: ` <<'SP_EOF'\n`, secret: false }, ...body, { text: '\nSP_EOF', secret: false }]);
      return {
        action: 'change',
        summary: todo.map((s) => `${s.question} = ${s.value instanceof Secret ? '***' : text(s.value)}`).join(', '),
        steps: [
          {
            kind: 'exec',
            cmd,
            simulate: (h) => todo.forEach((s) => h.setValue(`debconf:${s.question}`, expected(s))),
          },
        ],
      };
    },
  });
}
