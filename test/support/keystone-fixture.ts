import { OpenStackHost } from '../../openstack/host.js';
import { defineRole, type HostContext, type Play } from '../../lib/core/playbook.js';
import { keystoneProject, keystoneRole, keystoneUser } from '../../openstack/keystone/tasks.js';

/**
 * What the keystone role leaves behind and the other roles rely on, which a
 * simulated keystone starts without: projects (`service` unless told), the
 * admin role, and with `demoUser` the guides' demo user. A play on the
 * controller, to put before the roles a golden test plans.
 */
export function keystoneFixture(options: { readonly projects?: readonly string[]; readonly demoUser?: boolean } = {}): Play {
  const role = (ctx: HostContext) => {
    const o = new OpenStackHost(ctx);
    const auth = o.keystoneAdmin();
    return defineRole('keystone-fixture').tasks([
      ...(options.projects ?? ['service']).map((name) => keystoneProject(auth, { name })),
      keystoneRole(auth, { name: 'admin' }),
      ...(options.demoUser ? [keystoneUser(auth, { name: 'demo', password: o.secret('demo_pass'), project: 'demo' })] : []),
    ]);
  };
  return { name: 'keystone fixture', hosts: 'controller', roles: [role] };
}
