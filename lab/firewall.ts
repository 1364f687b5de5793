/**
 * Keeps the lab's traffic in the lab. The machine does not forward for the
 * bridge (net.ipv4.conf.<bridge>.forwarding=0), but it would still accept
 * packets from a host for any of its own addresses (its uplink address, every
 * service bound to 0.0.0.0). This nftables table, the lab's own, lets hosts
 * reach the machine only at the apt proxy (and ping the bridge address), and
 * refuses anything routed between the lab and the outside.
 */
import { $ } from './sh.js';
import { PROXY_PORT } from './paths.js';
import type { LabPlan } from './plan.js';

export const FIREWALL_TABLE = 'stackplay_lab';

export async function nftUsable(): Promise<boolean> {
  return (await $`nft list tables`.nothrow()).exitCode === 0;
}

export async function firewallPresent(): Promise<boolean> {
  return (await $`nft list table inet ${FIREWALL_TABLE}`.nothrow()).exitCode === 0;
}

/**
 * The ruleset; names and addresses were validated by planLab. The external
 * bridge (floating IPs) carries only what this machine starts: its pings
 * and SSH sessions to instances, and their replies. Nothing from it reaches
 * the machine unasked, and nothing is routed to or from it.
 */
export function firewallRules(plan: LabPlan, options: { bastion: boolean } = { bastion: false }): string {
  const br = `"${plan.bridgeName}"`;
  const ip = plan.bridge.ip;
  const reject = 'reject with icmpx type admin-prohibited';
  const ext = plan.external ? `"${plan.external.bridgeName}"` : undefined;
  return [
    // Create-then-delete makes the replacement atomic and idempotent in one transaction.
    `table inet ${FIREWALL_TABLE}`,
    `delete table inet ${FIREWALL_TABLE}`,
    `table inet ${FIREWALL_TABLE} {`,
    '  chain input {',
    '    type filter hook input priority filter; policy accept;',
    `    iifname ${br} ct state established,related accept`,
    `    iifname ${br} ip daddr ${ip} tcp dport ${PROXY_PORT} accept`,
    `    iifname ${br} ip daddr ${ip} icmp type echo-request accept`,
    `    iifname ${br} ${reject}`,
    ...(ext ? [`    iifname ${ext} ct state established,related accept`, `    iifname ${ext} ${reject}`] : []),
    '  }',
    // lab_bastion: this machine opens connections to the bastion only (replies to the hosts' own, such as the apt proxy's, pass).
    ...(options.bastion && plan.bastion
      ? [
          '  chain output {',
          '    type filter hook output priority filter; policy accept;',
          `    oifname ${br} ct state established,related accept`,
          `    oifname ${br} ip daddr ${plan.bastion.ip} accept`,
          `    oifname ${br} ${reject}`,
          '  }',
        ]
      : []),
    '  chain forward {',
    '    type filter hook forward priority filter; policy accept;',
    // With br_netfilter loaded, traffic between hosts shows up here with the bridge as both ends.
    `    iifname ${br} oifname != ${br} ${reject}`,
    `    oifname ${br} iifname != ${br} ${reject}`,
    ...(ext ? [`    iifname ${ext} oifname != ${ext} ${reject}`, `    oifname ${ext} iifname != ${ext} ${reject}`] : []),
    '  }',
    '}',
    '',
  ].join('\n');
}

export async function applyFirewall(plan: LabPlan, options: { bastion: boolean } = { bastion: false }): Promise<void> {
  await $({ input: firewallRules(plan, options) })`nft -f -`;
}

export async function removeFirewall(): Promise<void> {
  if (await firewallPresent()) await $`nft delete table inet ${FIREWALL_TABLE}`;
}
