import { sh, type Cmd } from '../core/shell.js';
import { makeTask, noChange, skip, type Plan, type ShellFact, type Task, type TaskOptions } from '../core/task.js';
import { pathFact } from './facts.js';

/**
 * Backups kept on the host itself (as kolla-ansible's mariadb_backup keeps
 * them in a volume on the database host): one gzip'd tar per backup name,
 * mode 0600 in a 0700 directory, holding the given configuration paths and,
 * on a database host, a consistent dump of every database
 * (`mysqldump --single-transaction`, one file per database) with each
 * database's table list. Named backups make the run idempotent: a backup of
 * a name that exists is not taken again.
 *
 * Restoring compares before it writes: files with `tar --compare`, databases
 * by their table lists (a dropped database or table is restored; data that
 * merely changed is restored only when asked, since a running cloud changes
 * rows every few seconds).
 */
export interface BackupArgs {
  /** The backup's name: letters, digits, `.`, `_`, `-`. */
  readonly name: string;
  /** Directory on the host, e.g. /var/backups/stackplay. */
  readonly dir: string;
  /** Absolute paths to keep (those absent on the host are left out). */
  readonly paths: readonly string[];
  /** Dump the databases of the MySQL/MariaDB server here (the client logs in as root through the socket). */
  readonly databases: boolean;
  /** Backups kept in `dir`, newest first; older ones are removed after a new one is taken. */
  readonly keep: number;
}

const SYSTEM_SCHEMAS = "'information_schema','performance_schema','mysql','sys'";

export const archivePath = (dir: string, name: string): string => `${dir}/${name}.tar.gz`;

function checkName(name: string): void {
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(name)) throw new Error(`backup name ${JSON.stringify(name)}: use letters, digits, '.', '_' and '-'`);
}

const simulatedBackups = 'backups';

/** Whether the archive exists. */
function archiveFact(path: string): ShellFact<boolean> {
  return { kind: 'shell', script: sh`test -f ${path}`, parse: ({ exitCode }) => exitCode === 0, simulate: (h) => h.set(simulatedBackups).has(path) };
}

export function backupArchive<H extends string = never>(args: BackupArgs, options?: TaskOptions<H>): Task<H> {
  checkName(args.name);
  // 0 would remove the backup just taken with every other one.
  if (!Number.isInteger(args.keep) || args.keep < 1) throw new Error(`backup_keep=${args.keep}: keep at least 1 backup`);
  const archive = archivePath(args.dir, args.name);
  const dump: Cmd = args.databases
    ? sh`mkdir "$tmp/db"
mysql -uroot -N -B -e ${`SELECT schema_name FROM information_schema.schemata WHERE schema_name NOT IN (${SYSTEM_SCHEMAS}) ORDER BY schema_name`} > "$tmp/db/databases"
for db in $(cat "$tmp/db/databases"); do
  mysqldump -uroot --single-transaction --routines --events --databases "$db" > "$tmp/db/$db.sql"
  mysql -uroot -N -B -e "SELECT table_name FROM information_schema.tables WHERE table_schema='$db' ORDER BY table_name" > "$tmp/db/$db.tables"
done
members="$members -C $tmp db"`
    : sh`:`;
  return makeTask({
    module: 'backup',
    name: `backup ${args.name}${args.databases ? ' (configuration and databases)' : ' (configuration)'}`,
    options,
    facts: { exists: archiveFact(archive) },
    plan: ({ exists }): Plan => {
      if (exists) return noChange(`${archive} exists`);
      const script = sh`set -e
umask 077
mkdir -p ${args.dir}
chmod 0700 ${args.dir}
tmp=$(mktemp -d ${`${args.dir}/.tmp-XXXXXX`})
trap 'rm -rf "$tmp"' EXIT
members=
for p in ${args.paths}; do
  if [ -e "$p" ]; then members="$members -C / \${p#/}"; fi
done
${dump}
tar -czf "$tmp/archive.tar.gz" $members
chmod 0600 "$tmp/archive.tar.gz"
mv "$tmp/archive.tar.gz" ${archive}
ls -1t ${args.dir}/*.tar.gz | tail -n +${args.keep + 1} | xargs -r rm -f --`;
      return {
        action: 'change',
        summary: `archive ${args.paths.length} path(s)${args.databases ? ' and every database' : ''} into ${archive}, keep ${args.keep}`,
        steps: [{ kind: 'exec', cmd: script, simulate: (h) => void h.set(simulatedBackups).add(archive) }],
      };
    },
  });
}

/** What `tar --compare` found: the archive is missing, or the differing members (none: all equal). */
type FilesCompared = { readonly archive: 'missing' } | { readonly archive: 'present'; readonly differences: readonly string[] };

export function restoreFiles<H extends string = never>(args: { readonly dir: string; readonly name: string }, options?: TaskOptions<H>): Task<H> {
  checkName(args.name);
  const archive = archivePath(args.dir, args.name);
  const compared: ShellFact<FilesCompared> = {
    kind: 'shell',
    script: sh`a=${archive}
test -f "$a" || { echo missing; exit 0; }
echo present
tar -dzf "$a" -C / etc 2>&1 | head -n 20
exit 0`,
    parse: ({ stdout }) => {
      const [first, ...rest] = stdout.trim().split('\n');
      return first === 'missing' ? { archive: 'missing' } : { archive: 'present', differences: rest.filter(Boolean) };
    },
    simulate: (h) => (h.set(simulatedBackups).has(archive) ? { archive: 'present', differences: [] } : { archive: 'missing' }),
  };
  return makeTask({
    module: 'restore',
    name: `restore ${args.name}: configuration`,
    options,
    facts: { compared },
    plan: ({ compared }): Plan => {
      if (compared.archive === 'missing') throw new Error(`no backup ${args.name} on this host (${archive})`);
      if (compared.differences.length === 0) return noChange(`every file is as in ${archive}`);
      return {
        action: 'change',
        summary: `put back what differs from ${archive}: ${compared.differences.slice(0, 3).join('; ')}${compared.differences.length > 3 ? '; …' : ''}`,
        steps: [{ kind: 'exec', cmd: sh`tar -xzpf ${archive} -C / etc` }],
      };
    },
  });
}

/** Each database of a backup's dump: as in the backup (same tables), or missing, or with other tables. */
type DatabasesCompared = null | ReadonlyMap<string, 'same' | 'missing' | 'differs'>;

export function restoreDatabases<H extends string = never>(
  args: {
    readonly dir: string;
    readonly name: string;
    /** Also restore these even when their tables match ('all': every one). */ readonly force: readonly string[] | 'all';
  },
  options?: TaskOptions<H>,
): Task<H> {
  checkName(args.name);
  const archive = archivePath(args.dir, args.name);
  const compared: ShellFact<DatabasesCompared> = {
    kind: 'shell',
    script: sh`a=${archive}
d=$(mktemp -d); trap 'rm -rf "$d"' EXIT
tar -xzf "$a" -C "$d" --wildcards db/databases 'db/*.tables' 2>/dev/null || { echo nodump; exit 0; }
for db in $(cat "$d/db/databases"); do
  case $db in *[!A-Za-z0-9_]*) continue;; esac
  live=$(mysql -uroot -N -B -e "SELECT table_name FROM information_schema.tables WHERE table_schema='$db' ORDER BY table_name")
  if [ -z "$(mysql -uroot -N -B -e "SELECT 1 FROM information_schema.schemata WHERE schema_name='$db'")" ]; then echo "$db missing"
  elif [ "$live" = "$(cat "$d/db/$db.tables")" ]; then echo "$db same"
  else echo "$db differs"; fi
done`,
    parse: ({ stdout }) => {
      const lines = stdout.trim().split('\n').filter(Boolean);
      if (lines[0] === 'nodump') return null;
      return new Map(lines.map((l) => l.split(' ') as [string, 'same' | 'missing' | 'differs']));
    },
    simulate: () => null,
  };
  return makeTask({
    module: 'restore',
    name: `restore ${args.name}: databases`,
    options,
    facts: { compared },
    plan: ({ compared }): Plan => {
      if (compared === null) return skip(`${archive} holds no database dump`);
      const unknown = args.force === 'all' ? [] : args.force.filter((db) => !compared.has(db));
      if (unknown.length > 0) throw new Error(`${archive} holds no dump of ${unknown.join(', ')} (it has ${[...compared.keys()].join(', ')})`);
      const todo = [...compared].filter(([db, state]) => state !== 'same' || args.force === 'all' || args.force.includes(db));
      if (todo.length === 0) return noChange(`every database has the tables it had in ${archive}`);
      return {
        action: 'change',
        summary: `restore ${todo.map(([db, state]) => `${db} (${state === 'same' ? 'asked' : state})`).join(', ')} from ${archive}`,
        steps: todo.map(([db]) => ({
          kind: 'exec' as const,
          cmd: sh`set -e
d=$(mktemp -d); trap 'rm -rf "$d"' EXIT
tar -xzf ${archive} -C "$d" ${`db/${db}.sql`}
mysql -uroot -e ${`DROP DATABASE IF EXISTS \`${db}\``}
mysql -uroot < "$d"/${`db/${db}.sql`}`,
        })),
      };
    },
  });
}

/**
 * A named copy of a file that holds secrets (the inventory's secrets file,
 * on this machine): made once, mode 0600, never shown in a diff. Copies
 * beyond `keep` (by age, matching `*<suffix>` in the same directory) are removed.
 */
export function secretFileCopy<H extends string = never>(
  args: { readonly src: string; readonly dest: string; readonly keep: number; readonly suffix: string },
  options?: TaskOptions<H>,
): Task<H> {
  const dir = args.dest.slice(0, args.dest.lastIndexOf('/')) || '/';
  return makeTask({
    module: 'backup',
    name: `backup ${args.src}`,
    options,
    facts: { src: pathFact(args.src), dest: pathFact(args.dest) },
    plan: ({ src, dest }): Plan => {
      if (src === null) return skip(`no ${args.src} (secrets come from default_password)`);
      if (src.type !== 'file') throw new Error(`${args.src} is a ${src.type}, not a file`);
      if (dest !== null) return noChange(`${args.dest} exists`);
      return {
        action: 'change',
        summary: `copy ${args.src} to ${args.dest} (0600), keep ${args.keep}`,
        steps: [
          { kind: 'exec', cmd: sh`mkdir -p ${dir} && chmod 0700 ${dir}`, simulate: (h) => h.materialize(dir) },
          // No diff: the content is every secret of the inventory.
          { kind: 'write', path: args.dest, content: src.content, mode: '0600' },
          { kind: 'exec', cmd: sh`ls -1t ${dir}/*${args.suffix} | tail -n +${args.keep + 1} | xargs -r rm -f --` },
        ],
      };
    },
  });
}
