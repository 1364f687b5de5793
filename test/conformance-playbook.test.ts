/**
 * playbooks/conformance.ts planned offline on the lab's inventory (the real
 * run is `make conformance`, ~25 min on the lab): what it writes on the
 * Tempest host, that tempest.conf says what the required tests need, and
 * that a second run plans no change there. Juno is refused before any host
 * is touched: Tempest 33 judges Zed.
 */
import { expect } from 'chai';
import { conformance, FLAVORS, WORKSPACE } from '../playbooks/conformance.js';
import { planSite } from './support/plan.js';

describe('conformance playbook (planned on hosts/lab.ini)', () => {
  it('installs tempest, writes an anchored include list and a 0600 tempest.conf for the lab, and runs the required tests', async () => {
    const plan = await planSite(conformance, 'hosts/lab.ini');
    const controller = plan.hosts.get('controller')!;
    const conf = controller.ini(`${WORKSPACE}/etc/tempest.conf`);
    expect(controller.attributes.get(`${WORKSPACE}/etc/tempest.conf`)?.mode).to.equal('0600');
    expect(conf.get('compute')?.get('flavor_ref')).to.equal(FLAVORS[0].id);
    expect(conf.get('compute')?.get('flavor_ref_alt')).to.equal(FLAVORS[1].id);
    expect(conf.get('compute')?.get('max_microversion')).to.equal('2.93');
    expect(conf.get('identity')?.get('uri_v3')).to.equal('http://controller:5000/v3');
    expect(conf.get('validation')?.get('ssh_key_type')).to.equal('rsa');
    expect(conf.get('validation')?.get('connect_method')).to.equal('floating');
    expect(conf.get('service_available')?.get('neutron')).to.equal('true');
    expect(conf.get('service_available')?.get('swift')).to.equal('false');
    // The simulated block host cannot tell whether it has device-mapper: the volume tests run.
    expect(conf.get('service_available')?.get('cinder')).to.equal('true');
    const list = controller.files.get(`${WORKSPACE}/etc/required.txt`)!.trim().split('\n');
    // One anchored expression per required test (a simulated host lists no Tempest tests: each by its name).
    expect(list).to.have.length(228);
    expect(list.every((l) => l.startsWith('^tempest\\.api\\.') && l.endsWith('(\\[|$)'))).to.equal(true);
    expect(controller.commands.some((c) => c.includes('tempest run --config-file') && c.includes('--concurrency 2'))).to.equal(true);
    expect(plan.first.exitCode).to.equal(0);
    const changedAgain = plan.secondResults.filter((r) => r.status === 'changed' && r.host === 'controller' && !r.task.startsWith('tempest run'));
    expect(changedAgain.map((r) => r.task)).to.deep.equal([]);
  });

  it('refuses a release Tempest 33 cannot judge, naming the variable', async () => {
    let error: unknown;
    await planSite(conformance, 'hosts/juno.ini').catch((e: unknown) => (error = e));
    expect(String(error)).to.include(
      "hosts/juno.ini:17: host controller: openstack_release must be zed for conformance (Debian 12's Tempest 33 judges Zed): `openstack_release=juno`",
    );
  });
});
