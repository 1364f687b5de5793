import { openstackPlaybook } from '../../openstack/playbook.js';
import { isMain, main } from '../../lib/cli/cli.js';
import { OpenStackHost, serviceRegistration } from '../../openstack/host.js';
import { defineRole, type HostContext, type Play } from '../../lib/core/playbook.js';
import { Secret } from '../../lib/core/secret.js';
import { raw, sh } from '../../lib/core/shell.js';
import { flushHandlers, makeTask, noChange, type Task } from '../../lib/core/task.js';
import { command } from '../../lib/modules/command.js';
import { ini, type IniSections, mergeSections } from '../../lib/modules/ini.js';
import { service } from '../../lib/modules/service.js';
import { CEILOMETER_RELEASE, ceilometerPlatform, type CeilometerPlatform, type CeilometerRelease, type Daemon } from './data.js';
import { mongoUser } from './mongodb.js';

/**
 * Telemetry (seed 004 §10): MongoDB and the ceilometer services on the
 * controller, the compute agent on every compute node. Settings that live in
 * other services' files — nova.conf's notification options, glance's
 * `notification_driver = messagingv2` — are those roles' to write.
 * Zed: nothing (see ceilometerPlatform).
 */

const CONF = '/etc/ceilometer/ceilometer.conf';

/** `mongodb://ceilometer:PASS@controller:27017/ceilometer`, the password escaped as the guide asks (RFC 2396). */
export function mongoConnection(o: OpenStackHost): Secret {
  return new Secret(`mongodb://ceilometer:${encodeURIComponent(o.dbPassword('ceilometer').reveal())}@${o.controller}:27017/ceilometer`);
}

/** ceilometer.conf options of every node: messaging, keystone, service credentials, the publisher's secret. */
export function ceilometerConf(o: OpenStackHost, rel: CeilometerRelease): IniSections {
  return mergeSections(o.messaging(), o.authtoken('ceilometer'), {
    DEFAULT: rel.verbose ? { verbose: true } : {},
    service_credentials: {
      os_auth_url: `http://${o.controller}:5000/v2.0`,
      os_username: 'ceilometer',
      os_tenant_name: 'service',
      os_password: o.servicePassword('ceilometer'),
      os_endpoint_type: 'internalURL',
      os_region_name: o.core.region,
    },
    publisher: { [rel.publisherSecret]: o.secret(rel.publisherSecret) },
  });
}

function mongoTasks(o: OpenStackHost, platform: CeilometerPlatform): Task<'stopMongo' | 'removeJournal' | 'startMongo'>[] {
  const m = platform.mongo;
  return [
    o.packages(m.packages, { tags: ['packages', 'mongodb'] }),
    // key = value without sections (the ini module's top region).
    ini(
      { path: m.config, settings: { '': { bind_ip: o.core.managementIp, smallfiles: true } } },
      { notify: ['stopMongo', 'removeJournal', 'startMongo'], tags: ['config', 'mongodb'] },
    ),
  ];
}

export function ceilometerController(ctx: HostContext) {
  const o = new OpenStackHost(ctx);
  const platform = ceilometerPlatform(o.release, o.family);
  if (platform === null || o.release === 'zed') return defineRole('ceilometer-controller').tasks([]);
  const rel = CEILOMETER_RELEASE[o.release];
  const m = platform.mongo;
  const daemons = Object.entries(platform.controllerServices).flatMap(([daemon, name]) => (name === null ? [] : [{ daemon: daemon as Daemon, name }]));
  const handler = (daemon: Daemon): Task => {
    const name = platform.controllerServices[daemon];
    return name === null
      ? makeTask({ module: 'service', name: `no ${daemon} service in ${o.release}`, facts: {}, plan: () => noChange('not in this release') })
      : service({ name, state: 'restarted' });
  };
  return defineRole('ceilometer-controller', {
    // Seed 004 / the guides: after changing smallfiles, stop mongod, drop the preallocated journal, start it.
    stopMongo: service({ name: m.service, state: 'stopped' }),
    removeJournal: command({ cmd: sh`rm -f ${raw(`${m.journalDir}/prealloc.*`)}` }),
    startMongo: service({ name: m.service, state: 'started' }),
    central: handler('central'),
    notification: handler('notification'),
    api: handler('api'),
    collector: handler('collector'),
    alarmEvaluator: handler('alarmEvaluator'),
    alarmNotifier: handler('alarmNotifier'),
  }).tasks([
    ...mongoTasks(o, platform),
    // mongod must listen on bind_ip before the user is made through it.
    flushHandlers(),
    service({ name: m.service, state: 'started', enabled: true }, { tags: ['mongodb'] }),
    mongoUser(
      { host: o.controller, database: 'ceilometer', user: 'ceilometer', password: o.dbPassword('ceilometer'), roles: ['readWrite', 'dbAdmin'] },
      { tags: ['database', 'mongodb'] },
    ),
    ...serviceRegistration(o, { name: 'ceilometer', type: 'metering', description: 'Telemetry', urls: o.sameUrls(`http://${o.controller}:8777`) }),
    o.packages(platform.controllerPackages, { tags: ['packages'] }),
    ini(
      { path: CONF, settings: mergeSections({ database: { connection: mongoConnection(o) } }, ceilometerConf(o, rel)), ...o.secretFile('ceilometer') },
      { notify: daemons.map((d) => d.daemon), tags: ['config'] },
    ),
    ...daemons.map(({ name }) => service({ name, state: 'started', enabled: true })),
  ]);
}

export function ceilometerCompute(ctx: HostContext) {
  const o = new OpenStackHost(ctx);
  const platform = ceilometerPlatform(o.release, o.family);
  if (platform === null || o.release === 'zed') return defineRole('ceilometer-compute').tasks([]);
  const rel = CEILOMETER_RELEASE[o.release];
  return defineRole('ceilometer-compute', {
    restartAgent: service({ name: platform.computeService, state: 'restarted' }),
  }).tasks([
    o.packages(platform.computePackages, { tags: ['packages'] }),
    ini({ path: CONF, settings: ceilometerConf(o, rel), ...o.secretFile('ceilometer') }, { notify: ['restartAgent'], tags: ['config'] }),
    service({ name: platform.computeService, state: 'started', enabled: true }),
  ]);
}

export const plays: Play[] = [
  { name: 'ceilometer controller', hosts: 'controller', roles: [ceilometerController] },
  { name: 'ceilometer compute agent', hosts: 'compute', roles: [ceilometerCompute] },
];

if (isMain(import.meta.url)) await main(openstackPlaybook('ceilometer', plays));
