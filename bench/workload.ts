/**
 * The benchmark's workload, one definition for all three contenders:
 * 20 INI settings across 4 files, 1 templated file, 3 package checks (all
 * installed already) and 3 service checks (init scripts; sysv hosts).
 *
 * Run as a stackplay playbook:  node --import tsx bench/workload.ts -i INVENTORY
 * bench/ansible/site.yml does the same with ini_file, template, package and
 * service; bench/floor.ts only reads and compares.
 */
import { isMain, main } from '../lib/cli/cli.js';
import { defineRole, playbook, type HostContext } from '../lib/core/playbook.js';
import { ini } from '../lib/modules/ini.js';
import { file } from '../lib/modules/file.js';
import { packages } from '../lib/modules/package.js';
import { service } from '../lib/modules/service.js';

export const PACKAGES = ['openssh-server', 'procps', 'iproute2'] as const;
export const SERVICES = ['bench-a', 'bench-b', 'bench-c'] as const;
export const TEMPLATE_PATH = '/etc/bench/app.conf';

export interface IniFile {
  readonly path: string;
  /** section → key → value: 5 settings per file. */
  readonly settings: Readonly<Record<string, Readonly<Record<string, string>>>>;
}

/** What every host must end up with. The values depend on the host, as real configuration does. */
export function iniFiles(host: string, address: string): IniFile[] {
  return ['alpha', 'beta', 'gamma', 'delta'].map((name, i) => ({
    path: `/etc/bench/${name}.conf`,
    settings: {
      DEFAULT: { debug: 'false', log_dir: `/var/log/${name}`, host },
      service: { bind_host: address, workers: String(4 + i) },
    },
  }));
}

/** The file the template renders (identical to bench/ansible/app.conf.j2). */
export function renderTemplate(host: string, address: string): string {
  return [
    `# Managed by the benchmark; host ${host}`,
    '[server]',
    `name = ${host}`,
    `listen = ${address}:8080`,
    'threads = 8',
    '',
    '[peers]',
    `self = ${host}@${address}`,
    '',
  ].join('\n');
}

/** The files as the "cold" scenario starts: every managed key present with an old value, plus unrelated lines. */
export function initialIni(f: IniFile): string {
  const out = [`# ${f.path}: sample configuration`, ''];
  for (const [section, keys] of Object.entries(f.settings)) {
    out.push(`[${section}]`, '# An unrelated comment that must survive.', 'unrelated_option = keep-me');
    for (const key of Object.keys(keys)) out.push(`${key} = old-${key}`);
    out.push('');
  }
  return out.join('\n');
}

/** The one setting the "drift" scenario changes back on 20% of the hosts. */
export const DRIFT = { file: 0, section: 'service', key: 'workers', wrong: '99' } as const;

export function bench(ctx: HostContext) {
  const address = ctx.vars.str('ansible_host', ctx.host);
  return defineRole('bench').tasks([
    ...iniFiles(ctx.host, address).map((f) => ini({ path: f.path, settings: f.settings })),
    file({ path: TEMPLATE_PATH, content: renderTemplate(ctx.host, address), mode: '0644' }),
    ...PACKAGES.map((p) => packages({ names: [p], manager: 'apt', updateCache: false })),
    ...SERVICES.map((s) => service({ name: s, state: 'started' })),
  ]);
}

export const benchPlaybook = playbook('bench', [{ name: 'bench workload', hosts: 'all', roles: [bench] }]);

/** Tasks per host in the stackplay playbook (4 ini + 1 file + 3 packages + 3 services). */
export const STACKPLAY_TASKS = 11;
/** Tasks per host in the Ansible playbook (20 ini_file + 1 template + 3 package + 3 service). */
export const ANSIBLE_TASKS = 27;

if (isMain(import.meta.url)) await main(benchPlaybook);
