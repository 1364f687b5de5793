import { raw, sh } from './shell.js';
import { STATE_DIR } from './run-id.js';

/**
 * What a run keeps on each host besides the managed files: a run lock, so
 * two runs never work on one host at once, and the handlers notified but not
 * yet run, so a run that died before its handlers ran has them replayed by
 * the next one.
 *
 * The lock names the SSH session process that holds it (pid and start
 * time, from /proc): while that process lives the host is busy; when it is
 * gone (the run ended or was killed, the link dropped) the lock is stale and
 * the next run takes it over. A run never needs to unlock after a crash.
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

// starttime is field 22 of /proc/PID/stat; the command name before it may hold spaces.
// A zombie (state Z: killed, not yet reaped — hosts whose PID 1 does not
// reap keep them) holds nothing.
const START_OF = `start_of() { s=$(sed 's/^.*) //' "/proc/$1/stat" 2>/dev/null) || return 0; case "$s" in Z*|X*) return 0 ;; esac; echo "$s" | cut -d' ' -f20; }`;

/**
 * Takes the lock (or, with `takeLock` false — check mode — only checks it)
 * and lists pending handlers. Output lines: `locked <holder>`, `stale
 * <holder>`, `pending <name>`.
 */
export function beginScript(holder: LockHolder, takeLock: boolean, stateDir = DEFAULT_STATE_DIR) {
  const lock = `${stateDir}/run.lock`;
  return sh`d=${stateDir}
mkdir -p "$d/pending" 2>/dev/null
exec 9>>"$d/run.mutex"
if command -v flock >/dev/null 2>&1; then flock -w 10 9; fi
${raw(START_OF)}
# The connection's sshd process: the SSH transport exports it (a script's own parent is its long-lived shell there).
me=\${STACKPLAY_SSH_PID:-$PPID}
if [ -f ${lock} ]; then
  read -r pid st holder < ${lock}
  if [ -n "$pid" ] && [ "$pid" != "$me" ] && [ -n "$st" ] && [ "$(start_of "$pid")" = "$st" ]; then
    printf 'locked %s\\n' "$holder"; exit 0
  fi
  printf 'stale %s\\n' "$holder"
fi
if [ ${takeLock ? '1' : '0'} = 1 ]; then printf '%s %s %s\\n' "$me" "$(start_of "$me")" ${holderText(holder)} > ${lock}; fi
for f in "$d"/pending/*; do [ -e "$f" ] && printf 'pending %s\\n' "\${f##*/}"; done
exit 0`;
}

export function parseBegin(host: string, stdout: string): HostSession {
  const pending = new Map<string, Set<string>>();
  let stale: string | undefined;
  for (const line of stdout.split('\n')) {
    const space = line.indexOf(' ');
    const [kind, rest] = space < 0 ? [line, ''] : [line.slice(0, space), line.slice(space + 1)];
    if (kind === 'locked') throw new HostLockedError(host, rest);
    if (kind === 'stale') stale = rest;
    if (kind === 'pending') {
      const parsed = parsePendingName(rest);
      if (!parsed) continue;
      const [role, handler] = parsed;
      let set = pending.get(role);
      if (!set) pending.set(role, (set = new Set()));
      set.add(handler);
    }
  }
  return { pending, ...(stale !== undefined ? { tookOverStale: stale } : {}) };
}

export function notePendingScript(role: string, handlers: readonly string[], stateDir = DEFAULT_STATE_DIR) {
  return sh`mkdir -p ${`${stateDir}/pending`} && touch ${handlers.map((h) => `${stateDir}/pending/${pendingName(role, h)}`)}`;
}

export function donePendingScript(role: string, handler: string, stateDir = DEFAULT_STATE_DIR) {
  return sh`rm -f ${`${stateDir}/pending/${pendingName(role, handler)}`}`;
}

/** Releases the lock if this session still holds it. */
export function endScript(stateDir = DEFAULT_STATE_DIR) {
  const lock = `${stateDir}/run.lock`;
  return sh`read -r pid rest < ${lock} 2>/dev/null && [ "$pid" = "\${STACKPLAY_SSH_PID:-$PPID}" ] && rm -f ${lock}; exit 0`;
}
