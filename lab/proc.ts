/**
 * Processes the lab starts and later stops: always by recorded pid, checked
 * against the kernel's start time so a recycled pid is never signalled.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import type { ProcRecord } from './state.js';

function statFields(pid: number): string[] | undefined {
  let stat: string;
  try {
    stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // "pid (comm) state ppid ..." — comm may contain spaces and parentheses.
  return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
}

/** Kernel start time of `pid` (field 22 of /proc/pid/stat), undefined when there is no such process. */
export function procStarttime(pid: number): string | undefined {
  return statFields(pid)?.[19];
}

/** True while the recorded process itself (not a later process with the same pid) is running. */
export function isRunning(rec: ProcRecord): boolean {
  const fields = statFields(rec.pid);
  return fields !== undefined && fields[19] === rec.starttime && fields[0] !== 'Z';
}

/** Direct children of a process. */
export function childPids(pid: number): number[] {
  const out: number[] = [];
  let tasks: string[];
  try {
    tasks = fs.readdirSync(`/proc/${pid}/task`);
  } catch {
    return out;
  }
  for (const tid of tasks) {
    try {
      const text = fs.readFileSync(`/proc/${pid}/task/${tid}/children`, 'utf8').trim();
      if (text) out.push(...text.split(/\s+/).map(Number));
    } catch {
      // task exited meanwhile
    }
  }
  return out;
}

/**
 * Start `argv` detached from this process (own session, stdin closed,
 * stdout+stderr appended to `logFile`), so it outlives the CLI.
 * argv is passed as-is: no shell, no quoting issues.
 */
export function spawnDaemon(argv: readonly [string, ...string[]], logFile: string): ProcRecord {
  fs.mkdirSync(path.dirname(logFile), { recursive: true });
  const fd = fs.openSync(logFile, 'a');
  try {
    const [cmd, ...args] = argv;
    const child = spawn(cmd, args, { detached: true, stdio: ['ignore', fd, fd] });
    if (child.pid === undefined) throw new Error(`could not start ${cmd}`);
    child.unref();
    const starttime = procStarttime(child.pid);
    if (starttime === undefined) throw new Error(`${cmd} exited at once; see ${logFile}`);
    return { pid: child.pid, starttime, startedAt: new Date().toISOString() };
  } finally {
    fs.closeSync(fd);
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Poll `check` until it returns true or `timeoutMs` passes. */
export async function waitFor(check: () => boolean | Promise<boolean>, timeoutMs: number, everyMs = 100): Promise<boolean> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return true;
    if (Date.now() >= until) return false;
    await sleep(everyMs);
  }
}

/** Signal a recorded process if it is still the one we started; wait for it to go, then SIGKILL. */
export async function stopProcess(rec: ProcRecord, signal: NodeJS.Signals = 'SIGTERM', graceMs = 5000): Promise<boolean> {
  if (!isRunning(rec)) return false;
  try {
    process.kill(rec.pid, signal);
  } catch {
    return false;
  }
  if (await waitFor(() => !isRunning(rec), graceMs)) return true;
  try {
    process.kill(rec.pid, 'SIGKILL');
  } catch {
    // gone
  }
  await waitFor(() => !isRunning(rec), 5000);
  return true;
}
