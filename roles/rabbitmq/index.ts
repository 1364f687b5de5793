import { openstackPlaybook } from '../../openstack/playbook.js';
import { isMain, main } from '../../lib/cli/cli.js';
import { OpenStackHost } from '../../openstack/host.js';
import { defineRole, type HostContext, type Play } from '../../lib/core/playbook.js';
import { sh } from '../../lib/core/shell.js';
import { flushHandlers, type Task } from '../../lib/core/task.js';
import { command } from '../../lib/modules/command.js';
import { file } from '../../lib/modules/file.js';
import { rabbitmqUser } from '../../lib/modules/rabbitmq.js';
import { service } from '../../lib/modules/service.js';
import { rabbitmqPlatform } from './data.js';

/**
 * The message broker on the controller and the account every service uses
 * (RELEASE[…].rabbitUser): Juno keeps `guest` and changes its password
 * (seed 004 §4.3, `rabbitmqctl change_password guest RABBIT_PASS`); Liberty
 * and Zed add `openstack` with ".*" ".*" ".*" on / (seed 003 §3.3, the
 * guides). Seed 004 §11 lost guest's password after a restart: rabbitmqUser
 * logs in with the password on every run and resets it when that fails.
 *
 * `rabbitmq_management=true` in the inventory also enables the management
 * plugin and tags the account `administrator`, as seed 003 did through the
 * web UI (neither install guide does it).
 */
export function rabbitmq(ctx: HostContext) {
  const o = new OpenStackHost(ctx);
  const p = rabbitmqPlatform(o.release, o.family);
  const management = ctx.vars.bool('rabbitmq_management', false);
  const tags = { tags: ['rabbitmq'] };
  const configTasks: Task<'restartRabbitmq'>[] = p.config
    ? [file({ path: p.config.path, content: p.config.content, mode: '0644' }, { notify: ['restartRabbitmq'], ...tags })]
    : [];
  const pluginTasks: Task<'restartRabbitmq'>[] = management
    ? [
        command(
          { cmd: sh`rabbitmq-plugins enable rabbitmq_management`, unless: sh`rabbitmq-plugins list -E -m 2>/dev/null | grep -qx rabbitmq_management` },
          { notify: ['restartRabbitmq'], ...tags },
        ),
      ]
    : [];
  return defineRole('rabbitmq', {
    restartRabbitmq: service({ name: p.service, state: 'restarted' }),
  }).tasks([
    o.packages(p.packages, tags),
    ...configTasks,
    ...pluginTasks,
    service({ name: p.service, state: 'started', enabled: true }, tags),
    // The account is checked against the broker as it will run: restarted first if its config changed.
    flushHandlers(),
    rabbitmqUser(
      {
        user: o.profile.rabbitUser,
        password: o.secret('rabbit_pass'),
        permissions: ['.*', '.*', '.*'],
        ...(management ? { tags: ['administrator'] } : {}),
      },
      tags,
    ),
  ]);
}

export const plays: Play[] = [{ name: 'rabbitmq: message broker', hosts: 'controller', roles: [rabbitmq] }];

if (isMain(import.meta.url)) await main(openstackPlaybook('rabbitmq', plays));
