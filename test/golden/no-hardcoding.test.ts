import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import { site } from '../../playbooks/site.js';
import { planSite, type HostPlan, type SitePlan } from '../support/plan.js';

/**
 * Issue 4's proof that nothing is hard-coded: the Juno site planned on seed
 * 004's inventory and on one with other host names, addresses, password and
 * a second compute node. Mapping the variant's values back must give, byte
 * for byte, the same files and commands on every host; the second compute
 * node must be the first one with its own name and addresses.
 */
const BASE = readFileSync('hosts/juno.ini', 'utf8');

/** variant value → seed value, applied longest first. */
const RENAMES: ReadonlyArray<readonly [string, string]> = [
  ['ctl-a7', 'controller'],
  ['net-b8', 'network'],
  ['cmp-c9', 'compute1'],
  ['blk-d0', 'block1'],
  ['172.20.5.11', '10.0.0.11'],
  ['172.20.5.21', '10.0.0.21'],
  ['172.20.6.21', '10.0.1.21'],
  ['172.20.5.31', '10.0.0.31'],
  ['172.20.6.31', '10.0.1.31'],
  ['172.20.5.41', '10.0.0.41'],
  ['Variant-Pw-314', 'openstack'],
];

const VARIANT = BASE.replace(/^controller ansible_host=10\.0\.0\.11/m, 'ctl-a7 ansible_host=172.20.5.11')
  .replace(/^network ansible_host=10\.0\.0\.21 tunnel_ip=10\.0\.1\.21/m, 'net-b8 ansible_host=172.20.5.21 tunnel_ip=172.20.6.21')
  .replace(
    /^compute1 ansible_host=10\.0\.0\.31 tunnel_ip=10\.0\.1\.31/m,
    'cmp-c9 ansible_host=172.20.5.31 tunnel_ip=172.20.6.31\ncmp-e1 ansible_host=172.20.5.32 tunnel_ip=172.20.6.32',
  )
  .replace(/^block1 ansible_host=10\.0\.0\.41/m, 'blk-d0 ansible_host=172.20.5.41')
  .replace(/^default_password=openstack$/m, 'default_password=Variant-Pw-314');

const back = (text: string, extra: ReadonlyArray<readonly [string, string]> = []): string =>
  [...extra, ...RENAMES].reduce((t, [from, to]) => t.split(from).join(to), text);

/** /etc/hosts lists every inventory host: drop the second compute node's line before comparing. */
const withoutSecondCompute = (path: string, text: string): string => (path === '/etc/hosts' ? text.replace(/^172\.20\.5\.32 cmp-e1\n/m, '') : text);

function mapped(plan: HostPlan, extra: ReadonlyArray<readonly [string, string]> = []): { files: Record<string, string>; commands: string[] } {
  return {
    files: Object.fromEntries([...plan.files].map(([p, t]) => [back(p, extra), back(withoutSecondCompute(p, t), extra)])),
    commands: plan.commands.map((c) => back(c, extra)),
  };
}

const plain = (plan: HostPlan) => ({ files: Object.fromEntries(plan.files), commands: [...plan.commands] });

describe('golden: nothing is hard-coded (juno site on renamed, readdressed hosts with another password)', function () {
  this.timeout(120_000);
  let seed: SitePlan;
  let variant: SitePlan;

  before(async () => {
    expect(VARIANT)
      .to.contain('cmp-e1')
      .and.contain('Variant-Pw-314')
      .and.not.match(/^controller /m);
    seed = await planSite(site, BASE, { text: true });
    variant = await planSite(site, VARIANT, { text: true });
  });

  it('both plans converge and are idempotent, with real content to compare', () => {
    expect(seed.hosts.get('controller')!.files.size).to.be.greaterThan(15);
    expect(seed.hosts.get('controller')!.commands.length).to.be.greaterThan(50);
    expect(seed.hosts.get('compute1')!.files.size).to.be.greaterThan(5);
    for (const p of [seed, variant]) {
      expect(p.first.exitCode).to.equal(0);
      expect([...p.second.recap.values()].every((r) => r.changed === 0)).to.equal(true);
    }
  });

  for (const [name, seedName] of [
    ['ctl-a7', 'controller'],
    ['net-b8', 'network'],
    ['cmp-c9', 'compute1'],
    ['blk-d0', 'block1'],
  ] as const) {
    it(`${name} differs from seed 004's ${seedName} in exactly the renamed values`, () => {
      expect(mapped(variant.hosts.get(name)!)).to.deep.equal(plain(seed.hosts.get(seedName)!));
    });
  }

  it('the second compute node is the first one with its own name and addresses', () => {
    const second = mapped(variant.hosts.get('cmp-e1')!, [
      ['cmp-e1', 'compute1'],
      ['172.20.5.32', '10.0.0.31'],
      ['172.20.6.32', '10.0.1.31'],
    ]);
    expect(second).to.deep.equal(plain(seed.hosts.get('compute1')!));
  });

  it('the variant plan never mentions a seed host name, address or the seed password', () => {
    const all = [...variant.hosts.values()].flatMap((h) => [...h.files.values(), ...h.files.keys(), ...h.commands]).join('\n');
    for (const value of ['10.0.0.11', '10.0.0.21', '10.0.1.21', '10.0.0.31', '10.0.1.31', '10.0.0.41']) expect(all).not.to.contain(value);
    for (const word of ['controller', 'compute1', 'block1']) expect(all).not.to.match(new RegExp(`(?<![\\w.-])${word}(?![\\w.-])`));
    expect(all).not.to.match(/:openstack@|password = openstack\b|_password = openstack\b/);
  });
});
