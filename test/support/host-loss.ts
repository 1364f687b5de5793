import { spawn, type ChildProcess } from 'node:child_process';
import { readdir, readFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { join } from 'node:path';

/** Every process below `pid` (children, grandchildren…), read from /proc. */
export async function descendants(pid: number): Promise<number[]> {
  const parent = new Map<number, number>();
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const stat = await readFile(`/proc/${entry}/stat`, 'utf8').catch(() => '');
    const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    if (ppid) parent.set(Number(entry), ppid);
  }
  const out: number[] = [];
  const walk = (p: number) => {
    for (const [child, pp] of parent) if (pp === p) (out.push(child), walk(child));
  };
  walk(pid);
  return out;
}

const signal = (pid: number, sig: NodeJS.Signals): void => {
  try {
    process.kill(pid, sig);
  } catch {
    // already gone
  }
};

/**
 * A host dies: its sshd listener and every connection and command it
 * serves. The listener is frozen first so it forks nothing new while its
 * tree is killed (children killed before the listener stay findable as its
 * descendants).
 */
export async function killHost(listenerPid: number): Promise<void> {
  signal(listenerPid, 'SIGSTOP');
  for (let round = 0; round < 20; round++) {
    const tree = await descendants(listenerPid);
    if (tree.length === 0) break;
    for (const pid of tree) signal(pid, 'SIGKILL');
    await new Promise((r) => setTimeout(r, 10));
  }
  signal(listenerPid, 'SIGKILL');
}

/** The host comes back: the same sshd config (port, host key) in its test directory. Returns the new listener. */
export async function reviveHost(dir: string, port: number): Promise<ChildProcess> {
  const child = spawn('/usr/sbin/sshd', ['-D', '-e', '-f', join(dir, 'sshd_config')], { stdio: 'ignore' });
  const deadline = Date.now() + 5000;
  for (;;) {
    const up = await new Promise<boolean>((resolve) => {
      const s = connect({ host: '127.0.0.1', port });
      s.once('connect', () => (s.destroy(), resolve(true)));
      s.once('error', () => resolve(false));
    });
    if (up) return child;
    if (Date.now() > deadline) throw new Error(`sshd on ${port} did not come back`);
    await new Promise((r) => setTimeout(r, 25));
  }
}
