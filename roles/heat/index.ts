import { openstackPlaybook } from '../../openstack/playbook.js';
import { isMain, main } from '../../lib/cli/cli.js';
import { OpenStackHost, serviceDatabase, serviceRegistration } from '../../openstack/host.js';
import { defineRole, type HostContext, type Play } from '../../lib/core/playbook.js';
import { sh } from '../../lib/core/shell.js';
import { absentFile } from '../../lib/modules/file.js';
import { ini, type IniSections, mergeSections } from '../../lib/modules/ini.js';
import { keystoneRole, keystoneRoleAssignment } from '../../openstack/keystone/tasks.js';
import { dbSync, versionCommand } from '../../openstack/migration.js';
import { service } from '../../lib/modules/service.js';
import { heatPlatform } from './data.js';

/**
 * Orchestration on the controller (Juno and Liberty install guides): heat-api
 * (orchestration, :8004), heat-api-cfn (cloudformation, :8000), heat-engine,
 * the heat_stack_owner and heat_stack_user roles. Zed: nothing (see heatPlatform).
 *
 * Liberty's guide also creates a `heat` domain with a `heat_domain_admin`
 * and sets stack_domain_admin*, stack_user_domain_name; the keystone tasks
 * have no domain support yet, so those are left out and heat keeps its
 * fallback of creating stack users in the stack's own project.
 */

const CONF = '/etc/heat/heat.conf';

export function heatConf(o: OpenStackHost): IniSections {
  const c = o.controller;
  const common = mergeSections({ database: { connection: o.dbConnection('heat') } }, o.messaging(), o.authtoken('heat'), {
    DEFAULT: {
      heat_metadata_server_url: `http://${c}:8000`,
      heat_waitcondition_server_url: `http://${c}:8000/v1/waitcondition`,
    },
  });
  if (o.release === 'juno') return mergeSections(common, { ec2authtoken: { auth_uri: `http://${c}:5000/v2.0` } });
  return mergeSections(common, {
    ec2authtoken: { auth_uri: `http://${c}:5000/v2.0` },
    // Liberty: trusts are made by the heat user itself.
    trustee: { auth_plugin: 'password', auth_url: `http://${c}:35357`, username: 'heat', password: o.servicePassword('heat'), user_domain_id: 'default' },
    clients_keystone: { auth_uri: `http://${c}:5000` },
  });
}

export function heat(ctx: HostContext) {
  const o = new OpenStackHost(ctx);
  const platform = heatPlatform(o.release, o.family);
  if (platform === null) return defineRole('heat').tasks([]);
  const auth = o.keystoneAdmin();
  const services = [platform.apiService, platform.cfnService, platform.engineService];
  const c = o.controller;
  return defineRole('heat', {
    restartApi: service({ name: platform.apiService, state: 'restarted' }),
    restartCfn: service({ name: platform.cfnService, state: 'restarted' }),
    restartEngine: service({ name: platform.engineService, state: 'restarted' }),
  }).tasks([
    o.packages(platform.packages, { tags: ['packages'] }),
    ini({ path: CONF, settings: heatConf(o), ...o.secretFile('heat') }, { notify: ['restartApi', 'restartCfn', 'restartEngine'], tags: ['config'] }),
    ...serviceDatabase(o, 'heat'),
    dbSync(
      { service: 'heat', user: 'heat', command: sh`heat-manage db_sync`, fingerprint: versionCommand(sh`heat-manage db_version`) },
      { notify: ['restartEngine'], tags: ['database'] },
    ),
    ...serviceRegistration(o, { name: 'heat', type: 'orchestration', description: 'Orchestration', urls: o.sameUrls(`http://${c}:8004/v1/%(tenant_id)s`) }),
    ...serviceRegistration(o, { name: 'heat-cfn', type: 'cloudformation', description: 'Orchestration', user: false, urls: o.sameUrls(`http://${c}:8000/v1`) }),
    // Users who manage stacks need heat_stack_owner (the guide gives it to demo); heat gives heat_stack_user to the users it creates.
    keystoneRole(auth, { name: 'heat_stack_owner' }, { tags: ['keystone'] }),
    ...ctx.vars
      .list('heat_stack_owners', ['demo'])
      .map((user) => keystoneRoleAssignment(auth, { user, project: user, role: 'heat_stack_owner' }, { tags: ['keystone'] })),
    keystoneRole(auth, { name: 'heat_stack_user' }, { tags: ['keystone'] }),
    ...services.map((name) => service({ name, state: 'started', enabled: true })),
    ...(platform.sqliteLeftover ? [absentFile('/var/lib/heat/heat.sqlite')] : []),
  ]);
}

export const plays: Play[] = [{ name: 'heat', hosts: 'controller', roles: [heat] }];

if (isMain(import.meta.url)) await main(openstackPlaybook('heat', plays));
