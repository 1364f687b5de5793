/**
 * Turns an inventory into the lab to build: hosts, addresses, bridge, key.
 * All validation happens here, before anything on the machine is touched.
 */
import { createHash } from 'node:crypto';
import path from 'node:path';
import type { Inventory } from '../lib/inventory/inventory.js';
import { contains, isHostAddress, networkText, overlaps, parseCidr, type Cidr } from './net.js';
import { REPO_ROOT, hostDir } from './paths.js';

export interface HostPlan {
  readonly name: string;
  /** Network namespace name (= host name, so `ip netns exec controller ...` works). */
  readonly netns: string;
  /** Machine side of the host's veth, enslaved to the bridge. */
  readonly vethHost: string;
  /** Management address (ansible_host) on the bridge subnet. */
  readonly address: Cidr;
  /** Second address on the same veth (tunnel_ip), reachable from the other hosts only. */
  readonly tunnel?: Cidr;
  /**
   * The host's link to the external (provider) network: the interface the
   * inventory maps the external physical network to (`provider_interface`
   * on linuxbridge, `external_interface` on Open vSwitch) when it is not
   * eth0, a veth into the machine's external bridge. No address inside:
   * neutron puts it into its bridge. Or, for a host with `external_ip`, a
   * client's link to the external network (`eth1`, holding that address
   * with the prefix of `external_cidr`): Tempest reaches floating IPs from
   * there, as it would from an operator's utility host.
   */
  readonly external?: ExternalLink;
  /** Where the lab puts its bootable guest in this host's root (`verify_guest_dir`), for the verify playbook. */
  readonly guestDir?: string;
  readonly dir: string;
}

export interface ExternalLink {
  readonly link: string;
  readonly vethHost: string;
  /** `external_ip`: the host is a client on the external network, not neutron's link to it. */
  readonly address?: string;
}

/** The external network's bridge on the machine: the gateway every floating IP is reached through, from this machine only. */
export interface ExternalPlan {
  readonly bridgeName: string;
  /** `external_gateway` with the prefix of `external_cidr`. */
  readonly gateway: Cidr;
}

export interface LabPlan {
  readonly inventory: string;
  readonly bridgeName: string;
  /** Bridge address on the machine side: the hosts' gateway and the apt proxy's address. */
  readonly bridge: Cidr;
  readonly hosts: readonly HostPlan[];
  /** Present when some host has an external link. */
  readonly external?: ExternalPlan;
  readonly keyFile: string;
  readonly knownHosts: string;
  /**
   * `lab_bastion`: the one host this machine reaches; every other host only
   * through it (the lab's firewall refuses the machine's own connections to
   * them once they are up), as a lab behind a jump host.
   */
  readonly bastion?: { readonly name: string; readonly ip: string };
}

export class LabConfigError extends Error {
  override readonly name = 'LabConfigError';
}

/** Lab host names double as netns names and hostnames: keep them DNS labels. */
const HOST_NAME = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;

/** Interface names are at most 15 characters. `sl-` for the lab link, `sx-` for the external one. */
export function vethName(host: string, prefix: 'sl' | 'sx' = 'sl'): string {
  const simple = `${prefix}-${host}`;
  if (simple.length <= 15) return simple;
  const hash = createHash('sha256').update(host).digest('hex').slice(0, 4);
  return `${prefix}-${host.slice(0, 7)}-${hash}`;
}

const IFNAME = /^[a-zA-Z0-9_.-]{1,15}$/;

function singleValue(inv: Inventory, names: readonly string[], key: string): string | undefined {
  const values = new Set(names.map((h) => inv.hostVars(h).get(key)?.value));
  if (values.size > 1) throw new LabConfigError(`${key} must be the same for every lab host (set it in [all:vars])`);
  return [...values][0];
}

export function planLab(inv: Inventory): LabPlan {
  const names = [...inv.hosts.keys()];
  if (names.length === 0) throw new LabConfigError(`${inv.file}: no hosts`);

  const hosts: HostPlan[] = [];
  for (const name of names) {
    if (!HOST_NAME.test(name)) throw new LabConfigError(`host '${name}': lab host names must be lower-case DNS labels (a-z, 0-9, '-')`);
    const vars = inv.hostVars(name);
    const hostVar = vars.get('ansible_host');
    if (!hostVar) throw new LabConfigError(`host '${name}': needs ansible_host (its lab address)`);
    const address = parseCidr(hostVar.value, 24);
    if (!address || hostVar.value.includes('/')) {
      throw new LabConfigError(`host '${name}': ansible_host=${hostVar.value} is not an IPv4 address (${hostVar.source.file}:${hostVar.source.line})`);
    }
    const tunnelVar = vars.get('tunnel_ip');
    let tunnel: Cidr | undefined;
    if (tunnelVar) {
      tunnel = parseCidr(tunnelVar.value, 24);
      if (!tunnel)
        throw new LabConfigError(`host '${name}': tunnel_ip=${tunnelVar.value} is not an IPv4 address (${tunnelVar.source.file}:${tunnelVar.source.line})`);
    }
    const linkName = vars.get('provider_interface') ? 'provider_interface' : 'external_interface';
    const linkVar = vars.get(linkName);
    if (linkVar && !IFNAME.test(linkVar.value))
      throw new LabConfigError(`host '${name}': ${linkVar.value} is not an interface name (${linkVar.source.file}:${linkVar.source.line})`);
    const clientVar = vars.get('external_ip');
    if (clientVar && linkVar)
      throw new LabConfigError(
        `host '${name}': external_ip=${clientVar.value} and ${linkName}=${linkVar.value}: a host is either neutron's link to the external network or a client on it (${clientVar.source.file}:${clientVar.source.line})`,
      );
    if (clientVar && (!parseCidr(clientVar.value, 24) || clientVar.value.includes('/')))
      throw new LabConfigError(`host '${name}': external_ip=${clientVar.value} is not an IPv4 address (${clientVar.source.file}:${clientVar.source.line})`);
    const external: ExternalLink | undefined = clientVar
      ? { link: 'eth1', vethHost: vethName(name, 'sx'), address: clientVar.value }
      : linkVar && linkVar.value !== 'eth0'
        ? { link: linkVar.value, vethHost: vethName(name, 'sx') }
        : undefined;
    const guestVar = vars.get('verify_guest_dir');
    if (guestVar && (!/^\/[\w.-]+(\/[\w.-]+)*$/.test(guestVar.value) || guestVar.value.split('/').includes('..')))
      throw new LabConfigError(`host '${name}': verify_guest_dir=${guestVar.value} must be an absolute path (${guestVar.source.file}:${guestVar.source.line})`);
    hosts.push({
      name,
      netns: name,
      vethHost: vethName(name),
      address,
      ...(tunnel ? { tunnel } : {}),
      ...(external ? { external } : {}),
      ...(guestVar ? { guestDir: guestVar.value } : {}),
      dir: hostDir(name),
    });
  }

  // The bridge: lab_bridge=10.42.0.1/24 if given, else .1 of the first host's /24.
  const first = hosts[0]!;
  const bridgeVar = singleValue(inv, names, 'lab_bridge');
  const bridge = bridgeVar !== undefined ? parseCidr(bridgeVar, 24) : parseCidr(first.address.ip.replace(/\.\d+$/, '.1'), 24);
  if (!bridge || !isHostAddress(bridge)) throw new LabConfigError(`lab_bridge=${bridgeVar ?? ''} must be an address with prefix, e.g. 10.42.0.1/24`);
  const bridgeName = singleValue(inv, names, 'lab_bridge_name') ?? 'splab0';
  if (!/^[a-zA-Z0-9_-]{1,15}$/.test(bridgeName)) throw new LabConfigError(`lab_bridge_name=${bridgeName} is not a valid interface name`);

  const seen = new Map<string, string>([[bridge.ip, 'the bridge']]);
  for (const h of hosts) {
    const addr: Cidr = { ip: h.address.ip, prefix: bridge.prefix };
    if (!contains(bridge, h.address.ip) || !isHostAddress(addr)) {
      throw new LabConfigError(`host '${h.name}': ansible_host=${h.address.ip} is not a host address in the lab subnet ${networkText(bridge)}`);
    }
    for (const ip of [h.address.ip, ...(h.tunnel ? [h.tunnel.ip] : [])]) {
      const other = seen.get(ip);
      if (other) throw new LabConfigError(`host '${h.name}': address ${ip} already used by ${other}`);
      seen.set(ip, `host '${h.name}'`);
    }
    if (h.tunnel && overlaps(h.tunnel, bridge) && h.tunnel.prefix !== bridge.prefix) {
      throw new LabConfigError(`host '${h.name}': tunnel_ip ${h.tunnel.ip}/${h.tunnel.prefix} overlaps the lab subnet with a different prefix`);
    }
  }
  const withPrefix = hosts.map((h) => ({ ...h, address: { ip: h.address.ip, prefix: bridge.prefix } }));
  const external = hosts.some((h) => h.external) ? planExternal(inv, names, bridge) : undefined;
  for (const h of hosts) {
    const ip = h.external?.address;
    if (ip === undefined || !external) continue;
    const addr: Cidr = { ip, prefix: external.gateway.prefix };
    if (!contains(external.gateway, ip) || !isHostAddress(addr) || ip === external.gateway.ip)
      throw new LabConfigError(`host '${h.name}': external_ip=${ip} is not a free host address in external_cidr ${networkText(external.gateway)}`);
    const other = seen.get(ip);
    if (other) throw new LabConfigError(`host '${h.name}': address ${ip} already used by ${other}`);
    seen.set(ip, `host '${h.name}'`);
  }

  const keyVar = singleValue(inv, names, 'ansible_ssh_private_key_file');
  if (keyVar === undefined) throw new LabConfigError('set ansible_ssh_private_key_file in [all:vars]: the lab key is generated there');
  const keyFile = path.resolve(REPO_ROOT, keyVar);
  // The tool's known_hosts, when the inventory names it; else beside the key.
  const knownHostsVar = singleValue(inv, names, 'stackplay_known_hosts');
  const user = singleValue(inv, names, 'ansible_user') ?? 'root';
  if (user !== 'root') throw new LabConfigError(`ansible_user=${user}: lab hosts only have root`);

  const bastionName = singleValue(inv, names, 'lab_bastion');
  const bastionHost = bastionName === undefined ? undefined : withPrefix.find((h) => h.name === bastionName);
  if (bastionName !== undefined && !bastionHost) throw new LabConfigError(`lab_bastion=${bastionName} is not a host of the inventory`);

  return {
    inventory: path.resolve(inv.file),
    ...(bastionHost ? { bastion: { name: bastionHost.name, ip: bastionHost.address.ip } } : {}),
    bridgeName,
    bridge,
    hosts: withPrefix,
    ...(external ? { external } : {}),
    keyFile,
    knownHosts: knownHostsVar !== undefined ? path.resolve(REPO_ROOT, knownHostsVar) : path.join(path.dirname(keyFile), 'known_hosts'),
  };
}

/** The external bridge from the networks role's own variables: `external_gateway` on it, prefix of `external_cidr`. */
function planExternal(inv: Inventory, names: readonly string[], bridge: Cidr): ExternalPlan {
  const cidrText = singleValue(inv, names, 'external_cidr');
  const gatewayText = singleValue(inv, names, 'external_gateway');
  if (cidrText === undefined || gatewayText === undefined)
    throw new LabConfigError(
      'a host has an external link (provider_interface/external_interface/external_ip): set external_cidr and external_gateway in [all:vars]',
    );
  const cidr = parseCidr(cidrText, 32);
  if (!cidr || !cidrText.includes('/')) throw new LabConfigError(`external_cidr=${cidrText} is not a subnet like 198.51.100.0/24`);
  const gateway: Cidr = { ip: gatewayText, prefix: cidr.prefix };
  if (!contains(cidr, gatewayText) || !isHostAddress(gateway)) throw new LabConfigError(`external_gateway=${gatewayText} is not a host address in ${cidrText}`);
  if (overlaps(cidr, bridge)) throw new LabConfigError(`external_cidr=${cidrText} overlaps the lab subnet ${networkText(bridge)}`);
  const bridgeName = singleValue(inv, names, 'lab_external_bridge_name') ?? 'splabx0';
  if (!IFNAME.test(bridgeName)) throw new LabConfigError(`lab_external_bridge_name=${bridgeName} is not a valid interface name`);
  return { bridgeName, gateway };
}

/** Subnets the lab will put on links: the bridge's, the external network's, and each distinct tunnel subnet. */
export function labSubnets(plan: LabPlan): Cidr[] {
  const result: Cidr[] = [plan.bridge, ...(plan.external ? [plan.external.gateway] : [])];
  for (const h of plan.hosts) {
    if (h.tunnel && !result.some((c) => overlaps(c, h.tunnel!))) result.push(h.tunnel);
  }
  return result;
}
