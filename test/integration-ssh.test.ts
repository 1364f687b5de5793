import { expect } from 'chai';
import { createHash } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startSshd, type TestSshd } from './support/sshd.js';
import { runLockHeld, runLockHeldBy } from './support/run-lock.js';
import { runPlaybook, startPlaybook } from './support/playbook-run.js';

/**
 * The real thing end to end: the CLI in a child process, over SSH to a real
 * sshd on loopback, editing real files (under a temp root) — applied, then
 * 0 changed on the second run, and `--check` changes no byte.
 */
/** The CLI with the files fixture's plays: run to its end, or started (the child, its output so far, its outcome). */
const cli = (args: readonly string[], env: Record<string, string> = {}) => runPlaybook('files', args, env);
const started = (args: readonly string[], env: Record<string, string> = {}) => startPlaybook('files', args, env);

async function waitFor(what: string, check: () => Promise<boolean>, ms = 20_000): Promise<void> {
  const until = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function treeHash(dir: string): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const entry of await readdir(dir, { recursive: true, withFileTypes: true })) {
    const path = join(entry.parentPath, entry.name);
    const st = await stat(path);
    const content = entry.isFile() ? await readFile(path) : Buffer.from('');
    out.set(path, createHash('sha256').update(content).update(`${st.mode}:${st.uid}:${st.gid}`).digest('hex'));
  }
  return out;
}

/** mtime and ctime (ns) of `dir` and everything under it: any write, chmod, create or delete shows. */
async function writeStamps(dir: string): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  const note = async (p: string) => {
    const st = await stat(p, { bigint: true });
    out.set(p, `${st.mtimeNs}:${st.ctimeNs}`);
  };
  await note(dir);
  for (const entry of await readdir(dir, { recursive: true, withFileTypes: true })) await note(join(entry.parentPath, entry.name));
  return out;
}

describe('integration: CLI over real SSH to a local sshd', function () {
  this.timeout(120_000);
  let sshd: TestSshd;
  let work: string;
  let inventory: string;
  let root: string;

  before(async () => {
    sshd = await startSshd();
    work = await mkdtemp(join(tmpdir(), 'sp-int-'));
    root = join(work, 'root');
    inventory = join(work, 'local.ini');
    await writeFile(
      inventory,
      [
        '[demo]',
        `node1 ansible_host=127.0.0.1 ansible_port=${sshd.port}`,
        '',
        '[all:vars]',
        'ansible_user=root',
        `ansible_ssh_private_key_file=${sshd.clientKeyPath}`,
        `stackplay_known_hosts=${join(work, 'known_hosts')}`,
        `test_root=${root}`,
        `stackplay_state_dir=${join(work, 'state')}`,
        '',
      ].join('\n'),
    );
  });
  after(async () => {
    await sshd?.stop();
    if (work) await rm(work, { recursive: true, force: true });
  });

  it('check mode on a fresh host predicts changes and writes nothing', async () => {
    const run = await cli(['-i', inventory, '--check', '--json', join(work, 'check.json')]);
    expect(run.code, run.stderr + run.stdout).to.equal(0);
    // 4 tasks and the handler they notify would change.
    expect(run.stdout).to.match(/node1 +: ok=0 changed=5 /);
    const missing = await stat(root).then(
      () => false,
      (e: NodeJS.ErrnoException) => e.code === 'ENOENT',
    );
    expect(missing, 'check mode created the test root').to.equal(true);
  });

  it('applies, records the host key, notifies the handler once', async () => {
    const run = await cli(['-i', inventory, '--json', join(work, 'first.json'), '--diff']);
    expect(run.code, run.stderr + run.stdout).to.equal(0);
    expect(run.stdout).to.match(/node1 +: ok=0 changed=5 unreachable=0 failed=0/);
    const conf = await readFile(join(root, 'etc/demo/demo.conf'), 'utf8');
    expect(conf).to.match(/^\[DEFAULT\]\ndebug = false\nworkers = 2\nmy_ip = 127\.0\.0\.1\n/);
    expect((await stat(join(root, 'etc/demo/demo.conf'))).mode & 0o777).to.equal(0o640);
    expect(await readFile(join(root, 'restarts.log'), 'utf8')).to.equal('restart\n');
    expect((await readFile(join(work, 'known_hosts'), 'utf8')).trim().split('\n')).to.have.length(1);
    // The generated secrets are in the file on the host, and nowhere in what we printed.
    const secrets = (await readFile(join(work, 'local.secrets.ini'), 'utf8'))
      .split('\n')
      .filter((l) => l.includes(' = '))
      .map((l) => l.split(' = ')[1]!);
    expect(secrets).to.have.length(2);
    expect((await stat(join(work, 'local.secrets.ini'))).mode & 0o777).to.equal(0o600);
    const report = await readFile(join(work, 'first.json'), 'utf8');
    for (const s of secrets) {
      expect(conf).to.contain(s);
      expect(run.stdout + run.stderr + report).not.to.contain(s);
    }
    expect(run.stdout).to.contain('+password = ***');
  });

  it('second run reports 0 changed, restarts nothing, writes nothing and makes one round trip', async () => {
    const before = [await writeStamps(root), await writeStamps(join(work, 'state'))];
    const counts = join(work, 'exec-count.jsonl');
    const run = await cli(['-i', inventory], { STACKPLAY_EXEC_COUNT: counts });
    expect(run.code, run.stderr + run.stdout).to.equal(0);
    expect(run.stdout).to.match(/node1 +: ok=4 changed=0 unreachable=0 failed=0/);
    expect(await readFile(join(root, 'restarts.log'), 'utf8')).to.equal('restart\n');
    // Issue 6: no byte written on the host (the run lock is a kernel lock), and one exec: lock + every fact.
    expect([await writeStamps(root), await writeStamps(join(work, 'state'))]).to.deep.equal(before);
    expect(
      (await readFile(counts, 'utf8'))
        .trim()
        .split('\n')
        .map((l) => (JSON.parse(l) as { execs: number }).execs),
    ).to.deep.equal([1]);
  });

  it('check mode on a drifted host changes no byte, and predicts exactly what the real run changes', async () => {
    const conf = join(root, 'etc/demo/demo.conf');
    await writeFile(conf, (await readFile(conf, 'utf8')).replace('workers = 2', 'workers = 7'));
    const before = await treeHash(root);
    const check = await cli(['-i', inventory, '--check', '--json', join(work, 'drift-check.json')]);
    expect(check.code, check.stderr).to.equal(0);
    expect(await treeHash(root)).to.deep.equal(before);
    const real = await cli(['-i', inventory, '--json', join(work, 'drift-real.json')]);
    expect(real.code, real.stderr).to.equal(0);
    const changed = async (f: string) =>
      (JSON.parse(await readFile(join(work, f), 'utf8')) as { results: { task: string; status: string }[] }).results
        .filter((r) => r.status === 'changed')
        .map((r) => r.task);
    expect(await changed('drift-check.json')).to.deep.equal(await changed('drift-real.json'));
    expect(await changed('drift-real.json')).to.have.length(2); // the ini task and its handler
    expect(await readFile(join(root, 'restarts.log'), 'utf8')).to.equal('restart\nrestart\n');
  });

  it('a second run against a host being run fails fast, naming the holder', async () => {
    const slow = join(work, 'slow.ini');
    await writeFile(slow, (await readFile(inventory, 'utf8')).replace('[all:vars]', '[all:vars]\ntest_sleep=4'));
    // Secrets live beside each inventory: the slow twin uses the same ones.
    await writeFile(join(work, 'slow.secrets.ini'), await readFile(join(work, 'local.secrets.ini')), { mode: 0o600 });
    const a = started(['-i', slow]);
    await waitFor('the first run to hold the lock', async () => runLockHeldBy(join(work, 'state'), a.child.pid));
    const t0 = Date.now();
    const b = await cli(['-i', inventory]);
    expect(Date.now() - t0).to.be.below(4000);
    expect(b.code).to.equal(2);
    expect(b.stdout).to.match(new RegExp(`being run by another stackplay \\(pid ${a.child.pid} `));
    const ra = await a.done;
    expect(ra.code, ra.stdout + ra.stderr).to.equal(0);
    // Nothing to unlock: the connection went, its keeper exits and the kernel drops the lock.
    // The keeper polls once a second.
    await waitFor('the lock to be released', async () => !runLockHeld(join(work, 'state')), 3000);
  });

  it("SIGKILL mid-run: files whole, the next run takes the dead run's lock, replays the pending handler, then 0 changed", async () => {
    const slow = join(work, 'slow.ini');
    const conf = join(root, 'etc/demo/demo.conf');
    await writeFile(conf, (await readFile(conf, 'utf8')).replace('workers = 2', 'workers = 3'));
    const restartsBefore = (await readFile(join(root, 'restarts.log'), 'utf8')).split('\n').length;
    const a = started(['-i', slow]);
    // The ini task fixes workers (and notifies the handler) before the slow step.
    await waitFor('the notifying change to be recorded', async () => (await readdir(join(work, 'state/pending')).catch(() => [])).length > 0);
    await waitFor('the fix', async () => (await readFile(conf, 'utf8')).includes('workers = 2'));
    a.child.kill('SIGKILL');
    await a.done;
    // The killed run's remote command (the slow step) may still run for a moment, its sshd
    // with it, and the lock rightly stays held until both end; then its keeper lets go.
    await waitFor("the killed run's lock to be released", async () => !runLockHeld(join(work, 'state')));
    expect(await readFile(conf, 'utf8')).to.match(/^\[DEFAULT\]\ndebug = false\nworkers = 2\n/);
    expect(await readdir(join(root, 'etc/demo'))).to.deep.equal(['demo.conf', 'motd']);
    expect(await readdir(join(work, 'state/pending'))).to.deep.equal(['demo@restartDemo']);
    const next = await cli(['-i', inventory, '--json', join(work, 'replay.json'), '--diff']);
    expect(next.code, next.stdout + next.stderr).to.equal(0);
    // Nothing else to change, yet the handler the killed run owed runs now.
    expect(next.stdout, next.stdout).to.match(/node1 +: ok=4 changed=1 /);
    expect((await readFile(join(root, 'restarts.log'), 'utf8')).split('\n').length).to.equal(restartsBefore + 1);
    expect(await readdir(join(work, 'state/pending'))).to.deep.equal([]);
    const quiet = await cli(['-i', inventory]);
    expect(quiet.stdout).to.match(/node1 +: ok=4 changed=0 /);
  });

  it('SIGINT stops at the next task boundary and exits 130', async () => {
    const slow = join(work, 'slow.ini');
    const a = started(['-i', slow]);
    await waitFor('the run to be under way', async () => a.output().includes('PLAY ['));
    a.child.kill('SIGINT');
    const r = await a.done;
    expect(r.code, r.stdout + r.stderr).to.equal(130);
    expect(r.stderr).to.contain('interrupted: finishing the steps under way');
    expect(r.stdout).to.contain('aborting: interrupted (SIGINT)');
  });

  it('an unreachable host exits 4; a bad inventory exits 5 naming file:line before connecting', async () => {
    const deadInv = join(work, 'dead.ini');
    await writeFile(
      deadInv,
      `[demo]\nnode1 ansible_host=127.0.0.1 ansible_port=1\n[all:vars]\ntest_root=${root}\nstackplay_known_hosts=${join(work, 'kh2')}\n`,
    );
    const dead = await cli(['-i', deadInv]);
    expect(dead.code).to.equal(4);
    expect(dead.stdout).to.match(/unreachable: \[node1\]/);
    const badInv = join(work, 'bad.ini');
    await writeFile(badInv, `[demo]\nnode1 ansible_host=127.0.0.1\n[demo:vars]\nnot a var\n`);
    const bad = await cli(['-i', badInv]);
    expect(bad.code).to.equal(5);
    expect(bad.stderr).to.contain(`${badInv}:4`);
  });
});
