/**
 * The lab network: one bridge on the machine, one network namespace per
 * host with a veth into the bridge. Hosts reach each other and the bridge
 * address (apt proxy) and nothing else: the bridge never forwards.
 */
import dns from 'node:dns/promises';
import fs from 'node:fs';
import { $ } from './sh.js';
import { cidrText, networkText, overlaps, parseCidr, type Cidr } from './net.js';
import type { ExternalLink, ExternalPlan, HostPlan, LabPlan } from './plan.js';

export function linkExists(name: string): boolean {
  return fs.existsSync(`/sys/class/net/${name}`);
}

export function netnsExists(ns: string): boolean {
  return fs.existsSync(`/run/netns/${ns}`);
}

export function listNetns(): string[] {
  try {
    return fs.readdirSync('/run/netns');
  } catch {
    return [];
  }
}

export function isMountPoint(dir: string): boolean {
  // /proc/self/mountinfo field 5 is the mount point (octal-escaped).
  const escaped = dir.replace(/[ \t\n\\]/g, (c) => `\\${c.charCodeAt(0).toString(8).padStart(3, '0')}`);
  return fs
    .readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .some((line) => line.split(' ')[4] === escaped);
}

function writeSysctl(key: string, value: string): void {
  fs.writeFileSync(`/proc/sys/${key.replace(/\./g, '/')}`, value);
}

interface IpAddrInfo {
  ifname: string;
  addr_info?: { family: string; local: string; prefixlen: number }[];
}
interface IpRoute {
  dst: string;
  dev?: string;
}

/** A server the machine needs beyond its own links (its package mirror, its DNS server). */
export interface Remote {
  readonly host: string;
  readonly what: string;
}

async function addressesOf(host: string): Promise<string[]> {
  if (parseCidr(host, 32)) return [host];
  try {
    return (await dns.lookup(host, { all: true, family: 4 })).map((a) => a.address);
  } catch {
    return []; // unresolvable now: nothing to protect
  }
}

/** The machine's DNS servers (/etc/resolv.conf). */
export function nameservers(): string[] {
  try {
    return [...fs.readFileSync('/etc/resolv.conf', 'utf8').matchAll(/^nameserver\s+(\d+\.\d+\.\d+\.\d+)\s*$/gm)].map((m) => m[1]!);
  } catch {
    return [];
  }
}

/**
 * Refuse subnets the machine already uses (its uplink, another bridge...):
 * the lab must never route into them.
 */
export async function checkSubnetsFree(subnets: readonly Cidr[], bridgeNames: readonly string[], remotes: readonly Remote[] = []): Promise<void> {
  const addrs = JSON.parse((await $`ip -j -4 addr show`).stdout) as IpAddrInfo[];
  const routes = JSON.parse((await $`ip -j -4 route show`).stdout) as IpRoute[];
  const used: { cidr: Cidr; what: string }[] = [];
  // Addresses the machine reaches through its default route: a lab subnet over one of them would hijack it.
  for (const r of remotes) for (const ip of await addressesOf(r.host)) used.push({ cidr: { ip, prefix: 32 }, what: `${r.what} (${r.host} is ${ip})` });
  for (const link of addrs) {
    if (bridgeNames.includes(link.ifname)) continue;
    for (const a of link.addr_info ?? []) {
      if (a.family === 'inet') used.push({ cidr: { ip: a.local, prefix: a.prefixlen }, what: `address ${a.local}/${a.prefixlen} on ${link.ifname}` });
    }
  }
  for (const r of routes) {
    if (r.dst === 'default' || (r.dev !== undefined && bridgeNames.includes(r.dev))) continue;
    const cidr = parseCidr(r.dst, 32);
    if (cidr) used.push({ cidr, what: `route ${r.dst}${r.dev ? ` dev ${r.dev}` : ''}` });
  }
  for (const subnet of subnets) {
    const clash = used.find((u) => overlaps(u.cidr, subnet));
    if (clash) throw new Error(`lab subnet ${networkText(subnet)} overlaps the machine's ${clash.what}: choose another subnet in the inventory`);
  }
}

/** Create (or complete) a lab bridge holding `address` on the machine side. Returns true when it had to be created. */
export async function ensureBridge(name: string, address: Cidr): Promise<boolean> {
  const created = !linkExists(name);
  if (created) await $`ip link add ${name} type bridge`;
  // Never forward anything that comes in from the lab, whatever the machine's global setting.
  writeSysctl(`net.ipv4.conf.${name}.forwarding`, '0');
  writeSysctl(`net.ipv6.conf.${name}.disable_ipv6`, '1');
  await $`ip addr replace ${cidrText(address)} dev ${name}`;
  await $`ip link set ${name} up`;
  return created;
}

export async function deleteBridge(name: string): Promise<void> {
  if (linkExists(name)) await $`ip link del ${name}`;
}

/**
 * The host's namespace and veth: eth0 inside with the host's addresses,
 * default route via the bridge (which answers only for the proxy).
 * Idempotent: re-applies addresses and routes with `replace`.
 */
export async function ensureHostNet(plan: LabPlan, host: HostPlan): Promise<{ createdNetns: boolean; createdVeth: boolean }> {
  const ns = host.netns;
  const createdNetns = !netnsExists(ns);
  if (createdNetns) await $`ip netns add ${ns}`;
  const createdVeth = !linkExists(host.vethHost);
  if (createdVeth) {
    const peer = (await $`ip -n ${ns} link show eth0`.nothrow()).exitCode === 0;
    if (peer) await $`ip -n ${ns} link del eth0`;
    await $`ip link add ${host.vethHost} type veth peer name eth0 netns ${ns}`;
  }
  writeSysctl(`net.ipv6.conf.${host.vethHost}.disable_ipv6`, '1');
  await $`ip link set ${host.vethHost} master ${plan.bridgeName} up`;
  await $`ip -n ${ns} link set lo up`;
  await $`ip -n ${ns} addr replace ${cidrText(host.address)} dev eth0`;
  if (host.tunnel) await $`ip -n ${ns} addr replace ${cidrText(host.tunnel)} dev eth0`;
  await $`ip -n ${ns} link set eth0 up`;
  await $`ip -n ${ns} route replace default via ${plan.bridge.ip} dev eth0`;
  if (host.external && plan.external) await ensureExternalLink(ns, host.external, plan.external);
  return { createdNetns, createdVeth };
}

/**
 * The host's external link: a veth from the machine's external bridge, up,
 * with no address (neutron bridges it) or, on a client host, `external_ip`.
 */
async function ensureExternalLink(ns: string, ext: ExternalLink, external: ExternalPlan): Promise<void> {
  const bridgeName = external.bridgeName;
  if (!linkExists(ext.vethHost)) {
    if ((await $`ip -n ${ns} link show ${ext.link}`.nothrow()).exitCode === 0) await $`ip -n ${ns} link del ${ext.link}`;
    await $`ip link add ${ext.vethHost} type veth peer name ${ext.link} netns ${ns}`;
  }
  writeSysctl(`net.ipv6.conf.${ext.vethHost}.disable_ipv6`, '1');
  await $`ip link set ${ext.vethHost} master ${bridgeName} up`;
  await $`ip -n ${ns} link set ${ext.link} up`;
  if (ext.address !== undefined) await $`ip -n ${ns} addr replace ${`${ext.address}/${external.gateway.prefix}`} dev ${ext.link}`;
}

/** Delete the namespace (its eth0 goes with it, and so does the veth's machine side). */
export async function deleteHostNet(ns: string, vethHost: string): Promise<void> {
  if (netnsExists(ns)) await $`ip netns del ${ns}`;
  // The kernel tears the namespace (and with it the veth pair) down asynchronously.
  const until = Date.now() + 5000;
  while (linkExists(vethHost) && Date.now() < until) await new Promise((r) => setTimeout(r, 50));
  if (linkExists(vethHost)) await $`ip link del ${vethHost}`.nothrow();
  if (linkExists(vethHost)) throw new Error(`could not remove ${vethHost}`);
}

/** Pids of every process whose network namespace is `ns`. */
export async function netnsPids(ns: string): Promise<number[]> {
  if (!netnsExists(ns)) return [];
  const out = await $`ip netns pids ${ns}`.nothrow();
  return out.stdout.split(/\s+/).filter(Boolean).map(Number);
}

/** How /run/netns looks before the lab's first `ip netns add` (which may create it and bind-mount it on itself). */
export function runNetnsBefore(): { dir: boolean; mount: boolean } {
  return { dir: fs.existsSync('/run/netns'), mount: fs.existsSync('/run/netns') && isMountPoint('/run/netns') };
}

/** Undo what `ip netns add` did to /run/netns, once no namespace is left in it. */
export async function cleanupRunNetns(record: { readonly createdDir: boolean; readonly createdMount: boolean }): Promise<void> {
  if (listNetns().length > 0) return;
  if (record.createdMount && isMountPoint('/run/netns')) await $`umount /run/netns`;
  if (record.createdDir && fs.existsSync('/run/netns')) fs.rmdirSync('/run/netns');
}
