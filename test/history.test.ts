import { expect } from 'chai';
import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { runHistory } from '../lib/history/history-cli.js';
import type { RunRecord } from '../lib/history/record.js';
import { startSshd, type TestSshd } from './support/sshd.js';
import { runPlaybook, startPlaybook } from './support/playbook-run.js';
import { DOCS, expectReadableTimeline, haveChromium, HeadlessChromium, timelineLayout } from './support/chromium-page.js';

/**
 * Issue 19: a real run, a failed run and an interrupted (SIGINT) run of the
 * files fixture over a loopback sshd each leave a record beside the
 * inventory; `history` lists, shows and compares them and writes each one's
 * HTML report, which opens in headless Chromium with no console error; the
 * canary secrets are in none of them.
 */

const CANARIES = { demo_db: 'CanaryHistDb7Qx', demo_keystone: 'CanaryHistKs9Wz' };

/** The history command in-process, its output collected. */
async function history(args: readonly string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const sink = (add: (s: string) => void) => ({ write: (s: string | Uint8Array) => (add(String(s)), true) }) as unknown as NodeJS.WritableStream;
  const code = await runHistory(args, { stdout: sink((s) => (out += s)), stderr: sink((s) => (err += s)) });
  return { code, out, err };
}

async function waitFor(what: string, check: () => boolean, ms = 30_000): Promise<void> {
  const until = Date.now() + ms;
  while (!check()) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

describe('history: every real run is recorded, listed, compared and reported', function () {
  this.timeout(180_000);
  let sshd: TestSshd;
  let work: string;
  const runs = () => join(work, 'inv', '.stackplay', 'runs');

  /** An inventory in work/inv/ (so all share one history directory) with the canary secrets beside it. */
  const inventory = async (name: string, hosts: readonly string[], vars: Record<string, string> = {}): Promise<string> => {
    const path = join(work, 'inv', `${name}.ini`);
    const lines = [
      '[demo]',
      // One sshd for all, each host at its own loopback address (an inventory refuses two hosts at one address and port).
      ...hosts.map(
        (h, i) =>
          `${h} ansible_host=127.0.0.${i + 1} ansible_port=${sshd.port} test_root=${join(work, name, h)} stackplay_state_dir=${join(work, name, h, 'state')}`,
      ),
      '[all:vars]',
      `ansible_ssh_private_key_file=${sshd.clientKeyPath}`,
      `stackplay_known_hosts=${join(work, 'kh')}`,
      ...Object.entries(vars).map(([k, v]) => `${k}=${v}`),
      '',
    ];
    await writeFile(path, lines.join('\n'));
    await writeFile(
      join(work, 'inv', `${name}.secrets.ini`),
      Object.entries(CANARIES)
        .map(([k, v]) => `${k} = ${v}\n`)
        .join(''),
      { mode: 0o600 },
    );
    return path;
  };
  const records = async (): Promise<RunRecord[]> =>
    Promise.all(
      (await readdir(runs()))
        .filter((n) => n.endsWith('.json.gz'))
        .sort()
        .map(async (n) => JSON.parse(gunzipSync(await readFile(join(runs(), n))).toString('utf8')) as RunRecord),
    );
  const noCanary = (what: string, text: string) => {
    for (const c of Object.values(CANARIES)) expect(text, `${what} holds a canary secret`).not.to.contain(c);
  };
  let allOutput = '';

  before(async () => {
    sshd = await startSshd({ extraConfig: ['ListenAddress 127.0.0.2', 'ListenAddress 127.0.0.3', 'ListenAddress 127.0.0.4'] });
    work = await mkdtemp(join(tmpdir(), 'sp-history-'));
    await mkdir(join(work, 'inv'));
  });
  after(async () => {
    await sshd?.stop();
    if (work) await rm(work, { recursive: true, force: true });
  });

  it('records a real run (4 hosts) and its rerun, with diffs masked, files 0600 in a 0700 directory', async () => {
    const inv = await inventory('four', ['node1', 'node2', 'node3', 'node4']);
    const report = join(work, 'four.html');
    const first = await runPlaybook('files', ['-i', inv, '--report', report, '-v']);
    expect(first.code, first.out).to.equal(0);
    expect(first.stdout).to.match(/node4 +: ok=0 changed=5 /);
    expect(first.stdout).to.match(/^run recorded: .*\.stackplay\/runs\/\d{8}T\d{6}\.\d{3}Z-files-[0-9a-f]{6}\.json\.gz$/m);
    const second = await runPlaybook('files', ['-i', inv]);
    expect(second.code, second.out).to.equal(0);
    expect(second.stdout).to.match(/node1 +: ok=4 changed=0 /);
    // Without -v the run's output is what it was: no word of the record.
    expect(second.stdout).not.to.contain('run recorded');
    allOutput += first.out + second.out;

    expect((await stat(runs())).mode & 0o777).to.equal(0o700);
    for (const n of await readdir(runs())) expect((await stat(join(runs(), n))).mode & 0o777, n).to.equal(0o600);
    const [a, b] = await records();
    expect(a!.status).to.equal('ok');
    expect(a!.argv).to.deep.equal(['-i', inv, '--report', report, '-v']);
    expect(a!.user).to.equal('root');
    expect(Object.keys(a!.recap)).to.deep.equal(['node1', 'node2', 'node3', 'node4']);
    const iniTask = a!.tasks.find((t) => t.host === 'node2' && t.module === 'ini')!;
    expect(iniTask.status).to.equal('changed');
    expect(iniTask.diff).to.contain('+password = ***');
    expect(iniTask.startMs).to.be.at.least(0);
    // The handler's run is recorded as such.
    expect(a!.tasks.filter((t) => t.handler && t.status === 'changed').map((t) => t.host)).to.have.members(['node1', 'node2', 'node3', 'node4']);
    expect(a!.roles.filter((r) => r.role === 'demo')).to.have.length(4);
    expect(b!.tasks.every((t) => t.status === 'ok')).to.equal(true);
    expect(b!.tasks.filter((t) => t.handler)).to.deep.equal([]);
    const html = await readFile(report, 'utf8');
    expect(html).to.contain('<svg').and.to.contain('+password = ***');
    expect((await stat(report)).mode & 0o777).to.equal(0o600);
  });

  it('records a failed run', async () => {
    const inv = await inventory('broken', ['node1']);
    // Its test root lies under a regular file: the first task fails with ENOTDIR on the host.
    await mkdir(join(work, 'broken'), { recursive: true });
    await writeFile(join(work, 'broken', 'node1'), 'not a directory\n');
    const r = await runPlaybook('files', ['-i', inv]);
    expect(r.code, r.out).to.equal(2);
    allOutput += r.out;
    const failed = (await records()).at(-1)!;
    expect(failed.status).to.equal('failed');
    expect(failed.exitCode).to.equal(2);
    expect(failed.recap['node1']!.failed).to.equal(1);
    expect(failed.tasks.find((t) => t.status === 'failed')!.error).to.be.a('string').and.not.be.empty;
  });

  it('records an interrupted run (SIGINT) after the step under way finished', async () => {
    const inv = await inventory('slow', ['node1'], { test_sleep: '3' });
    const run = startPlaybook('files', ['-i', inv, '-v']);
    // Three tasks changed: the slow step is under way.
    await waitFor('the slow step', () => (run.output().match(/^changed: /gm) ?? []).length >= 3);
    await new Promise((r) => setTimeout(r, 300));
    run.child.kill('SIGINT');
    const r = await run.done;
    expect(r.code, r.out).to.equal(130);
    expect(r.stdout).to.match(/^run recorded: /m);
    allOutput += r.out;
    const stopped = (await records()).at(-1)!;
    expect(stopped.status).to.equal('interrupted');
    expect(stopped.exitCode).to.equal(130);
    expect(stopped.aborted).to.equal('interrupted (SIGINT)');
    // The step under way finished and is in the record; the task after it never started.
    expect(stopped.tasks.find((t) => t.task === 'slow step')?.durationMs).to.be.at.least(2500);
    expect(stopped.tasks.at(-1)!.task).to.equal('slow step');
  });

  it('history lists, filters, shows and compares the runs', async () => {
    const list = await history(['-i', join(work, 'inv', 'four.ini')]);
    expect(list.code, list.err).to.equal(0);
    const lines = list.out.trim().split('\n').slice(2);
    expect(lines.map((l) => l.match(/ (ok|failed|interrupted) /)?.[1])).to.deep.equal(['interrupted', 'failed', 'ok', 'ok']);
    const byHost = await history(['--history-dir', runs(), 'list', '--host', 'node3']);
    expect(byHost.out.trim().split('\n').slice(2)).to.have.length(2);
    const byRole = await history(['--history-dir', runs(), 'list', '--role', 'no-such-role']);
    expect(byRole.out).to.contain('no recorded runs match');

    const show = await history(['--history-dir', runs(), 'show', '4', '--host', 'node2', '--diff']);
    expect(show.code, show.err).to.equal(0);
    expect(show.out).to.match(/node2 : ok=0 changed=5 unreachable=0 failed=0 skipped=0/);
    expect(show.out).not.to.contain('[node1]');
    expect(show.out).to.match(/changed +\[node2\] demo \| handler: echo restart >> /);
    expect(show.out).to.contain('+password = ***');

    const diff = await history(['--history-dir', runs(), 'diff', '4', '3']);
    expect(diff.code, diff.err).to.equal(0);
    expect(diff.out).to.match(/node1: ok=0 changed=5 .* +→ +ok=4 changed=0 /);
    expect(diff.out).to.match(/\[node3\] demo \| .*: changed → ok/);
    expect(diff.out).to.match(/ran only in .*:\n( {2}\[node\d\] demo \| handler: echo restart >> \S+ \(changed\)\n){4}/);
    expect(diff.out).to.match(/changes made by .*:\n {2}\(none\)/);

    const bad = await history(['--history-dir', runs(), 'show', '99']);
    expect(bad.code).to.equal(5);
    expect(bad.err).to.contain('there are 4 recorded runs');
    allOutput += list.out + byHost.out + show.out + diff.out + bad.err;
  });

  it("writes each run's HTML report; each opens in headless Chromium with no console error", async function () {
    const reports: string[] = [];
    for (const n of ['1', '2', '3', '4']) {
      const out = join(work, `run-${n}.html`);
      const r = await history(['--history-dir', runs(), 'report', n, '-o', out]);
      expect(r.code, r.err).to.equal(0);
      reports.push(out);
      const html = await readFile(out, 'utf8');
      noCanary(`report ${n}`, html);
      expect(html).not.to.match(/(src|href)=["']?(https?:)?\/\//);
    }
    expect(await readFile(reports[0]!, 'utf8')).to.contain('stopped early: interrupted (SIGINT)');
    expect(await readFile(reports[1]!, 'utf8')).to.contain('What went wrong (1)');
    if (!(await haveChromium())) this.skip();
    const chromium = await HeadlessChromium.launch();
    try {
      for (const file of reports) {
        const visit = await chromium.visit(file, timelineLayout);
        expect(visit.errors, file).to.deep.equal([]);
        expect(visit.requests, file).to.deep.equal([]);
        // Newest first: the interrupted and the failed run had one host, the two real ones four.
        expectReadableTimeline(visit.seen, file === reports[2] || file === reports[3] ? ['node1', 'node2', 'node3', 'node4'] : ['node1']);
      }
      // The report --report wrote during the first real run, as the README shows it.
      const shot = process.env['STACKPLAY_DOCS_SCREENSHOTS'] ? join(DOCS, 'report.png') : join(work, 'report.png');
      const visit = await chromium.visit(join(work, 'four.html'), async (page) => {
        await page.screenshot({ path: shot as `${string}.png` });
        return timelineLayout(page);
      });
      expect(visit.errors).to.deep.equal([]);
      expectReadableTimeline(visit.seen, ['node1', 'node2', 'node3', 'node4']);
      expect((await stat(shot)).size).to.be.greaterThan(30_000);
    } finally {
      await chromium.close();
    }
  });

  it('--no-history records nothing; STACKPLAY_HISTORY_DIR moves the records; --plan writes its --report but no record; a bad keep count is bad input', async () => {
    const inv = join(work, 'inv', 'four.ini');
    const count = async () => (await readdir(runs())).length;
    const before = await count();
    const quiet = await runPlaybook('files', ['-i', inv, '--no-history']);
    expect(quiet.code, quiet.out).to.equal(0);
    expect(quiet.stdout).to.match(/node1 +: ok=4 changed=0 /);
    expect(await count()).to.equal(before);

    const elsewhere = join(work, 'elsewhere');
    const moved = await runPlaybook('files', ['-i', inv], { STACKPLAY_HISTORY_DIR: elsewhere, SUDO_USER: 'alice', SSH_CLIENT: '192.0.2.7 50022 22' });
    expect(moved.code, moved.out).to.equal(0);
    expect(await count()).to.equal(before);
    expect(await readdir(elsewhere)).to.have.length(1);
    const listed = await history(['--history-dir', elsewhere]);
    expect(listed.out).to.match(/^1 +\S+-files-/m);
    expect(listed.out).to.contain('root@').and.to.contain(' (sudo from alice, ssh from 192.0.2.7)');

    const planReport = join(work, 'plan.html');
    const plan = await runPlaybook('files', ['-i', inv, '--plan', join(work, 'plan'), '--report', planReport]);
    expect(plan.code, plan.out).to.equal(0);
    expect(await count()).to.equal(before);
    const planHtml = await readFile(planReport, 'utf8');
    expect(planHtml).to.contain('<svg');
    noCanary('--plan report', planHtml);

    const bad = await runPlaybook('files', ['-i', inv], { STACKPLAY_HISTORY_KEEP: 'all' });
    expect(bad.code).to.equal(5);
    expect(bad.stderr).to.contain('STACKPLAY_HISTORY_KEEP');
    const badReport = await runPlaybook('files', ['-i', inv, '--report', join(work, 'no-such-dir', 'r.html')]);
    expect(badReport.code).to.equal(5);
    expect(badReport.stderr).to.match(/--report.*does not exist/);
    expect(await count()).to.equal(before);
    allOutput += quiet.out + moved.out + plan.out + listed.out;
  });

  it('no canary secret in any record or anything the runs and history printed', async () => {
    for (const n of await readdir(runs())) noCanary(n, gunzipSync(await readFile(join(runs(), n))).toString('utf8'));
    noCanary('output', allOutput);
    // They did reach the managed files, where they belong: the check above can see them.
    expect(await readFile(join(work, 'four', 'node1', 'etc/demo/demo.conf'), 'utf8')).to.contain(CANARIES.demo_keystone);
  });
});
