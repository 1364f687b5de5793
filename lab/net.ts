/**
 * Small IPv4 helpers for the lab's addressing (no dependency needed for /24s).
 */

export interface Cidr {
  readonly ip: string;
  readonly prefix: number;
}

const IPV4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/;

export function parseIpv4(text: string): number | undefined {
  const m = IPV4.exec(text);
  if (!m) return undefined;
  const octets = m.slice(1, 5).map(Number);
  if (octets.some((o) => o > 255)) return undefined;
  return octets.reduce((acc, o) => acc * 256 + o, 0);
}

export function formatIpv4(n: number): string {
  return [24, 16, 8, 0].map((shift) => Math.floor(n / 2 ** shift) % 256).join('.');
}

/** `10.42.0.11` or `10.42.0.11/24`; a bare address gets `defaultPrefix`. */
export function parseCidr(text: string, defaultPrefix: number): Cidr | undefined {
  const [ip = '', prefixText, ...rest] = text.split('/');
  if (rest.length > 0 || parseIpv4(ip) === undefined) return undefined;
  const prefix = prefixText === undefined ? defaultPrefix : Number(prefixText);
  if (!Number.isInteger(prefix) || prefix < 8 || prefix > 30 || (prefixText !== undefined && !/^\d+$/.test(prefixText))) return undefined;
  return { ip, prefix };
}

export function cidrText(c: Cidr): string {
  return `${c.ip}/${c.prefix}`;
}

export function network(c: Cidr): number {
  const size = 2 ** (32 - c.prefix);
  return Math.floor(parseIpv4(c.ip)! / size) * size;
}

export function networkText(c: Cidr): string {
  return `${formatIpv4(network(c))}/${c.prefix}`;
}

export function contains(net: Cidr, ip: string): boolean {
  return parseIpv4(ip) !== undefined && network({ ip, prefix: net.prefix }) === network(net);
}

export function overlaps(a: Cidr, b: Cidr): boolean {
  const prefix = Math.min(a.prefix, b.prefix);
  return network({ ip: a.ip, prefix }) === network({ ip: b.ip, prefix });
}

/** Host part is neither the network nor the broadcast address. */
export function isHostAddress(c: Cidr): boolean {
  const size = 2 ** (32 - c.prefix);
  const offset = parseIpv4(c.ip)! - network(c);
  return offset !== 0 && offset !== size - 1;
}
