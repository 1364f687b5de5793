import { expect } from 'chai';
import { execFileSync } from 'node:child_process';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { inspect } from 'node:util';
import { parseInventory } from '../lib/inventory/inventory.js';
import { writePlanOutput } from '../lib/cli/plan-output.js';
import { Reporter } from '../lib/cli/reporter.js';
import { describeBody, writeScript } from '../lib/core/runtime.js';
import { Redactor, Secret } from '../lib/core/secret.js';
import { SecretStore } from '../lib/inventory/secrets-store.js';
import { Labeled, quote, raw, sh, withStdin } from '../lib/core/shell.js';
import { SimHost, SimNetwork } from '../lib/sim/sim.js';
import { hostVarsOf } from '../lib/inventory/vars.js';
import { coreVars } from '../openstack/release.js';
import { InputError } from '../lib/core/errors.js';
import { connectWithRetry } from '../lib/transport/retry.js';
import { UnreachableError } from '../lib/transport/transport.js';

const runSh = (script: string): string => execFileSync('/bin/sh', ['-s'], { input: script, encoding: 'utf8', stdio: ['pipe', 'pipe', 'ignore'] });

describe('shell commands as data', () => {
  it('quotes every interpolation so /bin/sh gets the exact value', () => {
    for (const v of ["it's", '$(reboot)', 'a b', '', '`x`', 'new\nline', '*']) {
      expect(runSh(sh`printf %s ${v}`.reveal())).to.equal(v);
    }
    expect(quote('plain/path-1.conf')).to.equal('plain/path-1.conf');
  });

  it('masks secrets and labels in display, keeps them in what runs', () => {
    const cmd = sh`rabbitmqctl change_password guest ${new Secret('pa ss')} ${new Labeled('abc123', '$RUN_ID')}`;
    expect(cmd.display()).to.equal('rabbitmqctl change_password guest *** $RUN_ID');
    expect(cmd.reveal()).to.equal("rabbitmqctl change_password guest 'pa ss' abc123");
    expect(`${cmd}`).to.equal(cmd.display());
    expect(JSON.stringify({ cmd })).not.to.contain('pa ss');
  });

  it('feeds stdin through a here-document, masked when secret, and survives a delimiter inside the data', () => {
    const data = 'line1\nSP_EOF\nline3';
    expect(runSh(withStdin(sh`cat`, data).reveal())).to.equal(`${data}\n`);
    const secret = withStdin(sh`mysql`, new Secret("GRANT ALL ON nova.* TO 'nova'@'%' IDENTIFIED BY 'x'"));
    expect(secret.display()).to.equal("mysql <<'SP_EOF'\n***\nSP_EOF");
    expect(raw('a').text).to.equal('a');
  });

  it('the atomic write script writes exact bytes and leaves no temp file on failure', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'sp-ws-'));
    try {
      runSh(writeScript({ kind: 'write', path: join(dir, 'f'), content: 'x'.repeat(200) + '\n', mode: '0600' }).reveal());
      expect(await readFile(join(dir, 'f'), 'utf8')).to.equal('x'.repeat(200) + '\n');
      expect((await stat(join(dir, 'f'))).mode & 0o777).to.equal(0o600);
      // chown to a user that does not exist fails after the temp file exists: it must be cleaned up.
      expect(() => runSh(writeScript({ kind: 'write', path: join(dir, 'g'), content: 'y', owner: 'no-such-user-sp' }).reveal() + '\nexit $?')).to.throw();
      expect((await import('node:fs')).readdirSync(dir)).to.deep.equal(['f']);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('API bodies in commands.txt mask secret-looking fields', () => {
    expect(describeBody(JSON.stringify({ user: { name: 'nova', password: 'x', nested: { token: 't' } } }))).to.equal(
      ' {"user":{"name":"nova","password":"***","nested":{"token":"***"}}}',
    );
  });
});

describe('secrets', () => {
  it('a Secret never prints by accident', () => {
    const s = new Secret('hunter2');
    expect(`${s}`).to.equal('***');
    expect(JSON.stringify({ s })).to.equal('{"s":"***"}');
    expect(inspect(s)).not.to.contain('hunter2');
    expect(s.reveal()).to.equal('hunter2');
  });

  it('the redactor masks every known value in host output, longest first', () => {
    const r = new Redactor();
    r.add('abc');
    r.add(new Secret('abcdef'));
    expect(r.redact('x abcdef y abc z')).to.equal('x *** y *** z');
    expect(r.redactDeep({ a: ['abc'], b: { c: 'abcdef!' } })).to.deep.equal({ a: ['***'], b: { c: '***!' } });
    // Inside a URL or after `=` it is masked; as part of a longer name it is not a secret.
    const d = new Redactor();
    d.add('openstack');
    expect(d.redact('mysql://nova:openstack@controller/nova password=openstack openstack-dashboard python3-openstackclient')).to.equal(
      'mysql://nova:***@controller/nova password=*** openstack-dashboard python3-openstackclient',
    );
  });

  it('masks secrets it was never told about by their shape: URL credentials and password/secret/token assignments', () => {
    const r = new Redactor();
    const before = [
      '-connection = mysql+pymysql://nova:OldPw-1@controller/nova',
      '-password = OldPw-2',
      ' admin_password=OldPw-3',
      '+metadata_proxy_shared_secret = OldPw-4',
      'export OS_PASSWORD=OldPw-5',
      'transport_url = rabbit://openstack:OldPw-6@controller:5672/',
      'admin_token: OldPw-7',
      'my_ip = 10.0.0.31',
      'auth_url = http://controller:5000/v3',
    ].join('\n');
    const masked = r.redact(before);
    for (let i = 1; i <= 7; i++) expect(masked).not.to.contain(`OldPw-${i}`);
    expect(masked).to.contain('my_ip = 10.0.0.31').and.contain('auth_url = http://controller:5000/v3').and.contain('-password = ***');
  });

  it('the store generates once, keeps values across loads, writes 0600 atomically', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'sp-sec-'));
    try {
      const inv = join(dir, 'lab.ini');
      const a = SecretStore.besideInventory(inv, new Redactor());
      const nova = a.get('nova_db').reveal();
      expect(nova).to.match(/^[0-9a-f]{32}$/);
      expect(a.get('nova_db').reveal()).to.equal(nova);
      await a.save();
      const path = join(dir, 'lab.secrets.ini');
      expect((await stat(path)).mode & 0o777).to.equal(0o600);
      const b = SecretStore.besideInventory(inv, new Redactor());
      expect(b.get('nova_db').reveal()).to.equal(nova);
      b.get('glance_db');
      await b.save();
      const text = await readFile(path, 'utf8');
      expect(text).to.contain(`nova_db = ${nova}`).and.contain('glance_db = ');
      const c = SecretStore.besideInventory(inv, new Redactor(), 'openstack');
      expect(c.get('anything').reveal()).to.equal('openstack');
      await writeFile(path, 'garbage line\n');
      expect(() => SecretStore.besideInventory(inv, new Redactor())).to.throw(InputError, /lab\.secrets\.ini:1/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('core variables', () => {
  const inv = parseInventory(
    '[controller]\nctl ansible_host=10.0.0.11\n[compute]\ncmp ansible_host=10.0.0.31 management_ip=10.0.0.131\nbad ansible_host=10.0.0.32 os_family=windows\n[all:vars]\nopenstack_release=liberty\n',
    'hosts/t.ini',
  );
  it('derives management_ip, os_family and controller_address', () => {
    const c = coreVars(inv, hostVarsOf(inv, 'cmp'));
    expect(c).to.include({
      managementIp: '10.0.0.131',
      osFamily: 'centos',
      controllerAddress: 'ctl',
      release: 'liberty',
      region: 'RegionOne',
      ansiblePort: 22,
    });
    expect(coreVars(inv, hostVarsOf(inv, 'ctl')).managementIp).to.equal('10.0.0.11');
  });
  it('names file:line of a bad value', () => {
    expect(() => coreVars(inv, hostVarsOf(inv, 'bad'))).to.throw(
      InputError,
      /^hosts\/t\.ini:5: host bad: os_family must be one of ubuntu, centos, debian: `os_family=windows`$/,
    );
  });
  it('names the host line for a missing required variable', () => {
    expect(() => hostVarsOf(inv, 'cmp').str('cinder_devices')).to.throw(InputError, /^hosts\/t\.ini:4: host cmp: variable cinder_devices is not set$/);
  });
});

describe('reporter', () => {
  const capture = () => {
    let text = '';
    const out = new Writable({ write: (c, _e, cb) => ((text += String(c)), cb()) });
    return { out, text: () => text };
  };
  it('check mode: says what would run and why, the command at -v, and counts would_run in the recap', () => {
    const { out, text } = capture();
    const r = new Reporter({ out, color: false, live: false, verbose: 1, diff: false, redactor: new Redactor(), check: true });
    r.handle({
      type: 'task',
      result: {
        host: 'h',
        role: 'nova',
        task: 'db sync nova',
        module: 'migration',
        handler: false,
        status: 'would-run',
        reason: 'outcome is known only by running it',
        summary: 'nova-manage db sync as nova',
        steps: ['su -s /bin/sh -c nova-manage db sync nova\necho done'],
        durationMs: 1,
      },
    });
    r.recap({ exitCode: 0, recap: new Map([['h', { ok: 0, changed: 0, failed: 0, skipped: 0, unreachable: 0, wouldRun: 1 }]]) });
    expect(text()).to.contain(
      'would run: [h] nova | db sync nova: nova-manage db sync as nova — outcome is known only by running it\n    $ su -s /bin/sh -c nova-manage db sync nova …',
    );
    expect(text()).to.contain('h : ok=0 changed=0 unreachable=0 failed=0 skipped=0 would_run=1');
  });

  it('prints changes and failures, diffs with secrets masked, and the recap', () => {
    const redactor = new Redactor();
    redactor.add('s3cret');
    const { out, text } = capture();
    const r = new Reporter({ out, color: false, live: false, verbose: 0, diff: true, redactor });
    r.handle({ type: 'play', name: 'p', hosts: ['h'] });
    r.handle({
      type: 'task',
      result: {
        host: 'h',
        role: 'nova',
        task: 'ini nova.conf',
        module: 'ini',
        handler: false,
        status: 'changed',
        durationMs: 1,
        diffs: [{ path: '/etc/nova/nova.conf', before: 'a = 1\n', after: 'a = 1\npassword = s3cret\n' }],
      },
    });
    r.handle({ type: 'task', result: { host: 'h', role: 'nova', task: 'quiet', module: 'ini', handler: false, status: 'ok', durationMs: 1 } });
    r.handle({
      type: 'task',
      result: {
        host: 'h',
        role: 'nova',
        task: 'db sync',
        module: 'command',
        handler: false,
        status: 'failed',
        durationMs: 1,
        error: 'exit 1: password s3cret rejected',
      },
    });
    r.recap({ exitCode: 2, recap: new Map([['h', { ok: 1, changed: 1, failed: 1, skipped: 0, unreachable: 0, wouldRun: 0 }]]) });
    const t = text();
    expect(t).to.contain('changed: [h] nova | ini nova.conf');
    expect(t).to.contain('+password = ***');
    // ok tasks get no line at verbosity 0 (the slowest-tasks summary after the recap names any task).
    expect(t.split('slowest tasks:')[0]).not.to.contain('quiet');
    expect(t).to.contain('failed: [h] nova | db sync\n    exit 1: password *** rejected');
    expect(t).to.contain('h : ok=1 changed=1 unreachable=0 failed=1 skipped=0');
    expect(t).not.to.contain('s3cret');
  });
});

describe('the slowest tasks after the recap (as profile_tasks)', () => {
  const run = (verbose: number) => {
    let text = '';
    const out = new Writable({ write: (c, _e, cb) => ((text += String(c)), cb()) });
    const redactor = new Redactor();
    redactor.add('s3cret');
    const r = new Reporter({ out, color: false, live: false, verbose, diff: false, redactor });
    for (let i = 1; i <= 30; i++)
      r.handle({
        type: 'task',
        result: {
          host: `h${i % 3}`,
          role: 'nova',
          task: `task ${i}${i === 30 ? ' password=s3cret' : ''}`,
          module: 'ini',
          handler: i === 29,
          status: 'ok',
          durationMs: i * 100,
        },
      });
    r.recap({ exitCode: 0, recap: new Map([['h0', { ok: 30, changed: 0, failed: 0, skipped: 0, unreachable: 0, wouldRun: 0 }]]) });
    return text.split('slowest tasks:\n')[1]?.trimEnd().split('\n') ?? [];
  };

  it('names the 5 slowest, slowest first, with host, role and seconds, secrets masked', () => {
    expect(run(0)).to.deep.equal([
      '     3.00s  [h0] nova | task 30 password=***',
      '     2.90s  [h2] nova | handler: task 29',
      '     2.80s  [h1] nova | task 28',
      '     2.70s  [h0] nova | task 27',
      '     2.60s  [h2] nova | task 26',
    ]);
  });

  it('names 20 at -v', () => expect(run(1)).to.have.length(20));
});

describe('--plan output', () => {
  it('writes touched files under fs/ and the command log', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'sp-plan-'));
    try {
      const sim = new SimHost('controller', new SimNetwork());
      sim.writeFile('/etc/keystone/keystone.conf', '[database]\nconnection = x\n');
      sim.materialize('/etc/keystone/fernet-keys/0');
      sim.log.push('keystone-manage db_sync', 'multi\nline');
      await writePlanOutput(dir, [sim]);
      expect(await readFile(join(dir, 'controller/fs/etc/keystone/keystone.conf'), 'utf8')).to.equal('[database]\nconnection = x\n');
      expect(await readFile(join(dir, 'controller/commands.txt'), 'utf8')).to.equal('keystone-manage db_sync\nmulti\n  line\n');
      await stat(join(dir, 'controller/fs/etc/keystone/fernet-keys/0')).then(
        () => expect.fail('materialized files are not plan output'),
        () => undefined,
      );
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('connect retries', () => {
  it('retries transient connect errors with the given waits, then succeeds', async () => {
    const waits: number[] = [];
    let calls = 0;
    const value = await connectWithRetry(
      async () => {
        if (++calls < 3) throw new UnreachableError('h', 'connection refused', true);
        return 'ok';
      },
      { delaysMs: [10, 20, 40], sleep: async (ms) => void waits.push(ms) },
    );
    expect(value).to.equal('ok');
    expect(waits).to.deep.equal([10, 20]);
  });
  it('never retries an authentication failure', async () => {
    let calls = 0;
    const err = await connectWithRetry(
      async () => {
        calls++;
        throw new UnreachableError('h', 'authentication failed for root@h:22', false);
      },
      { delaysMs: [10, 20], sleep: async () => {} },
    ).catch((e: unknown) => e);
    expect(calls).to.equal(1);
    expect(String(err)).to.match(/authentication failed/);
  });
  it('gives up after the last wait with the last error', async () => {
    let calls = 0;
    const err = await connectWithRetry(
      async () => {
        calls++;
        throw new UnreachableError('h', `refused ${calls}`, true);
      },
      { delaysMs: [1, 1], sleep: async () => {} },
    ).catch((e: unknown) => e);
    expect(calls).to.equal(3);
    expect(String(err)).to.match(/refused 3/);
  });
});
