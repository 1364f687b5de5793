import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * The run lock as these tests see it (their hosts are this machine's sshd,
 * so a host's state directory is local): a flock on `run.lock`, held by the
 * run's keeper process, whose argv is `sh -c LOOP stackplay-lock SSHD_PID
 * LOCK_PATH HOLDER` (lib/host-session.ts).
 */

/** Whether anything holds the lock in `stateDir`. */
export function runLockHeld(stateDir: string): boolean {
  const lock = join(stateDir, 'run.lock');
  if (!existsSync(lock)) return false;
  const r = spawnSync('flock', ['-n', '-E', '99', lock, 'true']);
  if (r.status !== 0 && r.status !== 99) throw new Error(`flock ${lock}: exit ${r.status}: ${r.stderr.toString()}`);
  return r.status === 99;
}

/**
 * The holders named by live keepers of the lock in `stateDir` (`pid N
 * user@machine since T`). A run that just ended may leave its keeper for a
 * moment: wait for the holder you mean, not for "held".
 */
export function runLockHolders(stateDir: string): string[] {
  const lock = join(stateDir, 'run.lock');
  const holders: string[] = [];
  for (const pid of readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
    let argv: string[];
    try {
      argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
    } catch {
      continue;
    }
    if (argv[3] === 'stackplay-lock' && argv[5] === lock && argv[6]) holders.push(argv[6]);
  }
  return holders;
}

/** Whether the run of controller process `pid` holds the lock in `stateDir`. */
export const runLockHeldBy = (stateDir: string, pid: number | undefined): boolean =>
  runLockHolders(stateDir).some((h) => h.startsWith(`pid ${pid} `)) && runLockHeld(stateDir);
