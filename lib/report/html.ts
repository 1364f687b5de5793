import type { HostRecap } from '../core/executor.js';
import { whoRan, type RecordedRole, type RecordedTask, type RunRecord } from '../history/record.js';

/**
 * One run as a page people would rather look at than read: what went wrong
 * first, the recap, a per-host timeline of roles and tasks (inline SVG), the
 * slowest tasks, and every change with its diff. One self-contained file: no
 * script, no external asset, and a Content-Security-Policy that forbids
 * loading any, so it opens the same from a mail attachment or a file share.
 * The record is already redacted; this only lays it out.
 */

const esc = (text: string): string => text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);

/** 1.2s, 2m05s, 1h02m: short enough for an axis label and a table cell. */
export function duration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)}ms`;
  if (ms < 9950) return `${(ms / 1000).toFixed(1)}s`;
  const s = Math.round(ms / 1000);
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(m / 60)}h${String(m % 60).padStart(2, '0')}m`;
}

const STATUS_CLASS: Record<string, string> = {
  ok: 'ok',
  failed: 'bad',
  unreachable: 'bad',
  error: 'bad',
  interrupted: 'warn',
  'not idempotent': 'warn',
};

/** Distinct, light enough to read dark text on; a role keeps its colour for the whole page. */
const PALETTE = [
  '#8ecae6',
  '#ffd166',
  '#95d5b2',
  '#f4a3a8',
  '#cdb4db',
  '#f9c784',
  '#a0c4ff',
  '#b5e48c',
  '#ffafcc',
  '#90e0ef',
  '#e9c46a',
  '#c5d86d',
  '#d4a5a5',
  '#9bf6ff',
  '#ffc6ff',
  '#caffbf',
  '#fdffb6',
  '#bdb2ff',
  '#e0b1cb',
  '#a8dadc',
];

export function renderReport(record: RunRecord): string {
  const hosts = hostsOf(record);
  const roleColor = new Map<string, string>();
  for (const t of [...record.roles, ...record.tasks]) if (!roleColor.has(t.role)) roleColor.set(t.role, PALETTE[roleColor.size % PALETTE.length]!);
  const title = `${record.playbook}: ${record.status}${record.check ? ' (check mode)' : ''}, ${record.startedAt.replace('T', ' ').replace(/\.\d+Z$/, ' UTC')}`;
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="stackplay">
<title>${esc(title)}</title>
<style>${CSS}</style>
</head>
<body>
${header(record, title)}
${failures(record)}
${timeline(record, hosts, roleColor)}
${recapTable(record, hosts)}
${slowest(record)}
${changes(record)}
<footer>record ${esc(record.id)} · written by stackplay · secrets are masked (***)</footer>
</body>
</html>
`;
}

/** Hosts in the order the run met them. */
function hostsOf(record: RunRecord): string[] {
  const seen = new Set<string>(Object.keys(record.recap));
  for (const p of record.plays) for (const h of p.hosts) seen.add(h);
  for (const t of record.tasks) seen.add(t.host);
  return [...seen];
}

function header(r: RunRecord, title: string): string {
  const cls = STATUS_CLASS[r.status] ?? 'warn';
  const changed = r.tasks.filter((t) => t.status === 'changed').length;
  const failed = r.tasks.filter((t) => t.status === 'failed').length;
  const recaps = Object.values(r.recap);
  const hostTrouble = [
    [recaps.filter((c) => c.failed > 0).length, 'failed'],
    [recaps.filter((c) => c.unreachable > 0).length, 'unreachable'],
  ]
    .filter(([n]) => Number(n) > 0)
    .map(([n, what]) => `${n} ${what}`);
  return `<header>
<h1>${esc(r.playbook)} <span class="badge ${cls}">${esc(r.status)}</span>${r.check ? ' <span class="badge warn">check mode</span>' : ''}</h1>
<p class="meta" title="${esc(title)}">${esc(r.startedAt.replace('T', ' ').replace(/\.\d+Z$/, ' UTC'))} · ${esc(duration(r.durationMs))} · exit ${r.exitCode} · ${recaps.length} hosts${hostTrouble.length ? ` (${hostTrouble.join(', ')})` : ''} · ${r.tasks.length} task results · ${changed} changed · ${failed} failed · by ${esc(whoRan(r))}</p>
<p class="cmd"><code>${esc([r.playbook, ...r.argv].join(' '))}</code> <span class="dim">in ${esc(r.cwd)}, inventory ${esc(r.inventory)}</span></p>
${r.aborted ? `<p class="abort">stopped early: ${esc(r.aborted)}</p>` : ''}${r.error ? `<p class="abort">ended by an error: ${esc(r.error)}</p>` : ''}
</header>`;
}

function failures(r: RunRecord): string {
  const failed = r.tasks.filter((t) => t.status === 'failed');
  if (failed.length === 0 && r.unreachable.length === 0) return '';
  const items = [
    ...r.unreachable.map(
      (u) => `<li><b>${esc(u.host)}</b> unreachable <span class="dim">at ${duration(u.atMs)}</span><pre class="err">${esc(u.error)}</pre></li>`,
    ),
    ...failed.map(
      (t) =>
        `<li><b>${esc(t.host)}</b> ${esc(label(t))}${t.ignored ? ' <span class="dim">(ignored; the host went on)</span>' : ''} <span class="dim">at ${duration(t.startMs)}, after ${duration(t.durationMs)}</span><pre class="err">${esc(t.error ?? 'failed')}</pre>${(t.steps ?? []).map((s) => `<pre class="step">$ ${esc(s)}</pre>`).join('')}${t.diff ? diffBlock(t.diff) : ''}</li>`,
    ),
  ];
  return `<section id="failures"><h2>What went wrong (${items.length})</h2><ul class="failures">${items.join('\n')}</ul></section>`;
}

const label = (t: Pick<RecordedTask, 'role' | 'task' | 'handler'>): string => `${t.role} | ${t.handler ? 'handler: ' : ''}${t.task}`;

function recapTable(r: RunRecord, hosts: readonly string[]): string {
  const cols: (keyof HostRecap)[] = ['ok', 'changed', 'unreachable', 'failed', 'skipped', ...(r.check ? (['wouldRun'] as const) : [])];
  const rows = hosts.map((h) => {
    const c = r.recap[h];
    const cls = !c ? '' : c.failed || c.unreachable ? 'bad' : c.changed ? 'chg' : 'ok';
    return `<tr class="${cls}"><th>${esc(h)}</th>${cols.map((k) => `<td class="${c && c[k] > 0 ? `n-${k}` : 'zero'}">${c?.[k] ?? 0}</td>`).join('')}</tr>`;
  });
  return `<section id="recap"><h2>Recap</h2><table class="recap"><thead><tr><th>host</th>${cols.map((k) => `<th>${k === 'wouldRun' ? 'would run' : k}</th>`).join('')}</tr></thead><tbody>${rows.join('')}</tbody></table></section>`;
}

/** Axis steps a person reads at a glance. */
const STEPS_MS = [10, 20, 50, 100, 250, 500, 1e3, 2e3, 5e3, 10e3, 15e3, 30e3, 60e3, 120e3, 300e3, 600e3, 900e3, 1800e3, 3600e3, 7200e3];

/** Where each host's roles ran: the recorded spans, plus spans read from tasks for roles cut short (no role-end came). */
function roleSpans(r: RunRecord): RecordedRole[] {
  const spans = [...r.roles];
  let current: { host: string; role: string; startMs: number; endMs: number } | undefined;
  const byHost = new Map<string, RecordedTask[]>();
  for (const t of r.tasks) byHost.set(t.host, [...(byHost.get(t.host) ?? []), t]);
  const flush = () => {
    if (!current) return;
    const c = current;
    const covered = spans.some((s) => s.host === c.host && s.role === c.role && s.startMs <= c.startMs + 1 && s.startMs + s.durationMs >= c.endMs - 1);
    if (!covered) spans.push({ host: c.host, role: c.role, startMs: c.startMs, durationMs: c.endMs - c.startMs });
    current = undefined;
  };
  for (const tasks of byHost.values()) {
    for (const t of tasks) {
      if (current && current.role !== t.role) flush();
      if (current) current.endMs = Math.max(current.endMs, t.startMs + t.durationMs);
      else current = { host: t.host, role: t.role, startMs: t.startMs, endMs: t.startMs + t.durationMs };
    }
    flush();
  }
  return spans;
}

function timeline(r: RunRecord, hosts: readonly string[], roleColor: ReadonlyMap<string, string>): string {
  const spans = roleSpans(r);
  if (hosts.length === 0) return '';
  const total = Math.max(1, r.durationMs, ...spans.map((s) => s.startMs + s.durationMs), ...r.tasks.map((t) => t.startMs + t.durationMs));
  const labelW = Math.min(220, 24 + 7 * Math.max(4, ...hosts.map((h) => h.length)));
  const chartW = 1180 - labelW - 10;
  const rowH = hosts.length > 20 ? 20 : 30;
  const top = 22;
  const height = top + rowH * hosts.length + 6;
  const x = (ms: number) => labelW + (ms / total) * chartW;
  const w = (ms: number) => Math.max(1.5, (ms / total) * chartW);
  const row = new Map(hosts.map((h, i) => [h, top + i * rowH]));
  const step = STEPS_MS.find((s) => total / s <= 10) ?? 3600e3 * 4;
  const parts: string[] = [];
  for (let i = 0; i < hosts.length; i++) {
    const y = top + i * rowH;
    if (i % 2 === 1) parts.push(`<rect class="stripe" x="0" y="${y}" width="1180" height="${rowH}"/>`);
    parts.push(`<text class="host" x="${labelW - 8}" y="${y + rowH / 2 + 4}" text-anchor="end">${esc(hosts[i]!)}</text>`);
  }
  for (let ms = 0; ms <= total; ms += step) {
    parts.push(`<line class="tick" x1="${x(ms).toFixed(1)}" x2="${x(ms).toFixed(1)}" y1="${top - 4}" y2="${height - 6}"/>`);
    // The last label ends at the edge rather than spill past it.
    const anchor = x(ms) > labelW + chartW - 24 ? 'end' : 'middle';
    parts.push(`<text class="axis" x="${x(ms).toFixed(1)}" y="${top - 8}" text-anchor="${anchor}">${ms === 0 ? '0' : duration(ms)}</text>`);
  }
  for (const p of r.plays)
    parts.push(
      `<line class="play" x1="${x(p.startMs).toFixed(1)}" x2="${x(p.startMs).toFixed(1)}" y1="${top}" y2="${height - 6}"><title>play: ${esc(p.name)}</title></line>`,
    );
  for (const s of spans) {
    const y = row.get(s.host);
    if (y === undefined) continue;
    const bw = w(s.durationMs);
    parts.push(
      `<g><rect class="role" x="${x(s.startMs).toFixed(1)}" y="${y + 3}" width="${bw.toFixed(1)}" height="${rowH - 6}" fill="${roleColor.get(s.role) ?? '#ccc'}"/><title>${esc(`${s.host} · ${s.role} · ${duration(s.durationMs)}`)}</title>` +
        (bw > s.role.length * 6.5 + 8 && rowH >= 18
          ? `<text class="rolename" x="${(x(s.startMs) + 4).toFixed(1)}" y="${y + rowH / 2 + 4}">${esc(s.role)}</text>`
          : '') +
        `</g>`,
    );
  }
  // Tasks that did something, drawn over their role: changed amber, would-run violet, and a failure as a red post no one misses.
  for (const t of r.tasks) {
    const y = row.get(t.host);
    if (y === undefined || (t.status !== 'changed' && t.status !== 'failed' && t.status !== 'would-run')) continue;
    if (t.status === 'failed') {
      parts.push(
        `<rect class="t-failed" x="${x(t.startMs).toFixed(1)}" y="${y + 1}" width="${Math.max(4, w(t.durationMs)).toFixed(1)}" height="${rowH - 2}"><title>${esc(`${t.host} · ${label(t)} · failed · ${duration(t.durationMs)}`)}</title></rect>`,
      );
      continue;
    }
    parts.push(
      `<rect class="t-${t.status}" x="${x(t.startMs).toFixed(1)}" y="${y + rowH - 6}" width="${w(t.durationMs).toFixed(1)}" height="3"><title>${esc(`${t.host} · ${label(t)} · ${t.status} · ${duration(t.durationMs)}`)}</title></rect>`,
    );
  }
  for (const u of r.unreachable) {
    const y = row.get(u.host);
    if (y === undefined) continue;
    parts.push(`<text class="unreach" x="${(x(u.atMs) + 2).toFixed(1)}" y="${y + rowH / 2 + 4}">✕ unreachable<title>${esc(u.error)}</title></text>`);
  }
  const slowestPerRole = new Map<string, number>();
  for (const s of spans) slowestPerRole.set(s.role, Math.max(slowestPerRole.get(s.role) ?? 0, s.durationMs));
  const legend = [...roleColor]
    .map(
      ([role, color]) =>
        `<span class="key"><i style="background:${color}"></i>${esc(role)} <span class="dim">${duration(slowestPerRole.get(role) ?? 0)}</span></span>`,
    )
    .join(' ');
  return `<section id="timeline"><h2>Timeline</h2>
<p class="dim">Each row is a host; bars are its roles (hover for names and times), marks under them the tasks that <span class="swatch t-changed-bg">changed</span> <span class="swatch t-failed-bg">failed</span>${r.check ? ' <span class="swatch t-would-run-bg">would run</span>' : ''}; dashed lines are play starts.</p>
<div class="chart"><svg xmlns="http://www.w3.org/2000/svg" width="1180" height="${height}" viewBox="0 0 1180 ${height}" role="img" aria-label="timeline of ${hosts.length} hosts">${parts.join('')}</svg></div>
<p class="legend">${legend}</p>
<p class="dim">Role time is the slowest host's.</p></section>`;
}

function slowest(r: RunRecord): string {
  const top = [...r.tasks].sort((a, b) => b.durationMs - a.durationMs).slice(0, 15);
  if (top.length === 0) return '';
  const max = Math.max(1, top[0]!.durationMs);
  const rows = top.map(
    (t) =>
      `<tr><td class="num">${duration(t.durationMs)}</td><td class="barcell"><span class="bar" style="width:${((t.durationMs / max) * 100).toFixed(1)}%"></span></td><td>${esc(t.host)}</td><td>${esc(label(t))}</td><td class="st-${t.status}">${t.status}</td></tr>`,
  );
  return `<section id="slowest"><h2>Slowest tasks</h2><table class="slow"><tbody>${rows.join('')}</tbody></table></section>`;
}

function changes(r: RunRecord): string {
  const changed = r.tasks.filter((t) => t.status === 'changed' || t.status === 'would-run');
  if (changed.length === 0) return `<section id="changes"><h2>Changes</h2><p class="dim">Nothing changed.</p></section>`;
  const byHost = new Map<string, RecordedTask[]>();
  for (const t of changed) byHost.set(t.host, [...(byHost.get(t.host) ?? []), t]);
  // Open the first few so the page shows diffs without a click; the rest fold.
  let open = 12;
  const hostBlocks = [...byHost].map(
    ([host, tasks]) =>
      `<h3>${esc(host)} <span class="dim">${tasks.length} change${tasks.length === 1 ? '' : 's'}</span></h3>` +
      tasks
        .map((t) => {
          const body = `${t.summary ? `<p class="summary">${esc(t.summary)}</p>` : ''}${t.diff ? diffBlock(t.diff) : ''}${!t.diff && t.steps?.length ? t.steps.map((s) => `<pre class="step">$ ${esc(s)}</pre>`).join('') : ''}`;
          return `<details${open-- > 0 ? ' open' : ''}><summary><span class="st-${t.status}">${t.status}</span> ${esc(label(t))} <span class="dim">${duration(t.durationMs)}</span></summary>${body || '<p class="dim">no diff</p>'}</details>`;
        })
        .join(''),
  );
  return `<section id="changes"><h2>Changes (${changed.length})</h2>${hostBlocks.join('')}</section>`;
}

function diffBlock(diff: string): string {
  const lines = diff
    .trimEnd()
    .split('\n')
    .map((l) => {
      const cls = l.startsWith('+++') || l.startsWith('---') ? 'dh' : l.startsWith('@@') ? 'dr' : l.startsWith('+') ? 'da' : l.startsWith('-') ? 'dd' : '';
      return cls ? `<span class="${cls}">${esc(l)}</span>` : esc(l);
    });
  return `<pre class="diff">${lines.join('\n')}</pre>`;
}

const CSS = `
:root{--fg:#1d2330;--dim:#667085;--bad:#c62828;--ok:#2e7d32;--chg:#b26a00;--violet:#7b4bb7;--line:#e4e7ec}
*{box-sizing:border-box}
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif;color:var(--fg);margin:0 auto;padding:16px 24px 40px;max-width:1240px;background:#fff}
h1{font-size:22px;margin:4px 0}h2{font-size:17px;margin:26px 0 8px;border-bottom:1px solid var(--line);padding-bottom:4px}h3{font-size:14px;margin:14px 0 4px}
code,pre{font:12.5px/1.4 ui-monospace,"DejaVu Sans Mono",Menlo,Consolas,monospace}
pre{margin:4px 0;padding:6px 8px;background:#f6f8fa;border-radius:4px;overflow-x:auto;white-space:pre-wrap;word-break:break-word}
.dim{color:var(--dim)}.meta{margin:2px 0;color:var(--dim)}.cmd{margin:2px 0}
.badge{font-size:13px;padding:2px 8px;border-radius:10px;vertical-align:middle;color:#fff}
.badge.ok{background:var(--ok)}.badge.bad{background:var(--bad)}.badge.warn{background:var(--chg)}
.abort{color:var(--bad);font-weight:600}
ul.failures{padding-left:18px}ul.failures li{margin-bottom:10px}pre.err{background:#fdecea;color:#7f1d1d}
table{border-collapse:collapse}td,th{padding:3px 10px;text-align:left;border-bottom:1px solid var(--line)}
table.recap td{text-align:right;min-width:64px}table.recap tr.bad th{color:var(--bad)}table.recap tr.chg th{color:var(--chg)}table.recap tr.ok th{color:var(--ok)}
td.zero{color:#b0b6c0}td.n-failed,td.n-unreachable{color:var(--bad);font-weight:700}td.n-changed{color:var(--chg);font-weight:700}
.chart{overflow-x:auto;border:1px solid var(--line);border-radius:4px}
svg text{font-family:system-ui,"DejaVu Sans",sans-serif}
.stripe{fill:#f7f8fa}.host{font-size:12px;fill:var(--fg)}.axis{font-size:11px;fill:var(--dim)}.tick{stroke:#e4e7ec}
.play{stroke:#98a2b3;stroke-dasharray:3 3}.role{stroke:#fff;stroke-width:.5}.rolename{font-size:11px;fill:#1d2330;pointer-events:none;paint-order:stroke;stroke:rgba(255,255,255,.65);stroke-width:2.5px}
.t-changed{fill:var(--chg)}.t-failed{fill:var(--bad)}.t-would-run{fill:var(--violet)}.unreach{font-size:11px;fill:var(--bad);font-weight:700}
.swatch{padding:0 5px;border-radius:3px;color:#fff}.t-changed-bg{background:var(--chg)}.t-failed-bg{background:var(--bad)}.t-would-run-bg{background:var(--violet)}
.legend{line-height:2}.key{margin-right:14px;white-space:nowrap}.key i{display:inline-block;width:12px;height:12px;border-radius:2px;margin-right:4px;vertical-align:-1px}
table.slow td.num{text-align:right;white-space:nowrap}.barcell{width:220px}.bar{display:block;height:10px;background:#8ecae6;border-radius:2px}
.st-changed{color:var(--chg);font-weight:600}.st-failed{color:var(--bad);font-weight:600}.st-ok{color:var(--ok)}.st-skipped{color:var(--dim)}.st-would-run{color:var(--violet);font-weight:600}
details{margin:4px 0 6px;border:1px solid var(--line);border-radius:4px;padding:4px 8px}summary{cursor:pointer}
.summary{margin:4px 0;color:var(--dim)}
pre.diff .da{color:#116329;background:#e6ffec;display:inline-block;width:100%}pre.diff .dd{color:#82071e;background:#ffebe9;display:inline-block;width:100%}pre.diff .dr{color:#0550ae}pre.diff .dh{color:var(--dim);font-weight:600}
pre.step{color:#344054}
footer{margin-top:30px;color:var(--dim);font-size:12px}
`;
