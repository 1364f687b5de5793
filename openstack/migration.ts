import { joinCmds, raw, sh, type Cmd } from '../lib/core/shell.js';
import { makeTask, noChange, type Plan, type ShellFact, type Task, type TaskOptions } from '../lib/core/task.js';
import { STATE_DIR } from '../lib/core/run-id.js';
import type { ExecResult } from '../lib/transport/transport.js';
import { mysqlScript, type MysqlConnection } from '../lib/modules/mysql.js';

/**
 * Database migrations (`keystone-manage db_sync`, `nova-manage db sync`).
 *
 * Seed 003: run as root, db_sync creates the service's log files owned by
 * root and the service then cannot start — so the command (and a version
 * command, which logs too) runs as the service user through
 * `su -s /bin/sh -c '…' user` (service users have no login shell).
 *
 * Whether a migration did anything is known only after it ran: the step
 * takes a fingerprint of the schema before and after, in the same script,
 * and prints a marker line that `changedWhen` reads.
 */

/** Something that prints a value which changes when the schema changes. */
export interface Fingerprint {
  readonly kind: 'fingerprint';
  /** Prints the fingerprint on stdout. */
  readonly script: Cmd;
  /** Run through `su` as the service user (version commands write the service's logs). */
  readonly asServiceUser: boolean;
}

/** A service's own version command: `keystone-manage db_version`, `nova-manage db version`, `glance-manage db_version`. */
export function versionCommand(cmd: Cmd): Fingerprint {
  return { kind: 'fingerprint', script: cmd, asServiceUser: true };
}

export interface SqlFingerprintArgs extends MysqlConnection {
  readonly database: string;
}

/**
 * For services without a version command: a checksum of the database's
 * table list and of its sqlalchemy-migrate (`migrate_version`) and alembic
 * (`alembic_version`) rows, read as the MySQL administrator. `--force` lets
 * the query go on when one of the version tables does not exist.
 */
export function sqlFingerprint(args: SqlFingerprintArgs): Fingerprint {
  return { kind: 'fingerprint', script: sh`{ ${schemaQuery(args)}\n} | cksum`, asServiceUser: false };
}

/** The rows sqlFingerprint sums: the database's tables and its migrate and alembic versions. */
function schemaQuery(args: SqlFingerprintArgs): Cmd {
  if (/['`\\\x00-\x1f\x7f]/.test(args.database) || args.database === '') throw new Error(`database name ${JSON.stringify(args.database)} is not supported`);
  // Names were checked above: nothing in them can end a literal or an identifier. The first row says the
  // login worked: a server that cannot be reached never sums like a schema that was read.
  const sql = [
    `SELECT 'schema of ${args.database}';`,
    `SELECT table_name FROM information_schema.tables WHERE table_schema = '${args.database}' ORDER BY table_name;`,
    `SELECT * FROM \`${args.database}\`.\`migrate_version\` ORDER BY 1;`,
    `SELECT * FROM \`${args.database}\`.\`alembic_version\` ORDER BY 1;`,
  ].join('\n');
  return mysqlScript(args, sh`${raw(sql)}`, sh` -N -B --force 2>/dev/null`);
}

/** `su -s /bin/sh -c '<cmd>' <user>`: the command becomes an argument of su, so it must not hold secrets. */
function asUser(user: string, cmd: Cmd, what: string): Cmd {
  if (cmd.hasSecret) throw new Error(`${what} must not contain secrets: su -c puts it in argv`);
  return sh`su -s /bin/sh -c ${cmd.reveal()} ${user}`;
}

/** Where dbSync records the gate key of each migration that ran to its end. */
export const DB_SYNC_RECORDS = `${STATE_DIR}/db-sync`;

export const SCHEMA_UNCHANGED = 'stackplay: schema unchanged';
export const SCHEMA_CHANGED = 'stackplay: schema changed';

/** Changed unless the script said otherwise: a missing marker (odd output) counts as a change. */
export const schemaChanged = (result: ExecResult): boolean => !result.stdout.split('\n').includes(SCHEMA_UNCHANGED);

export interface DbSyncArgs {
  /** Service name, for output and as the default database name. */
  readonly service: string;
  /** System user the service runs as. */
  readonly user: string;
  readonly command: Cmd;
  /** @default sqlFingerprint({ database: service }) — the guides name each database after its service. */
  readonly fingerprint?: Fingerprint;
  /** The databases the command migrates (what the gate sums). @default [service] */
  readonly databases?: readonly string[];
  /** Where the gate's record is kept. @default /var/lib/stackplay/db-sync */
  readonly recordDir?: string;
}

/** The first word of a migration command: the program whose package holds the migrations (`nova-manage`). */
function programOf(command: Cmd): string {
  const program = /^[A-Za-z0-9_.-]+/.exec(command.display())?.[0];
  if (!program) throw new Error(`cannot tell the program of migration command ${command.display()}`);
  return program;
}

/**
 * What a migration's outcome depends on, summed: the package that holds the
 * migration command (name and version, by dpkg or rpm; an upgrade brings new
 * migrations) and the schema of every database it migrates (a dropped or
 * hand-altered database). A program no package owns sums differently every
 * time, so its migration always runs.
 */
function gateKey(program: string, databases: readonly string[]): Cmd {
  return sh`{
p=$(command -v ${program}) && pkg=$(dpkg -S "$p" 2>/dev/null | sed -n '1s/: .*//p') && [ -n "$pkg" ] && dpkg-query -W -f='\${Package} \${Version}\\n' "$pkg" ||
  rpm -qf "$p" 2>/dev/null ||
  echo "no package owns ${program}: $$ $(date +%s%N)"
${joinCmds(
  databases.map((database) => schemaQuery({ database })),
  '\n',
)}
} | cksum`;
}

export interface SyncGate {
  /** The gate key now. */
  readonly key: string;
  /** The key recorded after the last migration that ran to its end; null: none yet. */
  readonly recorded: string | null;
}

/** Reads the gate key and the record of the last migration. */
export function syncGateFact(program: string, databases: readonly string[], record: string, marker: string): ShellFact<SyncGate> {
  return {
    kind: 'shell',
    script: sh`key=$(${gateKey(program, databases)}) || exit 1
echo "$key"
if [ -f ${record} ]; then cat ${record}; fi`,
    parse: ({ stdout, exitCode }) => {
      const [key = '', recorded] = stdout.split('\n');
      if (exitCode !== 0 || key === '') throw new Error(`cannot read the schema gate of ${program} (exit ${exitCode})`);
      return { key, recorded: recorded ? recorded : null };
    },
    // The simulated schema is current after the first sync (dbSync's step).
    simulate: (h) => ({ key: 'simulated', recorded: h.set('migrations').has(marker) ? 'simulated' : null }),
  };
}

/**
 * Runs a migration as the service user, only when it may do something: when
 * the package holding its command or the schema of its databases is not what
 * it was after the last migration that ran to its end (the gate, recorded on
 * the host). A converged host thus starts no Python manage command at all.
 * When it runs, it reports a change only when the fingerprint moved.
 */
export function dbSync<H extends string = never>(args: DbSyncArgs, options?: TaskOptions<H>): Task<H> {
  const fingerprint = args.fingerprint ?? sqlFingerprint({ database: args.service });
  const probe = fingerprint.asServiceUser ? sh`${asUser(args.user, fingerprint.script, 'the version command')} 2>/dev/null` : fingerprint.script;
  const migrate = asUser(args.user, args.command, 'the migration command');
  const program = programOf(args.command);
  const databases = args.databases ?? [args.service];
  const recordDir = args.recordDir ?? DB_SYNC_RECORDS;
  const record = `${recordDir}/${args.service}`;
  const marker = `db-sync:${args.service}`;
  // A fresh database makes version commands fail: that too is a state, and
  // a migration that creates the schema then moves the fingerprint. The record
  // is written only after the migration succeeded, from the key read after it.
  const cmd = sh`fingerprint() {
${probe}
}
before=$(fingerprint) || before='(none)'
${migrate} || exit $?
after=$(fingerprint) || after='(none)'
key=$(${gateKey(program, databases)}) && mkdir -p ${recordDir} && echo "$key" > ${`${record}.tmp`} && mv -f ${`${record}.tmp`} ${record} || exit $?
if [ "x$before" = "x$after" ]; then echo ${SCHEMA_UNCHANGED}; else echo ${SCHEMA_CHANGED}; fi`;
  return makeTask({
    module: 'migration',
    name: `db sync ${args.service}`,
    options,
    facts: { gate: syncGateFact(program, databases, record, marker) },
    plan: ({ gate }): Plan =>
      gate.recorded === gate.key
        ? noChange(`${program} and the schema of ${databases.join(', ')} are as after the last migration`)
        : {
            action: 'run',
            summary: `${args.command.display()} as ${args.user}${gate.recorded === null ? '' : ' (package or schema changed since the last migration)'}`,
            steps: [
              {
                kind: 'exec',
                cmd,
                changedWhen: schemaChanged,
                // The simulated schema is current after the first sync.
                simulate: (h) => {
                  const done = h.set('migrations').has(marker);
                  h.set('migrations').add(marker);
                  return { stdout: `${done ? SCHEMA_UNCHANGED : SCHEMA_CHANGED}\n` };
                },
              },
            ],
          },
  });
}
