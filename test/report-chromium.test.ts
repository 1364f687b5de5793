import { expect } from 'chai';
import { mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { renderReport } from '../lib/report/html.js';
import { DOCS, expectReadableTimeline, haveChromium, HeadlessChromium, timelineLayout } from './support/chromium-page.js';
import { syntheticRecord } from './support/synthetic-run.js';

/**
 * Issue 19: the report in headless Chromium (Debian's), at 4 and at 50
 * hosts: no console error, nothing fetched, and a timeline whose host labels
 * are all there, legible (≥ 11 px), one under the other without overlap, on a
 * 1280 px screen without scrolling sideways. The runs are synthetic
 * (test/support/synthetic-run.ts): no loopback test can deploy 50 hosts.
 * STACKPLAY_DOCS_SCREENSHOTS=1 saves the screenshots to docs/ for the README.
 */

describe('HTML report in headless Chromium: 4 and 50 hosts', function () {
  this.timeout(120_000);
  let chromium: HeadlessChromium;
  let work: string;

  before(async function () {
    if (!(await haveChromium())) this.skip();
    chromium = await HeadlessChromium.launch();
    work = await mkdtemp(join(tmpdir(), 'sp-report-'));
  });
  after(async () => {
    await chromium?.close();
    if (work) await rm(work, { recursive: true, force: true });
  });

  for (const hosts of [4, 50]) {
    it(`${hosts} hosts: opens with no console error and a readable timeline`, async () => {
      const record = syntheticRecord({ hosts, failure: true, unreachable: hosts > 4, secret: 'CanaryChrome5x' });
      const file = join(work, `report-${hosts}.html`);
      const html = renderReport(record);
      expect(html).not.to.contain('CanaryChrome5x');
      await writeFile(file, html);
      // The 50-host timeline is the README's (the 4-host one there is a real run's: test/history.test.ts).
      const shot = process.env['STACKPLAY_DOCS_SCREENSHOTS'] && hosts === 50 ? join(DOCS, 'report-50-hosts.png') : join(work, `report-${hosts}.png`);
      const visit = await chromium.visit(file, async (page) => {
        // The timeline, whole: what the README shows and what a person scrolls to.
        await (await page.$('#timeline'))!.screenshot({ path: shot as `${string}.png` });
        return timelineLayout(page);
      });
      expect(visit.errors).to.deep.equal([]);
      expect(visit.requests).to.deep.equal([]);
      expectReadableTimeline(visit.seen, Object.keys(record.recap));
      // A blank or cut screenshot is small; 50 rows of bars are not.
      expect((await stat(shot)).size).to.be.greaterThan(hosts === 50 ? 60_000 : 15_000);
    });
  }
});
