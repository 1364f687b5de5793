/**
 * bench/results/: latest.json (medians, the shape other tools read),
 * details.json (every run), results.md (table and ratios), chart.svg and
 * chart.png (rsvg-convert from Debian's librsvg2-bin).
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

export interface RunRecord {
  n: number;
  scenario: string;
  tool: string;
  rep: number;
  valid: boolean;
  wallS: number;
  cpuS: number;
  rssMb: number;
  execsPerHost?: number;
  httpPerHost?: number;
}

export interface Row {
  n: number;
  scenario: string;
  stackplay_s: number;
  ansible_s: number;
  floor_s: number;
  stackplay_cpu_s: number;
  ansible_cpu_s: number;
  floor_cpu_s: number;
  stackplay_rss_mb: number;
  ansible_rss_mb: number;
  floor_rss_mb: number;
  stackplay_execs_per_host: number;
  runs: number;
  /** The day this row was measured (rows of other N are kept from earlier runs). */
  date?: string;
}

export interface Report {
  rows: Row[];
  records: RunRecord[];
  plan: { juno_s: number; compute200_s: number };
  stackplayTasks: number;
  ansibleTasks: number;
  totalS: number;
  machine: string;
  /** Above this N Ansible is not run (its cells are n/a). */
  ansibleMaxN: number;
  /** 1/5/15-minute load averages before and after: other work on the machine skews every number. */
  load: { before: number[]; after: number[] };
}

const r2 = (x: number): number => Math.round(x * 1000) / 1000;
const f = (x: number, d = 2): string => (Number.isFinite(x) ? x.toFixed(d) : 'n/a');
const times = (x: number): string => (Number.isFinite(x) ? `${x.toFixed(1)}×` : 'n/a');
/** a/b, or NaN when either was not measured (NaN in memory, null once read back from details.json). */
const ratio = (a: number | null, b: number | null): number => (Number.isFinite(a) && Number.isFinite(b) ? (a as number) / (b as number) : NaN);

/** A row of latest.json: `n`, `scenario`, `stackplay_s` and whatever else that scenario measures. */
export type LatestRow = { n: number; scenario: string; stackplay_s: number } & Record<string, unknown>;

/** Numbers to milliseconds' precision, at any depth (a site row carries its role times). */
function rounded(v: unknown): unknown {
  if (typeof v === 'number') return Number.isFinite(v) ? r2(v) : null;
  if (v !== null && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, rounded(x)]));
  return v;
}

const SCENARIO_ORDER = ['cold', 'idempotent', 'drift', 'site-plan', 'site-rerun'];
function scenarioRank(scenario: string): number {
  const i = SCENARIO_ORDER.indexOf(scenario);
  return i < 0 ? SCENARIO_ORDER.length : i;
}

/**
 * latest.json holds the rows of two benchmarks (bench/run.ts: cold, idempotent,
 * drift, site-plan; bench/site-rerun.ts: site-rerun) and of runs at other N
 * (`make bench N=200` adds to the rows of N=1,10,50): a new row replaces the
 * row of the same scenario and N, and the others stay.
 */
export function mergeLatest(dir: string, rows: readonly LatestRow[]): void {
  const file = path.join(dir, 'latest.json');
  const key = (r: LatestRow): string => `${r.scenario}/${r.n}`;
  const replaced = new Set(rows.map(key));
  let kept: LatestRow[] = [];
  try {
    kept = (JSON.parse(fs.readFileSync(file, 'utf8')) as LatestRow[]).filter((r) => !replaced.has(key(r)));
  } catch {
    // no results yet
  }
  const all = [...kept, ...rows.map((r) => rounded(r) as LatestRow)].sort((a, b) => a.n - b.n || scenarioRank(a.scenario) - scenarioRank(b.scenario));
  fs.writeFileSync(`${file}.tmp`, `${JSON.stringify(all, null, 2)}\n`);
  fs.renameSync(`${file}.tmp`, file);
}

/** Rows and runs of earlier benchmarks at an N this one did not run, from details.json. */
function earlier(dir: string, ns: ReadonlySet<number>): { rows: Row[]; records: RunRecord[]; fallbackDate: string } {
  try {
    const d = JSON.parse(fs.readFileSync(path.join(dir, 'details.json'), 'utf8')) as Report & { generatedAt: string };
    return { rows: d.rows.filter((r) => !ns.has(r.n)), records: d.records.filter((r) => !ns.has(r.n)), fallbackDate: d.generatedAt.slice(0, 10) };
  } catch {
    return { rows: [], records: [], fallbackDate: '' };
  }
}

export function writeReport(dir: string, current: Report): void {
  const today = new Date().toISOString().slice(0, 10);
  const before = earlier(dir, new Set(current.rows.map((r) => r.n)));
  const report: Report = {
    ...current,
    rows: [...before.rows.map((r) => ({ ...r, date: r.date ?? before.fallbackDate })), ...current.rows.map((r) => ({ ...r, date: r.date ?? today }))].sort(
      (a, b) => a.n - b.n || scenarioRank(a.scenario) - scenarioRank(b.scenario),
    ),
    records: [...before.records, ...current.records],
  };
  mergeLatest(dir, [
    ...report.rows.map((r) => ({
      n: r.n,
      scenario: r.scenario,
      stackplay_s: r.stackplay_s,
      ansible_s: r.ansible_s,
      floor_s: r.floor_s,
      stackplay_rss_mb: r.stackplay_rss_mb,
    })),
    // The offline plan of hosts/juno.ini with its one compute node replaced by 200.
    ...(Number.isFinite(report.plan.compute200_s)
      ? [{ n: 200, scenario: 'site-plan', stackplay_s: report.plan.compute200_s, inventory: 'juno with 200 computes' }]
      : []),
  ]);
  fs.writeFileSync(path.join(dir, 'details.json'), `${JSON.stringify({ ...report, generatedAt: new Date().toISOString() }, null, 2)}\n`);

  const lines = [
    '# stackplay vs Ansible vs the floor',
    '',
    `Generated by \`make bench\` on ${[...new Set(report.rows.map((r) => r.date))].sort().join(' and ')} (the date column says which; ${report.machine}); medians of ${Math.min(...report.rows.map((r) => r.runs))}+ runs per cell; last benchmark ${f(report.totalS / 60, 1)} min. Ansible is run up to N=${report.ansibleMaxN} (at N=50 a run already takes 2.5 min): above that the floor is the peer.`,
    `Workload per host: 20 INI settings in 4 files, 1 templated file, 3 package checks, 3 service checks (stackplay: ${report.stackplayTasks} tasks; Ansible: ${report.ansibleTasks} module runs).`,
    "Every run connects afresh. CPU is the controller's user+sys; RSS is the peak of the whole process tree. stackplay and the floor run as tsc-compiled JavaScript.",
    `Load average (1/5/15 min) before: ${report.load.before.map((x) => x.toFixed(1)).join(' / ')}, after: ${report.load.after.map((x) => x.toFixed(1)).join(' / ')}.`,
    '',
    '| N | scenario | date | stackplay s | Ansible s | floor s | stackplay/Ansible | Ansible÷stackplay | stackplay/floor | stackplay CPU s | Ansible CPU s | stackplay RSS MB | Ansible RSS MB | stackplay execs/host | stackplay CPU ms per host-task |',
    '|--:|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|',
    ...report.rows.map(
      (r) =>
        `| ${r.n} | ${r.scenario} | ${r.date ?? ''} | ${f(r.stackplay_s)} | ${f(r.ansible_s)} | ${f(r.floor_s)} | ${f(ratio(r.stackplay_s, r.ansible_s), 3)} | ${times(ratio(r.ansible_s, r.stackplay_s))} | ${f(ratio(r.stackplay_s, r.floor_s))} | ${f(r.stackplay_cpu_s)} | ${f(r.ansible_cpu_s)} | ${f(r.stackplay_rss_mb, 0)} | ${f(r.ansible_rss_mb, 0)} | ${f(r.stackplay_execs_per_host, 1)} | ${f((r.stackplay_cpu_s * 1000) / (r.n * report.stackplayTasks), 1)} |`,
    ),
    '',
    `\`--plan\` (offline, simulated hosts, two passes): hosts/juno.ini ${f(report.plan.juno_s)} s; Juno with 200 compute nodes ${f(report.plan.compute200_s)} s.`,
    '',
    'The converged OpenStack site re-run on the 4-host lab (`make bench-site`): [site-rerun.md](site-rerun.md).',
    '',
    '![wall time per scenario](chart.png)',
    '',
  ];
  fs.writeFileSync(path.join(dir, 'results.md'), lines.join('\n'));

  const svg = chart(report.rows);
  fs.writeFileSync(path.join(dir, 'chart.svg'), svg);
  const png = spawnSync('rsvg-convert', ['-w', '1200', '-o', path.join(dir, 'chart.png'), path.join(dir, 'chart.svg')], { stdio: 'inherit' });
  if (png.status !== 0) process.stderr.write('rsvg-convert failed (apt-get install librsvg2-bin); chart.svg is there\n');
}

/** Grouped bars, log scale: one group per (N, scenario), one bar per tool. */
function chart(rows: readonly Row[]): string {
  const W = 1200;
  const H = 560;
  const left = 70;
  const right = 20;
  const top = 50;
  const bottom = 90;
  const tools = [
    { key: 'stackplay_s', name: 'stackplay', color: '#2b7bb9' },
    { key: 'ansible_s', name: 'Ansible', color: '#d9534f' },
    { key: 'floor_s', name: 'floor', color: '#7a7a7a' },
  ] as const;
  const lo = -1;
  const hi = Math.max(1, Math.ceil(Math.log10(Math.max(...rows.flatMap((r) => tools.map((t) => r[t.key]).filter(Number.isFinite)), 1))));
  const y = (v: number): number => top + (H - top - bottom) * (1 - (Math.log10(Math.max(v, 10 ** lo)) - lo) / (hi - lo));
  const groupW = (W - left - right) / rows.length;
  const barW = (groupW * 0.8) / tools.length;
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="DejaVu Sans, sans-serif" font-size="13">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    `<text x="${W / 2}" y="28" text-anchor="middle" font-size="18" font-weight="bold">Wall time per run (median, seconds, log scale)</text>`,
  ];
  for (let e = lo; e <= hi; e++) {
    const yy = y(10 ** e);
    out.push(
      `<line x1="${left}" x2="${W - right}" y1="${yy}" y2="${yy}" stroke="#ddd"/>`,
      `<text x="${left - 8}" y="${yy + 4}" text-anchor="end">${10 ** e}</text>`,
    );
  }
  rows.forEach((r, g) => {
    const x0 = left + g * groupW + groupW * 0.1;
    tools.forEach((t, i) => {
      const v = r[t.key];
      if (!Number.isFinite(v)) return;
      const yy = y(v);
      out.push(`<rect x="${x0 + i * barW}" y="${yy}" width="${barW - 2}" height="${H - bottom - yy}" fill="${t.color}"/>`);
      out.push(`<text x="${x0 + i * barW + barW / 2}" y="${yy - 4}" text-anchor="middle" font-size="10">${v < 10 ? v.toFixed(2) : v.toFixed(0)}</text>`);
    });
    out.push(`<text x="${x0 + groupW * 0.4}" y="${H - bottom + 18}" text-anchor="middle">${r.scenario}</text>`);
    out.push(`<text x="${x0 + groupW * 0.4}" y="${H - bottom + 36}" text-anchor="middle" font-weight="bold">N=${r.n}</text>`);
  });
  tools.forEach((t, i) => {
    out.push(
      `<rect x="${left + i * 140}" y="${H - 30}" width="14" height="14" fill="${t.color}"/>`,
      `<text x="${left + i * 140 + 20}" y="${H - 18}">${t.name}</text>`,
    );
  });
  out.push('</svg>');
  return out.join('\n');
}
