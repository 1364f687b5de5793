import { expect } from 'chai';
import { mkdtemp, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { RunEvent, TaskResult } from '../lib/core/executor.js';
import { Redactor } from '../lib/core/secret.js';
import { compareRuns } from '../lib/history/compare.js';
import { RunRecorder, type RunMeta, type RunRecord } from '../lib/history/record.js';
import { DEFAULT_KEEP, historyDirFor, keepFrom, RunStore } from '../lib/history/store.js';
import { duration, renderReport } from '../lib/report/html.js';
import { syntheticRecord } from './support/synthetic-run.js';

/** Issue 19, the engine part: what a record holds, how records are kept and found, comparing two, the report's page. */

const META: RunMeta = { playbook: 'site', argv: ['-i', 'hosts/x.ini'], inventory: '/x/hosts/x.ini', check: false, user: 'op', machine: 'm', cwd: '/x' };
const result = (over: Partial<TaskResult> & Pick<TaskResult, 'host' | 'task' | 'status'>): TaskResult => ({
  role: 'web',
  module: 'ini',
  handler: false,
  durationMs: 100,
  ...over,
});

/** A recorder on a clock the test moves: events at given milliseconds. */
function record(events: readonly [number, RunEvent][], redactor = new Redactor(), finish?: (r: RunRecorder) => RunRecord): RunRecord {
  let now = 1_000_000;
  const start = now;
  const recorder = new RunRecorder(META, redactor, { now: () => now, suffix: 'abc123' });
  for (const [at, e] of events) {
    now = start + at;
    recorder.handle(e);
  }
  return finish ? finish(recorder) : recorder.finish(0, { recap: new Map(), exitCode: 0, aborted: null });
}

describe('run records', () => {
  it('times each task from its start event, keeps handlers, diffs and steps of changes, masks secrets known at the end', () => {
    const redactor = new Redactor();
    const r = record(
      [
        [0, { type: 'play', name: 'web', hosts: ['a'] }],
        [10, { type: 'task-start', host: 'a', role: 'web', task: 'conf' }],
        [
          250,
          {
            type: 'task',
            result: result({
              host: 'a',
              task: 'conf',
              status: 'changed',
              durationMs: 240,
              steps: ['write /etc/web.conf', 'x'.repeat(5000)],
              diffs: [{ path: '/etc/web.conf', before: 'key = LateSecret1\n', after: 'key = other\n' }],
            }),
          },
        ],
        [260, { type: 'task-start', host: 'a', role: 'web', task: 'restart' }],
        [300, { type: 'task', result: result({ host: 'a', task: 'restart', status: 'changed', handler: true, durationMs: 40 }) }],
        [300, { type: 'task', result: result({ host: 'a', task: 'noop', status: 'ok', durationMs: 0, steps: ['not kept'] }) }],
        [310, { type: 'role-end', host: 'a', role: 'web', durationMs: 305 }],
      ],
      redactor,
      (rec) => {
        // Learned after the task ran (a become password, say): the record is redacted when it is finished.
        redactor.add('LateSecret1');
        return rec.finish(0, {
          recap: new Map([['a', { ok: 1, changed: 2, failed: 0, skipped: 0, unreachable: 0, wouldRun: 0 }]]),
          exitCode: 0,
          aborted: null,
        });
      },
    );
    expect(r.id).to.equal('19700101T001640.000Z-site-abc123');
    expect(r.tasks.map((t) => [t.task, t.startMs, t.durationMs, t.handler])).to.deep.equal([
      ['conf', 10, 240, false],
      ['restart', 260, 40, true],
      ['noop', 300, 0, false],
    ]);
    expect(r.tasks[0]!.diff).to.contain('-key = ***').and.to.contain('+key = other');
    expect(JSON.stringify(r)).not.to.contain('LateSecret1');
    expect(r.tasks[0]!.steps![1]).to.have.length.below(2100);
    expect(r.tasks[2]!.steps).to.equal(undefined);
    expect(r.roles).to.deep.equal([{ host: 'a', role: 'web', startMs: 5, durationMs: 305 }]);
    expect(r.plays).to.deep.equal([{ name: 'web', hosts: ['a'], startMs: 0 }]);
  });

  it('a run the executor never finished (it threw) still has its tasks, a recap counted from them, and the error', () => {
    const r = record(
      [
        [0, { type: 'task', result: result({ host: 'a', task: 't1', status: 'changed' }) }],
        [5, { type: 'task', result: result({ host: 'b', task: 't1', status: 'failed', error: 'boom' }) }],
        [6, { type: 'unreachable', host: 'c', error: 'gone' }],
      ],
      new Redactor(),
      (rec) => rec.finish(1, undefined, new TypeError('a bug')),
    );
    expect(r.status).to.equal('error');
    expect(r.error).to.equal('TypeError: a bug');
    expect(r.recap['a']!.changed).to.equal(1);
    expect(r.recap['b']!.failed).to.equal(1);
    expect(r.recap['c']!.unreachable).to.equal(1);
  });
});

describe('run store', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'sp-store-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });
  const at = (i: number): RunRecord => ({ ...syntheticRecord({ hosts: 2 }), id: `2026120${i}T000000.000Z-site-00000${i}` });

  it('is beside the inventory unless the flag or the variable says otherwise; keep comes from the variable', () => {
    expect(historyDirFor('hosts/lab.ini', undefined, {})).to.equal(join(process.cwd(), 'hosts/.stackplay/runs'));
    expect(historyDirFor('hosts/lab.ini', undefined, { STACKPLAY_HISTORY_DIR: '/var/x' })).to.equal('/var/x');
    expect(historyDirFor('hosts/lab.ini', '/flag', { STACKPLAY_HISTORY_DIR: '/var/x' })).to.equal('/flag');
    expect(keepFrom({})).to.equal(DEFAULT_KEEP);
    expect(keepFrom({ STACKPLAY_HISTORY_KEEP: '7' })).to.equal(7);
    expect(() => keepFrom({ STACKPLAY_HISTORY_KEEP: '0' })).to.throw(/STACKPLAY_HISTORY_KEEP.*whole number/);
    expect(() => keepFrom({ STACKPLAY_HISTORY_KEEP: 'ten' })).to.throw(/STACKPLAY_HISTORY_KEEP/);
  });

  it('writes 0600 files in a 0700 directory and keeps only the newest', async () => {
    const store = new RunStore(join(dir, 'a', 'runs'), 3);
    for (const i of [1, 2, 3, 4, 5]) await store.save(at(i));
    expect((await stat(join(dir, 'a'))).mode & 0o777).to.equal(0o700);
    expect((await stat(store.dir)).mode & 0o777).to.equal(0o700);
    const names = await readdir(store.dir);
    expect(names.sort()).to.deep.equal([
      '20261203T000000.000Z-site-000003.json.gz',
      '20261204T000000.000Z-site-000004.json.gz',
      '20261205T000000.000Z-site-000005.json.gz',
    ]);
    for (const n of names) expect((await stat(join(store.dir, n))).mode & 0o777).to.equal(0o600);
  });

  it('finds a run by latest, number, id prefix or path, and says what is wrong otherwise', async () => {
    const store = new RunStore(dir);
    for (const i of [1, 2, 3]) await store.save(at(i));
    expect((await store.find('latest')).id).to.equal(at(3).id);
    expect((await store.find('3')).id).to.equal(at(1).id);
    expect((await store.find('20261202')).id).to.equal(at(2).id);
    expect((await store.find(store.pathOf(at(1).id))).id).to.equal(at(1).id);
    await expectReject(store.find('2026120'), /names 3 runs/);
    await expectReject(store.find('4'), /there are 3 recorded runs/);
    await expectReject(store.find('2030'), /no recorded run with this id/);
    await writeFile(join(dir, '20261209T000000.000Z-site-bad.json.gz'), 'not gzip');
    expect((await store.all()).unreadable).to.deep.equal(['20261209T000000.000Z-site-bad']);
    await expectReject(store.find('latest'), /not a readable run record/);
  });
});

async function expectReject(p: Promise<unknown>, pattern: RegExp): Promise<void> {
  const error = await p.then(
    () => null,
    (e: unknown) => e,
  );
  expect(error, `expected a rejection matching ${pattern}`).to.be.instanceOf(Error);
  expect((error as Error).message).to.match(pattern);
}

describe('comparing two runs', () => {
  const run = (tasks: readonly [string, string, TaskResult['status']][], roleMs: number): RunRecord =>
    record([
      ...tasks.map(([host, task, status], i): [number, RunEvent] => [i, { type: 'task', result: result({ host, task, status }) }]),
      [50, { type: 'role-end', host: 'a', role: 'web', durationMs: roleMs }],
    ]);

  it("names tasks whose status changed, tasks in one run only, the later run's changes, and role times that moved", () => {
    const before = run(
      [
        ['a', 'conf', 'changed'],
        ['a', 'pkg', 'ok'],
        ['b', 'conf', 'ok'],
        ['b', 'gone', 'ok'],
      ],
      10_000,
    );
    const after = run(
      [
        ['a', 'conf', 'ok'],
        ['a', 'pkg', 'changed'],
        ['b', 'conf', 'changed'],
        ['b', 'new', 'ok'],
      ],
      30_000,
    );
    const c = compareRuns(before, after);
    expect(c.statusChanged.map((t) => `${t.host} ${t.task} ${t.before}→${t.after}`)).to.deep.equal([
      'a conf changed→ok',
      'a pkg ok→changed',
      'b conf ok→changed',
    ]);
    expect(c.onlyBefore.map((t) => t.task)).to.deep.equal(['gone']);
    expect(c.onlyAfter.map((t) => t.task)).to.deep.equal(['new']);
    expect(c.changes.map((t) => [t.host, t.task, t.again])).to.deep.equal([
      ['a', 'pkg', false],
      ['b', 'conf', false],
    ]);
    expect(c.roleTimes).to.deep.equal([{ role: 'web', beforeMs: 10_000, afterMs: 30_000 }]);
    const onlyB = compareRuns(before, after, { host: 'b' });
    expect(onlyB.statusChanged.map((t) => t.host)).to.deep.equal(['b']);
    expect(compareRuns(after, after).statusChanged).to.deep.equal([]);
  });
});

describe('HTML report', () => {
  it('is one self-contained page: failures first, then the timeline, recap, slowest tasks and changes', () => {
    const html = renderReport(syntheticRecord({ hosts: 6, failure: true, unreachable: true, secret: 'CanaryRep0rt9' }));
    expect(html).to.contain(`Content-Security-Policy" content="default-src 'none'`);
    expect(html).not.to.match(/<script|<link|@import|url\(|(src|href)=/i);
    expect(html).not.to.contain('CanaryRep0rt9');
    const order = ['id="failures"', 'id="timeline"', 'id="recap"', 'id="slowest"', 'id="changes"'].map((s) => html.indexOf(s));
    expect(order.every((i) => i > 0)).to.equal(true);
    expect([...order].sort((a, b) => a - b)).to.deep.equal(order);
    expect(html).to.contain('What went wrong (2)').and.to.contain('✕ unreachable');
    expect(html.match(/<text class="host"/g)).to.have.length(6);
  });

  it('escapes what hosts and tasks are called', () => {
    const r = record([[0, { type: 'task', result: result({ host: 'a<b>', task: '<script>alert(1)</script>', status: 'failed', error: '"><img src=x>' }) }]]);
    const html = renderReport(r);
    expect(html).not.to.contain('<script>').and.not.to.contain('<img');
    expect(html).to.contain('&lt;script&gt;alert(1)&lt;/script&gt;');
  });

  it('writes durations people read at a glance', () => {
    expect([250, 1500, 9960, 59_600, 61_000, 3_725_000].map(duration)).to.deep.equal(['250ms', '1.5s', '10s', '1m00s', '1m01s', '1h02m']);
  });
});
