import { openstackPlaybook } from '../../openstack/playbook.js';
import { isMain, main } from '../../lib/cli/cli.js';
import { defineRole, type HostContext } from '../../lib/core/playbook.js';
import { OS, openstackRepo } from '../../openstack/platform.js';
import type { Task } from '../../lib/core/task.js';
import { file } from '../../lib/modules/file.js';
import { hostname } from '../../lib/modules/hostname.js';
import { hostsEntries } from '../../lib/modules/hosts.js';
import { packages } from '../../lib/modules/package.js';
import { aptRepository } from '../../lib/modules/repository.js';
import { service } from '../../lib/modules/service.js';
import { hostVarsOf } from '../../lib/inventory/vars.js';
import { coreVars } from '../../openstack/release.js';

/**
 * Every node, before any OpenStack package (seeds 003/004 §2–3):
 * its host name, /etc/hosts for every inventory host, the OpenStack
 * repository, and time sync with the controller as the server.
 */
export function timeSyncConfig(kind: 'ntp' | 'chrony', isServer: boolean, upstream: readonly string[], controller: string, allow: string): string {
  const servers = isServer ? upstream : [controller];
  if (kind === 'ntp') {
    return [
      '# Managed by stackplay',
      'driftfile /var/lib/ntp/ntp.drift',
      ...servers.map((s) => `server ${s} iburst`),
      // The guide: drop nopeer/noquery from the default restrict lines so nodes can sync from the controller.
      'restrict -4 default kod notrap nomodify',
      'restrict -6 default kod notrap nomodify',
      'restrict 127.0.0.1',
      'restrict ::1',
      '',
    ].join('\n');
  }
  return [
    '# Managed by stackplay',
    ...servers.map((s) => `server ${s} iburst`),
    'driftfile /var/lib/chrony/drift',
    'makestep 1.0 3',
    'rtcsync',
    ...(isServer ? [`allow ${allow}`, 'local stratum 10'] : []),
    '',
  ].join('\n');
}

/** /etc/hosts entries for every inventory host (seed 004 §2: every node resolves every other by name). */
function everyHostEntries(ctx: HostContext) {
  return hostsEntries(
    {
      entries: [...ctx.inventory.hosts.keys()].map((name) => {
        const v = hostVarsOf(ctx.inventory, name);
        return { address: v.has('management_ip') ? v.ipv4('management_ip') : v.address('ansible_host', name), names: [name] };
      }),
    },
    { tags: ['hostname'] },
  );
}

/** Only the /etc/hosts part of `common`: what every existing node needs when a host joins (day-2 add-compute). */
export function hostsFile(ctx: HostContext) {
  return defineRole('common').tasks([everyHostEntries(ctx)]);
}

export function common(ctx: HostContext) {
  const core = coreVars(ctx.inventory, ctx.vars);
  const os = OS[core.osFamily];
  const isController = ctx.groups.includes('controller');
  const repo = openstackRepo(core.release, core.osFamily);

  const repoTasks: Task[] =
    repo.kind === 'apt'
      ? [packages({ names: [repo.keyringPackage], manager: os.packageManager }), aptRepository({ name: repo.name, lines: [repo.line] })]
      : repo.kind === 'package'
        ? [packages({ names: repo.packages, manager: os.packageManager })]
        : [];

  const ts = os.timeSync;
  return defineRole('common', {
    restartTimeSync: service({ name: ts.service, state: 'restarted' }),
  }).tasks([
    // Seed 004 §11: set the name before any service registers itself.
    hostname({ name: ctx.host }, { tags: ['hostname'] }),
    everyHostEntries(ctx),
    ...repoTasks,
    packages({ names: [ts.package], manager: os.packageManager, holdServices: os.holdServicesOnInstall }, { tags: ['time'] }),
    file(
      {
        path: ts.config,
        content: timeSyncConfig(
          ts.kind,
          isController,
          ctx.vars.addresses('ntp_servers', ['0.pool.ntp.org', '1.pool.ntp.org']),
          core.controllerAddress,
          ctx.vars.str('ntp_allow', '0.0.0.0/0'),
        ),
      },
      { notify: ['restartTimeSync'], tags: ['time'] },
    ),
    service({ name: ts.service, state: 'started', enabled: true }, { tags: ['time'] }),
  ]);
}

if (isMain(import.meta.url)) await main(openstackPlaybook('common', [{ name: 'common', hosts: 'all', roles: [common] }]));
