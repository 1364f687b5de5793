import { telemetryDeployed } from '../../openstack/topology.js';
import { openstackPlaybook } from '../../openstack/playbook.js';
import { isMain, main } from '../../lib/cli/cli.js';
import { OpenStackHost, serviceDatabase, serviceRegistration } from '../../openstack/host.js';
import { defineRole, type HostContext, type Play } from '../../lib/core/playbook.js';
import { sh } from '../../lib/core/shell.js';
import { absentFile } from '../../lib/modules/file.js';
import { ini, type IniSections, mergeSections } from '../../lib/modules/ini.js';
import { dbSync } from '../../openstack/migration.js';
import { service } from '../../lib/modules/service.js';
import { API_CONF, API_PORT, GLANCE_RELEASE, glancePlatform, IMAGES_DIR, REGISTRY_CONF, SQLITE_LEFTOVER } from './data.js';

/**
 * The Image service on the controller (seed 004 §6, seed 003 §3.5, the
 * Zed guide): glance-api (and glance-registry before Zed) with a MySQL
 * catalog, keystone auth and images on the local file system.
 */

/** The settings glance-api.conf and glance-registry.conf share. */
export function glanceCommonSettings(o: OpenStackHost): IniSections {
  const rel = GLANCE_RELEASE[o.release];
  const plat = glancePlatform(o.release, o.family);
  // Only [keystone_authtoken]: glance has no `auth_strategy`; [paste_deploy] flavor selects keystone.
  const { keystone_authtoken: authtoken = {} } = o.authtoken('glance');
  // Seed 004 §10.2: with Telemetry the notifications go to the message queue
  // instead of `noop`. Written here, not by the ceilometer role, so no two roles own one option.
  const telemetry = telemetryDeployed(o);
  return mergeSections(
    { database: { connection: o.dbConnection('glance') } },
    { keystone_authtoken: { ...authtoken, ...(plat.authtokenRegion ? { region_name: o.core.region } : {}) } },
    { paste_deploy: { flavor: 'keystone' } },
    rel.legacyDefaults ? { DEFAULT: { notification_driver: telemetry ? 'messagingv2' : 'noop', verbose: 'True' } } : {},
    rel.legacyDefaults && telemetry ? o.messaging() : {},
  );
}

export function glanceApiSettings(o: OpenStackHost): IniSections {
  const rel = GLANCE_RELEASE[o.release];
  // `glance_workers` in the inventory: glance-api's worker processes (`[DEFAULT] workers`; glance's default is
  // one per CPU). Unset, the option is left as the package ships it.
  const workers = o.ctx.vars.has('glance_workers') ? { DEFAULT: { workers: o.ctx.vars.int('glance_workers') } } : {};
  return mergeSections(glanceCommonSettings(o), workers, {
    glance_store: { ...(rel.stores ? { stores: rel.stores } : {}), default_store: 'file', filesystem_store_datadir: IMAGES_DIR },
  });
}

export function glance(ctx: HostContext) {
  const o = new OpenStackHost(ctx);
  const rel = GLANCE_RELEASE[o.release];
  const plat = glancePlatform(o.release, o.family);
  const registry = rel.registry;
  return defineRole('glance', {
    restartGlanceApi: service({ name: plat.apiService, state: 'restarted' }),
    // Never notified on releases without the registry.
    restartGlanceRegistry: service({ name: plat.registryService, state: 'restarted' }),
  }).tasks([
    o.packages(plat.packages, { tags: ['packages'] }),
    ini({ path: API_CONF, settings: glanceApiSettings(o), ...o.secretFile('glance') }, { notify: ['restartGlanceApi'], tags: ['config'] }),
    ...(registry
      ? [ini({ path: REGISTRY_CONF, settings: glanceCommonSettings(o), ...o.secretFile('glance') }, { notify: ['restartGlanceRegistry'], tags: ['config'] })]
      : []),
    ...serviceDatabase(o, 'glance'),
    // Seed 003: as the glance user, or the logs it creates belong to root and glance cannot start.
    dbSync({ service: 'glance', user: 'glance', command: sh`glance-manage db_sync` }, { tags: ['database'] }),
    ...(plat.sqliteLeftover ? [absentFile(SQLITE_LEFTOVER, { tags: ['database'] })] : []),
    ...serviceRegistration(o, { name: 'glance', type: 'image', description: rel.description, urls: o.sameUrls(`http://${o.controller}:${API_PORT}`) }),
    ...(registry ? [service({ name: plat.registryService, state: 'started', enabled: true }, { tags: ['services'] })] : []),
    service({ name: plat.apiService, state: 'started', enabled: true }, { tags: ['services'] }),
  ]);
}

export const plays: Play[] = [{ name: 'glance: image service', hosts: 'controller', roles: [glance] }];

if (isMain(import.meta.url)) await main(openstackPlaybook('glance', plays));
