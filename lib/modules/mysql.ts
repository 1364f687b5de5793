import { createHash } from 'node:crypto';
import { Secret } from '../core/secret.js';
import { Cmd, joinCmds, sh, withStdin } from '../core/shell.js';
import type { SimHost } from '../sim/sim.js';
import { makeTask, noChange, type Plan, type ShellFact, type Task, type TaskOptions } from '../core/task.js';
import type { ExecResult } from '../transport/transport.js';

/**
 * MySQL/MariaDB databases and accounts, as the install guides create them by
 * hand (`CREATE DATABASE nova; GRANT ALL PRIVILEGES ON nova.* TO
 * 'nova'@'localhost' IDENTIFIED BY '…'`).
 *
 * Passwords never reach the server in clear: an account's password is sent
 * as its mysql_native_password hash (`IDENTIFIED BY PASSWORD '*…'`),
 * computed here, and the current hash is compared here too. That form works
 * on MySQL 5.5, MariaDB 5.5 and MariaDB 10.x (Ubuntu 14.04, CentOS 7,
 * Debian 12); MySQL 8 dropped it and is not supported. All SQL travels on
 * the client's stdin through a here-document, never in argv.
 */

/** How to reach the server as an administrator. */
export interface MysqlConnection {
  /**
   * The client command, logging in as an administrator.
   * @default sh`mysql -uroot` (root through the unix socket; Debian's
   * MariaDB needs no password there). `sh\`mysql --defaults-file=/etc/mysql/debian.cnf\`` also works.
   */
  readonly client?: Cmd;
  /**
   * Root's password, when the socket login needs one (CentOS 7 after
   * mysql_secure_installation). It goes into a 0600 `.my.cnf` written through
   * a here-document in a fresh 0700 directory that is `HOME` for the client
   * only and is removed when the script exits: not argv, not MYSQL_PWD.
   * The client must then read the default option files (no --defaults-file, no --no-defaults).
   */
  readonly rootPassword?: Secret;
}

const DEFAULT_CLIENT = sh`mysql -uroot`;

/** The mysql_native_password hash, exactly what `PASSWORD()` returns on the supported servers. */
export function nativePasswordHash(password: Secret): Secret {
  const sha1 = (data: Buffer | string): Buffer => createHash('sha1').update(data).digest();
  return new Secret(`*${sha1(sha1(password.reveal())).toString('hex').toUpperCase()}`);
}

// Names are put into SQL without escaping, so what could change the meaning
// of a statement is refused instead: backslash escaping depends on the
// server's sql_mode (NO_BACKSLASH_ESCAPES), doubling quotes does not cover it.
function literal(value: string, what: string): string {
  if (/['\\\x00-\x1f\x7f]/.test(value)) throw new Error(`MySQL ${what} ${JSON.stringify(value)}: quotes, backslashes and control characters are not supported`);
  return `'${value}'`;
}

function identifier(name: string, what: string): string {
  if (name === '' || /[`\\\x00-\x1f\x7f]/.test(name))
    throw new Error(`MySQL ${what} ${JSON.stringify(name)}: empty names, backticks, backslashes and control characters are not supported`);
  return `\`${name}\``;
}

/** One line of SQL whose Secret parts show as `***`. */
function sqlLine(...parts: readonly (string | Secret)[]): Cmd {
  return new Cmd(parts.map((p) => (p instanceof Secret ? { text: p.reveal(), secret: true } : { text: p, secret: false })));
}

/**
 * `withStdin`, except that a body mixing plain SQL and secrets keeps its
 * masking piece by piece, so a plan shows the statements with only the
 * password hash as `***` (withStdin masks a secret body whole).
 */
function feedSql(cmd: Cmd, body: Cmd): Cmd {
  if (!body.hasSecret) return withStdin(cmd, body);
  const lines = body.reveal().split('\n');
  let delimiter = 'SP_EOF';
  for (let n = 1; lines.includes(delimiter); n++) delimiter = `SP_EOF_${n}`;
  return new Cmd([...cmd.pieces, { text: ` <<'${delimiter}'\n`, secret: false }, ...body.pieces, { text: `\n${delimiter}`, secret: false }]);
}

/** Option-file quoting (mysys my_default.c): double quotes, with \\ \" \n \r escaped. */
function optionValue(value: string): string {
  return `"${value.replace(/[\\"]/g, '\\$&').replace(/\n/g, '\\n').replace(/\r/g, '\\r')}"`;
}

/**
 * Runs `sql` (one statement per line) with the administrator client; `flags`
 * are appended to the client command (`-N -B`, redirections).
 */
export function mysqlScript(connection: MysqlConnection, sql: Cmd, flags: Cmd = sh``): Cmd {
  const client = connection.client ?? DEFAULT_CLIENT;
  if (!connection.rootPassword) return feedSql(sh`${client}${flags}`, sql);
  const cnf = new Secret(`[client]\npassword=${optionValue(connection.rootPassword.reveal())}\n`);
  // A subshell keeps umask, the temporary HOME and the cleanup trap local,
  // so the script can be embedded in a larger one (migration fingerprints).
  return sh`(
umask 077
d=$(mktemp -d) || exit 1
trap 'rm -rf "$d"' EXIT
${withStdin(sh`cat >"$d/.my.cnf"`, cnf)}
${feedSql(sh`HOME="$d" ${client}${flags}`, sql)}
)`;
}

// Probes print their own markers and end with one, so a failed connection
// (no marker) is told apart from an empty answer; stderr is merged in so
// that the failure message can be reported.
const PROBE_FLAGS = sh` -N -B --force 2>&1`;
const END = '@@end';

function probeLines(result: ExecResult, what: string): string[] {
  const lines = result.stdout.split('\n');
  if (!lines.includes(END)) {
    const detail = result.stdout.trim().split('\n').slice(-3).join('\n');
    throw new Error(`cannot query MySQL for ${what} (exit ${result.exitCode})${detail ? `: ${detail}` : ''}`);
  }
  return lines;
}

/** Batch mode escapes backslash, tab and newline in values. */
const unescapeBatch = (value: string): string => value.replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c === 't' ? '\t' : c === '0' ? '\0' : c));

// MariaDB 10.6+ reports utf8 as utf8mb3; they are the same character set.
const normalizeCharset = (charset: string): string => {
  const c = charset.toLowerCase();
  return c === 'utf8mb3' ? 'utf8' : c;
};

export interface MysqlDatabaseArgs extends MysqlConnection {
  readonly name: string;
  /** Default character set; enforced only when given (e.g. 'utf8'). */
  readonly charset?: string;
}

export interface MysqlDatabaseState {
  readonly exists: boolean;
  /** Default character set as the server names it; null when absent or unknown. */
  readonly charset: string | null;
}

export function mysqlDatabaseFact(args: MysqlDatabaseArgs): ShellFact<MysqlDatabaseState> {
  const sql = joinCmds(
    [
      sqlLine(`SELECT CONCAT('@@db ', DEFAULT_CHARACTER_SET_NAME) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ${literal(args.name, 'database')};`),
      sqlLine(`SELECT '${END}';`),
    ],
    '\n',
  );
  return {
    kind: 'shell',
    script: mysqlScript(args, sql, PROBE_FLAGS),
    parse(result) {
      const db = probeLines(result, `database ${args.name}`).find((l) => l.startsWith('@@db '));
      return db === undefined ? { exists: false, charset: null } : { exists: true, charset: db.slice('@@db '.length) || null };
    },
    simulate: (host) =>
      host.set('mysql:databases').has(args.name)
        ? { exists: true, charset: host.value(`mysql:charset:${args.name}`) ?? null }
        : { exists: false, charset: null },
  };
}

/** A database (`CREATE DATABASE nova`), with its default character set when one is given. */
export function mysqlDatabase<H extends string = never>(args: MysqlDatabaseArgs, options?: TaskOptions<H>): Task<H> {
  const db = identifier(args.name, 'database');
  const charset = args.charset === undefined ? '' : ` CHARACTER SET ${identifier(args.charset, 'character set')}`;
  const record = (h: SimHost): void => {
    h.set('mysql:databases').add(args.name);
    if (args.charset !== undefined) h.setValue(`mysql:charset:${args.name}`, args.charset);
  };
  return makeTask({
    module: 'mysql',
    name: `mysql database ${args.name}`,
    options,
    facts: { current: mysqlDatabaseFact(args) },
    plan: ({ current }): Plan => {
      if (!current.exists) {
        return {
          action: 'change',
          summary: `create database ${args.name}${args.charset ? ` (${args.charset})` : ''}`,
          steps: [{ kind: 'exec', cmd: mysqlScript(args, sqlLine(`CREATE DATABASE ${db}${charset};`)), simulate: record }],
        };
      }
      if (args.charset !== undefined && (current.charset === null || normalizeCharset(current.charset) !== normalizeCharset(args.charset))) {
        return {
          action: 'change',
          summary: `database ${args.name}: character set ${current.charset ?? 'unknown'} → ${args.charset} (for new tables)`,
          steps: [{ kind: 'exec', cmd: mysqlScript(args, sqlLine(`ALTER DATABASE ${db}${charset};`)), simulate: record }],
        };
      }
      return noChange(`database ${args.name} exists${args.charset ? ` with character set ${args.charset}` : ''}`);
    },
  });
}

export interface MysqlGrant {
  /** Database name; the grant is on `database`.*. */
  readonly database: string;
  /** 'ALL' (ALL PRIVILEGES) or privilege names such as ['SELECT', 'INSERT']. */
  readonly privileges: 'ALL' | readonly string[];
}

export interface MysqlUserArgs extends MysqlConnection {
  readonly user: string;
  /** Account host part(s): 'localhost', '%', '10.0.0.%'. The guides create both 'localhost' and '%'. */
  readonly host: string | readonly string[];
  readonly password: Secret;
  readonly privileges: readonly MysqlGrant[];
}

/** Database-level privileges granted to an account, as SHOW GRANTS lists them. */
export interface MysqlGrantLine {
  /** Database name, or '*' for `*.*`. */
  readonly database: string;
  /** Upper case; 'ALL PRIVILEGES' for ALL. */
  readonly privileges: readonly string[];
}

export interface MysqlAccountState {
  readonly exists: boolean;
  /** Whether the stored hash is the hash of the wanted password (false when the account is absent). */
  readonly passwordMatches: boolean;
  readonly grants: readonly MysqlGrantLine[];
}

/** Account state by host part (lower case). */
export type MysqlUserState = Readonly<Record<string, MysqlAccountState>>;

const hostsOf = (args: MysqlUserArgs): string[] => [...new Set((typeof args.host === 'string' ? [args.host] : args.host).map((h) => h.toLowerCase()))];

const HASH = /^\*[0-9A-F]{40}$/;

/** `GRANT ALL PRIVILEGES ON \`nova\`.* TO …` → { database: 'nova', privileges: ['ALL PRIVILEGES'] }; null for table, column and routine grants. */
export function parseGrantLine(line: string): MysqlGrantLine | null {
  const m = /^GRANT (.+?) ON (\*|`(?:[^`]|``)+`)\.\* TO /.exec(line);
  if (!m?.[1] || !m[2]) return null;
  // Column privileges ("SELECT (a, b)") do not grant the database.
  if (m[1].includes('(')) return null;
  // An escaped wildcard (nova\_api) names the same database as the pattern nova_api.
  const database =
    m[2] === '*'
      ? '*'
      : m[2]
          .slice(1, -1)
          .replace(/``/g, '`')
          .replace(/\\([_%])/g, '$1');
  return { database, privileges: m[1].split(',').map((p) => p.trim().toUpperCase()) };
}

function grantSatisfied(grants: readonly MysqlGrantLine[], want: MysqlGrant): boolean {
  const held = new Set(grants.filter((g) => g.database === want.database || g.database === '*').flatMap((g) => g.privileges));
  if (held.has('ALL PRIVILEGES') || held.has('ALL')) return true;
  return want.privileges !== 'ALL' && want.privileges.every((p) => held.has(p.toUpperCase()));
}

const privilegeText = (want: MysqlGrant): string => (want.privileges === 'ALL' ? 'ALL PRIVILEGES' : want.privileges.map((p) => p.toUpperCase()).join(', '));

export function mysqlUserFact(args: MysqlUserArgs): ShellFact<MysqlUserState> {
  const hosts = hostsOf(args);
  const user = literal(args.user, 'user');
  const wanted = nativePasswordHash(args.password).reveal();
  // SHOW GRANTS fails for an absent account; --force goes on with the next
  // statement. authentication_string covers servers whose SHOW GRANTS hides
  // the hash (MySQL 5.7+); MySQL/MariaDB 5.5 leave it empty and show it in SHOW GRANTS.
  const sql = joinCmds(
    [
      sqlLine(`SELECT CONCAT('@@host ', Host, ' ', IFNULL(authentication_string, '')) FROM mysql.user WHERE User = ${user};`),
      ...hosts.flatMap((h) => [sqlLine(`SELECT ${literal(`@@grants ${h}`, 'host')};`), sqlLine(`SHOW GRANTS FOR ${user}@${literal(h, 'host')};`)]),
      sqlLine(`SELECT '${END}';`),
    ],
    '\n',
  );
  return {
    kind: 'shell',
    script: mysqlScript(args, sql, PROBE_FLAGS),
    parse(result) {
      const lines = probeLines(result, `user ${args.user}`);
      const stored = new Map<string, string>();
      const grantLines = new Map<string, string[]>();
      let section: string[] | null = null;
      for (const raw of lines) {
        const line = unescapeBatch(raw);
        if (line.startsWith('@@host ')) {
          const [host = '', auth = ''] = line.slice('@@host '.length).split(' ');
          stored.set(host.toLowerCase(), auth);
          section = null;
        } else if (line.startsWith('@@grants ')) {
          section = [];
          grantLines.set(line.slice('@@grants '.length), section);
        } else if (line === END) section = null;
        else if (section && line.startsWith('GRANT ')) section.push(line);
      }
      const state: Record<string, MysqlAccountState> = {};
      for (const h of hosts) {
        const shown = grantLines.get(h) ?? [];
        const fromGrants = shown.map((l) => /IDENTIFIED BY PASSWORD '(\*[0-9A-F]{40})'/.exec(l)?.[1]).find((x) => x !== undefined);
        const auth = stored.get(h);
        const hash = fromGrants ?? (auth !== undefined && HASH.test(auth) ? auth : undefined);
        state[h] = {
          exists: stored.has(h),
          passwordMatches: stored.has(h) && hash === wanted,
          grants: shown.map(parseGrantLine).filter((g): g is MysqlGrantLine => g !== null),
        };
      }
      return state;
    },
    simulate(host) {
      const state: Record<string, MysqlAccountState> = {};
      for (const h of hosts) {
        const account = `${args.user}@${h}`;
        const exists = host.set('mysql:users').has(account);
        state[h] = {
          exists,
          passwordMatches: exists && host.value(`mysql:password:${account}`) === wanted,
          grants: [...host.set(`mysql:grants:${account}`)].map((g) => {
            const [database = '', privileges = ''] = g.split('\t');
            return { database, privileges: privileges.split(', ') };
          }),
        };
      }
      return state;
    },
  };
}

/**
 * An account per host part with the given password and database grants
 * (`GRANT ALL PRIVILEGES ON nova.* TO 'nova'@'localhost' IDENTIFIED BY …`
 * for 'localhost' and '%'). The password is checked on every run and reset
 * when it differs; grants are only added, never revoked.
 */
export function mysqlUser<H extends string = never>(args: MysqlUserArgs, options?: TaskOptions<H>): Task<H> {
  const hosts = hostsOf(args);
  const user = literal(args.user, 'user');
  for (const g of args.privileges) {
    identifier(g.database, 'database');
    if (g.privileges !== 'ALL' && (g.privileges.length === 0 || g.privileges.some((p) => !/^[A-Za-z][A-Za-z ]*$/.test(p))))
      throw new Error(`MySQL privileges for ${g.database}: expected 'ALL' or names like 'SELECT'`);
  }
  const hash = nativePasswordHash(args.password);
  return makeTask({
    module: 'mysql',
    name: `mysql user ${args.user}@${hosts.join(',')}`,
    options,
    facts: { current: mysqlUserFact(args) },
    plan: ({ current }): Plan => {
      const statements: Cmd[] = [];
      const what: string[] = [];
      const effects: ((h: SimHost) => void)[] = [];
      for (const h of hosts) {
        const state = current[h] ?? { exists: false, passwordMatches: false, grants: [] };
        const account = `${user}@${literal(h, 'host')}`;
        const simName = `${args.user}@${h}`;
        if (!state.exists) {
          statements.push(sqlLine(`CREATE USER ${account} IDENTIFIED BY PASSWORD '`, hash, `';`));
          what.push(`create ${simName}`);
        } else if (!state.passwordMatches) {
          statements.push(sqlLine(`SET PASSWORD FOR ${account} = '`, hash, `';`));
          what.push(`reset password of ${simName}`);
        }
        if (!state.exists || !state.passwordMatches) {
          effects.push((sim) => {
            sim.set('mysql:users').add(simName);
            sim.setValue(`mysql:password:${simName}`, hash.reveal());
          });
        }
        for (const g of args.privileges) {
          if (state.exists && grantSatisfied(state.grants, g)) continue;
          statements.push(sqlLine(`GRANT ${privilegeText(g)} ON ${identifier(g.database, 'database')}.* TO ${account};`));
          what.push(`grant ${privilegeText(g)} on ${g.database} to ${simName}`);
          effects.push((sim) => sim.set(`mysql:grants:${simName}`).add(`${g.database}\t${privilegeText(g)}`));
        }
      }
      if (statements.length === 0) return noChange(`${args.user}@${hosts.join(', ')}: password and grants are in place`);
      return {
        action: 'change',
        summary: what.join('; '),
        steps: [{ kind: 'exec', cmd: mysqlScript(args, joinCmds(statements, '\n')), simulate: (sim) => effects.forEach((e) => e(sim)) }],
      };
    },
  });
}
