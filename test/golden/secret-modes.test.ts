import { expect } from 'chai';
import { describeStep } from '../../lib/core/runtime.js';
import type { ApiFact } from '../../lib/core/task.js';
import { site } from '../../playbooks/site.js';
import { iniFromFact } from '../../roles/neutron/tasks.js';
import { planSite, type FileAttributes, type SitePlan } from '../support/plan.js';
import { expectIdempotent } from '../support/golden.js';
import { converge, planOn, simHost } from '../support/sim.js';
import { inventoryWithPassword } from '../support/seed-sites.js';

/**
 * Every file the site writes that holds a secret (a database URL, a service
 * password, the admin token, the metadata secret) is root's, readable by the
 * service's group at most, and by nobody else: planned offline on every seed
 * inventory with every secret equal to one distinctive password, so a file
 * holds a secret exactly when it contains that password.
 */

/** Distinct from every word in the plans: a file containing it holds a secret. */
const PASSWORD = 'Wm5-seed-pw-73b1';

const INVENTORIES = ['hosts/juno.ini', 'hosts/liberty-ubuntu.ini', 'hosts/liberty-centos.ini', 'hosts/allinone.ini', 'hosts/lab.ini'] as const;

/** The group that may read a secret-holding file, by directory: the service's own (the same name on every OS family). */
const SERVICE_GROUP: readonly (readonly [string, string])[] = [
  ['/etc/keystone/', 'keystone'],
  ['/etc/glance/', 'glance'],
  ['/etc/nova/', 'nova'],
  ['/etc/placement/', 'placement'],
  ['/etc/neutron/', 'neutron'],
  ['/etc/cinder/', 'cinder'],
  ['/etc/heat/', 'heat'],
  ['/etc/ceilometer/', 'ceilometer'],
];

/** What is wrong with a secret-holding file's attributes (null: 0640 or stricter, root's, readable only by its service's group). */
function secretFileProblem(path: string, a: FileAttributes): string | null {
  const mode = parseInt(a.mode, 8);
  const problems: string[] = [];
  if (a.owner !== 'root') problems.push(`owner ${a.owner}, not root`);
  if (mode & 0o007) problems.push(`others have access (mode ${a.mode})`);
  if (mode & 0o020) problems.push(`its group may write it (mode ${a.mode})`);
  if (mode & 0o070) {
    const want = SERVICE_GROUP.find(([dir]) => path.startsWith(dir))?.[1];
    if (want === undefined) problems.push(`group ${a.group} may read it, and no service owns ${path} (mode ${a.mode})`);
    else if (a.group !== want) problems.push(`group ${a.group} may read it, not the service's group ${want} (mode ${a.mode})`);
  }
  return problems.length === 0 ? null : `${path} ${a.mode} ${a.owner}:${a.group}: ${problems.join('; ')}`;
}

describe('golden: files holding secrets are 0640 root:<service> or stricter', function () {
  this.timeout(120000);
  const plans = new Map<string, Promise<SitePlan>>();
  const plan = (inventory: string): Promise<SitePlan> => {
    let p = plans.get(inventory);
    if (!p) plans.set(inventory, (p = planSite(site, inventoryWithPassword(inventory, PASSWORD), { text: true })));
    return p;
  };

  for (const inventory of INVENTORIES) {
    it(`${inventory}: every file holding a secret, on every host`, async () => {
      const p = await plan(inventory);
      expectIdempotent(p);
      const problems: string[] = [];
      const secretFiles = new Set<string>();
      for (const [host, h] of p.hosts) {
        for (const [path, content] of h.files) {
          if (!content.includes(PASSWORD)) continue;
          secretFiles.add(path);
          const attributes = h.attributes.get(path);
          if (!attributes) throw new Error(`${host}: ${path} has no attributes`);
          const problem = secretFileProblem(path, attributes);
          if (problem) problems.push(`${host}: ${problem}`);
        }
      }
      // Not vacuous: the services' main config files are among them on every site.
      expect([...secretFiles]).to.include.members([
        '/etc/keystone/keystone.conf',
        '/etc/nova/nova.conf',
        '/etc/neutron/neutron.conf',
        '/etc/glance/glance-api.conf',
      ]);
      expect(problems).to.deep.equal([]);
    });
  }

  it('accepts 0640 root:<service> and 0600 root:root, refuses the rest', () => {
    expect(secretFileProblem('/etc/nova/nova.conf', { mode: '0640', owner: 'root', group: 'nova' })).to.equal(null);
    expect(secretFileProblem('/root/admin-openrc.sh', { mode: '0600', owner: 'root', group: 'root' })).to.equal(null);
    expect(secretFileProblem('/etc/nova/nova.conf', { mode: '0644', owner: 'root', group: 'root' })).to.match(/others have access/);
    expect(secretFileProblem('/etc/nova/nova.conf', { mode: '0640', owner: 'root', group: 'root' })).to.match(/not the service's group nova/);
    expect(secretFileProblem('/etc/nova/nova.conf', { mode: '0660', owner: 'root', group: 'nova' })).to.match(/may write/);
    expect(secretFileProblem('/etc/nova/nova.conf', { mode: '0640', owner: 'nova', group: 'nova' })).to.match(/owner nova/);
    expect(secretFileProblem('/etc/misc.conf', { mode: '0640', owner: 'root', group: 'adm' })).to.match(/no service owns/);
  });

  it("an existing neutron.conf left 0644 root:root (Juno's ini from keystone's tenant id) is set back to 0640 root:neutron", async () => {
    const { sim, rt } = simHost();
    const fact: ApiFact<string> = { kind: 'api', run: () => Promise.resolve('tenant-id') };
    const task = iniFromFact({
      path: '/etc/neutron/neutron.conf',
      fact,
      settings: (id: string) => ({ DEFAULT: { nova_admin_tenant_id: id } }),
      sections: ['DEFAULT'],
      mode: '0640',
      owner: 'root',
      group: 'neutron',
    });
    sim.writeFile('/etc/neutron/neutron.conf', '[DEFAULT]\nnova_admin_tenant_id = tenant-id\n', { mode: '0644', owner: 'root', group: 'root' });
    const fix = await planOn(rt, task);
    expect(fix.action === 'change' ? fix.steps.map(describeStep) : fix.action).to.deep.equal([
      'chown root:neutron /etc/neutron/neutron.conf',
      'chmod 0640 /etc/neutron/neutron.conf',
    ]);
    await converge(rt, task);
    expect((await planOn(rt, task)).action).to.equal('none');
  });
});
