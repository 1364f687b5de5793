import { expect } from 'chai';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
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

  it(`covers at least 30 cases`, () => expect(CASES.length).to.be.at.least(30));

  CASES.forEach((c, i) => {
    it(c.name, async () => {
      const file = join(dir, `case-${i}.ini`);
      const text = (c.inventory ?? ((t: string) => t))(SEED);
      await writeFile(file, text);
      const out = sink();
      const err = sink();
      const args = c.args?.includes('-i') ? c.args : ['-i', file, ...(c.args ?? [])];
      const code = await runPlaybook(site, [...args, '--plan', join(dir, `out-${i}`)], { stdout: out.stream, stderr: err.stream });
      expect(code, err.text() + out.text()).to.equal(EXIT_BAD_INPUT);
      expect(out.text(), 'nothing ran').not.to.contain('PLAY [');
      const message = err.text();
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
