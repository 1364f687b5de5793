import type { HostRecap, TaskStatus } from '../core/executor.js';
import type { RecordedTask, RunRecord } from './record.js';

/**
 * What changed between two runs of the same playbook: hosts whose recap
 * differs, tasks whose status differs (or that ran in only one of them), the
 * changes the later run made, and roles whose time moved noticeably.
 */
export interface TaskRef {
  readonly host: string;
  readonly role: string;
  readonly task: string;
  readonly handler: boolean;
}

export interface RunComparison {
  readonly before: RunRecord;
  readonly after: RunRecord;
  readonly hosts: readonly { readonly host: string; readonly before?: HostRecap; readonly after?: HostRecap }[];
  readonly statusChanged: readonly (TaskRef & { readonly before: TaskStatus; readonly after: TaskStatus })[];
  readonly onlyBefore: readonly RecordedTask[];
  readonly onlyAfter: readonly RecordedTask[];
  /** What the later run changed; `again` when the earlier one changed the same task too. */
  readonly changes: readonly (RecordedTask & { readonly again: boolean })[];
  readonly roleTimes: readonly { readonly role: string; readonly beforeMs: number; readonly afterMs: number }[];
}

export interface TaskFilter {
  readonly host?: string | undefined;
  readonly role?: string | undefined;
}

export const matches = (t: { host: string; role: string }, f: TaskFilter): boolean =>
  (f.host === undefined || t.host === f.host) && (f.role === undefined || t.role === f.role);

/** Tasks by host, role, name and occurrence (a role may run a task of the same name twice), host by host in the run's order. */
function keyed(tasks: readonly RecordedTask[], hostOrder: readonly string[]): Map<string, RecordedTask> {
  const out = new Map<string, RecordedTask>();
  const seen = new Map<string, number>();
  const rank = (host: string) => (hostOrder.includes(host) ? hostOrder.indexOf(host) : hostOrder.length);
  for (const t of [...tasks].sort((x, y) => rank(x.host) - rank(y.host))) {
    const base = JSON.stringify([t.host, t.role, t.handler, t.task]);
    const n = seen.get(base) ?? 0;
    seen.set(base, n + 1);
    out.set(`${base}#${n}`, t);
  }
  return out;
}

/** The slowest host's time per role. */
export function roleTimes(record: RunRecord, filter: TaskFilter = {}): Map<string, number> {
  const out = new Map<string, number>();
  for (const r of record.roles) if (matches(r, filter)) out.set(r.role, Math.max(out.get(r.role) ?? 0, r.durationMs));
  return out;
}

const sameRecap = (a: HostRecap | undefined, b: HostRecap | undefined): boolean => JSON.stringify(a) === JSON.stringify(b);

export function compareRuns(before: RunRecord, after: RunRecord, filter: TaskFilter = {}): RunComparison {
  const a = keyed(
    before.tasks.filter((t) => matches(t, filter)),
    Object.keys(before.recap),
  );
  const b = keyed(
    after.tasks.filter((t) => matches(t, filter)),
    Object.keys(after.recap),
  );
  const hostNames = [...new Set([...Object.keys(before.recap), ...Object.keys(after.recap)])].filter((h) => filter.host === undefined || h === filter.host);
  const hosts = hostNames
    .filter((h) => !sameRecap(before.recap[h], after.recap[h]))
    .map((host) => ({ host, ...(before.recap[host] ? { before: before.recap[host] } : {}), ...(after.recap[host] ? { after: after.recap[host] } : {}) }));
  const statusChanged: RunComparison['statusChanged'][number][] = [];
  for (const [k, tb] of b) {
    const ta = a.get(k);
    if (ta && ta.status !== tb.status)
      statusChanged.push({ host: tb.host, role: tb.role, task: tb.task, handler: tb.handler, before: ta.status, after: tb.status });
  }
  const ta = roleTimes(before, filter);
  const tb = roleTimes(after, filter);
  // A role's time "moved" when it differs by a quarter and by more than two seconds: noise is neither.
  const moved = [...new Set([...ta.keys(), ...tb.keys()])]
    .map((role) => ({ role, beforeMs: ta.get(role) ?? 0, afterMs: tb.get(role) ?? 0 }))
    .filter(({ beforeMs, afterMs }) => Math.abs(afterMs - beforeMs) > 2000 && Math.abs(afterMs - beforeMs) > 0.25 * Math.max(beforeMs, afterMs));
  return {
    before,
    after,
    hosts,
    statusChanged,
    onlyBefore: [...a].filter(([k]) => !b.has(k)).map(([, t]) => t),
    onlyAfter: [...b].filter(([k]) => !a.has(k)).map(([, t]) => t),
    changes: [...b].filter(([, t]) => t.status === 'changed').map(([k, t]) => ({ ...t, again: a.get(k)?.status === 'changed' })),
    roleTimes: moved,
  };
}
