/**
 * Ad-hoc commands (issue 18): `playbooks/exec.ts -l PATTERN -- COMMAND` and
 * `--module NAME key=value …`, as `ansible PATTERN -m … -a …`. The hosts are
 * two throwaway sshds on loopback (this machine), each with a state
 * directory of its own; files the modules manage live under a temp root.
 * A command reports changed every time (as in Ansible): the modules, which
 * converge, are the ones run twice for 0 changed.
 */
import { expect } from 'chai';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { promisify } from 'node:util';
import { adhocPlaybook, parseAdhoc, runAdhoc } from '../lib/cli/adhoc.js';
import { adhocTask } from '../lib/cli/adhoc-modules.js';
import { InputError } from '../lib/core/errors.js';
import { execute } from '../lib/core/executor.js';
import { defineRole } from '../lib/core/playbook.js';
import { sh } from '../lib/core/shell.js';
import { makeTask, type ExecStep } from '../lib/core/task.js';
import { freePort, startSshd, type TestSshd } from './support/sshd.js';
import { runLockHeldBy } from './support/run-lock.js';
import { startPlaybook } from './support/playbook-run.js';
import { simHost } from './support/sim.js';
import type { ExecuteOptions, RunEvent, TaskResult } from '../lib/core/executor.js';

const sink = () => {
  let text = '';
  return { stream: new Writable({ write: (c, _e, cb) => ((text += String(c)), cb()) }), text: () => text };
};

async function exec(args: readonly string[]): Promise<{ code: number; out: string; stderr: string }> {
  const out = sink();
  const err = sink();
  const code = await runAdhoc(args, { stdout: out.stream, stderr: err.stream });
  return { code, out: out.text(), stderr: err.text() };
}

const parse = (args: readonly string[]) => parseAdhoc(args, { stdout: sink().stream, stderr: sink().stream });

/** The InputError parsing `args` throws. */
function inputError(args: readonly string[]): InputError {
  try {
    parse(args);
  } catch (error) {
    if (error instanceof InputError) return error;
    throw error;
  }
  throw new Error(`no error for ${args.join(' ')}`);
}

describe('ad-hoc commands: the command line', () => {
  it('takes the words after -- as the command, each quoted; the pattern defaults to all and the header says so', () => {
    const line = parse(['-i', 'x.ini', '--', 'printf', '%s|', 'a b', '$HOME', ';']);
    expect(line.pattern).to.equal('all');
    expect(line.task.module).to.equal('command');
    expect(line.task.describe).to.equal(`printf '%s|' 'a b' '$HOME' ';'`);
    const { book, options } = adhocPlaybook(line);
    expect(book.plays[0]!.name).to.equal(`ad-hoc command: printf '%s|' 'a b' '$HOME' ';' on all (no --limit: every host of the inventory)`);
    expect(options.limit).to.equal(undefined);
    expect(options.inventory).to.equal('x.ini');
  });

  it('-l becomes the limit (a typo is bad input like --limit), except localhost, which is the play (implicit localhost)', () => {
    const { book, options } = adhocPlaybook(parse(['-l', 'compute', '-f', '3', '--json', 'r.json', '-v', '--', 'uptime']));
    expect(options.limit).to.equal('compute');
    expect(book.plays[0]!.hosts).to.equal('all');
    expect([options.forks, options.json, options.verbose]).to.deep.equal([3, 'r.json', 1]);
    const local = adhocPlaybook(parse(['-l', 'localhost', '--', 'uptime']));
    expect(local.book.plays[0]!.hosts).to.equal('localhost');
    expect(local.options.limit).to.equal(undefined);
  });

  it('shell takes the words after -- as shell text; --module takes key=value words', () => {
    expect(parse(['--module', 'shell', '--', 'ps aux | grep nova']).task.describe).to.equal('ps aux | grep nova');
    const line = parse(['-l', 'compute', '--module', 'service', 'name=nova-compute', 'state=restarted']);
    expect(line.task.describe).to.equal('service name=nova-compute state=restarted');
    expect(line.task.build(false).module).to.equal('service');
    expect(parse(['-m', 'apt', 'name=a,b', 'state=absent']).task.build(false).name).to.equal('remove a b');
  });

  it('refuses an unknown module or argument with the nearest name, bad values, and what does not apply', () => {
    expect(inputError(['--module', 'servce', 'name=x']).message).to.equal('--module: unknown module servce (did you mean service?)');
    expect(inputError(['--module', 'service', 'nme=x', 'state=started']).message).to.equal('--module service: unknown argument nme (did you mean name?)');
    expect(inputError(['--module', 'service', 'name=x', 'state=start']).message).to.contain(
      'state must be one of started, stopped, restarted, reloaded (did you mean started?)',
    );
    expect(inputError(['--module', 'service', 'name=x']).message).to.contain('give state=… or enabled=…');
    expect(inputError(['--module', 'service', 'name=x', 'enabled=maybe']).message).to.contain('enabled must be yes or no');
    expect(inputError(['--module', 'service', 'state=started']).message).to.contain('argument name is required');
    expect(inputError(['--module', 'service', 'name=x', 'name=y', 'state=started']).message).to.contain('name is given twice');
    expect(inputError(['--module', 'service', 'name', 'state=started']).message).to.contain('expected key=value: `name`');
    expect(inputError(['--module', 'service', 'name=x', 'state=started', '--', 'ls']).message).to.contain('takes no command after --');
    expect(inputError(['--module', 'file', 'path=tmp/x', 'state=directory']).message).to.contain('path must be an absolute path');
    expect(inputError(['--module', 'file', 'path=/tmp/x', 'state=directory', 'mode=rw']).message).to.contain('mode must be an octal mode');
    expect(inputError(['--module', 'lineinfile', 'path=/tmp/x', 'line=a', 'regexp=(']).message).to.contain('regexp is no regular expression');
    expect(inputError(['--module', 'apt', 'name=bad name']).message).to.equal('--module apt: invalid package name "bad name"');
    expect(inputError(['--module', 'copy', 'dest=/tmp/x']).message).to.contain('give exactly one of content=… and src=…');
    expect(inputError(['--module', 'copy', 'dest=/tmp/x', 'src=/nonexistent/sp-src']).message).to.contain('cannot read src (ENOENT)');
    expect(inputError(['--module', 'service', 'name=', 'state=started']).message).to.contain('name is empty');
    expect(parse(['--module', 'ini_file', 'path=/tmp/x', 'section=s', 'option=o', 'value=']).task.describe).to.equal(
      `ini_file path=/tmp/x section=s option=o value=''`,
    );
    expect(inputError([]).message).to.contain('nothing to run');
    expect(inputError(['--module', 'command']).message).to.contain('nothing to run');
    expect(inputError(['--tags', 'x', '--', 'ls']).message).to.equal('--tags: does not apply to an ad-hoc command (one task)');
    expect(inputError(['--plan', 'out', '--', 'ls']).message).to.equal('--plan: does not apply to an ad-hoc command (one task)');
  });

  it('bad flags are exit 5 (commander says why), --help exit 0 and lists the modules', async () => {
    expect((await exec(['-f', '0', '--', 'ls'])).code).to.equal(5);
    expect((await exec(['--no-such-flag', '--', 'ls'])).code).to.equal(5);
    const help = await exec(['--help']);
    expect(help.code).to.equal(0);
    expect(help.out).to.contain('service, systemd: a service started');
    expect(help.out).not.to.contain('--start-at-task');
  });

  it('service maps onto the service module: started and running is no change, restarted always acts', () => {
    const facts = [{ init: 'systemd', exists: true, running: true, enabled: true }];
    expect(adhocTask('service', ['name=nova-compute', 'state=started'], []).build(false).plan(facts).action).to.equal('none');
    expect(adhocTask('service', ['name=nova-compute', 'state=restarted'], []).build(false).plan(facts).action).to.equal('change');
    expect(adhocTask('service', ['name=nova-compute', 'enabled=no'], []).build(false).plan(facts).action).to.equal('change');
  });

  it('in check mode a command is skipped, unless creates= already settles it', () => {
    const task = adhocTask('command', ['creates=/etc/x'], ['touch', '/etc/x']);
    const facts = (exists: boolean) => [exists ? { type: 'file', content: '', mode: '0644', owner: 'root', group: 'root' } : null, null, false, true];
    expect(task.build(true).plan(facts(false))).to.deep.include({ action: 'none', skipped: true });
    expect(task.build(true).plan(facts(true))).to.deep.equal({ action: 'none', reason: '/etc/x exists' });
    expect(task.build(false).plan(facts(false)).action).to.equal('change');
  });
});

describe('ad-hoc commands: a command result carries its output (executor)', () => {
  // A simulated command that prints and exits as told.
  const step = (exitCode: number, reportOutput: boolean, stdout = 'out\n'): ExecStep => ({
    kind: 'exec',
    cmd: sh`some command`,
    ...(reportOutput ? { reportOutput } : {}),
    simulate: () => ({ exitCode, stdout, stderr: 'err\n' }),
  });
  const run = async (...steps: ExecStep[]): Promise<TaskResult> => {
    const { rt } = simHost('node1');
    const task = makeTask({ module: 'command', name: 'some command', facts: {}, plan: () => ({ action: 'change', summary: 'some command', steps }) });
    const events: RunEvent[] = [];
    const options: ExecuteOptions = { check: false, forks: 1, tags: [], skipTags: [], connect: async () => rt, emit: (e) => events.push(e) };
    await execute([{ name: 'p', hosts: new Map([['node1', [defineRole('adhoc').tasks([task])]]]) }], options);
    return events.flatMap((e) => (e.type === 'task' ? [e.result] : []))[0]!;
  };

  it('rc, stdout and stderr, whether the command succeeded or failed; nothing for other steps', async () => {
    expect((await run(step(0, true))).output).to.deep.equal({ rc: 0, stdout: 'out\n', stderr: 'err\n' });
    const failed = await run(step(3, true));
    expect(failed.status).to.equal('failed');
    expect(failed.output).to.deep.equal({ rc: 3, stdout: 'out\n', stderr: 'err\n' });
    expect((await run(step(0, false))).output).to.equal(undefined);
    expect((await run(step(3, false))).output).to.equal(undefined);
    // Another step failing before the reported one: its output is not the command's.
    expect((await run(step(3, false, 'setup\n'), step(0, true))).output).to.equal(undefined);
    expect((await run(step(0, false, 'setup\n'), step(0, true))).output).to.deep.equal({ rc: 0, stdout: 'out\n', stderr: 'err\n' });
  });
});

describe('ad-hoc commands on hosts (loopback sshd)', function () {
  this.timeout(120_000);
  const CANARY_FILE = 'CanaryExecF1le9Q';
  const CANARY_INVENTORY = 'CanaryExecInv7Zq';
  let sshds: TestSshd[] = [];
  let work: string;
  let root: string;
  let inventory: string;
  const state = (i: number) => join(work, `state${i}`);

  before(async () => {
    sshds = await Promise.all([startSshd(), startSshd()]);
    work = await mkdtemp(join(tmpdir(), 'sp-exec-'));
    root = join(work, 'root');
    inventory = join(work, 'hosts.ini');
    const host = (i: number) =>
      `node${i + 1} ansible_host=127.0.0.1 ansible_port=${sshds[i]!.port} ansible_ssh_private_key_file=${sshds[i]!.clientKeyPath} stackplay_state_dir=${state(i + 1)}`;
    await writeFile(
      inventory,
      [
        '[demo]',
        host(0),
        host(1),
        '[all:vars]',
        `stackplay_known_hosts=${join(work, 'known_hosts')}`,
        `test_root=${root}`,
        `demo_api_password=${CANARY_INVENTORY}`,
        // Secret-named, but no secret: "true" must still read as such in what hosts print.
        'demo_use_token_cache=true',
        '',
      ].join('\n'),
    );
    await writeFile(join(work, 'hosts.secrets.ini'), `demo_db = ${CANARY_FILE}\n`, { mode: 0o600 });
    // What the hosts will print: both canaries, not in `key = value` form (which is masked by shape anyway).
    await writeFile(join(work, 'leak.txt'), `db ${CANARY_FILE} api ${CANARY_INVENTORY} cache true\n`);
  });
  after(async () => {
    await Promise.all(sshds.map((s) => s.stop()));
    if (work) await rm(work, { recursive: true, force: true });
  });

  it("prints each host's output as `host | CHANGED | rc=0 >>`, every word passed as is", async () => {
    const r = await exec(['-i', inventory, '--', 'printf', '%s|', 'a b', '$HOME', ';']);
    expect(r.code, r.out + r.stderr).to.equal(0);
    expect(r.out).to.contain('PLAY [ad-hoc command: ');
    expect(r.out).to.contain('on all (no --limit: every host of the inventory)] (2 hosts)');
    for (const h of ['node1', 'node2']) expect(r.out).to.contain(`${h} | CHANGED | rc=0 >>\na b|$HOME|;|\n`);
    expect(r.out).to.match(/node1 +: ok=0 changed=1 unreachable=0 failed=0/);
    // The shell module takes shell text; stderr follows stdout.
    const shell = await exec(['-i', inventory, '-l', 'node2', '--module', 'shell', '--', 'echo a | tr a b; echo oops >&2']);
    expect(shell.code, shell.out + shell.stderr).to.equal(0);
    expect(shell.out).to.contain('node2 | CHANGED | rc=0 >>\nb\noops\n');
    expect(shell.out).not.to.contain('node1 |');
  });

  it('a command that exits non-zero fails its host: exit 2, its rc and output shown', async () => {
    const r = await exec(['-i', inventory, '-l', 'node1', '--', 'sh', '-c', 'echo partial; echo boom >&2; exit 3']);
    expect(r.code, r.out + r.stderr).to.equal(2);
    expect(r.out).to.contain('node1 | FAILED | rc=3 >>\npartial\nboom\n');
    expect(r.out).to.match(/node1 +: ok=0 changed=0 unreachable=0 failed=1/);
  });

  it('--json carries each output; a secret of the secrets file or the inventory is masked there and on screen', async () => {
    const report = join(work, 'report.json');
    const r = await exec(['-i', inventory, '--json', report, '--', 'cat', join(work, 'leak.txt')]);
    expect(r.code, r.out + r.stderr).to.equal(0);
    const text = await readFile(report, 'utf8');
    const json = JSON.parse(text) as { playbook: string; results: TaskResult[] };
    expect(json.playbook).to.equal('exec');
    const byHost = json.results.map((x) => [x.host, x.status, x.output]).sort((a, b) => String(a[0]).localeCompare(String(b[0])));
    expect(byHost).to.deep.equal([
      ['node1', 'changed', { rc: 0, stdout: 'db *** api *** cache true\n', stderr: '' }],
      ['node2', 'changed', { rc: 0, stdout: 'db *** api *** cache true\n', stderr: '' }],
    ]);
    expect(r.out).to.contain('node1 | CHANGED | rc=0 >>\ndb *** api *** cache true\n');
    for (const canary of [CANARY_FILE, CANARY_INVENTORY]) expect(text + r.out + r.stderr).not.to.contain(canary);
  });

  it('modules converge: a second run of the same module reports ok, 0 changed', async () => {
    const cases: string[][] = [
      ['--module', 'file', `path=${root}/etc/demo`, 'state=directory', 'mode=0750'],
      ['--module', 'copy', `dest=${root}/etc/demo/motd`, 'content=hello\n', 'mode=0640'],
      ['--module', 'ini_file', `path=${root}/etc/demo/demo.conf`, 'section=DEFAULT', 'option=workers', 'value=4'],
      ['--module', 'lineinfile', `path=${root}/etc/default/demo`, 'regexp=^OPTS=', 'line=OPTS="--verbose"'],
    ];
    for (const args of cases) {
      const first = await exec(['-i', inventory, '-l', 'node1', ...args]);
      expect(first.code, first.out + first.stderr).to.equal(0);
      expect(first.out).to.match(/^node1 \| CHANGED => /m);
      expect(first.out).to.match(/node1 +: ok=0 changed=1 /);
      const second = await exec(['-i', inventory, '-l', 'node1', ...args]);
      expect(second.code, second.out + second.stderr).to.equal(0);
      expect(second.out, args.join(' ')).to.match(/^node1 \| SUCCESS => /m);
      expect(second.out).to.match(/node1 +: ok=1 changed=0 /);
    }
    expect(await readFile(join(root, 'etc/demo/demo.conf'), 'utf8')).to.equal('[DEFAULT]\nworkers = 4\n');
    expect(await readFile(join(root, 'etc/default/demo'), 'utf8')).to.equal('OPTS="--verbose"\n');
    expect((await stat(join(root, 'etc/demo/motd'))).mode & 0o777).to.equal(0o640);
  });

  it('--check skips a command and predicts a module, changing nothing', async () => {
    const marker = join(root, 'check-marker');
    const cmd = await exec(['-i', inventory, '--check', '--', 'touch', marker]);
    expect(cmd.code, cmd.out + cmd.stderr).to.equal(0);
    expect(cmd.out).to.contain('node1 | SKIPPED => not run in check mode');
    expect(cmd.out).to.match(/node2 +: ok=0 changed=0 unreachable=0 failed=0 skipped=1 would_run=0/);
    const line = await exec(['-i', inventory, '--check', '-l', 'node1', '--module', 'lineinfile', `path=${marker}`, 'line=x']);
    expect(line.code, line.out + line.stderr).to.equal(0);
    expect(line.out).to.match(/^node1 \| CHANGED => /m);
    const missing = await stat(marker).then(
      () => false,
      (e: NodeJS.ErrnoException) => e.code === 'ENOENT',
    );
    expect(missing, 'check mode created the file').to.equal(true);
  });

  it('an unknown module (with a suggestion) or a -l matching nothing is exit 5, before any host is contacted; an unreachable host exit 4', async () => {
    const dead = join(work, 'dead.ini');
    await writeFile(dead, `node1 ansible_host=127.0.0.1 ansible_port=${await freePort()} stackplay_connect_retries=0\n`);
    const r = await exec(['-i', dead, '--module', 'lineinfle', 'path=/tmp/x', 'line=y']);
    expect(r.code).to.equal(5);
    expect(r.stderr).to.equal('error: --module: unknown module lineinfle (did you mean lineinfile?)\n');
    expect(r.out).to.equal('');
    const typo = await exec(['-i', dead, '-l', 'nod1', '--', 'true']);
    expect([typo.code, typo.stderr]).to.deep.equal([5, 'error: --limit: host pattern matches no host or group: `nod1`\n']);
    // The same host, a good command: unreachable, exit 4.
    const unreachable = await exec(['-i', dead, '--', 'true']);
    expect(unreachable.code, unreachable.out).to.equal(4);
    expect(unreachable.out).to.match(/^node1 \| UNREACHABLE! => /m);
  });

  it('-f 1 runs the hosts one after the other', async () => {
    const r = await exec(['-i', inventory, '-f', '1', '--', 'sh', '-c', 'date +%s.%N; sleep 0.4; date +%s.%N']);
    expect(r.code, r.out + r.stderr).to.equal(0);
    const spans = [...r.out.matchAll(/\| rc=0 >>\n([\d.]+)\n([\d.]+)\n/g)].map((m) => [Number(m[1]), Number(m[2])] as const);
    expect(spans).to.have.length(2);
    const [a, b] = spans.sort((x, y) => x[0] - y[0]) as [readonly [number, number], readonly [number, number]];
    expect(b[0], 'the second host started before the first ended').to.be.at.least(a[1]);
  });

  it('respects the run lock: a host another run holds fails naming the holder; the others run', async () => {
    const slow = join(work, 'slow.ini');
    await writeFile(slow, (await readFile(inventory, 'utf8')).replace('[all:vars]', '[all:vars]\ntest_sleep=4'));
    await writeFile(join(work, 'slow.secrets.ini'), `demo_db = ${CANARY_FILE}\n`, { mode: 0o600 });
    const holder = startPlaybook('files', ['-i', slow, '-l', 'node1']);
    try {
      for (let i = 0; i < 600 && !runLockHeldBy(state(1), holder.child.pid); i++) await new Promise((r) => setTimeout(r, 10));
      expect(runLockHeldBy(state(1), holder.child.pid), 'the files run holds node1').to.equal(true);
      const marker = join(root, 'lock-marker');
      const r = await exec(['-i', inventory, '--', 'touch', marker]);
      expect(r.code, r.out + r.stderr).to.equal(2);
      expect(r.out).to.match(new RegExp(`^node1 \\| FAILED! => node1 is being run by another stackplay \\(pid ${holder.child.pid} `, 'm'));
      expect(r.out).to.contain('node2 | CHANGED | rc=0 >>');
      expect(r.out).to.match(/node1 +: ok=0 changed=0 unreachable=0 failed=1/);
    } finally {
      const done = await holder.done;
      expect(done.code, done.out).to.equal(0);
    }
  });

  it('the entry point itself: npx tsx playbooks/exec.ts -l node2 -- hostname', async () => {
    const { stdout } = await promisify(execFile)(
      process.execPath,
      ['--import', 'tsx', 'playbooks/exec.ts', '-i', inventory, '-l', 'node2', '--', 'echo', 'from the entry point'],
      {
        env: { ...process.env, NO_COLOR: '1' },
      },
    );
    expect(stdout).to.contain('node2 | CHANGED | rc=0 >>\nfrom the entry point\n');
  });
});
