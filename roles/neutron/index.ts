import { EBTABLES_SHIM, EBTABLES_SHIM_PATH } from '../../openstack/neutron/ebtables-among.js';
import { uwsgiEventletApp } from '../../openstack/uwsgi.js';
import { openstackPlaybook } from '../../openstack/playbook.js';
import { isMain, main } from '../../lib/cli/cli.js';
import { InputError } from '../../lib/core/errors.js';
import { serviceDatabase, serviceRegistration, type OpenStackHost } from '../../openstack/host.js';
import { defineRole, type HostContext, type Play, type Role } from '../../lib/core/playbook.js';
import { sh } from '../../lib/core/shell.js';
import type { ApiFact, Task } from '../../lib/core/task.js';
import { command } from '../../lib/modules/command.js';
import { file, symlink } from '../../lib/modules/file.js';
import { ini } from '../../lib/modules/ini.js';
import { KeystoneClient } from '../../openstack/keystone/client.js';
import { dbSync, versionCommand } from '../../openstack/migration.js';
import { ovsBridge, ovsPort } from '../../lib/modules/ovs.js';
import { service } from '../../lib/modules/service.js';
import { sysctl } from '../../lib/modules/sysctl.js';
import {
  agentConf,
  agentPath,
  bridgeMappings,
  dhcpConf,
  dnsmasqMtu,
  l3Conf,
  lbaasAgentConf,
  lbaasConf,
  metadataConf,
  ml2Conf,
  needsBridgeFilter,
  neutronConf,
  neutronHost,
  sysctlSettings,
  type NeutronHost,
} from './config.js';
import { PATHS } from './data.js';
import { allOf } from '../../lib/modules/all-of.js';
import { iniFromFact } from './tasks.js';

/**
 * OpenStack Networking (seed 004 §8, seed 003 §3.8 and §10, seed 000; the
 * Juno, Liberty and Zed install guides): neutron-server with ML2 on the
 * controller, the L3/DHCP/metadata agents on the network node, the L2 agent
 * (Open vSwitch or Linux bridge) on every node that carries instance traffic.
 *
 * A host gets one role with every part it plays: Liberty's and Zed's
 * controllers are also the network node when the inventory has no
 * `network` group, and an all-in-one host is all three. So neutron.conf and
 * ml2_conf.ini are written once per host, and the handlers restart exactly
 * the services on that host whose files changed.
 *
 * Inventory variables: `network_mode` (ovs-gre | ovs-vlan | linuxbridge-flat |
 * linuxbridge-vxlan; default per release, see data.ts), `tunnel_ip` (overlay
 * endpoint, default the management address), `external_interface` (NIC put
 * on br-ex, OVS network nodes), `provider_interface` (linuxbridge, default
 * eth0 as in seed 003), `physical_network` (default per release and mode),
 * `external_bridge` (br-ex), `bridge_mappings` / `bridge_ports`
 * (`physnet:bridge` / `bridge:nic` lists for extra OVS bridges, seed 002),
 * `network_vlan_ranges` (ovs-vlan), `tunnel_id_ranges`, `vni_ranges`
 * (default 1:1000), `neutron_lbaas` (LBaaS v1 with haproxy, Liberty CentOS).
 */

type Handler = 'restartServer' | 'restartAgent' | 'restartL3' | 'restartDhcp' | 'restartMetadata' | 'restartLbaas';

/** Juno's neutron.conf wants the service tenant's id (`keystone tenant-get service`): read it from keystone. */
function serviceTenantId(o: OpenStackHost): ApiFact<string> {
  return {
    kind: 'api',
    run: async (http) => {
      const ks = new KeystoneClient(o.keystoneAdmin(), http);
      const project = await ks.findProject('service', await ks.domainId(undefined));
      if (!project) throw new Error('keystone: project service does not exist (the keystone role creates it; run it first)');
      return project.id;
    },
  };
}

const unique = (names: readonly string[]): string[] => [...new Set(names)];

function neutronRole(h: NeutronHost) {
  const { o, parts, mode, platform } = h;
  const vars = o.ctx.vars;
  const svc = platform.services;
  const pkg = platform.packages;
  const l3 = parts.network && mode.router;
  const lbaasAgent = parts.network && h.lbaas;
  const agentPackages = pkg.agent[mode.mechanism];
  if (h.agent && agentPackages === null)
    throw new InputError(vars.declaredAt.file, vars.declaredAt.line, `host ${o.host}: no ${mode.mechanism} agent packages for ${o.release} on ${o.family}`);

  const restart = (name: string) => service({ name, state: 'restarted' });
  const handlers: { readonly [K in Handler]: Task } = {
    restartServer: allOf(`service ${svc.server.join(' + ')} restarted`, svc.server.map(restart)),
    restartAgent: restart(svc.agent[mode.mechanism]),
    restartL3: restart(svc.l3),
    restartDhcp: restart(svc.dhcp),
    restartMetadata: restart(svc.metadata),
    restartLbaas: restart(svc.lbaas),
  };
  const when = (...pairs: readonly (readonly [boolean, Handler])[]): Handler[] => pairs.filter(([on]) => on).map(([, name]) => name);
  const everyService = when(
    [parts.server, 'restartServer'],
    [h.agent, 'restartAgent'],
    [l3, 'restartL3'],
    [parts.network, 'restartDhcp'],
    [parts.network, 'restartMetadata'],
    [lbaasAgent, 'restartLbaas'],
  );

  // ---- prerequisites (seed 004 §8.2.1, §8.3.1) ----
  const kernel: Task<Handler>[] = [];
  if (needsBridgeFilter(h)) {
    // net.bridge.* exist only once the bridge netfilter is loaded (br_netfilter since Linux 3.18, `bridge` before).
    kernel.push(
      command(
        { cmd: sh`modprobe br_netfilter 2>/dev/null || modprobe bridge`, unless: sh`test -e /proc/sys/net/bridge/bridge-nf-call-iptables` },
        { tags: ['sysctl'] },
      ),
    );
    if (platform.modulesLoadD)
      kernel.push(
        file(
          { path: PATHS.modulesLoad, content: '# Managed by stackplay: bridged instance traffic passes iptables (security groups)\nbr_netfilter\n' },
          { tags: ['sysctl'] },
        ),
      );
  }
  const settings = sysctlSettings(h);
  if (Object.keys(settings).length > 0) kernel.push(sysctl({ settings }, { tags: ['sysctl'] }));

  // ---- packages ----
  const packageNames = unique([
    ...(parts.server ? pkg.server : []),
    ...(h.agent ? (agentPackages ?? []) : []),
    ...(parts.network ? pkg.networkAgents : []),
    ...(l3 ? pkg.l3 : []),
    ...(h.lbaas && (parts.server || parts.network) ? (pkg.lbaas ?? []) : []),
  ]);

  // ---- Open vSwitch bridges (seed 004 §8.2.7: br-ex with the external NIC, network node only) ----
  const ovs: Task<Handler>[] = [];
  if (mode.mechanism === 'openvswitch' && h.agent) {
    ovs.push(service({ name: svc.openvswitch, state: 'started', enabled: true }, { tags: ['ovs'] }));
    const ports = new Map(vars.list('bridge_ports').map((bp) => [bp.slice(0, bp.indexOf(':')), bp.slice(bp.indexOf(':') + 1)] as const));
    if (parts.network) ports.set(h.externalBridge, vars.str('external_interface'));
    for (const bridge of unique(bridgeMappings(h).map((m) => m.slice(m.indexOf(':') + 1)))) {
      const port = ports.get(bridge);
      ovs.push(port === undefined ? ovsBridge({ name: bridge }, { tags: ['ovs'] }) : ovsPort({ bridge, port }, { tags: ['ovs'] }));
    }
  }

  // ---- config files ----
  const config: Task<Handler>[] = [];
  const confOptions = { notify: everyService, tags: ['config'] };
  config.push(
    o.release === 'juno' && parts.server
      ? iniFromFact(
          {
            path: PATHS.neutronConf,
            fact: serviceTenantId(o),
            settings: (id: string) => neutronConf(h, id),
            sections: Object.keys(neutronConf(h, '')),
            ...o.secretFile('neutron'),
          },
          confOptions,
        )
      : ini({ path: PATHS.neutronConf, settings: neutronConf(h, ''), ...o.secretFile('neutron') }, confOptions),
  );
  config.push(ini({ path: PATHS.ml2, settings: ml2Conf(h) }, { notify: when([parts.server, 'restartServer'], [h.agent, 'restartAgent']), tags: ['config'] }));
  // Seed 003: the services read /etc/neutron/plugin.ini on CentOS (also the Juno/Liberty RDO guides).
  if (platform.pluginIniLink)
    config.push(
      symlink({ path: PATHS.pluginIni, target: PATHS.ml2 }, { notify: when([parts.server, 'restartServer'], [h.agent, 'restartAgent']), tags: ['config'] }),
    );
  if (parts.server && platform.uwsgiApi) config.push(uwsgiEventletApp(platform.uwsgiApi, o.apiWorkers, { notify: ['restartServer'], tags: ['config'] }));
  if (h.agent && o.release !== 'juno') config.push(ini({ path: agentPath(h), settings: agentConf(h) }, { notify: ['restartAgent'], tags: ['config'] }));
  if (h.agent && mode.mechanism === 'linuxbridge' && platform.ebtablesAmongShim)
    config.push(file({ path: EBTABLES_SHIM_PATH, content: EBTABLES_SHIM, mode: '0755' }, { notify: ['restartAgent'], tags: ['config'] }));
  if (l3) config.push(ini({ path: PATHS.l3, settings: l3Conf(h) }, { notify: ['restartL3'], tags: ['config'] }));
  if (parts.network) {
    config.push(ini({ path: PATHS.dhcp, settings: dhcpConf(h, PATHS.dnsmasq) }, { notify: ['restartDhcp'], tags: ['config'] }));
    const mtu = dnsmasqMtu(h);
    // Juno guide (GRE, 1454) and Liberty guide (VXLAN, 1450): lower the instances' MTU by the tunnel overhead.
    if (mtu !== null) config.push(file({ path: PATHS.dnsmasq, content: `dhcp-option-force=26,${mtu}\n` }, { notify: ['restartDhcp'], tags: ['config'] }));
    config.push(ini({ path: PATHS.metadata, settings: metadataConf(h), ...o.secretFile('neutron') }, { notify: ['restartMetadata'], tags: ['config'] }));
  }
  if (lbaasAgent) config.push(ini({ path: PATHS.lbaasAgent, settings: lbaasAgentConf(h) }, { notify: ['restartLbaas'], tags: ['config', 'lbaas'] }));
  if (h.lbaas && parts.server) config.push(ini({ path: PATHS.lbaasConf, settings: lbaasConf() }, { notify: ['restartServer'], tags: ['config', 'lbaas'] }));

  // ---- database, migrations and keystone (controller) ----
  const server: Task<Handler>[] = [];
  if (parts.server) {
    const configFiles = sh`--config-file ${PATHS.neutronConf} --config-file ${PATHS.ml2}`;
    server.push(
      ...serviceDatabase(o, 'neutron'),
      // Seed 004 §8.1 (`upgrade juno`), seed 003 (`upgrade head`), run as neutron (seed 003's lesson).
      dbSync(
        {
          service: 'neutron',
          user: 'neutron',
          command: sh`neutron-db-manage ${configFiles} upgrade ${h.style.dbTarget}`,
          // `current` prints the expand and contract heads in no fixed order: sorted, the same schema
          // always gives the same fingerprint (unsorted, a run on the lab reported a migration that was not).
          fingerprint: versionCommand(sh`neutron-db-manage ${configFiles} current | sort`),
        },
        { tags: ['database'] },
      ),
    );
    if (h.lbaas) {
      server.push(
        dbSync(
          {
            service: 'neutron-lbaas',
            user: 'neutron',
            command: sh`neutron-db-manage --subproject neutron-lbaas ${configFiles} upgrade head`,
            // LBaaS keeps its tables in neutron's database.
            databases: ['neutron'],
            fingerprint: versionCommand(sh`neutron-db-manage --subproject neutron-lbaas ${configFiles} current | sort`),
          },
          { tags: ['database', 'lbaas'] },
        ),
      );
    }
    server.push(
      ...serviceRegistration(o, { name: 'neutron', type: 'network', description: 'OpenStack Networking', urls: o.sameUrls(`http://${o.controller}:9696`) }),
    );
  }

  // ---- services ----
  const running = unique([
    ...(parts.server ? svc.server : []),
    ...(h.agent ? [svc.agent[mode.mechanism]] : []),
    ...(l3 ? [svc.l3] : []),
    ...(parts.network ? [svc.dhcp, svc.metadata] : []),
    ...(lbaasAgent ? [svc.lbaas] : []),
  ]).map((name) => service({ name, state: 'started', enabled: true }, { tags: ['services'] }));

  return defineRole('neutron', handlers).tasks([...kernel, o.packages(packageNames, { tags: ['packages'] }), ...config, ...ovs, ...server, ...running]);
}

const nothing = (): Role<never> => defineRole('neutron').tasks([]);

/** The controller: neutron-server, plus every other part the host plays. */
export function neutronServer(ctx: HostContext) {
  return neutronRole(neutronHost(ctx));
}

/** The network node (`network` group, else the controller): done by neutronServer when it is the controller. */
export function neutronNetworkNode(ctx: HostContext) {
  const h = neutronHost(ctx);
  return h.parts.network && !h.parts.server ? neutronRole(h) : nothing();
}

/** Compute nodes' L2 agent: done by the roles above on a controller or network node that also computes. */
export function neutronComputeAgent(ctx: HostContext) {
  const h = neutronHost(ctx);
  return h.parts.compute && !h.parts.server && !h.parts.network ? neutronRole(h) : nothing();
}

export const plays: Play[] = [
  { name: 'neutron: server (controller)', hosts: 'controller', roles: [neutronServer] },
  { name: 'neutron: network node', hosts: 'network:controller', roles: [neutronNetworkNode] },
  { name: 'neutron: compute agent', hosts: 'compute', roles: [neutronComputeAgent] },
];

if (isMain(import.meta.url)) await main(openstackPlaybook('neutron', plays));
