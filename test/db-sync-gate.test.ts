import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { sh } from '../lib/core/shell.js';
import type { ExecStep, ShellFact, Task } from '../lib/core/task.js';
import { dbSync, schemaChanged, type SyncGate } from '../openstack/migration.js';

/**
 * dbSync's gate, run by /bin/sh against fake `nova-manage`, `su`, `mysql`,
 * `dpkg` and `dpkg-query` (what the lab's real ones print, reduced): a
 * converged host starts no migration, and each kind of drift that can give
 * a migration something to do still makes it run: a package upgrade, a
 * schema changed behind stackplay's back, a migration that failed half way,
 * a record that was lost, a command no package owns.
 */
describe('db sync gate: migrations run only when they may do something (real shell, fake tools)', () => {
  let dir: string;
  let task: Task<never>;

  const write = (name: string, text: string) => fs.writeFileSync(path.join(dir, name), text);
  const log = () => (fs.existsSync(path.join(dir, 'log')) ? fs.readFileSync(path.join(dir, 'log'), 'utf8').trim().split('\n') : []);

  function sh0(script: string) {
    const r = spawnSync('/bin/sh', ['-c', script], { env: { PATH: `${path.join(dir, 'bin')}:/usr/bin:/bin`, FAKE: dir }, encoding: 'utf8' });
    return { exitCode: r.status ?? 1, stdout: r.stdout, stderr: r.stderr };
  }

  /** One run of the task as the executor would: read its fact, plan, apply its step. */
  function run(): 'skipped' | 'changed' | 'ok' | 'failed' {
    const fact = task.facts[0] as ShellFact<SyncGate>;
    const plan = task.plan([fact.parse(sh0(fact.script.reveal()))]);
    if (plan.action === 'none') return 'skipped';
    const step = plan.steps[0] as ExecStep;
    const result = sh0(step.cmd.reveal());
    if (result.exitCode !== 0) return 'failed';
    return schemaChanged(result) ? 'changed' : 'ok';
  }

  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sp-dbsync-'));
    const bin = path.join(dir, 'bin');
    fs.mkdirSync(bin);
    const tool = (name: string, body: string) => fs.writeFileSync(path.join(bin, name), `#!/bin/sh\n${body}\n`, { mode: 0o755 });
    // The migration: appends its version row to the schema, unless told to fail.
    tool('nova-manage', 'echo "nova-manage $*" >>"$FAKE/log"; [ -e "$FAKE/fail" ] && exit 1; cat "$FAKE/version" >"$FAKE/schema"');
    tool('su', 'shift 3; exec /bin/sh -c "$1"');
    tool('mysql', 'cat >/dev/null; cat "$FAKE/schema" 2>/dev/null; exit 0');
    tool('dpkg', '[ -e "$FAKE/unowned" ] && exit 1; echo "nova-common: $2"');
    tool('dpkg-query', 'echo "nova-common $(cat "$FAKE/version")"');
    write('version', '2:26.2.0-1\n');
    task = dbSync({ service: 'nova', user: 'nova', command: sh`nova-manage db sync`, recordDir: path.join(dir, 'records') });
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('migrates a fresh host once; the converged host starts no migration', () => {
    expect([run(), run(), run()]).to.deep.equal(['changed', 'skipped', 'skipped']);
    expect(log()).to.deep.equal(['nova-manage db sync']);
  });

  it('a package upgrade runs the migration again', () => {
    run();
    write('version', '2:26.3.0-1\n');
    expect([run(), run()]).to.deep.equal(['changed', 'skipped']);
  });

  it('a schema changed behind its back runs the migration again, which repairs it', () => {
    run();
    write('schema', 'a table someone dropped\n');
    expect(run()).to.equal('changed');
    // The migration rewrote the schema to what the package wants: the gate is closed again.
    expect(run()).to.equal('skipped');
  });

  it('a migration that failed is not recorded: the next run tries again', () => {
    write('fail', '');
    expect(run()).to.equal('failed');
    fs.rmSync(path.join(dir, 'fail'));
    expect([run(), run()]).to.deep.equal(['changed', 'skipped']);
  });

  it('a lost record makes the migration run once (nothing to do: ok, not changed)', () => {
    run();
    fs.rmSync(path.join(dir, 'records'), { recursive: true });
    expect([run(), run()]).to.deep.equal(['ok', 'skipped']);
  });

  it('a command no package owns always migrates (nothing tells an upgrade)', () => {
    write('unowned', '');
    expect([run(), run()]).to.deep.equal(['changed', 'ok']);
  });
});
