/**
 * Horizon as a person sees it: a headless Chromium on this machine logs in
 * through the login form, opens a page (the instances list by default),
 * waits for the text it must show (the verify server's name), and saves a
 * screenshot. Run by the verify playbook's last play:
 *
 *   node --import tsx openstack/horizon-screenshot.ts --base URL --user admin \
 *     --page /project/instances/ --expect NAME --out FILE  < password
 *
 * The password arrives as the first line of stdin, never in argv. Prints one
 * JSON line: { ok, url, title, found, bytes, consoleErrors, error? }.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Command } from 'commander';
import puppeteer from 'puppeteer-core';
import { CHROMIUM_FLAGS } from './chromium.js';

export interface ScreenshotResult {
  readonly ok: boolean;
  readonly url: string;
  readonly title: string;
  /** The expected text is on the page. */
  readonly found: boolean;
  readonly bytes: number;
  /** Errors the page logged to its console (a person would see a broken page). */
  readonly consoleErrors: readonly string[];
  readonly error?: string;
}

interface Options {
  readonly base: string;
  readonly user: string;
  readonly domain: string;
  readonly password: string;
  readonly page: string;
  readonly expect: string;
  readonly out: string;
  readonly chromium: string;
  readonly timeoutMs: number;
}

export async function screenshotHorizon(o: Options): Promise<ScreenshotResult> {
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'stackplay-chromium-'));
  const browser = await puppeteer.launch({
    executablePath: o.chromium,
    headless: true,
    userDataDir: profile,
    args: [...CHROMIUM_FLAGS.filter((f) => f !== '--headless'), '--hide-scrollbars'],
    defaultViewport: { width: 1280, height: 900 },
  });
  const consoleErrors: string[] = [];
  let url = '';
  let title = '';
  try {
    const page = await browser.newPage();
    page.setDefaultTimeout(o.timeoutMs);
    page.on('console', (m) => {
      if (m.type() === 'error') consoleErrors.push(m.text().slice(0, 300));
    });
    page.on('pageerror', (e) => consoleErrors.push(String(e).slice(0, 300)));
    await page.goto(`${o.base}/auth/login/`, { waitUntil: 'networkidle2' });
    // Horizon with multi-domain support (as the Zed role configures it) asks for the domain too.
    if (await page.$('#id_domain')) await page.type('#id_domain', o.domain);
    await page.type('#id_username', o.user);
    await page.type('#id_password', o.password);
    await Promise.all([page.waitForNavigation({ waitUntil: 'networkidle2' }), page.click('#loginBtn')]);
    if (page.url().includes('/auth/login')) {
      // Keep what the person would see, and say what the form said.
      await page.screenshot({ path: o.out as `${string}.png` });
      const said = await page.evaluate(() => {
        const doc = (globalThis as unknown as { document: { querySelector(s: string): { textContent: string | null } | null } }).document;
        return (doc.querySelector('.alert, .error, .help-block')?.textContent ?? '').trim().replace(/\s+/g, ' ');
      });
      throw new Error(`login refused: still on the login page${said ? ` (${said.slice(0, 200)})` : ''}`);
    }
    await page.goto(`${o.base}${o.page}`, { waitUntil: 'networkidle2' });
    url = page.url();
    title = await page.title();
    const found = await page
      // Runs in the page: `document` is the page's, not Node's.
      .waitForFunction(
        (text: string) => (globalThis as unknown as { document: { body: { innerText: string } } }).document.body.innerText.includes(text),
        { timeout: o.timeoutMs },
        o.expect,
      )
      .then(() => true)
      .catch(() => false);
    await page.screenshot({ path: o.out as `${string}.png` });
    const bytes = fs.statSync(o.out).size;
    return { ok: found && consoleErrors.length === 0, url, title, found, bytes, consoleErrors };
  } catch (err) {
    return { ok: false, url, title, found: false, bytes: 0, consoleErrors, error: err instanceof Error ? err.message : String(err) };
  } finally {
    await browser.close();
    fs.rmSync(profile, { recursive: true, force: true });
  }
}

async function readPassword(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8').split('\n')[0] ?? '';
}

if (process.argv[1] && path.resolve(process.argv[1]) === path.resolve(new URL(import.meta.url).pathname)) {
  const cli = new Command()
    .requiredOption('--base <url>', 'Horizon base URL, e.g. http://10.42.0.11/horizon')
    .requiredOption('--out <file>', 'screenshot file (.png)')
    .option('--user <name>', 'user to log in as', 'admin')
    .option('--domain <name>', 'keystone domain, when the login form asks for one', 'Default')
    .option('--page <path>', 'page after login', '/project/instances/')
    .option('--expect <text>', 'text the page must show', '')
    .option('--chromium <path>', 'Chromium binary', process.env['CHROMIUM'] ?? 'chromium')
    .option('--timeout <s>', 'per-step timeout in seconds', '60')
    .parse();
  const opts = cli.opts<{ base: string; out: string; user: string; domain: string; page: string; expect: string; chromium: string; timeout: string }>();
  const which = opts.chromium.includes('/')
    ? opts.chromium
    : (process.env['PATH'] ?? '')
        .split(':')
        .map((d) => path.join(d, opts.chromium))
        .find((p) => fs.existsSync(p));
  if (which === undefined) {
    console.log(
      JSON.stringify({
        ok: false,
        url: '',
        title: '',
        found: false,
        bytes: 0,
        consoleErrors: [],
        error: `no ${opts.chromium} on this machine (apt-get install chromium)`,
      }),
    );
    process.exit(0);
  }
  const result = await screenshotHorizon({
    base: opts.base.replace(/\/$/, ''),
    user: opts.user,
    domain: opts.domain,
    password: await readPassword(),
    page: opts.page,
    expect: opts.expect,
    out: opts.out,
    chromium: which,
    timeoutMs: Number(opts.timeout) * 1000,
  });
  console.log(JSON.stringify(result));
}
