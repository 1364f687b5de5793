import { openstackPlaybook } from '../../openstack/playbook.js';
import { isMain, main } from '../../lib/cli/cli.js';
import { OpenStackHost, serviceRegistration } from '../../openstack/host.js';
import { defineRole, type HostContext, type Play } from '../../lib/core/playbook.js';

/**
 * The EC2 compatibility API (seed 004 §13): nova-api serves it on 8773 in
 * Juno; this registers it in keystone so EC2 clients (euca2ools) find it.
 * Seed 004 publishes the public URL on the controller's public address
 * (`controller_public_address`, default the controller) and the admin URL on
 * `/services/Admin`. Juno only: later guides stop registering it, and nova
 * dropped the EC2 API in Mitaka. nova-api and nova-cert restart with nova's role.
 */
export function ec2Endpoint(ctx: HostContext) {
  const o = new OpenStackHost(ctx);
  if (o.release !== 'juno') return defineRole('ec2').tasks([]);
  const c = o.controller;
  const publicAddress = ctx.vars.str('controller_public_address', c);
  return defineRole('ec2').tasks(
    serviceRegistration(o, {
      name: 'ec2',
      type: 'ec2',
      description: 'EC2 Compatibility Layer',
      user: false,
      urls: {
        publicUrl: `http://${publicAddress}:8773/services/Cloud`,
        internalUrl: `http://${c}:8773/services/Cloud`,
        adminUrl: `http://${c}:8773/services/Admin`,
      },
    }),
  );
}

export const plays: Play[] = [{ name: 'ec2 endpoint', hosts: 'controller', roles: [ec2Endpoint] }];

if (isMain(import.meta.url)) await main(openstackPlaybook('ec2', plays));
