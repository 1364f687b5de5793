import { raw, sh } from './shell.js';
import { STATE_DIR } from './run-id.js';

/**
 * What a run keeps on each host besides the managed files: a run lock, so
 * two runs never work on one host at once, and the handlers notified but not
 * yet run, so a run that died before its handlers ran has them replayed by
 * the next one.
 *
 * The lock is a kernel lock (flock) on `<state dir>/run.lock`, held by a
 * small keeper process that lives as long as the run's SSH connection (its
 * sshd process, polled) and whose argv names the run. Taking it writes
 * nothing, releasing it needs no command: when the run ends, is killed or
 * loses its link, the connection goes, the keeper exits and the kernel
 * drops the lock. A second run finds the keeper and names the holder.
 * Taking the lock and listing pending handlers ride along with the run's
 * first facts read (see RemoteRuntime), so an idempotent run costs one
 * round trip per role and writes nothing.
 */

/** Who runs: shown to a second run that finds the host busy. */
export interface LockHolder {
  readonly pid: number;
  readonly user: string;
  readonly machine: string;
  readonly startedAt: string;
}

export interface HostSession {
  /** Role name → handlers a previous run left notified but not run. */
  readonly pending: ReadonlyMap<string, ReadonlySet<string>>;
  /** Set when a dead run's lock was taken over. */
  readonly tookOverStale?: string;
}

/** Another run holds the host. Never retried: the user decides. */
export class HostLockedError extends Error {
  override readonly name = 'HostLockedError';
  constructor(
    readonly host: string,
    readonly holder: string,
  ) {
    super(`${host} is being run by another stackplay (${holder}); not touching it`);
  }
}

/** The lock could not be taken for a reason other than another run (no flock, no state directory). */
export class BeginFailed extends Error {
  override readonly name = 'BeginFailed';
  constructor(
    readonly host: string,
    reason: string,
  ) {
    super(`${host}: cannot take the run lock: ${reason}`);
  }
}

/** The host's state directory: /var/lib/stackplay unless the inventory says otherwise (`stackplay_state_dir`). */
export const DEFAULT_STATE_DIR = STATE_DIR;

const holderText = (h: LockHolder): string => `pid ${h.pid} ${h.user}@${h.machine} since ${h.startedAt}`.replace(/[^\w@.:+ -]/g, '_');

/** A pending marker's file name: role and handler, each kept to safe characters. */
export const pendingName = (role: string, handler: string): string => `${encodeURIComponent(role)}@${encodeURIComponent(handler)}`;

export function parsePendingName(name: string): [string, string] | null {
  const at = name.lastIndexOf('@');
  if (at <= 0) return null;
  return [decodeURIComponent(name.slice(0, at)), decodeURIComponent(name.slice(at + 1))];
}

/** Marks the keeper's argv: `sh -c LOOP stackplay-lock SSHD_PID LOCK_PATH HOLDER`. */
const KEEPER_TAG = 'stackplay-lock';

/**
 * The keeper: holds fd 9 (the locked file) while the connection's sshd
 * process lives and is not a zombie (hosts whose PID 1 does not reap keep
 * killed processes as zombies). Polls once a second, so a dead run's lock
 * is free within a second; a run that finds a dead run's keeper still there
 * waits for it. Not faster: every poll forks a `sleep`, and a run keeps one
 * keeper per host: at 5 polls a second, the 200 keepers of the N=200
 * benchmark made the converged run take 13 s instead of 10 on 2 CPUs.
 */
const KEEPER_LOOP = 'while read -r s < "/proc/$1/stat"; do case "${s##*) }" in Z*|X*) exit 0 ;; esac; sleep 1; done';

/**
 * The run holding `$lock`, from its keeper's argv: prints `SSHD_PID HOLDER`.
 * The grep pattern does not match its own argv.
 */
const HELD_BY = `held_by() {
  for f in $(grep -la '${KEEPER_TAG.replace('-', '[-]')}' /proc/[0-9]*/cmdline 2>/dev/null); do
    tr '\\0' '\\n' < "$f" 2>/dev/null | { read -r _; read -r _; read -r _; read -r tag; read -r pid; read -r path; read -r who
      [ "$tag" = ${KEEPER_TAG} ] && [ "$path" = "$lock" ] && printf '%s %s\\n' "$pid" "$who"; }
  done | head -n 1
}
alive() { read -r s < "/proc/$1/stat" 2>/dev/null || return 1; case "\${s##*) }" in Z*|X*) return 1 ;; esac; }`;

/**
 * Takes the lock (or, with `takeLock` false — check mode — only checks it,
 * creating nothing) and lists pending handlers. Output lines: `locked
 * <holder>`, `stale <holder>` (a dead run's keeper was still going; waited
 * for it), `pending <name>`, `error <message>`, and `ready` last (no
 * `ready`: the script did not finish, nothing is known). Runs as one probe of a
 * facts batch, whose stderr is not kept: problems are reported on stdout.
 */
export function beginScript(holder: LockHolder, takeLock: boolean, stateDir = DEFAULT_STATE_DIR) {
  return sh`d=${stateDir}
lock="$d/run.lock"
${raw(HELD_BY)}
# The connection's sshd process: the SSH transport exports it (a script's own parent is its long-lived shell there).
me=\${STACKPLAY_SSH_PID:-$PPID}
take=${takeLock ? '1' : '0'}
command -v flock >/dev/null 2>&1 || { echo 'error flock (util-linux) is not installed'; exit 0; }
if [ $take = 1 ]; then
  [ -d "$d/pending" ] || mkdir -p "$d/pending" 2>/dev/null || { echo "error cannot create $d/pending"; exit 0; }
  # A failed exec redirection ends the shell: try the open in a subshell first (appends nothing).
  ( : >>"$lock" ) 2>/dev/null || { echo "error cannot open $lock"; exit 0; }
  exec 9>>"$lock"
elif [ -r "$lock" ]; then
  exec 9<"$lock"
else
  exec 9</dev/null
fi
if ! flock -n 9; then
  h=$(held_by)
  if [ -n "$h" ] && alive "\${h%% *}"; then printf 'locked %s\\n' "\${h#* }"; exit 0; fi
  # Its connection is gone: its keeper exits within a second.
  if [ -n "$h" ]; then who=\${h#* }; else who='an unknown process'; fi
  flock -w 5 9 || { printf 'locked %s\\n' "$who"; exit 0; }
  [ -n "$h" ] && printf 'stale %s\\n' "$who"
fi
if [ $take = 1 ]; then
  sh -c ${KEEPER_LOOP} ${KEEPER_TAG} "$me" "$lock" ${holderText(holder)} </dev/null >/dev/null 2>&1 &
fi
for f in "$d"/pending/*; do [ -e "$f" ] && printf 'pending %s\\n' "\${f##*/}"; done
echo ready
exit 0`;
}

export function parseBegin(host: string, stdout: string): HostSession {
  const pending = new Map<string, Set<string>>();
  let stale: string | undefined;
  let ready = false;
  for (const line of stdout.split('\n')) {
    if (line === 'ready') ready = true;
    const space = line.indexOf(' ');
    const [kind, rest] = space < 0 ? [line, ''] : [line.slice(0, space), line.slice(space + 1)];
    if (kind === 'locked') throw new HostLockedError(host, rest);
    if (kind === 'stale') stale = rest;
    if (kind === 'error') throw new BeginFailed(host, rest);
    if (kind === 'pending') {
      const parsed = parsePendingName(rest);
      if (!parsed) continue;
      const [role, handler] = parsed;
      let set = pending.get(role);
      if (!set) pending.set(role, (set = new Set()));
      set.add(handler);
    }
  }
  if (!ready) throw new BeginFailed(host, 'the lock script did not finish');
  return { pending, ...(stale !== undefined ? { tookOverStale: stale } : {}) };
}

export function notePendingScript(role: string, handlers: readonly string[], stateDir = DEFAULT_STATE_DIR) {
  return sh`mkdir -p ${`${stateDir}/pending`} && touch ${handlers.map((h) => `${stateDir}/pending/${pendingName(role, h)}`)}`;
}

export function donePendingScript(role: string, handler: string, stateDir = DEFAULT_STATE_DIR) {
  return sh`rm -f ${`${stateDir}/pending/${pendingName(role, handler)}`}`;
}
