/**
 * One measured run of a command: wall time, the controller's CPU (user+sys of
 * the process and the children it waited for, by /usr/bin/time) and the peak
 * RSS of the whole process tree (sampled from /proc every 50 ms, and never
 * below time's max RSS). Shared by bench/run.ts and bench/site-rerun.ts.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { childPids } from '../lab/proc.js';

export const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

export interface Measured {
  wallS: number;
  cpuS: number;
  rssMb: number;
  code: number;
  stdout: string;
  stderr: string;
}

/** Resident memory of `pid` and every descendant, in bytes. */
function treeRss(pid: number): number {
  let total = 0;
  const stack = [pid];
  while (stack.length > 0) {
    const p = stack.pop()!;
    try {
      total += Number(fs.readFileSync(`/proc/${p}/statm`, 'utf8').split(' ')[1]) * 4096;
    } catch {
      continue;
    }
    stack.push(...childPids(p));
  }
  return total;
}

export function measure(argv: readonly string[], env: NodeJS.ProcessEnv = {}): Promise<Measured> {
  const timeFile = path.join(os.tmpdir(), `stackplay-bench-time-${process.pid}`);
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const child = spawn('/usr/bin/time', ['-f', '%U %S %M', '-o', timeFile, ...argv], {
      cwd: REPO,
      env: { ...process.env, NO_COLOR: '1', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    let peak = 0;
    const sample = (): void => {
      if (child.pid !== undefined) peak = Math.max(peak, treeRss(child.pid));
    };
    const timer = setInterval(sample, 50);
    child.on('error', reject);
    child.on('close', (code) => {
      const wallS = (performance.now() - started) / 1000;
      clearInterval(timer);
      const [user = '0', sys = '0', maxKb = '0'] = fs.readFileSync(timeFile, 'utf8').trim().split('\n').pop()!.split(' ');
      fs.rmSync(timeFile, { force: true });
      resolve({ wallS, cpuS: Number(user) + Number(sys), rssMb: Math.max(peak, Number(maxKb) * 1024) / 2 ** 20, code: code ?? -1, stdout, stderr });
    });
  });
}

export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}
