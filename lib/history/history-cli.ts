import { Command } from 'commander';
import { resolve } from 'node:path';
import { InputError } from '../core/errors.js';
import type { HostRecap } from '../core/executor.js';
import { duration, renderReport } from '../report/html.js';
import { compareRuns, matches, roleTimes, type RunComparison, type TaskFilter } from './compare.js';
import { whoRan, type RunRecord } from './record.js';
import { writeAtomically } from './run-log.js';
import { historyDirFor, RunStore } from './store.js';

/**
 * `history`: the runs recorded beside an inventory (or in --history-dir):
 * list them, show one, compare two, or write one's HTML report. It reads
 * records only; they were redacted when written.
 */

export interface HistoryIo {
  readonly stdout: NodeJS.WritableStream;
  readonly stderr: NodeJS.WritableStream;
}

const when = (iso: string): string => {
  const d = new Date(iso);
  return `${d.toUTCString().slice(0, 3)} ${iso.slice(0, 16).replace('T', ' ')}Z`;
};

const totals = (r: RunRecord) => {
  const all = Object.values(r.recap);
  const sum = (k: keyof HostRecap) => all.reduce((n, c) => n + c[k], 0);
  return { hosts: all.length, changed: sum('changed'), failed: sum('failed'), unreachable: sum('unreachable') };
};

const label = (t: { role: string; task: string; handler: boolean }) => `${t.role} | ${t.handler ? 'handler: ' : ''}${t.task}`;

function table(rows: readonly (readonly string[])[]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  return rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join('  ')).join('\n');
}

export function formatList(records: readonly RunRecord[], all: readonly string[]): string {
  if (records.length === 0) return 'no recorded runs match\n';
  const rows = [['#', 'id', 'started', 'playbook', 'status', 'took', 'hosts', 'changed', 'failed', 'by']];
  for (const r of records) {
    const t = totals(r);
    rows.push([
      String(all.indexOf(r.id) + 1),
      r.id,
      when(r.startedAt),
      r.playbook + (r.check ? ' (check)' : ''),
      r.status,
      duration(r.durationMs),
      String(t.hosts),
      String(t.changed),
      String(t.failed + t.unreachable),
      whoRan(r),
    ]);
  }
  return `${table(rows)}\n`;
}

export function formatShow(r: RunRecord, filter: TaskFilter, options: { all: boolean; diff: boolean }): string {
  const out: string[] = [];
  out.push(`run ${r.id}: ${r.playbook} ${r.status} (exit ${r.exitCode})${r.check ? ', check mode' : ''}`);
  out.push(`  started ${when(r.startedAt)}, took ${duration(r.durationMs)}, by ${whoRan(r)} in ${r.cwd}`);
  out.push(`  command: ${[r.playbook, ...r.argv].join(' ')}`);
  out.push(`  inventory: ${r.inventory}`);
  if (r.aborted) out.push(`  stopped early: ${r.aborted}`);
  if (r.error) out.push(`  ended by an error: ${r.error}`);
  out.push('', 'recap:');
  const hosts = Object.keys(r.recap).filter((h) => filter.host === undefined || h === filter.host);
  const width = Math.max(0, ...hosts.map((h) => h.length));
  for (const h of hosts) {
    const c = r.recap[h]!;
    out.push(
      `  ${h.padEnd(width)} : ok=${c.ok} changed=${c.changed} unreachable=${c.unreachable} failed=${c.failed} skipped=${c.skipped}${r.check ? ` would_run=${c.wouldRun}` : ''}`,
    );
  }
  const times = roleTimes(r, filter);
  if (times.size > 0)
    out.push('', `role times (slowest host${filter.host ? `: ${filter.host}` : ''}): ${[...times].map(([role, ms]) => `${role} ${duration(ms)}`).join(', ')}`);
  for (const u of r.unreachable.filter((u) => filter.host === undefined || u.host === filter.host)) out.push(`unreachable: [${u.host}] ${u.error}`);
  const tasks = r.tasks.filter((t) => matches(t, filter) && (options.all || t.status === 'changed' || t.status === 'failed' || t.status === 'would-run'));
  out.push('', options.all ? 'tasks:' : 'changed and failed tasks (all with --all):');
  if (tasks.length === 0) out.push('  (none)');
  for (const t of tasks) {
    out.push(
      `  ${duration(t.startMs).padStart(6)} +${duration(t.durationMs).padEnd(6)} ${t.status.padEnd(9)} [${t.host}] ${label(t)}${t.summary ? ` — ${firstLine(t.summary)}` : ''}`,
    );
    if (t.status === 'failed') out.push(indent(t.error ?? 'failed', 6));
    if (options.diff && t.diff) out.push(indent(t.diff.trimEnd(), 6));
  }
  return `${out.join('\n')}\n`;
}

export function formatComparison(c: RunComparison): string {
  const out: string[] = [`comparing ${c.before.id} (${c.before.status}) → ${c.after.id} (${c.after.status})`];
  if (c.before.playbook !== c.after.playbook) out.push(`note: different playbooks (${c.before.playbook}, ${c.after.playbook})`);
  const recap = (r: HostRecap | undefined) =>
    r ? `ok=${r.ok} changed=${r.changed} unreachable=${r.unreachable} failed=${r.failed} skipped=${r.skipped}` : '(not in run)';
  out.push('', 'hosts whose recap differs:');
  if (c.hosts.length === 0) out.push('  (none)');
  for (const h of c.hosts) out.push(`  ${h.host}: ${recap(h.before)}  →  ${recap(h.after)}`);
  out.push('', 'tasks whose status changed:');
  if (c.statusChanged.length === 0) out.push('  (none)');
  for (const t of c.statusChanged) out.push(`  [${t.host}] ${label(t)}: ${t.before} → ${t.after}`);
  if (c.onlyBefore.length > 0) out.push('', `ran only in ${c.before.id}:`, ...c.onlyBefore.map((t) => `  [${t.host}] ${label(t)} (${t.status})`));
  if (c.onlyAfter.length > 0) out.push('', `ran only in ${c.after.id}:`, ...c.onlyAfter.map((t) => `  [${t.host}] ${label(t)} (${t.status})`));
  out.push('', `changes made by ${c.after.id}:`);
  if (c.changes.length === 0) out.push('  (none)');
  for (const t of c.changes)
    out.push(`  [${t.host}] ${label(t)}${t.summary ? ` — ${firstLine(t.summary)}` : ''}${t.again ? ' (changed in the earlier run too)' : ''}`);
  if (c.roleTimes.length > 0)
    out.push('', 'role times that moved:', ...c.roleTimes.map((r) => `  ${r.role}: ${duration(r.beforeMs)} → ${duration(r.afterMs)}`));
  return `${out.join('\n')}\n`;
}

const firstLine = (text: string): string => {
  const line = text.split('\n')[0]!;
  return line.length > 120 || text.includes('\n') ? `${line.slice(0, 120)} …` : line;
};
const indent = (text: string, n: number): string =>
  text
    .split('\n')
    .map((l) => `${' '.repeat(n)}${l}`)
    .join('\n');

/** Runs the history command; returns the exit code (5 for bad input, as the playbooks do). */
export async function runHistory(argv: readonly string[], io: HistoryIo = { stdout: process.stdout, stderr: process.stderr }): Promise<number> {
  const program = new Command('history')
    .description('list, show, compare and report recorded runs')
    .option('-i, --inventory <file>', 'the inventory whose runs to read (records beside it)', 'hosts/lab.ini')
    .option('--history-dir <dir>', 'read records here instead (default: $STACKPLAY_HISTORY_DIR, else .stackplay/runs/ beside the inventory)')
    .exitOverride()
    .configureOutput({ writeErr: (s) => io.stderr.write(s), writeOut: (s) => io.stdout.write(s) });
  const store = () => {
    const o = program.opts<{ inventory: string; historyDir?: string }>();
    return new RunStore(historyDirFor(o.inventory, o.historyDir));
  };
  const filterOf = (o: { host?: string; role?: string }): TaskFilter => ({ host: o.host, role: o.role });
  const sub = (name: string, description: string, isDefault = false) => program.command(name, { isDefault }).description(description).exitOverride();

  sub('list', 'list recorded runs, newest first (the default)', true)
    .option('--host <name>', 'runs that touched this host')
    .option('--role <name>', 'runs that ran this role')
    .option('--playbook <name>', 'runs of this playbook')
    .option('-n, --last <n>', 'at most n runs', (v) => Number(v))
    .action(async (o: { host?: string; role?: string; playbook?: string; last?: number }) => {
      const s = store();
      const { records, unreadable } = await s.all();
      const shown = records
        .filter((r) => o.host === undefined || o.host in r.recap)
        .filter((r) => o.role === undefined || r.tasks.some((t) => t.role === o.role))
        .filter((r) => o.playbook === undefined || r.playbook === o.playbook)
        .slice(0, o.last ?? Infinity);
      io.stdout.write(`runs in ${s.dir}\n${formatList(shown, await s.ids())}`);
      for (const id of unreadable) io.stderr.write(`warning: ${s.pathOf(id)} is not a readable run record\n`);
    });
  sub('show', 'one run: recap, role times, changed and failed tasks')
    .argument('[run]', 'latest, a number from the list, an id (or its start), or a record file', 'latest')
    .option('--host <name>', 'only this host')
    .option('--role <name>', 'only this role')
    .option('-a, --all', 'every task, not only changed and failed ones', false)
    .option('-D, --diff', 'with the diffs (secrets masked)', false)
    .action(async (run: string, o: { host?: string; role?: string; all: boolean; diff: boolean }) => {
      io.stdout.write(formatShow(await store().find(run), filterOf(o), o));
    });
  sub('diff', "what changed between two runs: hosts and tasks whose status changed, the later run's changes")
    .argument('<before>', 'the earlier run')
    .argument('[after]', 'the later run', 'latest')
    .option('--host <name>', 'only this host')
    .option('--role <name>', 'only this role')
    .action(async (a: string, b: string, o: { host?: string; role?: string }) => {
      const s = store();
      io.stdout.write(formatComparison(compareRuns(await s.find(a), await s.find(b), filterOf(o))));
    });
  sub('report', 'write a run as one self-contained HTML page')
    .argument('[run]', 'latest, a number from the list, an id, or a record file', 'latest')
    .option('-o, --out <file>', 'where (default: <id>.html here)')
    .action(async (run: string, o: { out?: string }) => {
      const record = await store().find(run);
      const out = resolve(o.out ?? `${record.id}.html`);
      await writeAtomically(out, renderReport(record));
      io.stdout.write(`report written to ${out}\n`);
    });

  try {
    await program.parseAsync([...argv], { from: 'user' });
  } catch (error) {
    const c = (error as { code?: string }).code;
    if (c === 'commander.helpDisplayed' || c === 'commander.version' || c === 'commander.help') return 0;
    if (c?.startsWith('commander.')) return 5;
    if (error instanceof InputError) {
      io.stderr.write(`error: ${error.message}\n`);
      return 5;
    }
    const e = error as NodeJS.ErrnoException;
    if (e.code === 'ENOENT' || e.code === 'EACCES') {
      io.stderr.write(`error: ${e.message}\n`);
      return 5;
    }
    throw error;
  }
  return 0;
}
