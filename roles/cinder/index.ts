import { uwsgiHeartbeat } from '../../openstack/uwsgi.js';
import { openstackPlaybook } from '../../openstack/playbook.js';
import { isMain, main } from '../../lib/cli/cli.js';
import { InputError } from '../../lib/core/errors.js';
import { OpenStackHost, serviceDatabase, serviceRegistration } from '../../openstack/host.js';
import { defineRole, type HostContext, type Play } from '../../lib/core/playbook.js';
import { sh } from '../../lib/core/shell.js';
import type { Task } from '../../lib/core/task.js';
import { absentFile } from '../../lib/modules/file.js';
import { ABSENT, ini, type IniSections, mergeSections } from '../../lib/modules/ini.js';
import { loopDevice, lvmPhysicalVolume, lvmVolumeGroup } from '../../lib/modules/lvm.js';
import { dbSync, versionCommand } from '../../openstack/migration.js';
import { service } from '../../lib/modules/service.js';
import { CINDER_RELEASE, cinderPlatform, LOCK_PATH, VOLUME_GROUP } from './data.js';
import { lvmAcceptFilter, lvmConf } from './lvm-conf.js';

/**
 * Block Storage (seed 004 §12, seed 003 §8): cinder-api and cinder-scheduler
 * on the controller, cinder-volume with LVM and an iSCSI target on every
 * `block` host. nova's `[cinder] os_region_name` lives in nova.conf and is
 * the nova role's to write.
 */

const CONF = '/etc/cinder/cinder.conf';

/** cinder.conf options both kinds of node share (seed 003 copies the controller's file to the storage node). */
export function commonCinderConf(o: OpenStackHost): IniSections {
  const rel = CINDER_RELEASE[o.release];
  return mergeSections(
    { database: { connection: o.dbConnection('cinder') } },
    o.messaging(),
    o.authtoken('cinder'),
    {
      DEFAULT: {
        my_ip: o.core.managementIp,
        ...(rel.glance === 'glance_host' ? { glance_host: o.controller } : { glance_api_servers: `http://${o.controller}:9292` }),
        ...(rel.verbose ? { verbose: true } : {}),
      },
    },
    rel.lockPath ? { oslo_concurrency: { lock_path: LOCK_PATH } } : {},
    // Debian's packaged cinder.conf says `region_name = regionOne` here; keystonemiddleware looks the
    // identity endpoint up in that region, and the catalog's is `region` (RegionOne).
    o.release === 'zed' ? { keystone_authtoken: { region_name: o.core.region } } : {},
  );
}

/** What a storage node adds: the LVM back end and its iSCSI target. */
export function storageCinderConf(o: OpenStackHost): IniSections {
  const rel = CINDER_RELEASE[o.release];
  const platform = cinderPlatform(o.release, o.family);
  const t = rel.targetOptions;
  if (!rel.backendSection) {
    // Juno: the default back end (LVM over iSCSI) configured in [DEFAULT], as Ubuntu's packaged file does.
    return mergeSections(commonCinderConf(o), { DEFAULT: { volume_group: VOLUME_GROUP, [t.helper]: platform.targetHelper } });
  }
  return mergeSections(commonCinderConf(o), {
    DEFAULT: { enabled_backends: 'lvm' },
    lvm: {
      volume_driver: 'cinder.volume.drivers.lvm.LVMVolumeDriver',
      volume_group: VOLUME_GROUP,
      [t.protocol]: 'iscsi',
      [t.helper]: platform.targetHelper,
      ...Object.fromEntries(t.deprecated.map((k): [string, typeof ABSENT] => [k, ABSENT])),
    },
  });
}

export function cinderController(ctx: HostContext) {
  const o = new OpenStackHost(ctx);
  const rel = CINDER_RELEASE[o.release];
  const platform = cinderPlatform(o.release, o.family);
  const services = [platform.schedulerService, platform.apiService];
  return defineRole('cinder-controller', {
    restartScheduler: service({ name: platform.schedulerService, state: 'restarted' }),
    restartApi: service({ name: platform.apiService, state: 'restarted' }),
  }).tasks([
    o.packages(platform.controllerPackages, { tags: ['packages'] }),
    ini({ path: CONF, settings: commonCinderConf(o), ...o.secretFile('cinder') }, { notify: ['restartScheduler', 'restartApi'], tags: ['config'] }),
    ...platform.uwsgiApps.map((p) => uwsgiHeartbeat(p, o.apiWorkers, { notify: ['restartApi'], tags: ['config'] })),
    ...serviceDatabase(o, 'cinder'),
    dbSync(
      {
        service: 'cinder',
        user: 'cinder',
        command: sh`cinder-manage db sync`,
        // Zed's cinder-manage logs alembic's INFO lines (timestamped) to stdout before the version: the last line
        // alone is the fingerprint, or every run on the lab reported a migration and restarted cinder.
        fingerprint: versionCommand(sh`cinder-manage db version | tail -n 1`),
      },
      { notify: ['restartScheduler', 'restartApi'], tags: ['database'] },
    ),
    ...rel.apis.flatMap((api, i) =>
      serviceRegistration(o, {
        // One `cinder` user (the name cinder.conf's [keystone_authtoken] logs in with); the v1/v2/v3 entities
        // share it. The first run on the lab made a `cinderv3` user for Zed, and cinder-api rejected every token.
        name: 'cinder',
        serviceName: api.name,
        type: api.type,
        description: 'OpenStack Block Storage',
        user: i === 0,
        urls: o.sameUrls(`http://${o.controller}:8776/${api.path}`),
      }),
    ),
    ...services.map((name) => service({ name, state: 'started', enabled: true })),
    ...(platform.sqliteLeftover ? [absentFile('/var/lib/cinder/cinder.sqlite')] : []),
  ]);
}

/**
 * The devices of `cinder-volumes`: `cinder_devices` (seed 003 `/dev/sdb`),
 * or, with `cinder_loop_file` and `cinder_loop_size_mb`, one loop device
 * backed by a sparse file (packstack's way, seed 002; the lab has no spare
 * disks) — then `cinder_devices` names that loop device, e.g. /dev/loop7.
 */
export function cinderVolumeTasks(ctx: HostContext): { devices: string[]; tasks: Task[] } {
  const devices = ctx.vars.list('cinder_devices');
  const loopFile = ctx.vars.opt('cinder_loop_file');
  const where = ctx.vars.values.get('cinder_loop_file')?.source ?? ctx.vars.declaredAt;
  if (devices.length === 0) {
    throw new InputError(
      where.file,
      where.line,
      `host ${ctx.host}: cinder_devices is not set: name the disk(s) for ${VOLUME_GROUP}${loopFile ? ', or the loop device (e.g. /dev/loop7) to attach cinder_loop_file to' : ', or set cinder_loop_file, cinder_loop_size_mb and cinder_devices=/dev/loopN'}`,
    );
  }
  if (loopFile === undefined) return { devices, tasks: [] };
  const [device, ...more] = devices;
  if (device === undefined || more.length > 0 || !/^\/dev\/loop\d+$/.test(device)) {
    throw new InputError(
      where.file,
      where.line,
      `host ${ctx.host}: with cinder_loop_file, cinder_devices must be exactly one /dev/loopN (got ${devices.join(', ')})`,
    );
  }
  return { devices, tasks: [loopDevice({ file: loopFile, sizeMb: ctx.vars.int('cinder_loop_size_mb'), device }, { tags: ['lvm'] })] };
}

export function cinderStorage(ctx: HostContext) {
  const o = new OpenStackHost(ctx);
  const platform = cinderPlatform(o.release, o.family);
  const volume = cinderVolumeTasks(ctx);
  // Seed 004 keeps the OS disk visible to LVM (its root is on LVM): `cinder_lvm_accept=xvda`.
  const accept = [...ctx.vars.list('cinder_lvm_accept'), ...volume.devices];
  const services = [platform.targetService, platform.volumeService];
  return defineRole('cinder-storage', {
    restartVolume: service({ name: platform.volumeService, state: 'restarted' }),
  }).tasks([
    o.packages(platform.lvmPackages, { tags: ['packages', 'lvm'] }),
    ...platform.lvmServices.map((name) => service({ name, state: 'started', enabled: true }, { tags: ['lvm'] })),
    ...volume.tasks,
    ...volume.devices.map((device) => lvmPhysicalVolume({ device }, { tags: ['lvm'] })),
    lvmVolumeGroup({ name: VOLUME_GROUP, devices: volume.devices }, { tags: ['lvm'] }),
    // Seed 004 §12.2: without the filter, LVM on the node scans (and caches) the LVs inside tenants' volumes.
    lvmConf({ section: 'devices', key: 'filter', value: lvmAcceptFilter(accept) }, { tags: ['lvm'] }),
    o.packages(platform.storagePackages, { tags: ['packages'] }),
    ini({ path: CONF, settings: storageCinderConf(o), ...o.secretFile('cinder') }, { notify: ['restartVolume'], tags: ['config'] }),
    ...services.map((name) => service({ name, state: 'started', enabled: true })),
    ...(platform.sqliteLeftover ? [absentFile('/var/lib/cinder/cinder.sqlite')] : []),
  ]);
}

export const plays: Play[] = [
  { name: 'cinder controller', hosts: 'controller', roles: [cinderController] },
  { name: 'cinder storage', hosts: 'block', roles: [cinderStorage] },
];

if (isMain(import.meta.url)) await main(openstackPlaybook('cinder', plays));
