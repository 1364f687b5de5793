import { expect } from 'chai';
import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { EXIT_BAD_INPUT, runPlaybook } from '../lib/cli/cli.js';
import { site } from '../playbooks/site.js';

/**
 * Issue 7 §10: bad input stops the run before any host is contacted, with
 * `file:line` and the offending key. Every case runs the real CLI entry
 * point in-process on the whole site playbook; the hosts' addresses do not
 * resolve, so any connection attempt would end in exit 4, not 5.
 */
const SEED = (await readFile('hosts/juno.ini', 'utf8')).replace(/ansible_host=10\.0\.0\.(\d+)/g, 'ansible_host=host-$1.invalid');

interface Case {
  readonly name: string;
  /** Inventory text for this case (default: seed 004's, unreachable addresses). */
  readonly inventory?: (seed: string) => string;
  readonly args?: readonly string[];
  /** Expected stderr (a substring, or a pattern). */
  readonly error: string | RegExp;
  /** The line the message must name: the first line equal to this, else the first containing it. */
  readonly at?: string;
  /** A secret the case puts in the inventory or secrets file: it must appear in no output. */
  readonly secret?: string;
  /** Prepares files beside the case's inventory (`base`: its path without `.ini`); returns more arguments. */
  readonly prepare?: (base: string, dir: string) => Promise<readonly string[]>;
  /** Run for real (no `--plan`): for what only a real run checks (private keys). The hosts do not resolve: exit 4 if it got that far. */
  readonly real?: boolean;
}

const set = (key: string, value: string) => (t: string) => t.replace('[all:vars]', `[all:vars]\n${key}=${value}`);
const replace = (from: string | RegExp, to: string) => (t: string) => t.replace(from, to);

const CASES: readonly Case[] = [
  // inventory syntax
  { name: 'unclosed section header', inventory: replace('[compute]', '[compute'), at: '[compute', error: 'malformed' },
  {
    name: 'host variable without a value',
    inventory: replace('compute1 ansible_host', 'compute1 tunnel_ip ansible_host'),
    at: 'compute1 tunnel_ip',
    error: 'tunnel_ip',
  },
  { name: 'group var line without =', inventory: replace('network_mode=ovs-gre', 'network_mode ovs-gre'), at: 'network_mode ovs-gre', error: 'network_mode' },
  { name: 'unknown section suffix', inventory: replace('[all:vars]', '[all:variables]'), at: '[all:variables]', error: 'variables' },
  { name: 'children naming an undefined group', inventory: (t) => `${t}\n[openstack:children]\ncontroller\nstorage\n`, at: 'storage', error: 'storage' },
  { name: 'children cycle', inventory: (t) => `${t}\n[cyc-x:children]\ncyc-y\n[cyc-y:children]\ncyc-x\n`, at: 'cyc-x', error: /cycle cyc-x -> cyc-y -> cyc-x/ },
  {
    name: 'host defined twice in a group',
    inventory: replace(
      'compute1 ansible_host=host-31.invalid tunnel_ip=10.0.1.31',
      'compute1 ansible_host=host-31.invalid tunnel_ip=10.0.1.31\ncompute1 ansible_host=host-32.invalid',
    ),
    at: 'compute1 ansible_host=host-32',
    error: 'compute1',
  },
  {
    name: 'same variable twice on a host line',
    inventory: replace('compute1 ansible_host=host-31.invalid', 'compute1 ansible_host=host-31.invalid ansible_host=x'),
    at: 'compute1 ansible_host',
    error: 'ansible_host',
  },
  { name: 'invalid host name', inventory: replace('block1 ansible_host', 'block/1 ansible_host'), at: 'block/1', error: 'block/1' },
  { name: 'same group variable twice', inventory: replace('[all:vars]', '[all:vars]\nregion=A\nregion=B'), at: 'region=B', error: 'region' },
  // core variables
  {
    name: 'unknown release',
    inventory: replace('openstack_release=juno', 'openstack_release=kilo'),
    at: 'openstack_release=kilo',
    error: 'openstack_release must be one of juno, liberty, zed',
  },
  {
    name: 'missing release',
    inventory: replace('openstack_release=juno\n', ''),
    at: 'controller ansible_host',
    error: 'variable openstack_release is not set',
  },
  { name: 'unknown os family', inventory: set('os_family', 'windows'), at: 'os_family=windows', error: 'os_family must be one of ubuntu, centos, debian' },
  { name: 'port that is not a number', inventory: set('ansible_port', 'ssh'), at: 'ansible_port=ssh', error: 'ansible_port must be a whole number' },
  {
    name: 'misspelled release variable',
    inventory: set('openstack_relase', 'liberty'),
    at: 'openstack_relase=',
    error: 'unknown variable openstack_relase (did you mean openstack_release?)',
  },
  {
    name: 'misspelled ntp servers',
    inventory: replace('ntp_servers=', 'ntp_server='),
    at: 'ntp_server=',
    error: 'unknown variable ntp_server (did you mean ntp_servers?)',
  },
  {
    name: 'misspelled controller address',
    inventory: set('controler_address', '10.0.0.11'),
    at: 'controler_address',
    error: 'did you mean controller_address?',
  },
  // role variables
  {
    name: 'unsupported network mode',
    inventory: replace('network_mode=ovs-gre', 'network_mode=ovs-geneve'),
    at: 'network_mode=ovs-geneve',
    error: 'network_mode',
  },
  {
    name: 'network mode the release does not document',
    inventory: replace('network_mode=ovs-gre', 'network_mode=linuxbridge-vxlan'),
    at: 'network_mode=linuxbridge-vxlan',
    error: 'not supported for juno',
  },
  { name: 'virt type nova does not know', inventory: set('nova_virt_type', 'vmware'), at: 'nova_virt_type=vmware', error: 'nova_virt_type must be one of' },
  {
    name: 'compute driver nova does not know',
    inventory: set('nova_compute_driver', 'bogus'),
    at: 'nova_compute_driver=bogus',
    error: 'nova_compute_driver must be one of',
  },
  {
    name: 'gateway that is not an address',
    inventory: replace('external_gateway=192.168.234.1', 'external_gateway=192.168.234'),
    at: 'external_gateway=',
    error: 'external_gateway must be an IPv4 address',
  },
  {
    name: 'floating range start out of range',
    inventory: replace('floating_start=192.168.234.230', 'floating_start=192.168.234.300'),
    at: 'floating_start=',
    error: 'floating_start must be an IPv4 address',
  },
  { name: 'boolean that is not one', inventory: set('telemetry', 'maybe'), at: 'telemetry=maybe', error: 'telemetry must be true or false' },
  { name: 'lbaas flag that is not a boolean', inventory: set('neutron_lbaas', '2'), at: 'neutron_lbaas=2', error: 'neutron_lbaas must be true or false' },
  {
    name: 'loop size that is not a number',
    inventory: replace('cinder_devices=/dev/sdb', 'cinder_devices=/dev/loop7 cinder_loop_file=/var/lib/c.img cinder_loop_size_mb=big'),
    at: 'cinder_loop_size_mb=big',
    error: 'cinder_loop_size_mb must be a whole number',
  },
  { name: 'block node without a disk', inventory: replace(' cinder_devices=/dev/sdb', ''), at: 'block1 ansible_host', error: 'cinder_devices' },
  {
    name: 'missing external network',
    inventory: replace('external_cidr=192.168.234.0/24\n', ''),
    at: 'controller ansible_host',
    error: 'variable external_cidr is not set',
  },
  // command line
  { name: 'inventory file that does not exist', args: ['-i', 'hosts/nope.ini'], error: /hosts\/nope\.ini: .*not found/ },
  { name: '--limit naming nothing', args: ['--limit', 'storage'], error: /--limit: .*storage/ },
  { name: '--forks 0', args: ['--forks', '0'], error: /--forks.*whole number/ },
  { name: '--forks that is not a number', args: ['--forks', 'many'], error: /--forks.*whole number/ },
  { name: '--max-fail-percentage over 100', args: ['--max-fail-percentage', '150'], error: /--max-fail-percentage.*percentage/ },
  { name: 'unknown flag', args: ['--frobnicate'], error: /unknown option '--frobnicate'/ },

  // Issue 13: the audit's gaps. Secrets never echoed; control characters refused; every variable typed before any connection.
  {
    name: '#1 unquoted # in a become password on a host line: refused, the password not echoed',
    inventory: replace('controller ansible_host=host-11.invalid', 'controller ansible_host=host-11.invalid ansible_become_password=Sup3r#S3cret'),
    at: 'ansible_become_password=',
    error: "unquoted '#'",
    secret: 'Sup3r#S3cret',
  },
  {
    name: '#1 a second default_password line: refused, neither password echoed',
    inventory: replace('default_password=openstack', 'default_password=Sup3rS3cretA\ndefault_password=Sup3rS3cretB'),
    at: 'default_password=Sup3rS3cretB',
    error: 'default_password',
    secret: 'Sup3rS3cret',
  },
  { name: '#3 ansible_become=maybe', inventory: set('ansible_become', 'maybe'), at: 'ansible_become=maybe', error: 'ansible_become must be true or false' },
  {
    name: '#3 stackplay_connect_timeout=abc',
    inventory: set('stackplay_connect_timeout', 'abc'),
    at: 'stackplay_connect_timeout=abc',
    error: 'stackplay_connect_timeout must be a whole number',
  },
  { name: '#3 stackplay_connect_timeout=0', inventory: set('stackplay_connect_timeout', '0'), at: 'stackplay_connect_timeout=0', error: 'must be at least 1' },
  {
    name: 'openstack_api_workers=0 (read on every release, though only uwsgi APIs use it)',
    inventory: set('openstack_api_workers', '0'),
    at: 'openstack_api_workers=0',
    error: 'openstack_api_workers must be at least 1',
  },
  { name: '#3 ansible_port out of range', inventory: set('ansible_port', '70000'), at: 'ansible_port=70000', error: 'ansible_port must be 1 to 65535' },
  {
    name: '#11 host key checking that is not a mode',
    inventory: set('stackplay_host_key_checking', 'no'),
    at: 'stackplay_host_key_checking=no',
    error: 'stackplay_host_key_checking must be one of accept-new, strict',
  },
  {
    name: '#4 a host range of ten million hosts',
    inventory: replace('[compute]', '[compute]\ncompute[0:9999999]'),
    at: 'compute[0:9999999]',
    error: 'more than 10000 hosts',
  },
  {
    name: '#5 host name with _ and capitals',
    inventory: replace('compute1 ansible_host', 'Compute_1 ansible_host'),
    at: 'Compute_1',
    error: 'invalid host name',
  },
  {
    name: '#5 a 100-character host name',
    inventory: replace('compute1 ansible_host', `${'c'.repeat(100)} ansible_host`),
    at: 'c'.repeat(100),
    error: 'host name too long',
  },
  {
    name: '#5 cinder_devices with a shell character',
    inventory: replace('cinder_devices=/dev/sdb', 'cinder_devices="/dev/sdb;rm"'),
    at: 'block1',
    error: 'unsupported device name',
  },
  { name: '#5 non-ASCII time_zone', inventory: set('time_zone', 'Europe/Zürich'), at: 'time_zone=', error: 'time_zone must be a time zone name' },
  {
    name: '#5 carriage return in default_password: refused, not echoed',
    inventory: replace('default_password=openstack', 'default_password=Sup3r\rS3cret'),
    at: 'default_password=',
    error: 'control character \\x0d',
    secret: 'S3cret',
  },
  {
    name: '#5 a secrets file that is a directory',
    prepare: async (base) => (await mkdir(`${base}.secrets.ini`), []),
    inventory: replace('default_password=openstack\n', ''),
    error: 'secrets file is not a regular file',
  },
  {
    name: '#12 a FIFO as inventory (or -i <(…))',
    prepare: async (_base, dir) => {
      const fifo = join(dir, `fifo-${Math.random().toString(36).slice(2)}.ini`);
      execFileSync('mkfifo', [fifo]);
      return ['-i', fifo];
    },
    error: 'inventory is not a regular file',
  },
  { name: '#6 --json into a missing directory', args: ['--json', '/nonexistent-dir/report.json'], error: /--json: .*does not exist/ },
  { name: '#6 --json naming a directory', prepare: async (_b, dir) => ['--json', dir], error: /--json: .*is a directory/ },
  {
    name: '#6 --plan into a directory holding something else',
    prepare: async (base) => {
      await mkdir(`${base}-notaplan`, { recursive: true });
      await writeFile(`${base}-notaplan/precious.txt`, 'keep me');
      return ['--plan', `${base}-notaplan`];
    },
    error: /--plan: .*not empty and holds no earlier plan/,
  },
  { name: '#7 carriage return in region', inventory: set('region', 'Region\rOne'), at: 'region=', error: 'control character \\x0d' },
  { name: '#7 NUL in region', inventory: set('region', 'Region\0One'), at: 'region=', error: 'control character \\x00' },
  { name: '#12 terminal escape in a value: refused, not echoed raw', inventory: set('region', 'Reg\x1b[31mion'), at: 'region=', error: 'Reg\\x1b[31mion' },
  { name: '#7 region with a space', inventory: set('region', '"Region One"'), at: 'region=', error: 'region must be a name of letters, digits' },
  {
    name: '#8 ansible_host=999.1.1.1',
    inventory: replace('ansible_host=host-31.invalid', 'ansible_host=999.1.1.1'),
    at: 'compute1',
    error: 'ansible_host must be an IPv4 address or a DNS name',
  },
  {
    name: '#8 two hosts with one address',
    inventory: replace('ansible_host=host-31.invalid', 'ansible_host=host-11.invalid'),
    at: 'compute1',
    error: 'hosts controller and compute1 have the same address',
  },
  {
    name: '#8 management_ip with a space (an extra /etc/hosts alias)',
    inventory: replace('compute1 ansible_host=host-31.invalid', 'compute1 ansible_host=host-31.invalid management_ip="10.0.0.31 evil"'),
    at: 'compute1',
    error: 'management_ip must be an IPv4 address',
  },
  {
    name: '#8 ntp_servers with a shell character',
    inventory: replace(/ntp_servers=.*/, 'ntp_servers=pool.ntp.org;reboot'),
    at: 'ntp_servers=',
    error: 'ntp_servers must list',
  },
  {
    name: '#8 controller_address that is no address',
    inventory: set('controller_address', '10.0.0.300'),
    at: 'controller_address=',
    error: 'controller_address must be an IPv4 address or a DNS name',
  },
  {
    name: '#9 a one-character default_password',
    inventory: replace('default_password=openstack', 'default_password=x'),
    at: 'default_password=x',
    error: 'at least 8 characters',
    secret: 'default_password=x',
  },
  {
    name: '#9 $ in default_password',
    inventory: replace('default_password=openstack', 'default_password=pa$$word1'),
    at: 'default_password=',
    error: "must not contain '$'",
    secret: 'pa$$word1',
  },
  {
    name: '#10 default_password set for a group, where it would be ignored',
    inventory: (t) => `${t}\n[compute:vars]\ndefault_password=Sup3rS3cret\n`,
    at: 'default_password=Sup3rS3cret',
    error: 'default_password is read from [all:vars] only',
    secret: 'Sup3rS3cret',
  },
  {
    name: '#10 a secrets file others can read',
    prepare: async (base) => (await writeFile(`${base}.secrets.ini`, 'nova_pass = Sup3rS3cret\n', { mode: 0o644 }), []),
    inventory: replace('default_password=openstack\n', ''),
    error: 'secrets file is readable by others (mode 0644)',
    secret: 'Sup3rS3cret',
  },
  {
    name: '#10 a secret set twice in the secrets file',
    prepare: async (base) => (await writeFile(`${base}.secrets.ini`, 'nova_pass = Sup3rS3cretA\nnova_pass = Sup3rS3cretB\n', { mode: 0o600 }), []),
    inventory: replace('default_password=openstack\n', ''),
    error: /secrets\.ini:2: secret nova_pass is set twice/,
    secret: 'Sup3rS3cret',
  },
  {
    name: '#11 a private key others can read (as OpenSSH refuses it)',
    prepare: async (base) => (await writeFile(`${base}.key`, 'not really a key\n', { mode: 0o644 }), []),
    inventory: (t) => set('ansible_ssh_private_key_file', 'KEYFILE')(t),
    real: true,
    at: 'ansible_ssh_private_key_file=',
    error: 'is readable by others (mode 0644); chmod 600 it',
  },
  { name: '#12 --tags naming no task', args: ['--tags', 'nosuchtag'], error: /--tags: no task of this run has tag nosuchtag/ },
  { name: '#12 --skip-tags naming no task', args: ['--skip-tags', 'config,nosuchtag'], error: /--skip-tags: no task of this run has tag nosuchtag/ },
  {
    name: '#8 libvirt_qemu_namespaces naming no namespace qemu.conf knows',
    inventory: set('libvirt_qemu_namespaces', 'mount,net'),
    at: 'libvirt_qemu_namespaces=',
    error: 'libvirt_qemu_namespaces may only list mount (not "net")',
  },
  { name: '#12 an inventory without hosts', inventory: () => '[all:vars]\nopenstack_release=juno\n', error: 'the inventory has no hosts' },
];

function sink(): { stream: Writable; text: () => string } {
  let text = '';
  return { stream: new Writable({ write: (c, _e, cb) => ((text += String(c)), cb()) }), text: () => text };
}

describe('bad input stops the run before any host is contacted (exit 5, file:line)', function () {
  this.timeout(60_000);
  let dir: string;
  before(async () => (dir = await mkdtemp(join(tmpdir(), 'sp-bad-'))));
  after(() => rm(dir, { recursive: true, force: true }));

  it(`covers at least 60 cases`, () => expect(CASES.length).to.be.at.least(60));

  CASES.forEach((c, i) => {
    it(c.name, async () => {
      const file = join(dir, `case-${i}.ini`);
      const text = (c.inventory ?? ((t: string) => t))(SEED).replace('KEYFILE', join(dir, `case-${i}.key`));
      await writeFile(file, text);
      const extra = (await c.prepare?.(join(dir, `case-${i}`), dir)) ?? [];
      const out = sink();
      const err = sink();
      const given = [...(c.args ?? []), ...extra];
      const args = [...(given.includes('-i') ? [] : ['-i', file]), ...given, ...(c.real || given.includes('--plan') ? [] : ['--plan', join(dir, `out-${i}`)])];
      const code = await runPlaybook(site, args, { stdout: out.stream, stderr: err.stream });
      expect(code, err.text() + out.text()).to.equal(EXIT_BAD_INPUT);
      expect(out.text(), 'nothing ran').not.to.contain('PLAY [');
      const message = err.text();
      if (c.secret) expect(message + out.text(), 'a secret in the output').not.to.contain(c.secret);
      expect(message, 'raw control characters in the message').not.to.match(/[\x00-\x09\x0b-\x1f\x7f]/);
      if (typeof c.error === 'string') expect(message).to.contain(c.error);
      else expect(message).to.match(c.error);
      if (c.at) {
        const lines = text.split('\n');
        const exact = lines.indexOf(c.at);
        const line = (exact >= 0 ? exact : lines.findIndex((l) => l.includes(c.at!))) + 1;
        expect(line, `fixture has ${c.at}`).to.be.greaterThan(0);
        expect(message).to.contain(`${file}:${line}:`);
      }
    });
  });
});

describe('--insecure-host-keys (issue 13 #11)', () => {
  it('warns that host keys are neither checked nor recorded', async function () {
    this.timeout(60_000);
    const dir = await mkdtemp(join(tmpdir(), 'sp-insecure-'));
    try {
      const file = join(dir, 'i.ini');
      await writeFile(file, SEED.replace('[all:vars]', '[all:vars]\nstackplay_connect_retries=0'));
      const out = sink();
      const err = sink();
      // The hosts do not resolve: the run ends unreachable (4), after the warning.
      const code = await runPlaybook(site, ['-i', file, '--insecure-host-keys', '--limit', 'controller'], { stdout: out.stream, stderr: err.stream });
      expect(code, err.text() + out.text()).to.equal(4);
      expect(err.text()).to.contain('warning: --insecure-host-keys: host keys are neither checked nor recorded');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
