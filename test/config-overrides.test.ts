/**
 * Config overrides (issue 17): INI files under `<inventory>.d/{all,group_X,host_Y}/<path>`
 * merged into the ini task that writes <path>, in Ansible's precedence, each
 * option checked against the release's catalog at file:line, secrets only by
 * reference to the secrets store.
 */
import { expect } from 'chai';
import { copyFile, mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { Writable } from 'node:stream';
import { EXIT_BAD_INPUT, runPlaybook } from '../lib/cli/cli.js';
import { InputError } from '../lib/core/errors.js';
import { defineRole, playbook, type Playbook } from '../lib/core/playbook.js';
import { resolvePlaybook } from '../lib/core/resolve.js';
import { Redactor } from '../lib/core/secret.js';
import { parseOverrideIni } from '../lib/inventory/config-overrides.js';
import { loadInventory } from '../lib/inventory/inventory.js';
import { SecretStore } from '../lib/inventory/secrets-store.js';
import { ini } from '../lib/modules/ini.js';
import { service } from '../lib/modules/service.js';
import { readIni } from '../lib/modules/ini-edit.js';
import { site } from '../playbooks/site.js';
import { planSite, host } from './support/plan.js';

/** Writes `files` (path relative to `dir` → text) and returns `dir`. */
async function tree(dir: string, files: Record<string, string>): Promise<string> {
  for (const [path, text] of Object.entries(files)) {
    await mkdir(dirname(join(dir, path)), { recursive: true });
    await writeFile(join(dir, path), text);
  }
  return dir;
}

async function inputError(p: Promise<unknown>): Promise<InputError> {
  const error = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error, 'an InputError').to.be.instanceOf(InputError);
  return error as InputError;
}

function throwsInput(f: () => unknown): InputError {
  try {
    f();
  } catch (error) {
    expect(error).to.be.instanceOf(InputError);
    return error as InputError;
  }
  throw new Error('expected an InputError');
}

describe('config override files', () => {
  it('reads sections, options, comments and secret references, each with its file:line', () => {
    const options = parseOverrideIni(
      '# why\n[DEFAULT]\ndebug = true\n; more\n\n[libvirt]\ncpu_mode=host-model\n[database]\nx_password = !secret db_x\n',
      'f.conf',
    );
    expect(options.map((o) => [o.section, o.key, o.value, o.source.line])).to.deep.equal([
      ['DEFAULT', 'debug', 'true', 3],
      ['libvirt', 'cpu_mode', 'host-model', 7],
      ['database', 'x_password', { secret: 'db_x' }, 9],
    ]);
  });

  it('refuses what oslo.config would take silently or wrongly, at file:line', () => {
    expect(throwsInput(() => parseOverrideIni('debug = true\n', 'f')).message).to.equal(
      'f:1: option before any [section] (options of the DEFAULT section go under [DEFAULT]): `debug = true`',
    );
    expect(throwsInput(() => parseOverrideIni('[DEFAULT]\na-b = 1\na_b = 2\n', 'f')).message).to.match(/^f:3: \[DEFAULT\] a_b is already set at line 2/);
    expect(throwsInput(() => parseOverrideIni('[DEFAULT]\na = 1\n  2\n', 'f')).message).to.match(/^f:3: indented line/);
    expect(throwsInput(() => parseOverrideIni('[DEFAULT]\nno equals\n', 'f')).message).to.match(/^f:2: expected \[section\] or name = value/);
  });

  it('refuses a secret in plain text (named like one, or inside a URL) and never echoes it', () => {
    const named = throwsInput(() => parseOverrideIni('[keystone_authtoken]\npassword = hunter2-canary\n', 'f'));
    expect(named.message).to.match(/^f:2: \[keystone_authtoken\] password holds a secret: write `password = !secret <name>`/);
    expect(named.message).not.to.contain('hunter2-canary');
    for (const key of ['admin_token', 'memcache_secret_key', 'rabbit_password', 'metadata_proxy_shared_secret', 'swift_store_key', 'app_credential']) {
      expect(throwsInput(() => parseOverrideIni(`[DEFAULT]\n${key} = value-canary\n`, 'f')).message, key).not.to.contain('value-canary');
    }
    // Names that only contain a secret word are ordinary options.
    for (const key of ['token_cache_time', 'ssl_key_file', 'password_length']) expect(parseOverrideIni(`[DEFAULT]\n${key} = 1\n`, 'f')).to.have.length(1);
    const url = throwsInput(() => parseOverrideIni('[database]\nconnection = mysql+pymysql://nova:url-canary@db/nova\n', 'f'));
    expect(url.message).to.match(/^f:2: \[database\] connection: a password inside a URL/);
    expect(url.message).not.to.contain('url-canary');
  });
});

/** A lib-only playbook: a service whose ini file is private (0640) and one whose file every user reads. */
const book: Playbook = playbook('svc', [
  {
    name: 'svc',
    hosts: 'all',
    roles: [
      () =>
        defineRole('svc', { restartSvc: service({ name: 'svc', state: 'restarted' }), restartOther: service({ name: 'other', state: 'restarted' }) }).tasks([
          ini({ path: '/etc/svc/svc.conf', settings: { DEFAULT: { from_role: 'r', level: 'role' } }, mode: '0640', group: 'svc' }, { notify: ['restartSvc'] }),
          ini({ path: '/etc/other/other.conf', settings: { DEFAULT: { x: '1' } } }, { notify: ['restartOther'] }),
        ]),
    ],
  },
]);

const INVENTORY = `[web]\nweb1\nweb2\n[db]\ndb1\n[prod:children]\nweb\n[all:vars]\ndefault_password=day2-password\n`;

describe('config overrides: precedence, merge, handlers', function () {
  this.timeout(60_000);
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'sp-ovr-'));
    await writeFile(join(dir, 'inv.ini'), INVENTORY);
  });
  afterEach(() => rm(dir, { recursive: true, force: true }));

  it('all < parent group < child group < host, option by option, merged over the role’s file', async () => {
    await tree(join(dir, 'inv.d'), {
      'all/etc/svc/svc.conf': '[DEFAULT]\nlevel = all\nonly_all = 1\n',
      'group_prod/etc/svc/svc.conf': '[DEFAULT]\nlevel = prod\n',
      'group_web/etc/svc/svc.conf': '[DEFAULT]\nlevel = web\n[extra]\nk = v\n',
      'host_web2/etc/svc/svc.conf': '[DEFAULT]\nlevel = web2\n',
    });
    const plan = await planSite(book, join(dir, 'inv.ini'));
    const level = (h: string) => host(plan, h).ini('/etc/svc/svc.conf').get('DEFAULT')?.get('level');
    expect([level('db1'), level('web1'), level('web2')]).to.deep.equal(['all', 'web', 'web2']);
    expect(host(plan, 'web1').ini('/etc/svc/svc.conf').get('DEFAULT')?.get('from_role')).to.equal('r');
    expect(host(plan, 'web1').ini('/etc/svc/svc.conf').get('DEFAULT')?.get('only_all')).to.equal('1');
    expect(host(plan, 'web1').ini('/etc/svc/svc.conf').get('extra')?.get('k')).to.equal('v');
    expect(host(plan, 'db1').ini('/etc/svc/svc.conf').has('extra')).to.equal(false);
    expect(plan.secondResults.filter((r) => r.status === 'changed')).to.deep.equal([]);
  });

  it('a secret comes from the secrets store by name; a file others can read takes none', async () => {
    await tree(join(dir, 'inv.d'), { 'group_db/etc/svc/svc.conf': '[DEFAULT]\napi_password = !secret svc_api\n' });
    const plan = await planSite(book, join(dir, 'inv.ini'));
    // default_password gives every secret its value (packstack's CONFIG_DEFAULT_PASSWORD).
    expect(host(plan, 'db1').ini('/etc/svc/svc.conf').get('DEFAULT')?.get('api_password')).to.equal('day2-password');
    expect(host(plan, 'web1').ini('/etc/svc/svc.conf').get('DEFAULT')?.has('api_password')).to.equal(false);

    await rm(join(dir, 'inv.d'), { recursive: true });
    await tree(join(dir, 'inv.d'), { 'group_db/etc/other/other.conf': '[DEFAULT]\napi_password = !secret svc_api\n' });
    const error = await inputError(planSite(book, join(dir, 'inv.ini')));
    expect(error.message).to.match(/inv\.d\/group_db\/etc\/other\/other\.conf:2: \[DEFAULT\] api_password: this file is readable by every user/);
  });

  it('a scope naming no group or host, a symlink, a path nothing writes: stopped or said, before any host', async () => {
    await tree(join(dir, 'inv.d'), { 'group_wbe/etc/svc/svc.conf': '[DEFAULT]\na = 1\n' });
    expect((await inputError(loadInventory(join(dir, 'inv.ini')))).message).to.match(
      /inv\.d\/group_wbe: no group wbe in .*inv\.ini \(did you mean group_web\?\)/,
    );
    await rm(join(dir, 'inv.d'), { recursive: true });
    await tree(join(dir, 'inv.d'), { 'hosts_web1/etc/svc/svc.conf': '[DEFAULT]\na = 1\n' });
    expect((await inputError(loadInventory(join(dir, 'inv.ini')))).message).to.match(/unknown scope \(use all, group_<group> or host_<host>\)/);
    await rm(join(dir, 'inv.d'), { recursive: true });
    await tree(dir, { 'x.conf': '[DEFAULT]\na = 1\n' });
    await mkdir(join(dir, 'inv.d', 'all', 'etc', 'svc'), { recursive: true });
    await symlink(join(dir, 'x.conf'), join(dir, 'inv.d', 'all', 'etc', 'svc', 'svc.conf'));
    expect((await inputError(loadInventory(join(dir, 'inv.ini')))).message).to.match(/all\/etc\/svc\/svc\.conf: not a regular file/);

    await rm(join(dir, 'inv.d'), { recursive: true });
    await tree(join(dir, 'inv.d'), { 'all/etc/svc/svc.cnf': '[DEFAULT]\na = 1\n' });
    const secrets = new SecretStore(join(dir, 'secrets.ini'), new Redactor(), 'day2-password');
    const inventory = await loadInventory(join(dir, 'inv.ini'));
    expect(throwsInput(() => resolvePlaybook(book, inventory, secrets)).message).to.match(
      /svc\.cnf: no task writes \/etc\/svc\/svc\.cnf \(did you mean \/etc\/svc\/svc\.conf\?\)/,
    );

    await rm(join(dir, 'inv.d'), { recursive: true });
    await tree(join(dir, 'inv.d'), { 'all/etc/motd.conf': '[DEFAULT]\na = 1\n' });
    const warnings: string[] = [];
    resolvePlaybook(book, await loadInventory(join(dir, 'inv.ini')), secrets, 'web1', (m) => warnings.push(m));
    expect(warnings).to.deep.equal([`${join(dir, 'inv.d/all/etc/motd.conf')}: not applied: no task of this run writes /etc/motd.conf on web1`]);
  });

  it('an override of one host changes that host’s file only; a playbook without a catalog says its names go unchecked', async () => {
    const secrets = new SecretStore(join(dir, 'secrets.ini'), new Redactor(), 'day2-password');
    await tree(join(dir, 'inv.d'), { 'host_web1/etc/other/other.conf': '[DEFAULT]\ny = 2\n' });
    const warnings: string[] = [];
    resolvePlaybook(book, await loadInventory(join(dir, 'inv.ini')), secrets, undefined, (m) => warnings.push(m));
    expect(warnings).to.deep.equal([
      `${join(dir, 'inv.d/host_web1/etc/other/other.conf')}: option names not checked: this playbook declares no option catalog`,
    ]);
    const plan = await planSite(book, join(dir, 'inv.ini'));
    expect(host(plan, 'web1').ini('/etc/other/other.conf').get('DEFAULT')?.get('y')).to.equal('2');
    expect(readIni(host(plan, 'web2').files.get('/etc/other/other.conf')!).get('DEFAULT')?.has('y')).to.equal(false);
  });
});

describe('config overrides of an OpenStack site: names checked against the release’s catalog', function () {
  this.timeout(60_000);
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'sp-ovr-os-'));
  });
  afterEach(() => rm(dir, { recursive: true, force: true }));

  async function plan(inventory: string, files: Record<string, string>, ...args: string[]): Promise<{ code: number; out: string; err: string }> {
    const name = inventory.replace(/^hosts\//, '');
    await copyFile(inventory, join(dir, name));
    await tree(join(dir, name.replace(/\.ini$/, '.d')), files);
    let out = '';
    let err = '';
    const stdout = new Writable({ write: (c, _e, cb) => ((out += String(c)), cb()) });
    const stderr = new Writable({ write: (c, _e, cb) => ((err += String(c)), cb()) });
    const code = await runPlaybook(site, ['-i', join(dir, name), '--plan', join(dir, 'out'), ...args], { stdout, stderr });
    return { code, out, err };
  }
  const at = (file: string, line: number) => new RegExp(`^error: ${dir.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}/${file.replace(/\./g, '\\.')}:${line}: `);

  it('Zed: a misspelled option, an option of another section, a misspelled section: exit 5 at file:line with the nearest name', async () => {
    const typo = await plan('hosts/lab.ini', { 'group_compute/etc/nova/nova.conf': '[DEFAULT]\n# more headroom\ncpu_alocation_ratio = 4.0\n' });
    expect(typo.code).to.equal(EXIT_BAD_INPUT);
    expect(typo.err).to.match(at('lab.d/group_compute/etc/nova/nova.conf', 3));
    expect(typo.err).to.contain('[DEFAULT] cpu_alocation_ratio is no option of /etc/nova/nova.conf (did you mean cpu_allocation_ratio?)');
    expect(typo.err).to.contain('names from Debian 12 nova-common');
    expect(typo.out).to.equal('');

    await rm(join(dir, 'lab.d'), { recursive: true });
    const section = await plan('hosts/lab.ini', { 'all/etc/nova/nova.conf': '[DEFAULT]\nvirt_type = qemu\n' });
    expect(section.err).to.contain('[DEFAULT] virt_type is no option of /etc/nova/nova.conf (it is an option of [libvirt])');

    await rm(join(dir, 'lab.d'), { recursive: true });
    const header = await plan('hosts/lab.ini', { 'host_compute1/etc/nova/nova.conf': '[libvrit]\ncpu_mode = host-model\n' });
    expect(header.err).to.match(at('lab.d/host_compute1/etc/nova/nova.conf', 2));
    expect(header.err).to.contain('/etc/nova/nova.conf has no section [libvrit] (did you mean [libvirt]?)');

    await rm(join(dir, 'lab.d'), { recursive: true });
    const neutron = await plan('hosts/lab.ini', { 'group_network/etc/neutron/l3_agent.ini': '[DEFAULT]\nagent_mod = dvr_snat\n' });
    expect(neutron.err).to.contain('[DEFAULT] agent_mod is no option of /etc/neutron/l3_agent.ini (did you mean agent_mode?)');
  });

  it('Zed: `-` and `_` are one name; --diff shows the change; the second simulated run changes nothing', async () => {
    const run = await plan(
      'hosts/lab.ini',
      { 'group_compute/etc/nova/nova.conf': '[DEFAULT]\ncpu-allocation-ratio = 4.0\n[libvirt]\ncpu_mode = host-model\n' },
      '--diff',
    );
    expect(run.err).to.equal('');
    expect(run.code).to.equal(0);
    expect(run.out).to.contain('+cpu-allocation-ratio = 4.0');
    expect(run.out).to.contain('+cpu_mode = host-model');
    expect(run.out).to.contain('second simulated run: 0 changed (idempotent)');
  });

  it('Zed: a secret by reference is written and masked in --diff and in the output', async () => {
    const run = await plan('hosts/lab.ini', { 'group_compute/etc/nova/nova.conf': '[key_manager]\nfixed_key = !secret nova_fixed_key\n' }, '--diff', '-v');
    expect(run.err).to.equal('');
    expect(run.code).to.equal(0);
    const secret = /^nova_fixed_key = (.+)$/m.exec(await readFile(join(dir, 'lab.secrets.ini'), 'utf8'))?.[1];
    expect(secret, 'generated into the secrets file').to.be.a('string');
    expect(run.out).to.contain('+fixed_key = ***');
    expect(run.out).not.to.contain(secret!);
    expect(await readFile(join(dir, 'out', 'compute1', 'fs', 'etc', 'nova', 'nova.conf'), 'utf8')).to.contain(`fixed_key = ${secret!}`);
  });

  it('Zed: nova-compute.conf (written by the virt-type task, read by nova-compute after nova.conf) takes overrides, checked as nova.conf', async () => {
    const typo = await plan('hosts/lab.ini', { 'group_compute/etc/nova/nova-compute.conf': '[libvirt]\ncpu_mod = host-model\n' });
    expect(typo.err).to.contain('[libvirt] cpu_mod is no option of /etc/nova/nova-compute.conf (did you mean cpu_mode?) (names from Debian 12 nova-common');
    await rm(join(dir, 'lab.d'), { recursive: true });
    const run = await plan('hosts/lab.ini', { 'group_compute/etc/nova/nova-compute.conf': '[libvirt]\ncpu_mode = host-model\n' });
    expect(run.err).to.equal('');
    expect(run.code).to.equal(0);
    const conf = await readFile(join(dir, 'out', 'compute1', 'fs', 'etc', 'nova', 'nova-compute.conf'), 'utf8');
    expect(conf).to.match(/^\[libvirt\]$/m);
    expect(conf).to.match(/^cpu_mode = host-model$/m);
    expect(conf).to.match(/^virt_type = qemu$/m);
  });

  it('Juno: glance-api.conf is checked against the Juno sample; nova.conf is said unchecked, with the reason', async () => {
    const typo = await plan('hosts/juno.ini', { 'group_controller/etc/glance/glance-api.conf': '[DEFAULT]\nworker = 2\n' });
    expect(typo.code).to.equal(EXIT_BAD_INPUT);
    expect(typo.err).to.contain(
      '[DEFAULT] worker is no option of /etc/glance/glance-api.conf (did you mean workers?) (names from glance at tag juno-eol: etc/glance-api.conf)',
    );
    await rm(join(dir, 'juno.d'), { recursive: true });
    const nova = await plan('hosts/juno.ini', { 'all/etc/nova/nova.conf': '[DEFAULT]\ncpu_allocation_ratio = 4.0\n' });
    expect(nova.code).to.equal(0);
    expect(nova.err).to.match(/^warning: .*juno\.d\/all\/etc\/nova\/nova\.conf: option names not checked: nova removed etc\/nova\/nova\.conf\.sample/);
  });

  it('Liberty: an option the role writes counts as known even where the sample is thin', async () => {
    const run = await plan('hosts/liberty-ubuntu.ini', {
      'group_controller/etc/neutron/neutron.conf': '[keystone_authtoken]\nauth_url = http://controller:35357\n[DEFAULT]\napi_workers = 2\n',
    });
    expect(run.err).to.equal('');
    expect(run.code).to.equal(0);
  });
});
