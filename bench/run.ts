/**
 * `make bench N=1,10,50`: stackplay against ansible-playbook and the floor
 * program on N benchmark hosts (bench/hosts.ts), three scenarios each:
 *
 *   cold        every host starts from the initial files, no template, services stopped
 *   idempotent  right after, nothing to change
 *   drift       one setting changed back on 20% of the hosts
 *
 * Per run: wall time, controller CPU (user+sys of the process and the
 * children it waited for, /usr/bin/time), peak RSS of the whole process tree
 * (sampled from /proc every 50 ms, and never below time's max RSS), and for
 * stackplay the execs per host (STACKPLAY_EXEC_COUNT). Tools alternate within
 * each repetition; every tool connects afresh for every run (Ansible's
 * ControlPersist masters are stopped after each run). Results:
 * bench/results/{latest.json,details.json,results.md,chart.svg,chart.png}.
 *
 *   node --import tsx bench/run.ts [--n 1,10,50] [--runs 5] [--ansible-max-n 50] [--keep]
 *
 * Rows of an N not run this time are kept from the previous results (with
 * their date), so `make bench N=200` adds to N=1,10,50.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { connectSsh } from '../lib/transport/ssh.js';
import type { Transport } from '../lib/transport/transport.js';
import { measure, median, REPO, type Measured } from './measure.js';
import { BENCH_DIR, down, inventory, KEY_FILE, KNOWN_HOSTS, up, type BenchHost } from './hosts.js';
import { editIni } from '../lib/modules/ini-edit.js';
import { toIniSettings } from '../lib/modules/ini.js';
import { ANSIBLE_TASKS, DRIFT, iniFiles, initialIni, renderTemplate, SERVICES, STACKPLAY_TASKS, TEMPLATE_PATH } from './workload.js';
import { writeReport, type Row, type RunRecord } from './report.js';

const RESULTS = path.join(REPO, 'bench/results');
/** stackplay and the floor run as compiled JavaScript (tsc), as a shipped tool would: tsx alone costs ~0.5 s per start. */
const BUILD = path.join(REPO, 'out/bench-build');
const TOOLS = ['stackplay', 'ansible', 'floor'] as const;
type Tool = (typeof TOOLS)[number];
const SCENARIOS = ['cold', 'idempotent', 'drift'] as const;
type Scenario = (typeof SCENARIOS)[number];

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? (process.argv[i + 1] ?? fallback) : fallback;
}
const NS = arg('n', process.env['N'] ?? '1,10,50')
  .split(',')
  .map(Number)
  .filter((n) => n > 0);
const RUNS = Number(arg('runs', process.env['RUNS'] ?? '5'));
const KEEP = process.argv.includes('--keep');
/** For quick looks: `--tools stackplay,floor` (the report needs all three). */
const ONLY = arg('tools', TOOLS.join(',')).split(',');
const SKIP_PLAN = process.argv.includes('--no-plan');
/** Ansible takes ~3 s per host and scenario: at N=200 one repetition would be half an hour. Above this N the floor is the peer. */
const ANSIBLE_MAX_N = Number(arg('ansible-max-n', '50'));
const runsAt = (n: number): readonly Tool[] => TOOLS.filter((t) => ONLY.includes(t) && (t !== 'ansible' || n <= ANSIBLE_MAX_N));

const log = (m: string): void => void process.stderr.write(`[${new Date().toISOString().slice(11, 19)}] ${m}\n`);

// ---------------------------------------------------------------------------
// host state between runs

/** One admin connection per host, for resets (not timed). */
const admin = new Map<string, Transport>();

async function adminExec(hosts: readonly BenchHost[], script: (h: BenchHost) => string | undefined): Promise<void> {
  await Promise.all(
    hosts.map(async (h) => {
      const s = script(h);
      if (s === undefined) return;
      let t = admin.get(h.name);
      if (!t) {
        t = await connectSsh({ host: h.name, address: h.address.ip, privateKeyPath: KEY_FILE, knownHostsPath: KNOWN_HOSTS });
        admin.set(h.name, t);
      }
      const r = await t.exec(s);
      if (r.exitCode !== 0) throw new Error(`${h.name}: reset failed (exit ${r.exitCode}): ${r.stderr}`);
    }),
  );
}

/** The cold start: initial files, no template, services stopped. */
function resetScript(h: BenchHost): string {
  const files = iniFiles(h.name, h.address.ip);
  return [
    'set -e',
    'mkdir -p /etc/bench',
    ...files.map((f) => `cat > ${f.path} <<'BENCH_EOF'\n${initialIni(f)}BENCH_EOF`),
    `rm -f ${TEMPLATE_PATH}`,
    ...SERVICES.map((s) => `service ${s} stop >/dev/null 2>&1 || true`),
    '',
  ].join('\n');
}

/** What the tools converge to (the floor only reads: its idempotent and drift runs start from this). */
function convergeScript(h: BenchHost): string {
  const files = iniFiles(h.name, h.address.ip);
  return [
    'set -e',
    'mkdir -p /etc/bench',
    ...files.map((f) => `cat > ${f.path} <<'BENCH_EOF'\n${editIni(initialIni(f), toIniSettings(f.settings)).text}BENCH_EOF`),
    `cat > ${TEMPLATE_PATH} <<'BENCH_EOF'\n${renderTemplate(h.name, h.address.ip)}BENCH_EOF`,
    ...SERVICES.map((s) => `service ${s} start >/dev/null 2>&1`),
    '',
  ].join('\n');
}

/** 20% of the hosts (at least one): the drift scenario's targets. */
function drifted(hosts: readonly BenchHost[]): Set<string> {
  const k = Math.max(1, Math.round(hosts.length * 0.2));
  return new Set(
    hosts
      .filter((_, i) => i % Math.round(hosts.length / k) === 0)
      .slice(0, k)
      .map((h) => h.name),
  );
}

function driftScript(h: BenchHost): string {
  const f = iniFiles(h.name, h.address.ip)[DRIFT.file]!;
  // Whatever the tool left there (a failed run is reported, not hidden), the key now has the wrong value.
  return `sed -i 's/^${DRIFT.key} = .*$/${DRIFT.key} = ${DRIFT.wrong}/' ${f.path} && grep -q '^${DRIFT.key} = ${DRIFT.wrong}$' ${f.path}\n`;
}

/** Ansible's ControlPersist masters outlive ansible-playbook: stop them (by their own control sockets). */
function stopControlMasters(): void {
  const dir = path.join(BENCH_DIR, 'ansible-cp');
  for (const sock of fs.existsSync(dir) ? fs.readdirSync(dir) : []) {
    spawnSync('ssh', ['-o', `ControlPath=${path.join(dir, sock)}`, '-O', 'exit', 'x'], { stdio: 'ignore' });
  }
}

// ---------------------------------------------------------------------------
// the contenders

interface Outcome {
  m: Measured;
  /** changed count per host as the tool reported it (floor: differences found). */
  changed: Map<string, number>;
  execsPerHost?: number;
  httpPerHost?: number;
}

async function runTool(tool: Tool, inv: string, n: number): Promise<Outcome> {
  if (tool === 'stackplay') {
    const countFile = path.join(os.tmpdir(), `stackplay-bench-count-${process.pid}`);
    const json = path.join(os.tmpdir(), `stackplay-bench-report-${process.pid}.json`);
    fs.rmSync(countFile, { force: true });
    const m = await measure([process.execPath, path.join(BUILD, 'bench/workload.js'), '-i', inv, '-f', String(n), '--json', json], {
      STACKPLAY_EXEC_COUNT: countFile,
    });
    const report = fs.existsSync(json) ? (JSON.parse(fs.readFileSync(json, 'utf8')) as { recap: Record<string, { changed: number }> }) : { recap: {} };
    const counts = fs.existsSync(countFile)
      ? fs
          .readFileSync(countFile, 'utf8')
          .trim()
          .split('\n')
          .map((l) => JSON.parse(l) as { execs: number; http: number })
      : [];
    fs.rmSync(countFile, { force: true });
    fs.rmSync(json, { force: true });
    return {
      m,
      changed: new Map(Object.entries(report.recap).map(([h, r]) => [h, r.changed])),
      execsPerHost: counts.reduce((s, c) => s + c.execs, 0) / Math.max(1, counts.length),
      httpPerHost: counts.reduce((s, c) => s + c.http, 0) / Math.max(1, counts.length),
    };
  }
  if (tool === 'ansible') {
    const m = await measure(['ansible-playbook', '-i', inv, '-f', String(n), 'bench/ansible/site.yml'], {
      ANSIBLE_CONFIG: path.join(REPO, 'bench/ansible/ansible.cfg'),
      ANSIBLE_NOCOLOR: '1',
    });
    stopControlMasters();
    const changed = new Map<string, number>();
    for (const line of m.stdout.split('\n')) {
      const r = /^(\S+)\s+:\s+ok=\d+\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)/.exec(line);
      if (r) changed.set(r[1]!, Number(r[3]) + Number(r[4]) > 0 ? -1 : Number(r[2]));
    }
    return { m, changed };
  }
  const m = await measure([process.execPath, path.join(BUILD, 'bench/floor.js'), inv]);
  let changed = new Map<string, number>();
  try {
    changed = new Map(Object.entries((JSON.parse(m.stdout) as { differences: Record<string, number> }).differences));
  } catch {
    // left empty: reported as invalid below
  }
  return { m, changed };
}

/** What each tool must report per host, so a run that did the wrong thing is never timed as a good one. */
function expected(tool: Tool, scenario: Scenario, host: string, drift: Set<string>): number {
  const perHost = { stackplay: { cold: 8, one: 1 }, ansible: { cold: 3, one: 1 }, floor: { cold: 20 + 1 + 3, one: 1 } }[tool];
  if (scenario === 'cold') return perHost.cold;
  if (scenario === 'idempotent') return 0;
  return drift.has(host) ? perHost.one : 0;
}

// ---------------------------------------------------------------------------

async function planTimes(): Promise<{ juno_s: number; compute200_s: number }> {
  const juno = fs.readFileSync(path.join(REPO, 'hosts/juno.ini'), 'utf8');
  const computes = Array.from(
    { length: 200 },
    (_, i) =>
      `compute${String(i + 1).padStart(3, '0')} ansible_host=10.0.${2 + Math.floor(i / 250)}.${1 + (i % 250)} tunnel_ip=10.1.${2 + Math.floor(i / 250)}.${1 + (i % 250)}`,
  );
  const big = path.join(BENCH_DIR, 'juno-200-compute.ini');
  fs.writeFileSync(big, juno.replace(/^compute1 .*$/m, computes.join('\n')));
  const time = async (inv: string): Promise<number> => {
    const out = path.join(os.tmpdir(), `stackplay-bench-plan-${process.pid}`);
    const walls: number[] = [];
    for (let i = 0; i < 3; i++) {
      fs.rmSync(out, { recursive: true, force: true });
      // As the README runs it: npx tsx.
      const m = await measure(['npx', 'tsx', 'playbooks/site.ts', '-i', inv, '--plan', out]);
      if (m.code !== 0) throw new Error(`--plan of ${inv} exited ${m.code}: ${m.stderr.slice(-500)}`);
      walls.push(m.wallS);
    }
    fs.rmSync(out, { recursive: true, force: true });
    return median(walls);
  };
  return { juno_s: await time('hosts/juno.ini'), compute200_s: await time(big) };
}

async function main(): Promise<void> {
  const t0 = performance.now();
  fs.mkdirSync(RESULTS, { recursive: true });
  log('compiling stackplay and the floor (tsc -p bench/tsconfig.build.json)');
  fs.rmSync(BUILD, { recursive: true, force: true });
  const tsc = spawnSync(process.execPath, [path.join(REPO, 'node_modules/typescript/bin/tsc'), '-p', path.join(REPO, 'bench/tsconfig.build.json')], {
    stdio: 'inherit',
  });
  if (tsc.status !== 0) throw new Error('tsc failed');
  const loadBefore = os.loadavg();
  const maxN = Math.max(...NS);
  log(`bringing up ${maxN} hosts`);
  const all = await up(maxN);
  const records: RunRecord[] = [];
  try {
    for (const n of NS) {
      const hosts = all.slice(0, n);
      const inv = path.join(BENCH_DIR, `bench-${n}.ini`);
      fs.writeFileSync(inv, inventory(hosts));
      const drift = drifted(hosts);
      for (let rep = 0; rep < RUNS; rep++) {
        // Alternate: each repetition starts with the next tool.
        const order = TOOLS.map((_, i) => TOOLS[(i + rep) % TOOLS.length]!).filter((t) => runsAt(n).includes(t));
        for (const tool of order) {
          for (const scenario of SCENARIOS) {
            if (scenario === 'cold') await adminExec(hosts, resetScript);
            if (scenario === 'idempotent' && tool === 'floor') await adminExec(hosts, convergeScript);
            if (scenario === 'drift') await adminExec(hosts, (h) => (drift.has(h.name) ? driftScript(h) : undefined));
            const o = await runTool(tool, inv, n);
            const wrong = hosts.filter((h) => o.changed.get(h.name) !== expected(tool, scenario, h.name, drift));
            const valid = o.m.code === 0 && wrong.length === 0;
            if (!valid)
              log(
                `WARNING ${tool} ${scenario} N=${n}: exit ${o.m.code}, unexpected result on ${wrong
                  .map((h) => `${h.name}=${o.changed.get(h.name)}`)
                  .slice(0, 5)
                  .join(' ')}\n${o.m.stdout.slice(-1500)}\n${o.m.stderr.slice(-1500)}`,
              );
            records.push({
              n,
              scenario,
              tool,
              rep,
              valid,
              wallS: o.m.wallS,
              cpuS: o.m.cpuS,
              rssMb: o.m.rssMb,
              ...(o.execsPerHost !== undefined ? { execsPerHost: o.execsPerHost, httpPerHost: o.httpPerHost ?? 0 } : {}),
            });
            log(
              `N=${n} rep ${rep + 1}/${RUNS} ${tool.padEnd(9)} ${scenario.padEnd(10)} ${o.m.wallS.toFixed(2)}s cpu ${o.m.cpuS.toFixed(2)}s rss ${o.m.rssMb.toFixed(0)}MB${o.execsPerHost !== undefined ? ` execs/host ${o.execsPerHost.toFixed(1)}` : ''}${valid ? '' : ' INVALID'}`,
            );
          }
        }
      }
    }
    for (const t of admin.values()) await t.close();
    admin.clear();
    log('timing --plan');
    const plan = SKIP_PLAN ? { juno_s: NaN, compute200_s: NaN } : await planTimes();
    const rows: Row[] = [];
    for (const n of NS) {
      for (const scenario of SCENARIOS) {
        const pick = (tool: Tool) => records.filter((r) => r.n === n && r.scenario === scenario && r.tool === tool && r.valid);
        const med = (tool: Tool, k: 'wallS' | 'cpuS' | 'rssMb') => median(pick(tool).map((r) => r[k]));
        rows.push({
          n,
          scenario,
          stackplay_s: med('stackplay', 'wallS'),
          ansible_s: med('ansible', 'wallS'),
          floor_s: med('floor', 'wallS'),
          stackplay_cpu_s: med('stackplay', 'cpuS'),
          ansible_cpu_s: med('ansible', 'cpuS'),
          floor_cpu_s: med('floor', 'cpuS'),
          stackplay_rss_mb: med('stackplay', 'rssMb'),
          ansible_rss_mb: med('ansible', 'rssMb'),
          floor_rss_mb: med('floor', 'rssMb'),
          stackplay_execs_per_host: median(pick('stackplay').map((r) => r.execsPerHost ?? 0)),
          runs: Math.min(...runsAt(n).map((t) => pick(t).length)),
        });
      }
    }
    writeReport(RESULTS, {
      rows,
      records,
      plan,
      load: { before: loadBefore, after: os.loadavg() },
      stackplayTasks: STACKPLAY_TASKS,
      ansibleTasks: ANSIBLE_TASKS,
      totalS: (performance.now() - t0) / 1000,
      machine: `${os.cpus().length} cores, ${os.cpus()[0]?.model ?? ''}`,
      ansibleMaxN: ANSIBLE_MAX_N,
    });
    log(`done in ${((performance.now() - t0) / 1000).toFixed(0)} s: ${RESULTS}/results.md`);
  } finally {
    for (const t of admin.values()) await t.close().catch(() => {});
    stopControlMasters();
    if (!KEEP) {
      log('removing the benchmark hosts');
      await down();
    }
  }
}

let stopping = false;
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.on(sig, () => {
    if (stopping) process.exit(130);
    stopping = true;
    log(`${sig}: removing the benchmark hosts`);
    stopControlMasters();
    void down().finally(() => process.exit(130));
  });
}

await main();
