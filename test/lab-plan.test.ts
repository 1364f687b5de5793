/**
 * The lab's plan of the external network's links (lab/plan.ts), without
 * touching the machine: neutron's link (provider_interface) carries no
 * address; a client's (external_ip) carries one, checked against
 * external_cidr before anything is built.
 */
import { expect } from 'chai';
import { parseInventory } from '../lib/inventory/inventory.js';
import { planLab } from '../lab/plan.js';

const inventory = (hostVars: string, allVars = 'external_cidr=198.51.100.0/24\nexternal_gateway=198.51.100.1') =>
  parseInventory(
    `[all]
net1 ansible_host=10.42.0.12 provider_interface=eth1
ctl1 ansible_host=10.42.0.11 ${hostVars}

[all:vars]
ansible_ssh_private_key_file=.lab/id_ed25519
${allVars}
`,
    'lab-plan.ini',
  );

describe('lab plan: links to the external network', () => {
  it('gives an external_ip host eth1 with that address and the prefix of external_cidr; neutron’s link gets none', () => {
    const plan = planLab(inventory('external_ip=198.51.100.2'));
    const [net1, ctl1] = plan.hosts;
    expect(net1?.external).to.deep.equal({ link: 'eth1', vethHost: 'sx-net1' });
    expect(ctl1?.external).to.deep.equal({ link: 'eth1', vethHost: 'sx-ctl1', address: '198.51.100.2' });
    expect(plan.external?.gateway).to.deep.equal({ ip: '198.51.100.1', prefix: 24 });
  });

  it('refuses an external_ip outside external_cidr, on the gateway, or on a host that is also neutron’s link', () => {
    expect(() => planLab(inventory('external_ip=198.51.101.2'))).to.throw(
      "host 'ctl1': external_ip=198.51.101.2 is not a free host address in external_cidr 198.51.100.0/24",
    );
    expect(() => planLab(inventory('external_ip=198.51.100.1'))).to.throw('is not a free host address');
    expect(() => planLab(inventory('external_ip=198.51.100.255'))).to.throw('is not a free host address');
    expect(() => planLab(inventory('external_ip=controller'))).to.throw("host 'ctl1': external_ip=controller is not an IPv4 address (lab-plan.ini:3)");
    expect(() => planLab(inventory('external_ip=198.51.100.2 provider_interface=eth2'))).to.throw(
      "host 'ctl1': external_ip=198.51.100.2 and provider_interface=eth2: a host is either neutron's link to the external network or a client on it (lab-plan.ini:3)",
    );
  });

  it('needs external_cidr and external_gateway for an external_ip host', () => {
    expect(() => planLab(inventory('external_ip=198.51.100.2', ''))).to.throw('set external_cidr and external_gateway in [all:vars]');
  });
});
