import { expect } from 'chai';
import { readFile } from 'node:fs/promises';
import type { SitePlan } from './plan.js';

/**
 * The site's plays ran cleanly and are idempotent: the first simulated run
 * exits 0 with no failed task on any host (each listed with its error), and
 * the second run, on the same simulated hosts, changes nothing and fails
 * nothing (each changed or failed task listed).
 */
export function expectIdempotent(site: SitePlan): void {
  expect(
    site.results.filter((r) => r.status === 'failed').map((r) => `${r.host}: ${r.task}: ${r.error}`),
    'first run: failed tasks',
  ).to.deep.equal([]);
  expect(site.first.exitCode, 'first run').to.equal(0);
  for (const [host, recap] of site.first.recap) expect(recap.failed, `${host}: failures in the first run`).to.equal(0);
  expect(
    site.secondResults
      .filter((r) => r.status === 'changed' || r.status === 'failed')
      .map((r) => `${r.host}: ${r.task}: ${r.status}${r.error ? ` (${r.error})` : ''}`),
    'second simulated run: changed or failed tasks',
  ).to.deep.equal([]);
  expect(
    [...site.second.recap].filter(([, r]) => r.changed > 0 || r.failed > 0),
    'second simulated run',
  ).to.deep.equal([]);
}

/** An inventory file's text, optionally edited, with `extra` lines appended (e.g. `[all:vars]` settings). */
export async function inventoryWith(path: string, extra: string, edit: (text: string) => string = (t) => t): Promise<string> {
  return `${edit(await readFile(path, 'utf8'))}\n${extra}\n`;
}
