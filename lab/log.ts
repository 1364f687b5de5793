/**
 * Progress output for the lab: every step prints what it does and how long
 * it took, so a cold build (minutes) never looks hung.
 */
import chalk from 'chalk';

const t0 = Date.now();

function stamp(): string {
  return chalk.dim(`[${((Date.now() - t0) / 1000).toFixed(1).padStart(5)}s]`);
}

export function info(message: string): void {
  process.stdout.write(`${stamp()} ${message}\n`);
}

export function warn(message: string): void {
  process.stdout.write(`${stamp()} ${chalk.yellow('warning:')} ${message}\n`);
}

export function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(1)}s`;
}

/**
 * Run one step, printing `label ...` before and `label: done (N.Ns)` after.
 * The step returns a short note (e.g. "already present") shown instead of
 * "done" when it had nothing to do.
 */
export async function step<T extends string | void>(label: string, fn: () => Promise<T>): Promise<T> {
  const start = Date.now();
  info(`${label} ...`);
  try {
    const note = await fn();
    info(`${label}: ${chalk.green(typeof note === 'string' && note ? note : 'done')} ${chalk.dim(`(${seconds(Date.now() - start)})`)}`);
    return note;
  } catch (err) {
    info(`${label}: ${chalk.red('failed')} ${chalk.dim(`(${seconds(Date.now() - start)})`)}`);
    throw err;
  }
}

/** Prints `label: still running (Ns)` every `everyMs` until the returned stop function is called. */
export function heartbeat(label: string, everyMs = 15_000): () => void {
  const start = Date.now();
  const timer = setInterval(() => info(chalk.dim(`${label}: still running (${seconds(Date.now() - start)})`)), everyMs);
  timer.unref();
  return () => clearInterval(timer);
}
