import { raw, sh, type Cmd } from '../lib/core/shell.js';
import { makeTask, type Plan, type Task, type TaskOptions } from '../lib/core/task.js';
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
  if (/['`\\\x00-\x1f\x7f]/.test(args.database) || args.database === '') throw new Error(`database name ${JSON.stringify(args.database)} is not supported`);
  // Names were checked above: nothing in them can end a literal or an identifier.
  const sql = [
    `SELECT table_name FROM information_schema.tables WHERE table_schema = '${args.database}' ORDER BY table_name;`,
    `SELECT * FROM \`${args.database}\`.\`migrate_version\` ORDER BY 1;`,
    `SELECT * FROM \`${args.database}\`.\`alembic_version\` ORDER BY 1;`,
  ].join('\n');
  const query = mysqlScript(args, sh`${raw(sql)}`, sh` -N -B --force 2>/dev/null`);
  return { kind: 'fingerprint', script: sh`{ ${query}\n} | cksum`, asServiceUser: false };
}

/** `su -s /bin/sh -c '<cmd>' <user>`: the command becomes an argument of su, so it must not hold secrets. */
function asUser(user: string, cmd: Cmd, what: string): Cmd {
  if (cmd.hasSecret) throw new Error(`${what} must not contain secrets: su -c puts it in argv`);
  return sh`su -s /bin/sh -c ${cmd.reveal()} ${user}`;
}

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
}

/** Runs a migration as the service user; reports a change only when the fingerprint moved. */
export function dbSync<H extends string = never>(args: DbSyncArgs, options?: TaskOptions<H>): Task<H> {
  const fingerprint = args.fingerprint ?? sqlFingerprint({ database: args.service });
  const probe = fingerprint.asServiceUser ? sh`${asUser(args.user, fingerprint.script, 'the version command')} 2>/dev/null` : fingerprint.script;
  const migrate = asUser(args.user, args.command, 'the migration command');
  // A fresh database makes version commands fail: that too is a state, and
  // a migration that creates the schema then moves the fingerprint.
  const cmd = sh`fingerprint() {
${probe}
}
before=$(fingerprint) || before='(none)'
${migrate} || exit $?
after=$(fingerprint) || after='(none)'
if [ "x$before" = "x$after" ]; then echo ${SCHEMA_UNCHANGED}; else echo ${SCHEMA_CHANGED}; fi`;
  const marker = `db-sync:${args.service}`;
  return makeTask({
    module: 'migration',
    name: `db sync ${args.service}`,
    options,
    facts: {},
    plan: (): Plan => ({
      action: 'run',
      summary: `${args.command.display()} as ${args.user}`,
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
    }),
  });
}
