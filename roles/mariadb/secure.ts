import { mysqlScript, type MysqlConnection } from '../../lib/modules/mysql.js';
import { raw, sh } from '../../lib/core/shell.js';
import type { SimHost } from '../../lib/sim/sim.js';
import { makeTask, noChange, type Plan, type ShellFact, type Task, type TaskOptions } from '../../lib/core/task.js';

/**
 * What `mysql_secure_installation` does, without a root password.
 *
 * The seeds typed a root password into debconf (004) or into
 * mysql_secure_installation (003) and then `mysql -u root -p` by hand.
 * stackplay never gives MySQL's root a password: root@localhost logs in
 * through the unix socket only (MariaDB's `unix_socket`, MySQL 5.5's
 * `auth_socket`), so only the host's root can be the server's root and
 * there is no password to store, to pass, or to leak through argv. That is
 * Debian 12's default already (MariaDB 10.4+); on Ubuntu 14.04 and
 * CentOS 7 this task switches root@localhost to it. The other steps of
 * mysql_secure_installation follow: anonymous accounts, root accounts for
 * other hosts (127.0.0.1, ::1, the host name) and the `test` database go.
 *
 * When the server has no socket plugin at all (no auth_socket.so), root
 * keeps its empty password on localhost and the plan says so; every other
 * step still runs.
 */

export interface SecureState {
  readonly version: string;
  readonly anonymous: readonly string[];
  /** Host part → auth plugin ('' for the native one). */
  readonly root: ReadonlyMap<string, string>;
  /** SHOW GRANTS for root@localhost (MariaDB 10.4+ shows `… OR unix_socket` there). */
  readonly rootGrants: string;
  readonly testDb: boolean;
  readonly testGrants: number;
  readonly activePlugins: readonly string[];
  /** auth_socket.so exists in the plugin directory. */
  readonly socketLibrary: boolean;
}

const SOCKET_PLUGINS = ['unix_socket', 'auth_socket'];
const SAFE_HOST = /^[A-Za-z0-9._%:-]*$/;
const END = '@@end';

/** MariaDB names the plugin unix_socket, MySQL auth_socket; both live in auth_socket.so. */
export const socketPluginOf = (version: string): 'unix_socket' | 'auth_socket' => (/mariadb/i.test(version) ? 'unix_socket' : 'auth_socket');

/** MariaDB 10.4+ stores accounts in mysql.global_priv; mysql.user is a view there. */
function mariadb104(version: string): boolean {
  const m = /^(\d+)\.(\d+)/.exec(version);
  return /mariadb/i.test(version) && m !== null && (Number(m[1]) > 10 || (Number(m[1]) === 10 && Number(m[2]) >= 4));
}

export function rootUsesSocket(state: SecureState): boolean {
  return SOCKET_PLUGINS.includes(state.root.get('localhost') ?? '') || /\bunix_socket\b|\bauth_socket\b/.test(state.rootGrants);
}

function simulatedState(host: SimHost, version: string): SecureState {
  if (host.value('mysql:secured') === 'yes' || mariadb104(version)) {
    // Debian's MariaDB 10.11 comes this way; the others after this task ran.
    const plugin = socketPluginOf(version);
    return {
      version,
      anonymous: [],
      root: new Map([['localhost', mariadb104(version) ? 'mysql_native_password' : plugin]]),
      rootGrants: mariadb104(version)
        ? "GRANT ALL PRIVILEGES ON *.* TO `root`@`localhost` IDENTIFIED VIA mysql_native_password USING 'invalid' OR unix_socket WITH GRANT OPTION"
        : '',
      testDb: false,
      testGrants: 0,
      activePlugins: [plugin],
      socketLibrary: true,
    };
  }
  // What mysql_install_db leaves on MySQL/MariaDB 5.5.
  return {
    version,
    anonymous: ['localhost', host.name],
    root: new Map([
      ['localhost', ''],
      ['127.0.0.1', ''],
      ['::1', ''],
      [host.name, ''],
    ]),
    rootGrants: "GRANT ALL PRIVILEGES ON *.* TO 'root'@'localhost' WITH GRANT OPTION",
    testDb: true,
    testGrants: 2,
    activePlugins: [],
    socketLibrary: true,
  };
}

export function secureFact(connection: MysqlConnection, simVersion: string): ShellFact<SecureState> {
  const sql = [
    `SELECT CONCAT('@@version ', VERSION());`,
    `SELECT CONCAT('@@anon ', Host) FROM mysql.user WHERE User = '';`,
    `SELECT CONCAT('@@root ', Host, ' ', IFNULL(plugin, '')) FROM mysql.user WHERE User = 'root';`,
    `SELECT CONCAT('@@testdb ', SCHEMA_NAME) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = 'test';`,
    `SELECT CONCAT('@@testgrants ', COUNT(*)) FROM mysql.db WHERE Db = 'test' OR Db = 'test\\\\_%';`,
    `SELECT CONCAT('@@plugin ', PLUGIN_NAME) FROM information_schema.PLUGINS WHERE PLUGIN_NAME IN ('unix_socket', 'auth_socket') AND PLUGIN_STATUS = 'ACTIVE';`,
    `SELECT CONCAT('@@plugindir ', @@plugin_dir);`,
    `SELECT '@@grants';`,
    `SHOW GRANTS FOR 'root'@'localhost';`,
    `SELECT '${END}';`,
  ].join('\n');
  const query = mysqlScript(connection, sh`${raw(sql)}`, sh` -N -B --force 2>&1`);
  return {
    kind: 'shell',
    script: sh`out=$( ${query}
)
printf '%s\\n' "$out"
d=$(printf '%s\\n' "$out" | sed -n 's/^@@plugindir //p')
if [ -n "$d" ] && [ -f "\${d%/}/auth_socket.so" ]; then echo '@@socketlib yes'; fi`,
    parse({ stdout }) {
      const lines = stdout.split('\n');
      if (!lines.includes(END))
        throw new Error(
          `cannot query the SQL server as root through its socket: ${lines
            .filter((l) => l.trim())
            .slice(-3)
            .join(' | ')}`,
        );
      const value = (prefix: string) => lines.filter((l) => l.startsWith(prefix)).map((l) => l.slice(prefix.length));
      const root = new Map<string, string>();
      for (const r of value('@@root ')) {
        const [host = '', plugin = ''] = r.split(' ');
        root.set(host.toLowerCase(), plugin);
      }
      const grantsAt = lines.indexOf('@@grants');
      return {
        version: value('@@version ')[0] ?? '',
        anonymous: value('@@anon '),
        root,
        rootGrants: grantsAt < 0 ? '' : lines.slice(grantsAt + 1, lines.indexOf(END)).join('\n'),
        testDb: value('@@testdb ').length > 0,
        testGrants: Number(value('@@testgrants ')[0] ?? '0') || 0,
        activePlugins: value('@@plugin '),
        socketLibrary: lines.includes('@@socketlib yes'),
      };
    },
    simulate: (host) => simulatedState(host, simVersion),
  };
}

function hostLiteral(host: string): string {
  if (!SAFE_HOST.test(host)) throw new Error(`MySQL account host ${JSON.stringify(host)}: unexpected characters, refusing to put it into SQL`);
  return `'${host}'`;
}

export interface SecureArgs extends MysqlConnection {
  /** VERSION() of the simulated server (`--plan`). */
  readonly simVersion: string;
}

export function mysqlSecureInstallation<H extends string = never>(args: SecureArgs, options?: TaskOptions<H>): Task<H> {
  return makeTask({
    module: 'mysql',
    name: 'mysql secure installation (root through the unix socket, no anonymous accounts, no test database)',
    options,
    facts: { current: secureFact(args, args.simVersion) },
    plan: ({ current }): Plan => {
      const statements: string[] = [];
      const what: string[] = [];
      const notes: string[] = [];
      let flush = false;
      for (const h of current.anonymous) {
        statements.push(`DROP USER ''@${hostLiteral(h)};`);
        what.push(`drop anonymous account @${h}`);
      }
      for (const h of current.root.keys()) {
        if (h === 'localhost') continue;
        statements.push(`DROP USER 'root'@${hostLiteral(h)};`);
        what.push(`drop root@${h}`);
      }
      if (current.testDb) {
        statements.push('DROP DATABASE `test`;');
        what.push('drop database test');
      }
      if (current.testGrants > 0) {
        statements.push(`DELETE FROM mysql.db WHERE Db = 'test' OR Db = 'test\\\\_%';`);
        what.push('remove grants on test databases');
        flush = true;
      }
      if (current.root.has('localhost') && !rootUsesSocket(current)) {
        const plugin = socketPluginOf(current.version);
        if (!current.activePlugins.includes(plugin) && !current.socketLibrary) {
          notes.push('root@localhost keeps its password login: the server has no auth_socket.so');
        } else {
          if (!current.activePlugins.includes(plugin)) statements.push(`INSTALL PLUGIN ${plugin} SONAME 'auth_socket.so';`);
          if (mariadb104(current.version)) statements.push(`ALTER USER 'root'@'localhost' IDENTIFIED VIA unix_socket;`);
          else {
            statements.push(`UPDATE mysql.user SET plugin = '${plugin}', Password = '' WHERE User = 'root' AND Host = 'localhost';`);
            flush = true;
          }
          what.push(`root@localhost logs in through the socket (${plugin})`);
        }
      }
      if (flush) statements.push('FLUSH PRIVILEGES;');
      if (statements.length === 0) return noChange(['root@localhost only, through the socket; no anonymous accounts; no test database', ...notes].join('; '));
      return {
        action: 'change',
        summary: [...what, ...notes].join('; '),
        steps: [{ kind: 'exec', cmd: mysqlScript(args, sh`${raw(statements.join('\n'))}`), simulate: (h) => h.setValue('mysql:secured', 'yes') }],
      };
    },
  });
}
