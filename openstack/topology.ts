import { InputError } from '../lib/core/errors.js';
import type { Inventory } from '../lib/inventory/inventory.js';
import type { HostVars } from '../lib/inventory/vars.js';
import type { OpenStackHost } from './host.js';
import type { Release } from './release.js';

/**
 * What the inventory says about the cloud as a whole, which several roles
 * (and the verify playbook) must agree on: the network mode and its
 * physical network, which hosts are network nodes, whether Telemetry is
 * deployed. One place, so no role reads another role's files.
 */

export const NETWORK_MODES = ['ovs-gre', 'ovs-vlan', 'linuxbridge-flat', 'linuxbridge-vxlan'] as const;
export type NetworkMode = (typeof NETWORK_MODES)[number];
export type Mechanism = 'openvswitch' | 'linuxbridge';

/**
 * Juno: the guide's ML2 + OVS + GRE (seed 004). Liberty: seed 003's flat
 * provider network on linuxbridge. Zed: the Zed guide's self-service option
 * (linuxbridge + VXLAN; linuxbridge is still the documented agent in Zed).
 */
export const DEFAULT_MODE: Readonly<Record<Release, NetworkMode>> = { juno: 'ovs-gre', liberty: 'linuxbridge-flat', zed: 'linuxbridge-vxlan' };

/** Juno's guide documents only Open vSwitch; later guides document both agents. */
const SUPPORTED_MODES: Readonly<Record<Release, readonly NetworkMode[]>> = {
  juno: ['ovs-gre', 'ovs-vlan'],
  liberty: NETWORK_MODES,
  zed: NETWORK_MODES,
};

export interface ModeInfo {
  readonly mode: NetworkMode;
  readonly mechanism: Mechanism;
  /** Tenant (self-service) network type, or null for provider networks only. */
  readonly tenantType: 'gre' | 'vlan' | 'vxlan' | null;
  /** Routers, floating IPs, the L3 agent (seed 000: provider-only installs have none). */
  readonly router: boolean;
}

export const MODES: Readonly<Record<NetworkMode, ModeInfo>> = {
  'ovs-gre': { mode: 'ovs-gre', mechanism: 'openvswitch', tenantType: 'gre', router: true },
  'ovs-vlan': { mode: 'ovs-vlan', mechanism: 'openvswitch', tenantType: 'vlan', router: true },
  'linuxbridge-flat': { mode: 'linuxbridge-flat', mechanism: 'linuxbridge', tenantType: null, router: false },
  'linuxbridge-vxlan': { mode: 'linuxbridge-vxlan', mechanism: 'linuxbridge', tenantType: 'vxlan', router: true },
};

/** `network_mode` of a host, checked against what its release's guide documents. */
export function networkMode(vars: HostVars, release: Release): ModeInfo {
  const mode = vars.oneOf('network_mode', NETWORK_MODES, DEFAULT_MODE[release]);
  if (!SUPPORTED_MODES[release].includes(mode)) {
    const at = vars.values.get('network_mode')?.source ?? vars.declaredAt;
    throw new InputError(
      at.file,
      at.line,
      `host ${vars.host}: network_mode ${mode} is not supported for ${release} (use ${SUPPORTED_MODES[release].join(', ')})`,
    );
  }
  return MODES[mode];
}

/**
 * Name of the physical network the external/provider network sits on: the
 * OVS guides map `external` to br-ex; seed 003 calls its flat network
 * `physnet1`; the Liberty self-service guide `public`; the Zed guide `provider`.
 */
export function defaultPhysnet(release: Release, mode: ModeInfo): string {
  if (mode.mechanism === 'openvswitch') return 'external';
  if (release === 'zed') return 'provider';
  return mode.mode === 'linuxbridge-flat' ? 'physnet1' : 'public';
}

/** Hosts running the L3/DHCP/metadata agents: the `network` group, or the controllers when there is none (Liberty, Zed guides). */
export function networkNodes(inventory: Inventory): string[] {
  const net = inventory.groups.has('network') ? inventory.groupHosts('network') : [];
  if (net.length > 0) return net;
  return inventory.groups.has('controller') ? inventory.groupHosts('controller') : [];
}

/**
 * Whether ceilometer collects from glance and nova: seed 004 (Juno) installs
 * Telemetry, seeds 003/000 (Liberty) do not; `telemetry=true|false` in the
 * inventory decides. Zed's ceilometer role deploys nothing (no gnocchi).
 */
export function telemetryDeployed(o: OpenStackHost): boolean {
  return o.release !== 'zed' && o.ctx.vars.bool('telemetry', o.release === 'juno');
}
