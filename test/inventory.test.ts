import { expect } from 'chai';
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { InputError, InventoryError } from '../lib/core/errors.js';
import { Redactor } from '../lib/core/secret.js';
import { SecretStore } from '../lib/inventory/secrets-store.js';
import type { Inventory } from '../lib/inventory/inventory.js';
import { loadInventory, parseInventory, selectHosts } from '../lib/inventory/inventory.js';

const LAB = `# three-node Juno lab
[controller]
controller ansible_host=10.0.0.11 management_ip=10.0.0.11

[network]
network ansible_host=10.0.0.21 tunnel_ip=10.0.1.21 external_interface=eth2

[compute]
compute1 ansible_host=10.0.0.31 tunnel_ip=10.0.1.31 virt_type=kvm
compute2 ansible_host=10.0.0.32 "motd=hello world" note='a b' # trailing comment

[openstack:children]
controller
network
compute

[compute:vars]
virt_type=qemu
role=compute

[openstack:vars]
role=openstack
; semicolon comment
region="RegionOne"

[all:vars]
openstack_release=juno
default_password=openstack
role=any
`;

function values(vars: ReadonlyMap<string, { value: string }>): Record<string, string> {
  return Object.fromEntries([...vars].map(([k, v]) => [k, v.value]));
}

/** Parse `text` and return the InventoryError it raises. */
function parseError(text: string): InventoryError {
  try {
    parseInventory(text, 'hosts.ini');
  } catch (err) {
    expect(err).to.be.instanceOf(InventoryError);
    return err as InventoryError;
  }
  expect.fail(`expected an InventoryError for:\n${text}`);
}

describe('inventory', () => {
  describe('parsing the lab example', () => {
    let inv: Inventory;
    before(() => {
      inv = parseInventory(LAB, 'hosts.ini');
    });

    it('lists hosts in file order with their direct groups and source line', () => {
      expect([...inv.hosts.keys()]).to.deep.equal(['controller', 'network', 'compute1', 'compute2']);
      expect(inv.hosts.get('compute2')).to.deep.equal({
        name: 'compute2',
        groups: ['compute'],
        source: { file: 'hosts.ini', line: 10 },
      });
    });

    it('records groups with hosts, children, vars and source', () => {
      expect([...inv.groups.keys()]).to.deep.equal(['all', 'ungrouped', 'controller', 'network', 'compute', 'openstack']);
      const openstack = inv.groups.get('openstack')!;
      expect(openstack.hosts).to.deep.equal([]);
      expect(openstack.children).to.deep.equal(['controller', 'network', 'compute']);
      expect(openstack.source).to.deep.equal({ file: 'hosts.ini', line: 12 });
      expect(inv.groups.get('all')!.source.line).to.equal(26);
      expect(inv.groups.get('compute')!.vars.get('virt_type')).to.deep.equal({
        value: 'qemu',
        source: { file: 'hosts.ini', line: 18 },
      });
    });

    it('resolves group members through children', () => {
      expect(inv.groupHosts('openstack')).to.deep.equal(['controller', 'network', 'compute1', 'compute2']);
      expect(inv.groupHosts('compute')).to.deep.equal(['compute1', 'compute2']);
      expect(inv.groupHosts('all')).to.deep.equal(['controller', 'network', 'compute1', 'compute2']);
      expect(inv.groupHosts('ungrouped')).to.deep.equal([]);
      expect(() => inv.groupHosts('storage')).to.throw(InventoryError, 'unknown group: `storage`');
    });

    it('lists every group of a host, plus all', () => {
      expect(inv.hostGroups('compute1')).to.deep.equal(['all', 'compute', 'openstack']);
      expect(inv.hostGroups('controller')).to.deep.equal(['all', 'controller', 'openstack']);
    });

    it('applies precedence host > child group > parent group > all', () => {
      const vars = inv.hostVars('compute1');
      expect(vars.get('virt_type')!.value).to.equal('kvm'); // host beats [compute:vars]
      expect(vars.get('virt_type')!.source).to.deep.equal({ file: 'hosts.ini', line: 9 });
      expect(vars.get('role')!.value).to.equal('compute'); // child beats parent and all
      expect(inv.hostVars('network').get('role')!.value).to.equal('openstack'); // parent beats all
      expect(vars.get('openstack_release')!.source).to.deep.equal({ file: 'hosts.ini', line: 27 });
      expect(values(inv.hostVars('compute2'))).to.deep.equal({
        openstack_release: 'juno',
        default_password: 'openstack',
        role: 'compute',
        region: 'RegionOne',
        virt_type: 'qemu',
        ansible_host: '10.0.0.32',
        motd: 'hello world',
        note: 'a b',
      });
    });
  });

  describe('parsing details', () => {
    it('puts hosts before any header (or under [all]) in ungrouped, unless grouped elsewhere', () => {
      const inv = parseInventory('lonely\nboth\n[all]\nalso\n[web]\nboth\n', 'h');
      expect(inv.groups.get('ungrouped')!.hosts).to.deep.equal(['lonely', 'also']);
      expect(inv.hosts.get('both')!.groups).to.deep.equal(['web']);
      expect(inv.hostGroups('lonely')).to.deep.equal(['all', 'ungrouped']);
    });

    it('expands numeric, zero-padded, stepped and alphabetic ranges', () => {
      const inv = parseInventory('[c]\ncompute[01:03] virt_type=qemu\nweb[1:5:2]\ndb-[a:c]-[1:2]\n', 'h');
      expect([...inv.hosts.keys()]).to.deep.equal([
        'compute01',
        'compute02',
        'compute03',
        'web1',
        'web3',
        'web5',
        'db-a-1',
        'db-a-2',
        'db-b-1',
        'db-b-2',
        'db-c-1',
        'db-c-2',
      ]);
      expect(inv.hostVars('compute02').get('virt_type')!.value).to.equal('qemu');
    });

    it('reads host:port as ansible_port and a host on several lines merges its vars', () => {
      const inv = parseInventory('[a]\nweb1:2222 x=1\n[b]\nweb1 y=2\n[c]\nweb1 x=1\n', 'h');
      expect(values(inv.hostVars('web1'))).to.deep.equal({ ansible_port: '2222', x: '1', y: '2' });
      expect(inv.hosts.get('web1')!.groups).to.deep.equal(['a', 'b', 'c']);
    });

    it('handles quotes, escapes, CRLF and an empty group that only has vars', () => {
      const text = '[a]\r\nh1 p="x\\"y # z" q=\'it s\' r=a\\ b\r\n[empty:vars]\r\nk = "v w" \r\n';
      const inv = parseInventory(text, 'h');
      expect(values(inv.hostVars('h1'))).to.deep.equal({ p: 'x"y # z', q: 'it s', r: 'a b' });
      expect(inv.groupHosts('empty')).to.deep.equal([]);
      expect(inv.groups.get('empty')!.vars.get('k')!.value).to.equal('v w');
    });

    it('sorts unrelated groups by depth, then ansible_group_priority, then name', () => {
      const inv = parseInventory(
        '[zeta]\nh\n[alpha]\nh\n[deep]\nh\n[mid:children]\ndeep\n[zeta:vars]\nx=zeta\ny=zeta\n[alpha:vars]\nx=alpha\ny=alpha\nansible_group_priority=5\n[deep:vars]\nz=deep\n[mid:vars]\nz=mid\n',
        'h',
      );
      const vars = values(inv.hostVars('h'));
      expect(vars.x).to.equal('alpha'); // priority 5 beats name order
      expect(vars.z).to.equal('deep'); // deeper group wins
      expect(vars).to.not.have.property('ansible_group_priority');
    });
  });

  describe('selectHosts', () => {
    let inv: Inventory;
    before(() => {
      inv = parseInventory(LAB, 'hosts.ini');
    });

    it('selects groups, hosts and all, in inventory order', () => {
      expect(selectHosts(inv, 'all')).to.have.length(4);
      expect(selectHosts(inv, 'compute')).to.deep.equal(['compute1', 'compute2']);
      expect(selectHosts(inv, 'compute2,controller')).to.deep.equal(['controller', 'compute2']);
      expect(selectHosts(inv, 'network:compute1')).to.deep.equal(['network', 'compute1']);
    });

    it('matches globs and regexes against host and group names', () => {
      expect(selectHosts(inv, 'comp*')).to.deep.equal(['compute1', 'compute2']);
      expect(selectHosts(inv, 'open*')).to.deep.equal(['controller', 'network', 'compute1', 'compute2']);
      expect(selectHosts(inv, 'compute?')).to.deep.equal(['compute1', 'compute2']);
      expect(selectHosts(inv, '~^(net|con)')).to.deep.equal(['controller', 'network']);
    });

    it('applies ! exclusion and & intersection regardless of position', () => {
      expect(selectHosts(inv, '!compute1,openstack')).to.deep.equal(['controller', 'network', 'compute2']);
      expect(selectHosts(inv, 'openstack:!compute')).to.deep.equal(['controller', 'network']);
      expect(selectHosts(inv, 'openstack:&compute:!compute2')).to.deep.equal(['compute1']);
      expect(selectHosts(inv, '!controller')).to.deep.equal(['network', 'compute1', 'compute2']);
      expect(selectHosts(inv, 'controller:&compute')).to.deep.equal([]);
    });

    it('supports subscripts', () => {
      expect(selectHosts(inv, 'openstack[0]')).to.deep.equal(['controller']);
      expect(selectHosts(inv, 'openstack[-1]')).to.deep.equal(['compute2']);
      expect(selectHosts(inv, 'openstack[1:2]')).to.deep.equal(['network', 'compute1']);
    });

    it('rejects names that match nothing', () => {
      expect(() => selectHosts(inv, 'compute,storage')).to.throw(InventoryError, '--limit: host pattern matches no host or group: `storage`');
      expect(() => selectHosts(inv, 'all:!compute3')).to.throw(InventoryError, '`compute3`');
      expect(() => selectHosts(inv, 'stor*')).to.throw(InventoryError, '`stor*`');
      expect(() => selectHosts(inv, ' , ')).to.throw(InventoryError, 'empty host pattern');
      expect(() => selectHosts(inv, 'web', { file: 'site.yml', line: 3 })).to.throw(InventoryError, 'site.yml:3: host pattern matches no host or group: `web`');
    });
  });

  describe('malformed input', () => {
    const cases: Array<[string, string, number, string]> = [
      ['malformed header', '[web]\nh1\n[web\n', 3, 'malformed section header, expected [group], [group:vars] or [group:children]: `[web`'],
      ['header with junk after it', '[web] extra\n', 1, 'malformed section header'],
      ['unknown section suffix', '[web]\nh1\n\n[web:foo]\n', 4, "unknown section type ':foo', expected :vars or :children: `[web:foo]`"],
      ['vars line without =', '[all:vars]\na=1\nbroken line\n', 3, '[all:vars] entry must be key=value: `broken line`'],
      ['vars line with empty key', '[all:vars]\n = 1\n', 2, 'variable has an empty name: `= 1`'],
      ['vars key set twice in a group', '[g:vars]\nx=1\n[g:vars]\nx=2\n', 4, "variable 'x' of group 'g' already set at line 2: `x=2`"],
      ['host var without =', '[web]\nh1 a=1 oops\n', 2, 'host variable must be key=value: `oops`'],
      ['host var with empty key', '[web]\nh1 =1\n', 2, 'host variable has an empty name: `=1`'],
      ['invalid variable name', '[web]\nh1 my-var=1\n', 2, "invalid variable name 'my-var'"],
      ['invalid host name', '[web]\nweb$1\n', 2, "invalid host name 'web$1' (use letters, digits, '.', '_' and '-'): `web$1`"],
      ['duplicate var on one host line', '[web]\nh1 port=1 port=2\n', 2, "variable 'port' set twice on one host line: `port=2`"],
      ['host twice in a group', '[web]\nh1\nh2\nh1\n', 4, "host 'h1' listed twice in group 'web' (first at line 2): `h1`"],
      ['host twice in a group via a range', '[web]\nweb2\nweb[1:3]\n', 3, "host 'web2' listed twice in group 'web'"],
      ['conflicting host var across lines', '[a]\nh1 x=1\n[b]\nh1 x=2\n', 4, "host 'h1' variable 'x' already set to a different value at line 2: `x=2`"],
      [
        'children naming an undefined group',
        '[os:children]\ncontroller\ncompute\n[controller]\nc1\n',
        3,
        "[os:children] names undefined group 'compute': `compute`",
      ],
      [
        'children naming a host',
        '[compute]\ncompute1\n[os:children]\ncompute1\n',
        4,
        "[os:children] names undefined group 'compute1' ('compute1' is a host: list hosts under [os], not [os:children]): `compute1`",
      ],
      ['children cycle', '[a:children]\nb\n[b:children]\nc\n[c:children]\na\n', 6, '[c:children] creates a cycle a -> b -> c -> a: `a`'],
      ['group as its own child', '[a:children]\na\n', 2, "group 'a' cannot be its own child: `a`"],
      ['all as a child', '[a:children]\nall\n', 2, "'all' is built in and cannot be a child group: `all`"],
      ['children of all', '[all:children]\nweb\n', 1, "'all' is built in and cannot have children: `[all:children]`"],
      ['invalid group name', '[web$]\n', 1, "invalid group name 'web$'"],
      ['child line with two names', '[a:children]\nb c\n', 2, '[a:children] takes one group name per line: `b c`'],
      ['unterminated quote', '[web]\nh1 motd="hello\n', 2, 'unterminated " quote: `"hello`'],
      ['# glued to a value', '[web]\nh1 pass=ab#cd\n', 2, "unquoted '#' inside a value starts a comment; quote the value: `pass=***`"],
      ['range with start after end', '[web]\nweb[5:1]\n', 2, 'host range start is after its end: `web[5:1]`'],
      ['padded range of unequal width', '[web]\nweb[01:100]\n', 2, 'zero-padded host range needs start and end of equal width'],
      ['unbalanced range', '[web]\nweb[1:3\n', 2, "unbalanced '[' in host range: `web[1:3`"],
      ['bad port', '[web]\nweb1:ssh\n', 2, 'port after host name must be 1-65535: `web1:ssh`'],
      ['host named all', '[web]\nall\n', 2, "'all' is a built-in group name and cannot be a host"],
      ['non-integer group priority', '[web]\nh\n[web:vars]\nansible_group_priority=high\n', 4, 'ansible_group_priority must be an integer: `high`'],
    ];
    for (const [title, text, line, message] of cases) {
      it(`rejects ${title} at line ${line}`, () => {
        const err = parseError(text);
        expect(err).to.be.instanceOf(InputError);
        expect(err.name).to.equal('InventoryError');
        expect(err.file).to.equal('hosts.ini');
        expect(err.line).to.equal(line);
        expect(err.message).to.contain(`hosts.ini:${line}: ${message}`);
      });
    }
  });

  describe('loadInventory', () => {
    let dir: string;
    before(async () => {
      dir = await mkdtemp(join(tmpdir(), 'stackplay-inv-'));
    });
    after(async () => {
      await rm(dir, { recursive: true, force: true });
    });

    it('reads and parses a file, naming it in sources', async () => {
      const path = join(dir, 'hosts');
      await writeFile(path, LAB);
      const inv = await loadInventory(path);
      expect(inv.file).to.equal(path);
      expect(inv.hosts.get('network')!.source).to.deep.equal({ file: path, line: 6 });
    });

    it('reports a missing file by name', async () => {
      const path = join(dir, 'nope');
      try {
        await loadInventory(path);
        expect.fail('expected an error');
      } catch (err) {
        expect(err).to.be.instanceOf(InventoryError);
        expect((err as Error).message).to.equal(`${path}: inventory file not found`);
      }
    });
  });
});

describe('secrets file', () => {
  it('of two first runs at once, the second to save stops instead of replacing the secrets the first handed out', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'sp-race-'));
    try {
      const a = SecretStore.besideInventory(join(dir, 'lab.ini'), new Redactor());
      const b = SecretStore.besideInventory(join(dir, 'lab.ini'), new Redactor());
      const first = a.get('nova_pass').reveal();
      b.get('nova_pass');
      await a.save();
      await b.save().then(
        () => expect.fail('the second save replaced the first run’s secrets'),
        (error: unknown) => expect(String(error)).to.match(/another run wrote the secrets file meanwhile/),
      );
      expect(await readFile(join(dir, 'lab.secrets.ini'), 'utf8')).to.contain(`nova_pass = ${first}`);
      expect((await stat(join(dir, 'lab.secrets.ini'))).mode & 0o777).to.equal(0o600);
      expect((await readdir(dir)).filter((f) => f.includes('.tmp-'))).to.deep.equal([]);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
