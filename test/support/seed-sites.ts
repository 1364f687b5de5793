import { openstackPlaybook } from '../../openstack/playbook.js';
import { readFileSync } from 'node:fs';
import { type Play } from '../../lib/core/playbook.js';
import { host, planSite, type HostPlan, type SitePlan } from './plan.js';

/** The seeds' inventories (004, 003, 000) and the Zed lab's, and the controller of each. */
export const SEED_SITES = {
  juno: 'hosts/juno.ini',
  libertyCentos: 'hosts/liberty-centos.ini',
  libertyUbuntu: 'hosts/liberty-ubuntu.ini',
  zed: 'hosts/lab.ini',
} as const;
export type SeedSite = keyof typeof SEED_SITES;
export const SEED_CONTROLLER: Record<SeedSite, string> = { juno: 'controller', libertyCentos: 'linux-node1', libertyUbuntu: 'controller', zed: 'controller' };

/** An inventory from hosts/ with every secret equal to `password` (and optional text replacements). */
export function inventoryWithPassword(path: string, password: string, replace: readonly [RegExp, string][] = []): string {
  let text = readFileSync(path, 'utf8').replace(/^default_password=.*$/m, '');
  for (const [re, to] of replace) text = text.replace(re, to);
  return text.replace(/^\[all:vars\]$/m, `[all:vars]\ndefault_password=${password}`);
}

/** Plans of `plays` on each seed site (made once, on first use), and their controllers' plans. */
export function seedSitePlans(name: string, plays: readonly Play[], password: string) {
  const plans = new Map<SeedSite, Promise<SitePlan>>();
  const site = (s: SeedSite): Promise<SitePlan> => {
    let p = plans.get(s);
    if (!p) plans.set(s, (p = planSite(openstackPlaybook(`${name}-${s}`, [...plays]), inventoryWithPassword(SEED_SITES[s], password), { text: true })));
    return p;
  };
  const controller = async (s: SeedSite): Promise<HostPlan> => host(await site(s), SEED_CONTROLLER[s]);
  return { site, controller };
}
