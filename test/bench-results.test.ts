/**
 * bench/results/latest.json is written by two benchmarks run at different
 * times (bench/run.ts at some N, bench/site-rerun.ts on the lab): each keeps
 * what the other measured, and a new row replaces only its own scenario at its N.
 */
import { expect } from 'chai';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { mergeLatest, type LatestRow } from '../bench/report.js';

describe('bench results: latest.json', () => {
  let dir: string;
  beforeEach(() => (dir = fs.mkdtempSync(path.join(os.tmpdir(), 'stackplay-bench-results-'))));
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));
  const read = (): LatestRow[] => JSON.parse(fs.readFileSync(path.join(dir, 'latest.json'), 'utf8')) as LatestRow[];

  it('keeps the rows of other scenarios and other N, replaces its own, orders by N then scenario', () => {
    mergeLatest(dir, [
      { n: 10, scenario: 'drift', stackplay_s: 0.9, ansible_s: 28 },
      { n: 10, scenario: 'cold', stackplay_s: 2.5, ansible_s: 31 },
      { n: 10, scenario: 'idempotent', stackplay_s: 0.8, ansible_s: 28 },
    ]);
    mergeLatest(dir, [{ n: 4, scenario: 'site-rerun', stackplay_s: 11.23456, roles_s: { keystone: 1.23456 } }]);
    mergeLatest(dir, [
      { n: 200, scenario: 'idempotent', stackplay_s: 7, ansible_s: NaN },
      { n: 10, scenario: 'idempotent', stackplay_s: 0.7, ansible_s: 27 },
    ]);
    expect(read().map((r) => `${r.n}/${r.scenario}/${r.stackplay_s}`)).to.deep.equal([
      '4/site-rerun/11.235',
      '10/cold/2.5',
      '10/idempotent/0.7',
      '10/drift/0.9',
      '200/idempotent/7',
    ]);
    const site = read()[0]!;
    expect(site['roles_s']).to.deep.equal({ keystone: 1.235 });
    // Ansible not run at N=200: null, not a number that looks measured.
    expect(read()[4]!['ansible_s']).to.equal(null);
  });
});
