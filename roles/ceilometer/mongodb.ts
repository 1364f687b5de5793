import { Secret } from '../../lib/core/secret.js';
import { sh, withStdin, type Cmd } from '../../lib/core/shell.js';
import type { Task, TaskOptions } from '../../lib/core/task.js';
import { command } from '../../lib/modules/command.js';

/**
 * A MongoDB user, as `mongo --host controller --eval 'db.addUser(…)'` in
 * the guides — but with the script on the shell's stdin, so the password
 * never shows in a process list. Works with the shell of MongoDB 2.4
 * (Ubuntu 14.04: `addUser`, which upserts) and 2.6+ (EPEL on CentOS 7:
 * `createUser`/`updateUser`). Skipped when the user exists with exactly
 * these roles and the password logs in.
 */
export interface MongoUserArgs {
  /** Where mongod listens (its bind_ip), as the shell should reach it. */
  readonly host: string;
  readonly database: string;
  readonly user: string;
  readonly password: Secret;
  readonly roles: readonly string[];
}

const js = (value: string | readonly string[]): string => JSON.stringify(value);

/** JavaScript for the mongo shell; `quit(n)` sets the exit code, an exception exits 1 instead of being printed and ignored. */
function script(body: string): string {
  return `try {\n${body}\n} catch (e) {\n  print('stackplay: ' + e);\n  quit(1);\n}\nquit(0);\n`;
}

function rolesOf(args: MongoUserArgs): string {
  return `function rolesOf(d, name) {
  if (typeof d.getUser === 'function') {
    var u = d.getUser(name);
    return u === null ? null : u.roles.map(function (r) { return r.role; });
  }
  var doc = d.system.users.findOne({ user: name });
  return doc === null ? null : doc.roles;
}
var d = db.getSiblingDB(${js(args.database)});`;
}

/** Exits 0 when the user is as wanted. */
export function mongoUserCheckScript(args: MongoUserArgs): Secret {
  return new Secret(
    script(`${rolesOf(args)}
var have = rolesOf(d, ${js(args.user)});
var want = ${js([...args.roles].sort())};
if (have === null || JSON.stringify(have.slice().sort()) !== JSON.stringify(want)) quit(3);
if (!d.auth(${js(args.user)}, ${js(args.password.reveal())})) quit(4);`),
  );
}

/** Creates the user, or resets its password and roles. */
export function mongoUserEnsureScript(args: MongoUserArgs): Secret {
  return new Secret(
    script(`${rolesOf(args)}
var spec = { user: ${js(args.user)}, pwd: ${js(args.password.reveal())}, roles: ${js(args.roles)} };
if (typeof d.createUser !== 'function') d.addUser(spec);
else if (d.getUser(spec.user) === null) d.createUser(spec);
else d.updateUser(spec.user, { pwd: spec.pwd, roles: spec.roles });
if (!d.auth(spec.user, spec.pwd)) quit(2);`),
  );
}

function mongoShell(host: string): Cmd {
  return sh`mongo --quiet --norc --host ${host}`;
}

export function mongoUser<H extends string = never>(args: MongoUserArgs, options?: TaskOptions<H>): Task<H> {
  // mongod takes a few seconds to open its journal after a (re)start.
  const wait = sh`i=0; until ${mongoShell(args.host)} --eval 'quit(0)' >/dev/null 2>&1; do i=$((i+1)); [ $i -ge 30 ] && break; sleep 1; done`;
  return command(
    {
      cmd: sh`${wait}\n${withStdin(mongoShell(args.host), mongoUserEnsureScript(args))}`,
      unless: withStdin(mongoShell(args.host), mongoUserCheckScript(args)),
    },
    { name: `mongodb user ${args.user} on ${args.database} (${args.roles.join(', ')})`, ...options },
  );
}
