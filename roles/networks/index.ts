import { openstackPlaybook } from '../../openstack/playbook.js';
import { isMain, main } from '../../lib/cli/cli.js';
import { OpenStackHost } from '../../openstack/host.js';
import { defineRole, type HostContext, type Play } from '../../lib/core/playbook.js';
import type { Task } from '../../lib/core/task.js';
import type { NeutronApi } from '../../openstack/neutron/client.js';
import {
  neutronNetwork,
  neutronRouter,
  neutronRouterGateway,
  neutronRouterInterface,
  neutronSecurityGroupRule,
  neutronSubnet,
} from '../../openstack/neutron/tasks.js';
import { defaultPhysnet, networkMode } from '../../openstack/topology.js';

/**
 * The initial networks, through the neutron API from the controller, after
 * everything else is installed:
 *
 * - self-service modes (seed 004 §8.4, seed 000, seeds 001/002): the
 *   external network `ext-net` (flat, router:external) with `ext-subnet`
 *   (floating IP pool, no DHCP), the demo project's `demo-net` +
 *   `demo-subnet`, and `demo-router` with an interface on demo-subnet and
 *   its gateway on ext-net;
 * - linuxbridge-flat (seed 003 §4): one shared provider network `flat`
 *   with DHCP and an allocation pool, no router;
 * - in every mode, ICMP and SSH from anywhere in the demo project's
 *   `default` security group (seed 001; seed 003's `nova secgroup-add-rule`).
 *
 * Inventory variables: `external_cidr`, `external_gateway`, `floating_start`,
 * `floating_end` (required: the external or provider subnet and its pool),
 * `external_dns`, `external_shared`, `external_network` / `external_subnet`
 * (names), `demo_project`, `demo_network`, `demo_subnet`, `demo_cidr`
 * (192.168.1.0/24), `demo_gateway`, `demo_dns`, `demo_router`, `admin_project`.
 */

/** Neutron on the controller, with a token of the admin user (Juno: v2.0 on 35357; Liberty: v3 on 35357; Zed: v3 on 5000). */
export function neutronApi(o: OpenStackHost): NeutronApi {
  return {
    host: o.controller,
    port: o.ctx.vars.int('neutron_port', 9696),
    identity: {
      version: o.profile.identityApi,
      host: o.controller,
      port: o.profile.keystoneAdminPort,
      username: 'admin',
      password: o.secret('admin_pass'),
      project: o.ctx.vars.str('admin_project', 'admin'),
    },
  };
}

export function networks(ctx: HostContext) {
  const o = new OpenStackHost(ctx);
  // One controller talks to the API; the resources are global.
  if (ctx.inventory.groupHosts('controller')[0] !== ctx.host) return defineRole('networks').tasks([]);
  const v = ctx.vars;
  const mode = networkMode(v, o.release);
  const api = neutronApi(o);
  const tags = { tags: ['networks'] };
  const adminProject = v.str('admin_project', 'admin');
  const demoProject = v.str('demo_project', 'demo');
  const physnet = v.str('physical_network', defaultPhysnet(o.release, mode));
  const flat = mode.mode === 'linuxbridge-flat';

  const extNet = v.str('external_network', flat ? 'flat' : 'ext-net');
  const extSubnet = v.str('external_subnet', flat ? 'flat-subnet' : 'ext-subnet');
  const external = {
    cidr: v.str('external_cidr'),
    gateway: v.ipv4('external_gateway'),
    pool: { start: v.ipv4('floating_start'), end: v.ipv4('floating_end') },
    dns: v.list('external_dns'),
  };

  const tasks: Task[] = [
    neutronNetwork(
      api,
      {
        name: extNet,
        project: adminProject,
        // Seed 004 (Juno) leaves ext-net unshared; the Liberty and Zed guides create it with --shared,
        // and seed 003's provider network is shared so every project can boot on it.
        shared: v.bool('external_shared', flat || o.release !== 'juno'),
        external: !flat,
        provider: { type: 'flat', physicalNetwork: physnet },
      },
      tags,
    ),
    neutronSubnet(
      api,
      {
        name: extSubnet,
        network: extNet,
        project: adminProject,
        cidr: external.cidr,
        gateway: external.gateway,
        // Floating IPs need no DHCP (seed 004 --disable-dhcp); instances on seed 003's flat network do.
        enableDhcp: flat,
        allocationPool: external.pool,
        dnsNameservers: external.dns,
      },
      tags,
    ),
  ];

  if (!flat) {
    const demoNet = v.str('demo_network', 'demo-net');
    const demoSubnet = v.str('demo_subnet', 'demo-subnet');
    const demoRouter = v.str('demo_router', 'demo-router');
    const demoCidr = v.str('demo_cidr', '192.168.1.0/24');
    tasks.push(
      neutronNetwork(api, { name: demoNet, project: demoProject }, tags),
      neutronSubnet(
        api,
        {
          name: demoSubnet,
          network: demoNet,
          project: demoProject,
          cidr: demoCidr,
          gateway: v.ipv4('demo_gateway', firstHost(demoCidr)),
          dnsNameservers: v.list('demo_dns'),
        },
        tags,
      ),
      neutronRouter(api, { name: demoRouter, project: demoProject }, tags),
      // Seed 004 §8.4.2: router-interface-add, then router-gateway-set.
      neutronRouterInterface(api, { router: demoRouter, project: demoProject, subnet: demoSubnet, network: demoNet }, tags),
      neutronRouterGateway(api, { router: demoRouter, project: demoProject, network: extNet }, tags),
    );
  }

  tasks.push(
    neutronSecurityGroupRule(api, { project: demoProject, protocol: 'icmp' }, tags),
    neutronSecurityGroupRule(api, { project: demoProject, protocol: 'tcp', portMin: 22, portMax: 22 }, tags),
  );
  return defineRole('networks').tasks(tasks);
}

export const plays: Play[] = [{ name: 'networks: initial networks', hosts: 'controller', roles: [networks] }];

if (isMain(import.meta.url)) await main(openstackPlaybook('networks', plays));

/** The conventional gateway of an IPv4 network: its first host address (10.10.1.0/24 → 10.10.1.1). */
export function firstHost(cidr: string): string {
  const [address = '', bits = '32'] = cidr.split('/');
  const n = address.split('.').reduce((acc, part) => acc * 256 + Number(part), 0);
  const mask = Number(bits) === 0 ? 0 : (0xffffffff << (32 - Number(bits))) >>> 0;
  const host = ((n & mask) >>> 0) + 1;
  return [24, 16, 8, 0].map((shift) => (host >>> shift) & 255).join('.');
}
