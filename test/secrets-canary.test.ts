import { expect } from 'chai';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startSshd, type TestSshd } from './support/sshd.js';
import { sampleArgv } from './support/argv-sampler.js';
import { runPlaybook } from './support/playbook-run.js';

/**
 * Issue 7 §8: every secret set to a unique canary; after a full run with
 * -vvv --diff --json, the canaries appear in no output, report or diff, and
 * in no process's argv on the host, sampled all through the run (the host is
 * this machine's own sshd, so /proc here is the host's). They do reach the
 * managed files, which is where they belong.
 */
describe('secrets: canaries never leak (output, report, diffs, remote argv)', function () {
  this.timeout(120_000);
  let sshd: TestSshd;
  let work: string;

  before(async () => {
    sshd = await startSshd();
    work = await mkdtemp(join(tmpdir(), 'sp-canary-'));
  });
  after(async () => {
    await sshd?.stop();
    if (work) await rm(work, { recursive: true, force: true });
  });

  it('runs twice (create, then change every secret) with canaries nowhere but the files', async () => {
    const inventory = join(work, 'canary.ini');
    const root = join(work, 'root');
    await writeFile(
      inventory,
      `[demo]\nnode1 ansible_host=127.0.0.1 ansible_port=${sshd.port}\n[all:vars]\nansible_ssh_private_key_file=${sshd.clientKeyPath}\nstackplay_known_hosts=${join(work, 'kh')}\nstackplay_state_dir=${join(work, 'state')}\ntest_root=${root}\n`,
    );
    const canaries: string[] = [];
    for (const round of [1, 2]) {
      const values = { demo_db: `CanaryDb${round}x7Q`, demo_keystone: `CanaryKs${round}z9W` };
      canaries.push(...Object.values(values));
      await writeFile(
        join(work, 'canary.secrets.ini'),
        Object.entries(values)
          .map(([k, v]) => `${k} = ${v}`)
          .join('\n') + '\n',
        { mode: 0o600 },
      );

      const sampler = sampleArgv();
      const report = join(work, `report-${round}.json`);
      const run = await runPlaybook('files', ['-i', inventory, '-vvv', '--diff', '--json', report]);
      await sampler.stop();
      expect(run.code, run.out).to.equal(0);
      expect(run.out, run.out).to.contain(round === 1 ? '+password = ***' : '(only secret values changed; not shown)');
      expect(sampler.argv.length, 'argv samples').to.be.greaterThan(100);
      const reportText = await readFile(report, 'utf8');
      for (const canary of canaries) {
        expect(run.out, 'stdout/stderr').not.to.contain(canary);
        expect(reportText, 'JSON report').not.to.contain(canary);
        expect(
          sampler.argv.find((a) => a.includes(canary)),
          'a process argv',
        ).to.equal(undefined);
      }
      const conf = await readFile(join(root, 'etc/demo/demo.conf'), 'utf8');
      for (const value of Object.values(values)) expect(conf).to.contain(value);
    }
  });
});
