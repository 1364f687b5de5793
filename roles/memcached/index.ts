import { openstackPlaybook } from '../../openstack/playbook.js';
import { isMain, main } from '../../lib/cli/cli.js';
import { OpenStackHost } from '../../openstack/host.js';
import { defineRole, type HostContext, type Play } from '../../lib/core/playbook.js';
import { line } from '../../lib/modules/line.js';
import { service } from '../../lib/modules/service.js';
import { memcachedPlatform, usesMemcached } from './data.js';

/**
 * memcached on the controller, listening on the management IP so keystone
 * (Liberty's token store) and Horizon on any node reach it as
 * `controller:11211`. Juno's guide has no memcached: the role does nothing there.
 */
export function memcached(ctx: HostContext) {
  const o = new OpenStackHost(ctx);
  const role = defineRole('memcached', { restartMemcached: service({ name: memcachedPlatform(o.family).service, state: 'restarted' }) });
  if (!usesMemcached(o.release)) return role.tasks([]);
  const p = memcachedPlatform(o.family);
  const ip = o.core.managementIp;
  const tags = { tags: ['memcached'] };
  const restart = { notify: ['restartMemcached'] as const, ...tags };
  const escapedIp = ip.replace(/[.]/g, '\\.');
  const listen =
    p.listen.kind === 'conf'
      ? [
          // memcached.conf: the last `-l` line becomes the management IP; any other `-l` line
          // (Debian's `-l 127.0.0.1`, a later `-l ::1`) would add a listener, so it goes.
          line({ path: p.listen.path, regexp: /^-l\s/, line: `-l ${ip}` }, restart),
          line({ path: p.listen.path, regexp: new RegExp(`^-l\\s+(?!${escapedIp}$)`), state: 'absent' }, restart),
        ]
      : // /etc/sysconfig/memcached: the daemon's extra arguments.
        [line({ path: p.listen.path, regexp: /^OPTIONS=/, line: `OPTIONS="-l ${ip}"` }, restart)];
  return role.tasks([o.packages(p.packages, tags), ...listen, service({ name: p.service, state: 'started', enabled: true }, tags)]);
}

export const plays: Play[] = [{ name: 'memcached: cache for keystone and horizon', hosts: 'controller', roles: [memcached] }];

if (isMain(import.meta.url)) await main(openstackPlaybook('memcached', plays));
