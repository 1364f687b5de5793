import { access, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { expect } from 'chai';
import puppeteer, { type Browser, type Page } from 'puppeteer-core';
import { CHROMIUM_FLAGS } from '../../openstack/chromium.js';

/** Where screenshots for the README go, when STACKPLAY_DOCS_SCREENSHOTS=1 asks for them. */
export const DOCS = fileURLToPath(new URL('../../docs/', import.meta.url));

/** Debian's chromium (never a downloaded browser); CHROMIUM overrides. */
export const CHROMIUM = process.env['CHROMIUM'] ?? '/usr/bin/chromium';

export async function haveChromium(): Promise<boolean> {
  return access(CHROMIUM).then(
    () => true,
    () => false,
  );
}

/** What a page did when it opened: console errors and uncaught exceptions, and every request that was not the file itself. */
export interface PageVisit {
  readonly errors: readonly string[];
  readonly requests: readonly string[];
}

/**
 * A headless Chromium for looking at local files, as the project launches it
 * for Horizon (openstack/horizon-screenshot.ts): its own profile directory,
 * no sandbox (tests run as root), no network noise.
 */
export class HeadlessChromium {
  private constructor(
    readonly browser: Browser,
    readonly profile: string,
  ) {}

  static async launch(): Promise<HeadlessChromium> {
    const profile = await mkdtemp(join(tmpdir(), 'sp-chromium-'));
    const browser = await puppeteer.launch({
      executablePath: CHROMIUM,
      headless: true,
      userDataDir: profile,
      args: [...CHROMIUM_FLAGS.filter((f) => f !== '--headless'), '--hide-scrollbars'],
      defaultViewport: { width: 1280, height: 900 },
    });
    return new HeadlessChromium(browser, profile);
  }

  /** Opens `file`, records what went wrong, then hands the page to `look` (screenshots, measurements). */
  async visit<T>(file: string, look: (page: Page) => Promise<T>): Promise<PageVisit & { readonly seen: T }> {
    const page = await this.browser.newPage();
    const errors: string[] = [];
    const requests: string[] = [];
    const url = pathToFileURL(file).href;
    page.on('console', (m) => {
      if (m.type() === 'error' || m.type() === 'warn') errors.push(`console.${m.type()}: ${m.text()}`);
    });
    page.on('pageerror', (e) => errors.push(`page error: ${String(e)}`));
    page.on('request', (r) => {
      if (r.url() !== url) requests.push(r.url());
    });
    page.on('requestfailed', (r) => errors.push(`request failed: ${r.url()}`));
    try {
      await page.goto(url, { waitUntil: 'load' });
      const seen = await look(page);
      return { errors, requests, seen };
    } finally {
      await page.close();
    }
  }

  async close(): Promise<void> {
    await this.browser.close();
    await rm(this.profile, { recursive: true, force: true });
  }
}

/** How the report's timeline came out on screen: each host label's box and font size, and the role bars' widths. */
export interface TimelineLayout {
  readonly labels: readonly {
    readonly text: string;
    readonly top: number;
    readonly bottom: number;
    readonly left: number;
    readonly right: number;
    readonly fontPx: number;
  }[];
  readonly bars: readonly number[];
  readonly chartWidth: number;
  readonly viewportWidth: number;
}

/**
 * Measured in the page. A string, not a function: tsx compiles functions with
 * a `__name` helper that exists only in Node, not in the page.
 */
const MEASURE_TIMELINE = `(() => {
  const box = (e) => e.getBoundingClientRect();
  const labels = Array.from(document.querySelectorAll('#timeline svg text.host')).map((e) => {
    const b = box(e);
    return { text: e.textContent, top: b.top, bottom: b.bottom, left: b.left, right: b.right, fontPx: parseFloat(getComputedStyle(e).fontSize) };
  });
  const bars = Array.from(document.querySelectorAll('#timeline svg rect.role')).map((e) => box(e).width);
  const svg = document.querySelector('#timeline svg');
  return { labels, bars, chartWidth: svg ? box(svg).width : 0, viewportWidth: innerWidth };
})()`;

export async function timelineLayout(page: Page): Promise<TimelineLayout> {
  return (await page.evaluate(MEASURE_TIMELINE)) as TimelineLayout;
}

/** The timeline is readable: every host labelled in order, legible, no two labels overlapping, no sideways scrolling at 1280 px. */
export function expectReadableTimeline(layout: TimelineLayout, hosts: readonly string[]): void {
  expect(layout.labels.map((l) => l.text)).to.deep.equal(hosts);
  for (const l of layout.labels) {
    expect(l.fontPx, `${l.text}: font size`).to.be.at.least(11);
    expect(l.left, `${l.text}: cut off on the left`).to.be.at.least(0);
  }
  for (let i = 1; i < layout.labels.length; i++) {
    const [a, b] = [layout.labels[i - 1]!, layout.labels[i]!];
    expect(b.top, `${a.text} and ${b.text} overlap`).to.be.at.least(a.bottom);
    expect(b.top - a.top, 'row pitch').to.be.at.least(16);
  }
  expect(layout.chartWidth, 'timeline wider than a 1280 px screen').to.be.at.most(layout.viewportWidth);
  expect(layout.bars.length, 'role bars').to.be.at.least(1);
  expect(Math.min(...layout.bars), 'a role bar too thin to see').to.be.at.least(1);
}
