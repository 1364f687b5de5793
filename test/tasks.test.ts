import { expect } from 'chai';
import { mkdtemp, readdir, readFile, rm, stat, writeFile, chmod } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RUN_ID } from '../lib/core/run-id.js';
import { describeStep, RemoteRuntime } from '../lib/core/runtime.js';
import { Secret } from '../lib/core/secret.js';
import { sh } from '../lib/core/shell.js';
import type { Plan, ShellFact, Task } from '../lib/core/task.js';
import { command } from '../lib/modules/command.js';
import { debconf } from '../lib/modules/debconf.js';
import { absentFile, directory, file, symlink } from '../lib/modules/file.js';
import { hostname } from '../lib/modules/hostname.js';
import { hostsEntries, renderHosts } from '../lib/modules/hosts.js';
import { ABSENT, ini } from '../lib/modules/ini.js';
import { line } from '../lib/modules/line.js';
import { CONFIGURE_AGAIN, packages } from '../lib/modules/package.js';
import { aptRepository, yumRepository } from '../lib/modules/repository.js';
import { service } from '../lib/modules/service.js';
import { sysctl } from '../lib/modules/sysctl.js';
import type { ExecResult } from '../lib/transport/transport.js';
import { LocalTransport } from '../lib/transport/local.js';
import { converge, simHost } from './support/sim.js';

/**
 * Fixtures as data (pyinfra's tests/operations): raw probe output as a host
 * prints it → parse → plan → the exact commands shown. Every module has a
 * no-change case.
 */
interface Fixture {
  readonly name: string;
  readonly task: Task<string>;
  /** One raw result per fact, in the task's fact order. */
  readonly facts: readonly Partial<ExecResult>[];
  readonly action: Plan['action'];
  readonly steps?: readonly string[];
  readonly reason?: RegExp;
}

const out = (stdout: string, exitCode = 0): Partial<ExecResult> => ({ stdout, exitCode });
const absent = out('absent\n');
const fileOut = (content: string, mode = '644', owner = 'root', group = 'root') => out(`file ${mode} ${owner} ${group}\n${content}`);
const marker = (id = '') => out(id ? `${id}\n` : '');

function planFrom(f: Fixture): Plan {
  const values = f.task.facts.map((fact, i) => (fact as ShellFact<unknown>).parse({ exitCode: 0, stdout: '', stderr: '', ...f.facts[i] }));
  return f.task.plan(values);
}

// Issue 5: on the Zed lab an `apt-get update` hung 19 minutes on a connection the proxy had closed; downloads
// (update, install --download-only) now run under `timeout` with two retries, dpkg's install itself never does.
const retryApt = (seconds: number) =>
  `retry_apt() { n=0; until timeout -k 10 ${seconds} "$@"; do rc=$?; n=$((n + 1)); case $rc in 124|137) [ "$n" -lt 3 ] || return "$rc"; echo "stackplay: apt stalled (exit $rc), retrying" >&2 ;; *) return "$rc" ;; esac; done; }\n`;
const aptDownload = (names: string) =>
  `${retryApt(300)}retry_apt env DEBIAN_FRONTEND=noninteractive apt-get install --download-only -y -q -o Acquire::http::Timeout=60 -o Acquire::Retries=3 -o DPkg::Lock::Timeout=300 -- ${names}`;

/** The install proper: dpkg from the downloaded files, a maintainer script that failed configured once more. */
const aptInstall = (names: string) =>
  `${CONFIGURE_AGAIN.display()}configure_again env DEBIAN_FRONTEND=noninteractive apt-get install -y -q -o Acquire::http::Timeout=60 -o Acquire::Retries=3 -o DPkg::Lock::Timeout=300 -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold -- ${names}`;

const fixtures: Fixture[] = [
  // package
  {
    name: 'apt: installs what is missing, refreshing lists once per run',
    task: packages({ names: ['memcached', 'python-memcache'], manager: 'apt' }),
    facts: [out('memcached\tinstall ok installed\npython-memcache\tunknown ok not-installed\n'), marker()],
    action: 'change',
    steps: [
      `${retryApt(120)}retry_apt env DEBIAN_FRONTEND=noninteractive apt-get update -q -o Acquire::http::Timeout=60 -o Acquire::Retries=3 -o DPkg::Lock::Timeout=300 && mkdir -p /var/lib/stackplay && echo $RUN_ID > /var/lib/stackplay/apt-updated`,
      aptDownload('python-memcache'),
      aptInstall('python-memcache'),
    ],
  },
  {
    name: 'apt: lists already refreshed by this run',
    task: packages({ names: ['memcached'], manager: 'apt' }),
    facts: [out(''), marker(RUN_ID)],
    action: 'change',
    steps: [aptDownload('memcached'), aptInstall('memcached')],
  },
  {
    name: 'apt: all installed',
    task: packages({ names: ['memcached'], manager: 'apt' }),
    facts: [out('memcached\tinstall ok installed\n'), marker()],
    action: 'none',
    reason: /all installed/,
  },
  {
    name: 'apt: config-files only counts as not installed',
    task: packages({ names: ['ntp'], manager: 'apt', updateCache: false }),
    facts: [out('ntp\tdeinstall ok config-files\n'), marker()],
    action: 'change',
    steps: [aptDownload('ntp'), aptInstall('ntp')],
  },
  // Issue 5, the Zed lab: Debian's postinsts start every daemon with its packaged config; a policy-rc.d holds them for the role.
  {
    name: 'apt: holdServices installs under a policy-rc.d that exits 101, removed afterwards',
    task: packages({ names: ['keystone'], manager: 'apt', updateCache: false, holdServices: true }),
    facts: [out(''), marker()],
    action: 'change',
    steps: [
      aptDownload('keystone'),
      "if [ ! -e /usr/sbin/policy-rc.d ] || grep -qs 'stackplay: no service starts during package installs' /usr/sbin/policy-rc.d; then printf '#!/bin/sh\\n# %s\\nexit 101\\n' 'stackplay: no service starts during package installs' >/usr/sbin/policy-rc.d && chmod 0755 /usr/sbin/policy-rc.d && trap 'rm -f /usr/sbin/policy-rc.d' EXIT; fi\n" +
        aptInstall('keystone'),
    ],
  },
  // keystone's postinst ends with `db_unregister keystone/create-admin-tenant`: answered, nothing left to preseed.
  {
    name: 'debconf: a question the installed package unregistered is not set again',
    task: debconf({
      package: 'keystone',
      settings: [
        { question: 'keystone/configure_db', type: 'boolean', value: false },
        { question: 'keystone/create-admin-tenant', type: 'boolean', value: false },
      ],
    }),
    facts: [out("0 false\n10 keystone/create-admin-tenant doesn't exist\n@@end\n"), out('install ok installed')],
    action: 'none',
    reason: /unregistered by installed keystone/,
  },
  {
    name: 'debconf: before the package is installed, a missing question is preseeded',
    task: debconf({ package: 'keystone', settings: [{ question: 'keystone/create-admin-tenant', type: 'boolean', value: false }] }),
    facts: [out("10 keystone/create-admin-tenant doesn't exist\n@@end\n"), out('')],
    action: 'change',
    steps: ["debconf-set-selections <<'SP_EOF'\nkeystone keystone/create-admin-tenant boolean false\nSP_EOF"],
  },
  {
    name: 'yum: installs missing',
    task: packages({ names: ['chrony', 'mariadb'], manager: 'yum' }),
    facts: [out('chrony\n'), marker()],
    action: 'change',
    steps: ['yum install -y -q -- mariadb'],
  },
  {
    name: 'yum: absent removes installed',
    task: packages({ names: ['NetworkManager'], manager: 'yum', state: 'absent' }),
    facts: [out('NetworkManager\n'), marker()],
    action: 'change',
    steps: ['yum remove -y -q -- NetworkManager'],
  },
  {
    name: 'yum: absent and not installed',
    task: packages({ names: ['NetworkManager'], manager: 'yum', state: 'absent' }),
    facts: [out(''), marker()],
    action: 'none',
  },
  // service
  {
    name: 'sysv: start and enable',
    task: service({ name: 'memcached', enabled: true }),
    facts: [out('sysv\nexists\nstopped\ndisabled\n')],
    action: 'change',
    steps: ['service memcached start', 'if command -v update-rc.d >/dev/null 2>&1; then update-rc.d memcached defaults; else chkconfig memcached on; fi'],
  },
  {
    name: 'systemd: running and enabled',
    task: service({ name: 'chronyd', enabled: true }),
    facts: [out('systemd\nexists\nrunning\nenabled\n')],
    action: 'none',
    reason: /running, enabled/,
  },
  {
    name: 'systemd: restarted always acts',
    task: service({ name: 'httpd', state: 'restarted' }),
    facts: [out('systemd\nexists\nrunning\nenabled\n')],
    action: 'change',
    steps: ['systemctl restart httpd'],
  },
  {
    name: 'upstart: restart a stopped job starts it',
    task: service({ name: 'nova-api', state: 'restarted' }),
    facts: [out('upstart\nexists\nstopped\nenabled\n')],
    action: 'change',
    steps: ['initctl start nova-api'],
  },
  {
    name: 'upstart: stop',
    task: service({ name: 'nova-api', state: 'stopped' }),
    facts: [out('upstart\nexists\nrunning\nenabled\n')],
    action: 'change',
    steps: ['initctl stop nova-api'],
  },
  // command
  {
    name: 'command: creates exists',
    task: command({ cmd: sh`keystone-manage fernet_setup`, creates: '/etc/keystone/fernet-keys/0' }),
    facts: [fileOut(''), absent, out('', 0), out('', 0)],
    action: 'none',
    reason: /exists/,
  },
  {
    name: 'command: runs when creates is missing',
    task: command({ cmd: sh`keystone-manage fernet_setup`, creates: '/etc/keystone/fernet-keys/0' }),
    facts: [absent, absent, out(''), out('')],
    action: 'change',
    steps: ['keystone-manage fernet_setup'],
  },
  {
    name: 'command: unless probe succeeds',
    task: command({ cmd: sh`a2ensite keystone`, unless: sh`test -e /etc/apache2/sites-enabled/keystone.conf` }),
    facts: [out(''), out(''), out('', 0), out('')],
    action: 'none',
    reason: /unless/,
  },
  {
    name: 'command: changedWhen makes it a run',
    task: command({ cmd: sh`nova-manage cell_v2 discover_hosts`, changedWhen: (r) => /Creating host mapping/.test(r.stdout) }),
    facts: [out(''), out(''), out(''), out('')],
    action: 'run',
    steps: ['nova-manage cell_v2 discover_hosts'],
  },
  // file
  {
    name: 'file: create',
    task: file({ path: '/etc/motd', content: 'hi\n', mode: '0640', owner: 'root', group: 'adm' }),
    facts: [absent],
    action: 'change',
    steps: ['write /etc/motd mode=0640 owner=root group=adm'],
  },
  {
    name: 'file: same content, wrong mode',
    task: file({ path: '/etc/motd', content: 'hi\n', mode: '0640' }),
    facts: [fileOut('hi\n', '644')],
    action: 'change',
    steps: ['chmod 0640 /etc/motd'],
  },
  { name: 'file: unchanged', task: file({ path: '/etc/motd', content: 'hi\n', mode: '0644', owner: 'root' }), facts: [fileOut('hi\n')], action: 'none' },
  {
    name: 'file: absent removes',
    task: absentFile('/etc/apt/sources.list.d/old.list'),
    facts: [fileOut('deb x\n')],
    action: 'change',
    steps: ['rm -f /etc/apt/sources.list.d/old.list'],
  },
  { name: 'directory: exists', task: directory({ path: '/var/lib/glance', owner: 'glance' }), facts: [out('dir 755 glance glance\n')], action: 'none' },
  {
    name: 'directory: wrong owner',
    task: directory({ path: '/var/lib/glance', owner: 'glance', group: 'glance' }),
    facts: [out('dir 755 root root\n')],
    action: 'change',
    steps: ['chown glance:glance /var/lib/glance'],
  },
  {
    name: 'symlink: create',
    task: symlink({ path: '/etc/neutron/plugin.ini', target: '/etc/neutron/plugins/ml2/ml2_conf.ini' }),
    facts: [absent],
    action: 'change',
    steps: ['ln -sfn /etc/neutron/plugins/ml2/ml2_conf.ini /etc/neutron/plugin.ini'],
  },
  {
    name: 'symlink: already right',
    task: symlink({ path: '/etc/neutron/plugin.ini', target: '/etc/neutron/plugins/ml2/ml2_conf.ini' }),
    facts: [out('link\n/etc/neutron/plugins/ml2/ml2_conf.ini\n')],
    action: 'none',
  },
  // ini
  {
    name: 'ini: sets options and removes auth_host',
    task: ini({ path: '/etc/nova/nova.conf', settings: { keystone_authtoken: { auth_uri: 'http://controller:5000/v2.0', auth_host: ABSENT } } }),
    facts: [fileOut('[keystone_authtoken]\n#auth_uri=<None>\nauth_host = 127.0.0.1\n')],
    action: 'change',
    steps: ['write /etc/nova/nova.conf'],
  },
  {
    name: 'ini: already set (other spacing)',
    task: ini({ path: '/etc/nova/nova.conf', settings: { DEFAULT: { my_ip: '10.0.0.31', verbose: true } } }),
    facts: [fileOut('[DEFAULT]\nmy_ip=10.0.0.31\nverbose = true\n')],
    action: 'none',
  },
  { name: 'ini: only absent options, no file', task: ini({ path: '/etc/x.conf', settings: { a: { b: ABSENT } } }), facts: [absent], action: 'none' },
  // line
  {
    name: 'line: replaces the matching line',
    task: line({ path: '/etc/default/ntp', regexp: /^NTPD_OPTS=/, line: "NTPD_OPTS='-g'" }),
    facts: [fileOut("NTPD_OPTS='-x'\n")],
    action: 'change',
    steps: ['write /etc/default/ntp'],
  },
  {
    name: 'line: present',
    task: line({ path: '/etc/default/ntp', regexp: /^NTPD_OPTS=/, line: "NTPD_OPTS='-g'" }),
    facts: [fileOut("NTPD_OPTS='-g'\n")],
    action: 'none',
  },
  // sysctl
  {
    name: 'sysctl: persist and apply',
    task: sysctl({ settings: { 'net.ipv4.ip_forward': 1, 'net.ipv4.conf.all.rp_filter': 0 } }),
    facts: [fileOut('#net.ipv4.ip_forward=1\n'), out('net.ipv4.ip_forward\t0\nnet.ipv4.conf.all.rp_filter\t1\n')],
    action: 'change',
    steps: ['write /etc/sysctl.conf', 'sysctl -q -w net.ipv4.ip_forward=1', 'sysctl -q -w net.ipv4.conf.all.rp_filter=0'],
  },
  {
    name: 'sysctl: persisted and live',
    task: sysctl({ settings: { 'net.ipv4.ip_forward': 1 } }),
    facts: [fileOut('net.ipv4.ip_forward=1\n'), out('net.ipv4.ip_forward\t1\n')],
    action: 'none',
  },
  // hostname
  {
    name: 'hostname: set late (seed 004 §11)',
    task: hostname({ name: 'controller' }),
    facts: [out('localhost\n'), fileOut('localhost\n')],
    action: 'change',
    steps: ['write /etc/hostname', 'hostname controller'],
  },
  { name: 'hostname: already', task: hostname({ name: 'controller' }), facts: [out('controller\n'), fileOut('controller\n')], action: 'none' },
  // hosts
  {
    name: 'hosts: adds the block',
    task: hostsEntries({ entries: [{ address: '10.0.0.11', names: ['controller'] }] }),
    facts: [fileOut('127.0.0.1 localhost\n127.0.1.1 controller\n')],
    action: 'change',
    steps: ['write /etc/hosts'],
  },
  {
    name: 'hosts: present',
    task: hostsEntries({ entries: [{ address: '10.0.0.11', names: ['controller'] }] }),
    facts: [fileOut('127.0.0.1 localhost\n# BEGIN stackplay managed hosts\n10.0.0.11 controller\n# END stackplay managed hosts\n')],
    action: 'none',
  },
  // repository
  {
    name: 'apt repository: add cloud archive, invalidate lists',
    task: aptRepository({ name: 'cloudarchive-juno', lines: ['deb http://ubuntu-cloud.archive.canonical.com/ubuntu trusty-updates/juno main'] }),
    facts: [absent],
    action: 'change',
    steps: ['write /etc/apt/sources.list.d/cloudarchive-juno.list mode=0644', 'rm -f /var/lib/stackplay/apt-updated'],
  },
  {
    name: 'yum repository: present',
    task: yumRepository({ name: 'rdo', baseurl: 'http://x/' }),
    facts: [fileOut('[rdo]\nname=rdo\nbaseurl=http://x/\nenabled=1\ngpgcheck=0\n')],
    action: 'none',
  },
];

describe('task modules: facts in, plan out', () => {
  for (const f of fixtures) {
    it(f.name, () => {
      const plan = planFrom(f);
      expect(plan.action, JSON.stringify(plan)).to.equal(f.action);
      if (plan.action === 'none') {
        if (f.reason) expect(plan.reason).to.match(f.reason);
      } else expect(plan.steps.map(describeStep)).to.deep.equal(f.steps);
    });
  }

  it('every module has a no-change fixture', () => {
    const modules = new Set(fixtures.map((f) => f.task.module));
    const quiet = new Set(fixtures.filter((f) => f.action === 'none').map((f) => f.task.module));
    expect([...modules].filter((m) => !quiet.has(m))).to.deep.equal([]);
  });

  it('ini puts a new key after its commented default and keeps everything else', () => {
    const plan = planFrom({
      name: '',
      task: ini({ path: '/f', settings: { keystone_authtoken: { auth_uri: 'http://controller:5000/v2.0', auth_host: ABSENT } } }),
      facts: [fileOut('[keystone_authtoken]\n# comment\n#auth_uri=<None>\nauth_host = 127.0.0.1\n\n[other]\nx = 1\n')],
      action: 'change',
    });
    expect(plan.action).to.equal('change');
    if (plan.action === 'change')
      expect(plan.diffs?.[0]?.after).to.equal('[keystone_authtoken]\n# comment\n#auth_uri=<None>\nauth_uri = http://controller:5000/v2.0\n\n[other]\nx = 1\n');
  });

  it('hosts drops managed names from other lines only', () => {
    expect(renderHosts('127.0.0.1 localhost\n127.0.1.1 controller ctl-alias # ubuntu\n', [{ address: '10.0.0.11', names: ['controller'] }])).to.equal(
      '127.0.0.1 localhost\n127.0.1.1 ctl-alias # ubuntu\n# BEGIN stackplay managed hosts\n10.0.0.11 controller\n# END stackplay managed hosts\n',
    );
  });

  it('secrets in ini values reach the file but not the step display', () => {
    const plan = planFrom({
      name: '',
      task: ini({ path: '/etc/glance/glance-api.conf', settings: { database: { connection: new Secret('mysql://glance:s3cr3t@controller/glance') } } }),
      facts: [absent],
      action: 'change',
    });
    expect(plan.action).to.equal('change');
    if (plan.action !== 'change') return;
    expect(plan.steps.map(describeStep).join()).not.to.contain('s3cr3t');
    expect((plan.steps[0] as { content: string }).content).to.contain('s3cr3t');
  });
});

describe('task modules on a simulated host converge, then change nothing', () => {
  const tasks: Task<string>[] = [
    hostname({ name: 'controller' }),
    hostsEntries({ entries: [{ address: '10.0.0.11', names: ['controller'] }] }),
    aptRepository({ name: 'cloudarchive-juno', lines: ['deb http://x trusty-updates/juno main'] }),
    packages({ names: ['memcached'], manager: 'apt' }),
    ini({ path: '/etc/nova/nova.conf', settings: { DEFAULT: { my_ip: '10.0.0.11' }, database: { connection: 'mysql://x' } } }),
    line({ path: '/etc/memcached.conf', regexp: /^-l /, line: '-l 10.0.0.11' }),
    sysctl({ settings: { 'net.ipv4.ip_forward': 1 } }),
    file({ path: '/etc/motd', content: 'x\n', mode: '0600' }),
    directory({ path: '/var/lib/x', owner: 'nova' }),
    symlink({ path: '/etc/l', target: '/etc/motd' }),
    service({ name: 'memcached', enabled: true }),
    command({ cmd: sh`touch /tmp/x`, creates: '/tmp/x' }),
    command({ cmd: sh`a2ensite keystone`, unless: sh`test -e /etc/apache2/sites-enabled/keystone.conf` }),
  ];
  for (const task of tasks) {
    it(task.name, async () => {
      const { rt } = simHost();
      expect((await converge(rt, task)).action).to.not.equal('none');
      const again = await converge(rt, task);
      expect(again.action, JSON.stringify(again)).to.equal('none');
    });
  }
});

describe('task modules on this machine through /bin/sh (local transport)', () => {
  let dir: string;
  const rt = new RemoteRuntime(new LocalTransport());
  const apply = async (task: Task<string>): Promise<Plan> => {
    const plan = task.plan(await rt.gather(task.facts));
    if (plan.action !== 'none') for (const s of plan.steps) await rt.apply(s);
    return plan;
  };
  beforeEach(async () => (dir = await mkdtemp(join(tmpdir(), 'sp-tasks-'))));
  afterEach(() => rm(dir, { recursive: true, force: true }));

  it('writes atomically, keeps mode and owner of an existing file, leaves no temp file', async () => {
    const path = join(dir, 'nova.conf');
    await writeFile(path, '[DEFAULT]\n# keep me\n#my_ip = <None>\n');
    await chmod(path, 0o640);
    const task = ini({ path, settings: { DEFAULT: { my_ip: '10.0.0.31' } } });
    expect((await apply(task)).action).to.equal('change');
    expect(await readFile(path, 'utf8')).to.equal('[DEFAULT]\n# keep me\n#my_ip = <None>\nmy_ip = 10.0.0.31\n');
    expect((await stat(path)).mode & 0o777).to.equal(0o640);
    expect(await readdir(dir)).to.deep.equal(['nova.conf']);
    expect((await apply(task)).action).to.equal('none');
  });

  it('creates files with content that needs no escaping help (quotes, $, here-doc markers, unicode)', async () => {
    const path = join(dir, 'sub', 'weird.txt');
    const content = "it's $HOME `x` \\n SP_EOF\nSP_EOF\n€ ✓\n";
    expect((await apply(file({ path, content, mode: '0600' }))).action).to.equal('change');
    expect(await readFile(path, 'utf8')).to.equal(content);
    expect((await stat(path)).mode & 0o777).to.equal(0o600);
    expect((await apply(file({ path, content, mode: '0600' }))).action).to.equal('none');
  });

  it('line, hosts, symlink, directory and command converge on real files', async () => {
    const hosts = join(dir, 'hosts');
    await writeFile(hosts, '127.0.0.1 localhost\n127.0.1.1 controller\n');
    const tasks = [
      line({ path: join(dir, 'default'), regexp: /^OPTS=/, line: 'OPTS=-g' }),
      hostsEntries({ path: hosts, entries: [{ address: '10.0.0.11', names: ['controller'] }] }),
      symlink({ path: join(dir, 'link'), target: hosts }),
      directory({ path: join(dir, 'd', 'e'), mode: '0750' }),
      command({ cmd: sh`echo ran >> ${join(dir, 'log')}; touch ${join(dir, 'made')}`, creates: join(dir, 'made') }),
    ];
    for (const t of tasks) expect((await apply(t)).action, t.name).to.equal('change');
    for (const t of tasks) expect((await apply(t)).action, t.name).to.equal('none');
    expect(await readFile(join(dir, 'log'), 'utf8')).to.equal('ran\n');
    expect(await readFile(hosts, 'utf8')).to.contain('10.0.0.11 controller');
    expect(await readFile(hosts, 'utf8')).not.to.contain('127.0.1.1 controller');
    expect((await stat(join(dir, 'd', 'e'))).mode & 0o777).to.equal(0o750);
  });

  it('a failing command reports its exit code and stderr', async () => {
    const task = command({ cmd: sh`echo boom >&2; exit 3` });
    const plan = task.plan(await rt.gather(task.facts));
    if (plan.action === 'none') throw new Error('expected a plan');
    let error: Error | undefined;
    try {
      await rt.apply(plan.steps[0]!);
    } catch (e) {
      error = e as Error;
    }
    expect(error?.message)
      .to.match(/exited 3/)
      .and.match(/boom/);
  });

  it('gathers several facts in one round trip', async () => {
    const calls: string[] = [];
    const local = new LocalTransport();
    const counting = new RemoteRuntime({ host: 'x', exec: (s) => (calls.push(s), local.exec(s)), http: local.http.bind(local), close: async () => {} });
    const task = sysctl({ settings: { 'kernel.hostname': 'x' }, file: join(dir, 'sysctl.conf') });
    const values = await counting.gather(task.facts);
    expect(calls).to.have.length(1);
    expect(values[0]).to.equal(null);
    expect((values[1] as Map<string, string>).get('kernel.hostname'))
      .to.be.a('string')
      .and.not.equal('');
  });
});
