import type { TaskResult } from '../../lib/core/executor.js';

/** A task occurrence as both runs name it: host, role, handler or not, task name. */
export const taskKey = (r: Pick<TaskResult, 'host' | 'role' | 'handler' | 'task'>): string => `${r.host} ${r.role} | ${r.handler ? 'handler: ' : ''}${r.task}`;

export interface CheckComparison {
  /** Tasks `--check` predicted `changed`, sorted (a task occurring twice is listed twice). */
  readonly predicted: readonly string[];
  /** Tasks the real run reported `changed`, sorted. */
  readonly changed: readonly string[];
  /** Changed by the real run more often than `--check` predicted it changed or would run: each a broken promise. */
  readonly unpredicted: readonly string[];
}

const keysWith = (results: readonly TaskResult[], statuses: readonly TaskResult['status'][]): string[] =>
  results
    .filter((r) => statuses.includes(r.status))
    .map(taskKey)
    .sort();

export const UNKNOWN_OUTCOME = 'outcome is known only by running it';

/**
 * Check-mode results reported would-run for another reason than that their
 * outcome is known only by running them (migrations, commands with
 * `changedWhen`) or that only such a task notified them: each an unpredicted spot.
 */
export function unexplainedWouldRun(results: readonly TaskResult[]): string[] {
  const unknown = new Set(results.filter((r) => r.status === 'would-run' && r.reason === UNKNOWN_OUTCOME).map((r) => `${r.host} ${r.role} ${r.task}`));
  const notifiedByUnknown = (r: TaskResult): boolean => {
    const by = /^runs if "(.*)" changes something$/.exec(r.reason ?? '')?.[1];
    return by !== undefined && unknown.has(`${r.host} ${r.role} ${by}`);
  };
  return results.filter((r) => r.status === 'would-run' && r.reason !== UNKNOWN_OUTCOME && !notifiedByUnknown(r)).map((r) => `${taskKey(r)}: ${r.reason}`);
}

/** What a check run predicted against what the real run after it did, task by task. */
export function compareCheck(check: readonly TaskResult[], real: readonly TaskResult[]): CheckComparison {
  const changed = keysWith(real, ['changed']);
  const covered = new Map<string, number>();
  for (const k of keysWith(check, ['changed', 'would-run'])) covered.set(k, (covered.get(k) ?? 0) + 1);
  const unpredicted: string[] = [];
  for (const k of changed) {
    const left = covered.get(k) ?? 0;
    if (left > 0) covered.set(k, left - 1);
    else unpredicted.push(k);
  }
  return { predicted: keysWith(check, ['changed']), changed, unpredicted };
}
