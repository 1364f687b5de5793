/**
 * From Tempest's per-test records to the guideline's verdict: every required
 * test of the guideline gets exactly one status, with the reason Tempest gave
 * (or the machine's, for what this machine cannot do). Pure: the playbook
 * feeds it the records read on the Tempest host and writes what it returns.
 */

/** One line of conformance/subunit_to_json.py: subunit's own status names. */
export interface TempestRecord {
  readonly id: string;
  readonly status: string;
  readonly reason: string;
  readonly seconds: number | null;
}

export type Status = 'passed' | 'failed' | 'skipped';

export interface TestResult {
  readonly id: string;
  readonly status: Status;
  readonly reason: string;
  /** The guideline flags this test (it may be skipped or fail for reasons the guideline accepts); it is run all the same. */
  readonly flagged?: string;
  readonly seconds?: number;
}

export interface Results {
  readonly guideline: string;
  readonly target: string;
  /** When the run ended (ISO 8601). */
  readonly date: string;
  readonly tempest: string;
  readonly release: string;
  readonly concurrency: number;
  readonly required: number;
  readonly passed: number;
  readonly failed: number;
  readonly skipped: number;
  readonly duration_s: number;
  readonly tests: readonly TestResult[];
}

/** What the machine cannot do, by the Tempest skip message it leads to (the playbook turned that service off in tempest.conf for this reason). */
export interface MachineSkip {
  readonly tempestReason: RegExp;
  readonly reason: string;
}

/** Test ids of a guideline's required list: one per line; blank lines and `#` comments ignored. */
export function parseRequired(text: string): string[] {
  return text
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'));
}

/** What the guideline says of each test: its idempotent id (`id-<uuid>`, which follows a test Tempest moved or renamed) and its flag. */
export interface GuidelineTest {
  readonly idempotentId?: string;
  readonly flagged?: string;
}

/** The tests of an interop guideline JSON (schema 2.0: capabilities → tests → {idempotent_id, flagged: {reason}}). */
export function guidelineTests(guideline: unknown): Map<string, GuidelineTest> {
  const tests = new Map<string, GuidelineTest>();
  const caps =
    (guideline as { capabilities?: Record<string, { tests?: Record<string, { idempotent_id?: string; flagged?: { reason?: string } }> }> }).capabilities ?? {};
  for (const cap of Object.values(caps)) {
    for (const [id, t] of Object.entries(cap.tests ?? {})) {
      const idempotentId = typeof t.idempotent_id === 'string' && IDEMPOTENT_ID.test(t.idempotent_id) ? t.idempotent_id : undefined;
      tests.set(id, { ...(idempotentId ? { idempotentId } : {}), ...(t.flagged ? { flagged: t.flagged.reason ?? 'flagged' } : {}) });
    }
  }
  return tests;
}

const IDEMPOTENT_ID = /^id-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/**
 * `tempest run --include-list` takes regular expressions matched anywhere in
 * a test's id: `…test_list_servers` alone would also run
 * `…test_list_servers_with_detail`. Each required test becomes one anchored
 * expression for exactly one of the tests Tempest has (`available`, its
 * `--list-tests`): by name, or, for a test Tempest moved to another class,
 * the test of the same method carrying its idempotent id (as refstack
 * matches them). A test found neither way keeps its name, and is then
 * reported not run.
 */
export function includeList(required: readonly string[], guideline: ReadonlyMap<string, GuidelineTest>, available: readonly string[]): string {
  const names = new Set(available.map(baseId));
  const byIdempotent = new Map<string, string[]>();
  for (const id of available) {
    const idempotent = idempotentIdOf(id);
    if (idempotent) byIdempotent.set(idempotent, [...(byIdempotent.get(idempotent) ?? []), baseId(id)]);
  }
  return required
    .map((id) => {
      const idempotent = guideline.get(id)?.idempotentId;
      const method = id.slice(id.lastIndexOf('.'));
      // Subclasses that inherit the test (an IPv6 variant) carry its id too, under longer class names: the shortest defines it.
      const moved = names.has(id) || idempotent === undefined ? [] : (byIdempotent.get(idempotent) ?? []).filter((t) => t.endsWith(method));
      const name = moved.sort((a, b) => a.length - b.length || a.localeCompare(b))[0] ?? id;
      return `^${name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}(\\[|$)\n`;
    })
    .join('');
}

/** Parses subunit_to_json.py's output; a line that is not a record is an error naming it (the converter's output is ours). */
export function parseRecords(text: string): TempestRecord[] {
  return text
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((line, i) => {
      let r: unknown;
      try {
        r = JSON.parse(line);
      } catch {
        throw new Error(`tempest record ${i + 1} is not JSON: ${line.slice(0, 120)}`);
      }
      const o = r as Partial<TempestRecord>;
      if (typeof o.id !== 'string' || typeof o.status !== 'string') throw new Error(`tempest record ${i + 1} has no id or status: ${line.slice(0, 120)}`);
      return { id: o.id, status: o.status, reason: typeof o.reason === 'string' ? o.reason : '', seconds: typeof o.seconds === 'number' ? o.seconds : null };
    });
}

/** Tempest ids carry their idempotent id and attributes: `test_x[id-1234,smoke]` → `test_x`. */
const baseId = (id: string): string => id.replace(/\[[^\]]*\]$/, '');
const idempotentIdOf = (id: string): string | undefined => /[[,](id-[0-9a-f-]{36})[,\]]/.exec(id)?.[1];

/** A class-level record, as unittest reports a setUpClass that failed or skipped: `setUpClass (tempest.api.x.Class)`. */
const CLASS_RECORD = /^(setUpClass|tearDownClass) \(([\w.]+)\)$/;

const STATUS: Readonly<Record<string, Status>> = { success: 'passed', xfail: 'passed', skip: 'skipped', fail: 'failed', uxsuccess: 'failed' };

/**
 * One result per required test, in the guideline's order. A test Tempest
 * did not report is judged by its class's setUpClass record (a class that
 * failed to set up, or was skipped, as a whole); one with neither did not
 * run, and that is a failure: the guideline requires it.
 */
export function judge(
  required: readonly string[],
  records: readonly TempestRecord[],
  guideline: ReadonlyMap<string, GuidelineTest>,
  machineSkips: readonly MachineSkip[],
  tempest = 'Tempest',
): TestResult[] {
  const byId = new Map<string, TempestRecord>();
  const byIdempotent = new Map<string, TempestRecord>();
  const byClass = new Map<string, TempestRecord>();
  for (const r of records) {
    const cls = CLASS_RECORD.exec(r.id);
    if (cls) {
      // setUpClass decides; a tearDownClass failure does not undo tests that passed.
      if (cls[1] === 'setUpClass') byClass.set(cls[2]!, r);
      continue;
    }
    byId.set(baseId(r.id), r);
    const idempotent = idempotentIdOf(r.id);
    if (idempotent) byIdempotent.set(idempotent, r);
  }
  return required.map((id): TestResult => {
    const g = guideline.get(id);
    const moved = byId.has(id) || g?.idempotentId === undefined ? undefined : byIdempotent.get(g.idempotentId);
    const own = byId.get(id) ?? moved;
    const cls = own ? undefined : byClass.get(id.slice(0, id.lastIndexOf('.')));
    const record = own ?? cls;
    const extra = { ...(g?.flagged !== undefined ? { flagged: g.flagged } : {}), ...(own?.seconds != null ? { seconds: own.seconds } : {}) };
    if (!record) {
      // Tempest dropped it; the guideline says so in its flag. Nothing ran, so nothing passed.
      if (g?.flagged !== undefined) return { id, status: 'skipped', reason: `not in ${tempest} (the guideline flags it: ${g.flagged})`, ...extra };
      return { id, status: 'failed', reason: 'not run: Tempest reported neither this test nor its class', ...extra };
    }
    const status = STATUS[record.status] ?? 'failed';
    const prefix = cls ? `class ${cls.id.replace(/^\w+ \((.*)\)$/, '$1')}: ` : moved ? `run as ${baseId(moved.id)} (same idempotent id): ` : '';
    let reason = `${prefix}${record.reason || (status === 'failed' ? `subunit status ${record.status}` : '')}`;
    if (status === 'skipped') {
      const machine = machineSkips.find((m) => m.tempestReason.test(record.reason));
      if (machine) reason = `${machine.reason} (Tempest: ${record.reason})`;
    }
    return { id, status, reason, ...extra };
  });
}

/** What the run itself tells: everything of Results but the counts and the tests. */
export type RunFacts = Pick<Results, 'guideline' | 'target' | 'date' | 'tempest' | 'release' | 'concurrency'> & { readonly durationS: number };

export function summarize(run: RunFacts, tests: readonly TestResult[]): Results {
  const count = (s: Status) => tests.filter((t) => t.status === s).length;
  return {
    guideline: run.guideline,
    target: run.target,
    date: run.date,
    tempest: run.tempest,
    release: run.release,
    concurrency: run.concurrency,
    required: tests.length,
    passed: count('passed'),
    failed: count('failed'),
    skipped: count('skipped'),
    duration_s: run.durationS,
    tests,
  };
}

/** The service a test belongs to: `tempest.api.<service>.…`. */
const serviceOf = (id: string): string => id.split('.')[2] ?? 'other';

const cell = (s: string): string => s.replace(/\s+/g, ' ').replace(/\|/g, '\\|').slice(0, 300);

/** conformance/results/README.md: the figures per service, then every test that did not pass, then the rest. */
export function resultsMarkdown(r: Results): string {
  const services = [...new Set(r.tests.map((t) => serviceOf(t.id)))];
  const row = (name: string, ts: readonly TestResult[]) =>
    `| ${name} | ${ts.length} | ${ts.filter((t) => t.status === 'passed').length} | ${ts.filter((t) => t.status === 'failed').length} | ${ts.filter((t) => t.status === 'skipped').length} |`;
  const notPassed = r.tests.filter((t) => t.status !== 'passed');
  const minutes = (r.duration_s / 60).toFixed(1);
  return [
    `# Conformance: ${r.target} ${r.guideline}`,
    '',
    `Written by \`make conformance\` (playbooks/conformance.ts); the same figures are in \`latest.json\`.`,
    '',
    `- run ended ${r.date}, took ${r.duration_s} s (${minutes} min), Tempest ${r.tempest}, concurrency ${r.concurrency}, OpenStack ${r.release} on the local lab`,
    `- **${r.required} required: ${r.passed} passed, ${r.failed} failed, ${r.skipped} skipped**`,
    '',
    '| service | required | passed | failed | skipped |',
    '|---|---:|---:|---:|---:|',
    ...services.map((s) =>
      row(
        s,
        r.tests.filter((t) => serviceOf(t.id) === s),
      ),
    ),
    row('**all**', r.tests),
    '',
    `## Not passed (${notPassed.length})`,
    '',
    ...(notPassed.length === 0
      ? ['None.']
      : [
          '| test | status | reason |',
          '|---|---|---|',
          ...notPassed.map((t) => `| \`${t.id}\`${t.flagged ? ' (flagged)' : ''} | ${t.status} | ${cell(t.reason)} |`),
        ]),
    '',
    `## Passed (${r.passed})`,
    '',
    ...r.tests.filter((t) => t.status === 'passed').map((t) => `- \`${t.id}\`${t.flagged ? ' (flagged by the guideline, run all the same)' : ''}`),
    '',
  ].join('\n');
}
