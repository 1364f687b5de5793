import { uwsgiApp, uwsgiHeartbeat } from '../../openstack/uwsgi.js';
import { openstackPlaybook } from '../../openstack/playbook.js';
import { isMain, main } from '../../lib/cli/cli.js';
import { OpenStackHost, serviceDatabase, serviceRegistration } from '../../openstack/host.js';
import { defineRole, type HostContext, type Play } from '../../lib/core/playbook.js';
import { sh, type Cmd } from '../../lib/core/shell.js';
import { flushHandlers, type Task } from '../../lib/core/task.js';
import { command } from '../../lib/modules/command.js';
import { absentFile } from '../../lib/modules/file.js';
import { ini, type IniSections, type IniValue, mergeSections } from '../../lib/modules/ini.js';
import { line } from '../../lib/modules/line.js';
import { dbSync, sqlFingerprint } from '../../openstack/migration.js';
import { service } from '../../lib/modules/service.js';
// Shared with glance until lib/openstack.ts offers it.
import { telemetryDeployed } from '../../openstack/topology.js';
import {
  API_PORT,
  COMPUTE_DRIVERS,
  GLANCE_PORT,
  linuxnetInterfaceDriver,
  LOCK_PATH,
  NEUTRON_PORT,
  NOVA_CONF,
  NOVA_RELEASE,
  novaPlatform,
  NOVNC_PORT,
  PLACEMENT_CONF,
  PLACEMENT_PORT,
  QEMU_CONF,
  SQLITE_LEFTOVER,
  type Daemon,
} from './data.js';
import { daemon, daemonConfig, restartAll, restartDaemons, virtSettings } from './tasks.js';

/**
 * Compute (seed 004 §7, seed 003 §3.6–3.7, the Zed guide): the nova
 * controller services, Zed's Placement API, the compute nodes, and on Zed
 * the cells v2 mapping of new compute hosts.
 */

type Node = 'controller' | 'compute';

/** `su -s /bin/sh -c '<cmd>' nova`, as every guide runs nova-manage (seed 003: never as root). */
const asNova = (cmd: string): Cmd => sh`su -s /bin/sh -c ${cmd} nova`;

function neutronAgent(o: OpenStackHost): 'ovs' | 'linuxbridge' {
  // The network_mode default follows the seeds: Juno (004) uses OVS, Liberty (003, 000) and the lab linuxbridge.
  const mode = o.ctx.vars.str('network_mode', o.release === 'juno' ? 'ovs-gre' : 'linuxbridge-vxlan');
  return mode.startsWith('ovs') ? 'ovs' : 'linuxbridge';
}

/** `[vnc]` (or Juno's [DEFAULT] names): the controller's proxy and a compute node's VNC servers. */
function vncSettings(o: OpenStackHost, node: Node): IniSections {
  const ip = o.core.managementIp;
  const base = `http://${o.controller}:${NOVNC_PORT}/vnc_auto.html`;
  switch (NOVA_RELEASE[o.release].vnc) {
    case 'default':
      // Seed 004 §7.1.2 / §7.2.1 write the address itself, not $my_ip.
      return node === 'controller'
        ? { DEFAULT: { vncserver_listen: ip, vncserver_proxyclient_address: ip } }
        : { DEFAULT: { vnc_enabled: 'True', vncserver_listen: '0.0.0.0', vncserver_proxyclient_address: ip, novncproxy_base_url: base } };
    case 'vnc-legacy':
      // Seed 003 sets these in [DEFAULT] (the deprecated names RDO's sample file still lists);
      // the Liberty guide uses the [vnc] group, which nova 12 reads first.
      return node === 'controller'
        ? { vnc: { vncserver_listen: '$my_ip', vncserver_proxyclient_address: '$my_ip' } }
        : { vnc: { enabled: 'True', vncserver_listen: '0.0.0.0', vncserver_proxyclient_address: '$my_ip', novncproxy_base_url: base } };
    case 'vnc':
      return node === 'controller'
        ? { vnc: { enabled: 'true', server_listen: '$my_ip', server_proxyclient_address: '$my_ip' } }
        : { vnc: { enabled: 'true', server_listen: '0.0.0.0', server_proxyclient_address: '$my_ip', novncproxy_base_url: base } };
  }
}

/** How nova reaches neutron, and on the controller the metadata proxy it serves for neutron's metadata agent. */
function neutronSettings(o: OpenStackHost, node: Node): IniSections {
  const rel = NOVA_RELEASE[o.release];
  const c = o.controller;
  const password = o.servicePassword('neutron');
  const auth: Record<string, IniValue> = (() => {
    switch (rel.neutronAuth) {
      case 'v2-admin':
        return {
          url: `http://${c}:${NEUTRON_PORT}`,
          auth_strategy: 'keystone',
          admin_auth_url: `http://${c}:35357/v2.0`,
          admin_tenant_name: 'service',
          admin_username: 'neutron',
          admin_password: password,
        };
      case 'auth-plugin':
        return {
          url: `http://${c}:${NEUTRON_PORT}`,
          auth_url: `http://${c}:35357`,
          auth_plugin: 'password',
          project_domain_id: 'default',
          user_domain_id: 'default',
          region_name: o.core.region,
          project_name: 'service',
          username: 'neutron',
          password,
        };
      case 'auth-type':
        return {
          auth_url: `http://${c}:5000`,
          auth_type: 'password',
          project_domain_name: 'Default',
          user_domain_name: 'Default',
          region_name: o.core.region,
          project_name: 'service',
          username: 'neutron',
          password,
        };
    }
  })();
  // Seed 004 §8.2.6 puts these two under [DEFAULT]; the Juno guide (and nova
  // since Juno) reads them from [neutron]. Only nova-api on the controller serves metadata.
  const metadata: Record<string, IniValue> =
    node === 'controller' ? { service_metadata_proxy: rel.modern ? 'true' : 'True', metadata_proxy_shared_secret: o.secret('metadata_secret') } : {};
  const legacy: IniSections = rel.networkApiOptions
    ? {
        DEFAULT: {
          network_api_class: 'nova.network.neutronv2.api.API',
          security_group_api: 'neutron',
          linuxnet_interface_driver: linuxnetInterfaceDriver(o.release, neutronAgent(o)),
          // Neutron filters instance traffic; nova's own firewall must be off.
          firewall_driver: 'nova.virt.firewall.NoopFirewallDriver',
        },
      }
    : {};
  return mergeSections(legacy, { neutron: { ...auth, ...metadata } });
}

/** nova.conf of a controller or compute node. */
export function novaSettings(o: OpenStackHost, node: Node): IniSections {
  const rel = NOVA_RELEASE[o.release];
  const plat = novaPlatform(o.release, o.family);
  const c = o.controller;
  const authtoken = o.authtoken('nova');
  return mergeSections(
    { DEFAULT: { my_ip: o.core.managementIp, ...(rel.verbose ? { verbose: 'True' } : {}) } },
    // A cloud with one compute host can resize only onto that host (devstack sets this too);
    // the API reads it on the controller, the compute host when it confirms or reverts.
    o.ctx.vars.bool('nova_allow_resize_to_same_host', false) ? { DEFAULT: { allow_resize_to_same_host: 'true' } } : {},
    // The guides configure messaging the same way on both nodes. (Seed 000's
    // fix of moving Liberty's rabbit options to [DEFAULT] only uses their
    // deprecated location; the Liberty guide keeps [oslo_messaging_rabbit].)
    o.messaging(),
    authtoken,
    rel.modern ? { api: { auth_strategy: 'keystone' } } : {},
    plat.debianDefaults ? { keystone_authtoken: { region_name: o.core.region } } : {},
    // Seed 003 copies the controller's nova.conf to the compute node, [database] included;
    // the guides give compute nodes no database access (nova-conductor does it for them).
    node === 'controller' ? { database: { connection: o.dbConnection('nova') } } : {},
    node === 'controller' && rel.databases.includes('nova_api') ? { api_database: { connection: o.dbConnection('nova', 'nova_api') } } : {},
    node === 'controller' && rel.enabledApis ? { DEFAULT: { enabled_apis: rel.enabledApis } } : {},
    vncSettings(o, node),
    plat.debianDefaults ? { spice: { enabled: 'false' } } : {},
    rel.glance === 'host' ? { glance: { host: c } } : { glance: { api_servers: `http://${c}:${GLANCE_PORT}` } },
    rel.lockPath ? { oslo_concurrency: { lock_path: LOCK_PATH } } : {},
    rel.modern
      ? {
          service_user: {
            send_service_user_token: 'true',
            // The Zed guide writes `auth_url = https://controller/identity` (a devstack URL)
            // and an `auth_strategy` the section does not have; keystone here is :5000.
            auth_url: `http://${c}:5000/`,
            auth_type: 'password',
            project_domain_name: 'Default',
            project_name: 'service',
            user_domain_name: 'Default',
            username: 'nova',
            password: o.servicePassword('nova'),
          },
          placement: {
            region_name: o.core.region,
            project_domain_name: 'Default',
            project_name: 'service',
            auth_type: 'password',
            user_domain_name: 'Default',
            auth_url: `http://${c}:5000/v3`,
            username: 'placement',
            password: o.servicePassword('placement'),
          },
        }
      : {},
    neutronSettings(o, node),
    // Seed 003 §8.2 and the Liberty/Zed guides' cinder chapters: nova-api finds cinder in the
    // catalog by region (the cinder role leaves nova.conf to this role). Juno's guide has no such step.
    node === 'controller' && rel.cinderRegion && hasBlockStorage(o) ? { cinder: { os_region_name: o.core.region } } : {},
    // Seed 004 §10.2.2 and the Juno/Liberty Telemetry guides: compute nodes notify ceilometer.
    node === 'compute' && telemetryDeployed(o)
      ? {
          DEFAULT: {
            instance_usage_audit: 'True',
            instance_usage_audit_period: 'hour',
            notify_on_state_change: 'vm_and_task_state',
            notification_driver: 'messagingv2',
          },
        }
      : {},
  );
}

function hasBlockStorage(o: OpenStackHost): boolean {
  return o.ctx.inventory.groups.has('block') && o.ctx.inventory.groupHosts('block').length > 0;
}

export function placementSettings(o: OpenStackHost): IniSections {
  const plat = novaPlatform(o.release, o.family);
  const { keystone_authtoken: authtoken = {} } = o.authtoken('placement');
  return {
    placement_database: { connection: o.dbConnection('placement') },
    api: { auth_strategy: 'keystone' },
    keystone_authtoken: { ...authtoken, ...(plat.debianDefaults ? { region_name: o.core.region } : {}) },
  };
}

/** Zed's Placement API on the controller (its own guide, before nova's); nothing on earlier releases. */
export function placement(ctx: HostContext) {
  const o = new OpenStackHost(ctx);
  const p = novaPlatform(o.release, o.family).placement;
  const role = defineRole('placement', { restartPlacement: service({ name: p?.service ?? 'placement-api', state: 'restarted' }) });
  if (!p) return role.tasks([]);
  return role.tasks([
    o.packages(p.packages, { tags: ['packages'] }),
    ini({ path: PLACEMENT_CONF, settings: placementSettings(o), ...o.secretFile('placement') }, { notify: ['restartPlacement'], tags: ['config'] }),
    uwsgiApp({ path: p.uwsgiIni, workers: o.apiWorkers }, { notify: ['restartPlacement'], tags: ['config'] }),
    ...serviceDatabase(o, 'placement'),
    dbSync({ service: 'placement', user: 'placement', command: sh`placement-manage db sync` }, { tags: ['database'] }),
    ...serviceRegistration(o, {
      name: 'placement',
      type: 'placement',
      description: 'Placement API',
      urls: o.sameUrls(`http://${o.controller}:${PLACEMENT_PORT}`),
    }),
    service({ name: p.service, state: 'started', enabled: true }, { tags: ['services'] }),
  ]);
}

/** Zed's cells v2 setup, in the guide's order: API schema, cell0, cell1, then the main schema. */
function cellsV2(): Task[] {
  // The cell mappings `nova-manage cell_v2 list_cells` prints, read in one SQL query instead of a Python start-up each.
  const listCells = (cell: string) =>
    sh`mysql -uroot -N -B -e ${`SELECT name FROM nova_api.cell_mappings WHERE name = '${cell}'`} 2>/dev/null | grep -qx ${cell}`;
  return [
    dbSync(
      { service: 'nova_api', user: 'nova', command: sh`nova-manage api_db sync`, fingerprint: sqlFingerprint({ database: 'nova_api' }) },
      { tags: ['database'] },
    ),
    command({ cmd: asNova('nova-manage cell_v2 map_cell0'), unless: listCells('cell0') }, { name: 'nova-manage cell_v2 map_cell0', tags: ['database'] }),
    command(
      { cmd: asNova('nova-manage cell_v2 create_cell --name=cell1 --verbose'), unless: listCells('cell1') },
      { name: 'nova-manage cell_v2 create_cell --name=cell1', tags: ['database'] },
    ),
  ];
}

/**
 * The controller's nova. On a host that is also a compute node (all-in-one,
 * seeds 001/002) it covers the compute part too: one nova.conf holding both
 * parts' settings and one handler restarting every nova service, so the two
 * parts never rewrite each other's file (and `novaCompute` steps aside).
 */
export function novaController(ctx: HostContext) {
  const o = new OpenStackHost(ctx);
  const rel = NOVA_RELEASE[o.release];
  const plat = novaPlatform(o.release, o.family);
  const alsoCompute = o.inGroup('compute');
  const libvirt = libvirtDaemons(o);
  const settings = alsoCompute ? mergeSections(novaSettings(o, 'controller'), novaSettings(o, 'compute')) : novaSettings(o, 'controller');
  return defineRole('nova-controller', {
    restartLibvirt: restartDaemons(alsoCompute ? libvirt : []),
    restartNova: restartAll([...plat.controllerServices, ...(alsoCompute ? [plat.computeService] : [])]),
    // Debian only (never notified elsewhere).
    restartConsoleProxy: service({ name: 'nova-novncproxy', state: 'restarted' }),
  }).tasks([
    o.packages([...plat.controllerPackages, ...(alsoCompute ? plat.computePackages : [])], { tags: ['packages'] }),
    ...(plat.consoleProxyDefaults
      ? [
          line(
            { path: plat.consoleProxyDefaults, regexp: /^\s*NOVA_CONSOLE_PROXY_TYPE=/, line: 'NOVA_CONSOLE_PROXY_TYPE=novnc' },
            { notify: ['restartConsoleProxy'], tags: ['config'] },
          ),
        ]
      : []),
    ini({ path: NOVA_CONF, settings, ...o.secretFile('nova') }, { notify: ['restartNova'], tags: ['config'] }),
    ...plat.uwsgiApps.map((p) => uwsgiHeartbeat(p, o.apiWorkers, { notify: ['restartNova'], tags: ['config'] })),
    ...(alsoCompute
      ? [virtSettings({ path: plat.virtConfig, virtType: virtTypeOf(o), computeDriver: computeDriver(o) }, { notify: ['restartNova'], tags: ['config'] })]
      : []),
    ...rel.databases.flatMap((db) => serviceDatabase(o, 'nova', db)),
    ...(rel.modern ? cellsV2() : []),
    // Seed 003: as the nova user, or the logs it creates belong to root and nova cannot start.
    // Zed's `db sync` migrates cell0 too (and every cell; the lab's cell1 is the nova database).
    dbSync(
      { service: 'nova', user: 'nova', command: sh`nova-manage db sync`, databases: rel.modern ? ['nova', 'nova_cell0'] : ['nova'] },
      { tags: ['database'] },
    ),
    ...(plat.sqliteLeftover ? [absentFile(SQLITE_LEFTOVER, { tags: ['database'] })] : []),
    ...serviceRegistration(o, {
      name: 'nova',
      type: 'compute',
      description: 'OpenStack Compute',
      urls: o.sameUrls(`http://${o.controller}:${API_PORT}/${rel.endpointPath}`),
    }),
    ...plat.controllerServices.map((name) => service({ name, state: 'started', enabled: true }, { tags: ['services'] })),
    ...(alsoCompute
      ? [
          ...libvirt.flatMap((d) => daemonConfig(d, { notify: ['restartLibvirt'], tags: ['config'] })),
          ...libvirt.map((d) => daemon(d, { tags: ['services'] })),
          flushHandlers(),
          service({ name: plat.computeService, state: 'started', enabled: true }, { tags: ['services'] }),
        ]
      : []),
  ]);
}

/**
 * The platform's libvirt daemons, with qemu.conf's `namespaces` from the inventory when it says
 * (`libvirt_qemu_namespaces`, a list; empty: none). libvirt starts each QEMU in a private mount namespace
 * with its own /dev; inside the lab's hosts (a chroot whose /dev is the machine's, bound) that /dev came out
 * without /dev/urandom and every instance failed to boot ("Could not open '/dev/urandom'").
 */
function libvirtDaemons(o: OpenStackHost): readonly Daemon[] {
  const plat = novaPlatform(o.release, o.family);
  if (!o.ctx.vars.has('libvirt_qemu_namespaces')) return plat.libvirt;
  const namespaces = o.ctx.vars.list('libvirt_qemu_namespaces');
  // qemu.conf knows one namespace, "mount"; anything else is a mistake to report, not to rewrite.
  const unknown = namespaces.find((n) => n !== 'mount');
  if (unknown !== undefined) throw o.ctx.vars.bad('libvirt_qemu_namespaces', `may only list mount (not ${JSON.stringify(unknown)})`);
  const value = namespaces.length === 0 ? '[]' : `[ ${namespaces.map((n) => `"${n}"`).join(', ')} ]`;
  return plat.libvirt.map((d) =>
    d.service === 'libvirtd' ? { ...d, config: [...(d.config ?? []), { path: QEMU_CONF, settings: { namespaces: value } }] } : d,
  );
}

function virtTypeOf(o: OpenStackHost): string | undefined {
  return o.ctx.vars.has('nova_virt_type') ? o.ctx.vars.oneOf('nova_virt_type', ['kvm', 'qemu', 'lxc', 'xen', 'parallels']) : undefined;
}

function computeDriver(o: OpenStackHost): string | undefined {
  const value = o.ctx.vars.opt('nova_compute_driver');
  if (value === undefined) return undefined;
  const driver = COMPUTE_DRIVERS[value] ?? (value.includes('.') ? value : undefined);
  if (driver === undefined) o.ctx.vars.oneOf('nova_compute_driver', Object.keys(COMPUTE_DRIVERS)); // throws, naming the inventory line
  return driver;
}

export function novaCompute(ctx: HostContext) {
  const o = new OpenStackHost(ctx);
  const plat = novaPlatform(o.release, o.family);
  const virtType = virtTypeOf(o);
  const libvirt = libvirtDaemons(o);
  const role = defineRole('nova-compute', {
    restartLibvirt: restartDaemons(libvirt),
    restartNovaCompute: service({ name: plat.computeService, state: 'restarted' }),
  });
  // An all-in-one host's compute part is configured by novaController.
  if (o.inGroup('controller')) return role.tasks([]);
  return role.tasks([
    o.packages(plat.computePackages, { tags: ['packages'] }),
    // nova-compute connects to libvirt when it starts and exits when it cannot (the lab's first run: polkit without
    // D-Bus): libvirt runs with its own config, restarted if that changed, before nova-compute is configured and started.
    ...libvirt.flatMap((d) => daemonConfig(d, { notify: ['restartLibvirt'], tags: ['config'] })),
    ...libvirt.map((d) => daemon(d, { tags: ['services'] })),
    flushHandlers(),
    ini({ path: NOVA_CONF, settings: novaSettings(o, 'compute'), ...o.secretFile('nova') }, { notify: ['restartNovaCompute'], tags: ['config'] }),
    virtSettings({ path: plat.virtConfig, virtType, computeDriver: computeDriver(o) }, { notify: ['restartNovaCompute'], tags: ['config'] }),
    ...(plat.sqliteLeftover ? [absentFile(SQLITE_LEFTOVER, { tags: ['database'] })] : []),
    service({ name: plat.computeService, state: 'started', enabled: true }, { tags: ['services'] }),
  ]);
}

/**
 * Zed: map compute hosts that registered since the last run into cell1 (the
 * guide's last compute step, run on the controller). Changed only when it
 * mapped a host.
 */
export function novaDiscoverHosts(ctx: HostContext) {
  const o = new OpenStackHost(ctx);
  const role = defineRole('nova-discover-hosts');
  if (!NOVA_RELEASE[o.release].modern) return role.tasks([]);
  // The guide first checks that the compute services have registered: a
  // nova-compute started moments ago (the previous play) may not have yet.
  // Wait up to a minute for the inventory's compute hosts, then map whatever is there.
  const expected = ctx.inventory.groups.has('compute') ? ctx.inventory.groupHosts('compute').length : 0;
  const registered = sh`mysql -uroot -N -B -e ${"SELECT COUNT(*) FROM nova.services WHERE `binary` = 'nova-compute' AND deleted = 0"} 2>/dev/null`;
  const cmd = sh`i=0
while [ "$(${registered} || echo 0)" -lt ${expected} ] && [ "$i" -lt 30 ]; do sleep 2; i=$((i + 1)); done
${asNova('nova-manage cell_v2 discover_hosts --verbose')}`;
  // Nothing to map (one SQL query, not nova-manage's Python start-up): every compute host of the inventory has
  // registered, each registered service has its compute node, and no compute node is unmapped (nova's own
  // `mapped` flag, which discover_hosts sets).
  const allMapped = sh`[ "$(mysql -uroot -N -B -e ${`SELECT (SELECT COUNT(*) FROM nova.services WHERE \`binary\` = 'nova-compute' AND deleted = 0) >= ${expected} AND (SELECT COUNT(*) FROM nova.compute_nodes WHERE deleted = 0) >= (SELECT COUNT(*) FROM nova.services WHERE \`binary\` = 'nova-compute' AND deleted = 0) AND (SELECT COUNT(*) FROM nova.compute_nodes WHERE deleted = 0 AND mapped = 0) = 0`} 2>/dev/null)" = 1 ]`;
  return role.tasks([
    command(
      { cmd, unless: allMapped, changedWhen: (r) => /Creating host mapping/.test(r.stdout) },
      { name: 'nova-manage cell_v2 discover_hosts', tags: ['cells'] },
    ),
  ]);
}

export const plays: Play[] = [
  { name: 'nova: controller', hosts: 'controller', roles: [placement, novaController] },
  { name: 'nova: compute nodes', hosts: 'compute', roles: [novaCompute] },
  { name: 'nova: map new compute hosts (Zed cells v2)', hosts: 'controller', roles: [novaDiscoverHosts] },
];

if (isMain(import.meta.url)) await main(openstackPlaybook('nova', plays));
