import { openstackPlaybook } from '../../openstack/playbook.js';
import { isMain, main } from '../../lib/cli/cli.js';
import { OpenStackHost } from '../../openstack/host.js';
import { defineRole, type HostContext, type Play } from '../../lib/core/playbook.js';
import { debconf } from '../../lib/modules/debconf.js';
import { absentFile } from '../../lib/modules/file.js';
import { packages } from '../../lib/modules/package.js';
import { service } from '../../lib/modules/service.js';
import { HORIZON_RELEASE, horizonPlatform } from './data.js';
import { pythonSettings, type PythonSetting } from './python-settings.js';

/**
 * The dashboard on the controller (seed 004 §9, seed 003 §7, seed 000):
 * openstack-dashboard under the distribution's Apache, its local_settings
 * edited setting by setting.
 */

/**
 * Network modes without self-service networks. Seed 000's lesson: with
 * provider networks only (no router plugin) the dashboard's router and
 * floating-IP panels fail ("Unable to connect to Neutron"); the Liberty and
 * Zed guides turn them off for networking option 1.
 */
const PROVIDER_ONLY_MODES = new Set(['linuxbridge-flat']);

/** The dashboard's cache (and with Zed its sessions): memcached, shared by every web server process. */
function cachesSetting(o: OpenStackHost): PythonSetting {
  const platform = horizonPlatform(o.release, o.family);
  const memcached = platform.memcached === 'loopback' ? '127.0.0.1:11211' : `${o.controller}:11211`;
  return { name: 'CACHES', value: { default: { BACKEND: HORIZON_RELEASE[o.release].cacheBackend, LOCATION: memcached } } };
}

export function dashboardSettings(o: OpenStackHost): PythonSetting[] {
  const rel = HORIZON_RELEASE[o.release];
  const vars = o.ctx.vars;
  const settings: PythonSetting[] = [
    { name: 'OPENSTACK_HOST', value: o.controller },
    // Seed 003 has ['*', 'localhost']; '*' already admits localhost.
    { name: 'ALLOWED_HOSTS', value: vars.list('horizon_allowed_hosts', ['*']) },
    ...(rel.sessionEngine ? [{ name: 'SESSION_ENGINE', value: rel.sessionEngine }] : []),
    cachesSetting(o),
    { name: 'OPENSTACK_KEYSTONE_DEFAULT_ROLE', value: rel.defaultRole },
  ];
  if (rel.identityV3) {
    settings.push(
      // The guides write "http://%s:5000/v3" % OPENSTACK_HOST; spelled out, it cannot break if OPENSTACK_HOST moves below it.
      { name: 'OPENSTACK_KEYSTONE_URL', value: `http://${o.controller}:5000/v3` },
      { name: 'OPENSTACK_KEYSTONE_MULTIDOMAIN_SUPPORT', value: true },
      ...(rel.apiVersions ? [{ name: 'OPENSTACK_API_VERSIONS', value: rel.apiVersions }] : []),
      ...(rel.defaultDomain ? [{ name: 'OPENSTACK_KEYSTONE_DEFAULT_DOMAIN', value: rel.defaultDomain }] : []),
    );
  }
  if (PROVIDER_ONLY_MODES.has(vars.str('network_mode', ''))) {
    settings.push({
      name: 'OPENSTACK_NEUTRON_NETWORK',
      value: {
        enable_router: false,
        enable_quotas: false,
        enable_distributed_router: false,
        enable_ha_router: false,
        enable_lb: false,
        enable_firewall: false,
        enable_vpn: false,
        enable_fip_topology_check: false,
      },
    });
  }
  // Seed 004 uses "Asia/Shanghai"; seed 003's "Asia/ShangHai" is no zoneinfo name. The guides leave it to the site.
  settings.push({
    name: 'TIME_ZONE',
    value: vars.matching('time_zone', /^[A-Za-z0-9_+-]+(?:\/[A-Za-z0-9_+-]+){0,2}$/, 'a time zone name such as Europe/Zurich', 'UTC'),
  });
  return settings;
}

export function horizon(ctx: HostContext) {
  const o = new OpenStackHost(ctx);
  const platform = horizonPlatform(o.release, o.family);
  return defineRole('horizon', {
    reloadWebServer: service({ name: platform.webService, state: 'reloaded' }),
  }).tasks([
    ...(platform.debconf ? [debconf(platform.debconf, { tags: ['packages'] })] : []),
    o.packages(platform.packages, { tags: ['packages'] }),
    ...(platform.remove.length > 0
      ? [packages({ names: platform.remove, manager: o.os.packageManager, state: 'absent' }, { notify: ['reloadWebServer'], tags: ['packages'] })]
      : []),
    pythonSettings({ path: platform.settingsPath, settings: dashboardSettings(o) }, { notify: ['reloadWebServer'], tags: ['config'] }),
    ...platform.cacheSnippets.map((path) => pythonSettings({ path, settings: [cachesSetting(o)] }, { notify: ['reloadWebServer'], tags: ['config'] })),
    ...platform.disableSites.map((site) => absentFile(`/etc/apache2/sites-enabled/${site}.conf`, { notify: ['reloadWebServer'], tags: ['config'] })),
    service({ name: 'memcached', state: 'started', enabled: true }),
    service({ name: platform.webService, state: 'started', enabled: true }),
  ]);
}

export const plays: Play[] = [{ name: 'horizon', hosts: 'controller', roles: [horizon] }];

if (isMain(import.meta.url)) await main(openstackPlaybook('horizon', plays));
