import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { isMain, main } from '../lib/cli/cli.js';
import { defineRole, type HostContext, type Play, type Role } from '../lib/core/playbook.js';
import { raw, sh } from '../lib/core/shell.js';
import { makeTask, noChange, registeredFact, skip, type Plan, type Registered, type ShellFact, type Step } from '../lib/core/task.js';
import type { Inventory } from '../lib/inventory/inventory.js';
import { pathFact } from '../lib/modules/facts.js';
import { directory, file, planContent } from '../lib/modules/file.js';
import { editIni } from '../lib/modules/ini-edit.js';
import { toIniSettings } from '../lib/modules/ini.js';
import { command } from '../lib/modules/command.js';
import { packages } from '../lib/modules/package.js';
import { OpenStackHost } from '../openstack/host.js';
import { openstackPlaybook } from '../openstack/playbook.js';
import {
  guidelineTests,
  includeList,
  judge,
  parseRecords,
  parseRequired,
  resultsMarkdown,
  summarize,
  type MachineSkip,
  type Results,
} from '../openstack/tempest/results.js';
import { tempestConf, type CloudIds, type CloudImage } from '../openstack/tempest/conf.js';
import { blockChecks, DEVICE_MAPPER } from './verify.js';

/**
 * The cloud against OpenStack's own judge: the interoperability guideline
 * "OpenStack Powered Compute" 2020.06 and its 228 required Tempest tests.
 *
 * On the Tempest host (the first controller) it installs Debian's tempest,
 * uploads the lab's bootable guest twice (image_ref and image_ref_alt) and
 * makes two flavors, writes tempest.conf from the inventory and the deployed
 * cloud (openstack/tempest/conf.ts), and runs exactly the required tests
 * (`tempest run --include-list`, anchored). Each required test gets one
 * status (openstack/tempest/results.ts); this machine writes
 * conformance/results/latest.json and README.md, and the last check fails
 * the run when any required test failed.
 *
 * What the machine cannot do is said, not hidden: when no block host's kernel
 * has device-mapper (the lab), cinder's LVM driver cannot create a volume, so
 * tempest.conf says cinder is not available and every volume test is
 * reported skipped with that reason. Flagged tests are run like the others.
 *
 * Tempest SSHes into the servers it boots (validation) on floating IPs: the
 * Tempest host must reach the external network (the lab gives the
 * controller `external_ip`).
 *
 *   npx tsx playbooks/conformance.ts -i hosts/lab.ini [--json out/conformance/report.json]
 */

const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const GUIDELINE = {
  name: '2020.06',
  target: 'OpenStack Powered Compute',
  required: path.join(REPO_ROOT, 'conformance', 'guideline', 'os-powered-compute-2020.06-required.txt'),
  json: path.join(REPO_ROOT, 'conformance', 'guideline', 'interop-2020.06.json'),
} as const;
export const RESULTS_DIR = path.join(REPO_ROOT, 'conformance', 'results');
const CONVERTER = path.join(REPO_ROOT, 'conformance', 'subunit_to_json.py');

/** Tempest's workspace on its host: etc/tempest.conf (0600: it holds the admin password), the include list, logs, stestr's repository. */
export const WORKSPACE = '/var/lib/stackplay-tempest';
const CONF = `${WORKSPACE}/etc/tempest.conf`;
const INCLUDE_LIST = `${WORKSPACE}/etc/required.txt`;
const ADMIN_RC = '/root/admin-openrc.sh';
const REGISTER = 'conformance';

/** What the run creates in the cloud for Tempest, by name (found again by name on the next run). */
export const PREFIX = 'stackplay-tempest';
const IMAGES = { image: PREFIX, alt: `${PREFIX}-alt`, kernel: `${PREFIX}-kernel`, ramdisk: `${PREFIX}-ramdisk` } as const;
/** Flavor ids are ours to choose, so tempest.conf names them without a lookup. */
export const FLAVORS = [
  { id: `${PREFIX}-1`, ram: 128, disk: 1 },
  { id: `${PREFIX}-2`, ram: 192, disk: 1 },
] as const;

/**
 * Releases Tempest 33 (Debian 12's, matched to Zed) can judge, with nova's
 * newest microversion there. Juno and Liberty serve APIs older than the
 * guideline's and Tempest releases that no longer install here.
 */
const TEMPEST_RELEASES: Partial<Record<string, { readonly computeMaxMicroversion: string }>> = { zed: { computeMaxMicroversion: '2.93' } };

function tempestRelease(ctx: HostContext): { readonly computeMaxMicroversion: string } {
  const release = new OpenStackHost(ctx).release;
  const known = TEMPEST_RELEASES[release];
  if (!known) throw ctx.vars.bad('openstack_release', "must be zed for conformance (Debian 12's Tempest 33 judges Zed)");
  return known;
}

/** The volume tests' machine-level skip: Tempest's own message when tempest.conf says cinder is not available. */
const NO_CINDER: RegExp = /skipped as Cinder is not available/;

/** The host Tempest runs on: the first controller (it reaches every API; the lab gives it a link to the external network too). */
export function tempestHost(inv: Inventory): string | undefined {
  return inv.groups.has('controller') ? inv.groupHosts('controller')[0] : undefined;
}

const q = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`;

/** The ids tempest.conf needs, read with the admin credentials: images and flavors by name, the external network's id. */
function cloudIdsFact(extNet: string): ShellFact<CloudIds> {
  return {
    kind: 'shell',
    script: sh`set -e; . ${ADMIN_RC}
echo @@images; openstack image list --long -f value -c ID -c Name -c Visibility
echo @@flavors; openstack flavor list --all -f value -c ID -c Name
echo @@network; openstack network show ${extNet} -f value -c id 2>/dev/null || true`,
    parse: ({ stdout, exitCode }) => {
      if (exitCode !== 0) throw new Error(`cannot list images, flavors and networks (exit ${exitCode}): ${stdout.trim().split('\n').slice(-2).join(' ')}`);
      const section = (name: string) => (stdout.split(`@@${name}\n`)[1] ?? '').split('\n@@')[0]!.split('\n').filter(Boolean);
      const fields = (lines: string[]) => lines.map((l) => l.split(' '));
      // Only public images are Tempest's: its test projects cannot boot an admin project's shared one.
      // ID, name (which may hold spaces), visibility.
      const images = new Map(
        fields(section('images')).map((f) => [f.slice(1, -1).join(' '), { id: f[0] ?? '', public: f[f.length - 1] === 'public' }] as const),
      );
      const flavors = new Set(fields(section('flavors')).map(([id = '']) => id));
      const network = section('network')[0];
      return {
        image: images.get(IMAGES.image),
        alt: images.get(IMAGES.alt),
        kernel: images.get(IMAGES.kernel),
        ramdisk: images.get(IMAGES.ramdisk),
        flavors: FLAVORS.filter((f) => flavors.has(f.id)).map((f) => f.id),
        publicNetwork: network,
      };
    },
    simulate: () => {
      const sim = (id: string) => ({ id, public: true });
      return {
        image: sim('sim-image'),
        alt: sim('sim-alt'),
        kernel: sim('sim-kernel'),
        ramdisk: sim('sim-ramdisk'),
        flavors: FLAVORS.map((f) => f.id),
        publicNetwork: 'sim-net',
      };
    },
  };
}

/** Uploads what is missing of the guest (kernel, ramdisk, the disk as image and alt image) and the two flavors. */
function resourcesTask(guestDir: string, extNet: string) {
  return makeTask({
    module: 'openstack',
    name: `tempest images (the guest in ${guestDir}) and flavors ${FLAVORS.map((f) => f.id).join(', ')}`,
    facts: { ids: cloudIdsFact(extNet) },
    plan: ({ ids }): Plan => {
      const upload = (name: string, format: string, file: string, extra = '') =>
        `openstack image create --public --disk-format ${format} --container-format ${format === 'raw' ? 'bare' : format} --file ${q(`${guestDir}/${file}`)}${extra} -f value -c id ${q(name)}`;
      const lines: string[] = [];
      const what: string[] = [];
      const image = (v: string, found: CloudImage | undefined, create: string, name: string) => {
        if (!found) {
          lines.push(`${v}=$(${create})`);
          what.push(name);
          return;
        }
        lines.push(`${v}=${q(found.id)}`);
        if (!found.public) {
          lines.push(`openstack image set --public "$${v}"`);
          what.push(`${name} public`);
        }
      };
      image('kernel', ids.kernel, upload(IMAGES.kernel, 'aki', 'vmlinuz'), IMAGES.kernel);
      image('ramdisk', ids.ramdisk, upload(IMAGES.ramdisk, 'ari', 'initrd.img'), IMAGES.ramdisk);
      // The guest has no ACPI daemon: nova's clean shutdown (stop, shelve, resize) would wait its 60 s for nothing.
      const disk = ' --property kernel_id="$kernel" --property ramdisk_id="$ramdisk" --property os_shutdown_timeout=5';
      image('image', ids.image, upload(IMAGES.image, 'raw', 'disk.img', disk), IMAGES.image);
      image('alt', ids.alt, upload(IMAGES.alt, 'raw', 'disk.img', disk), IMAGES.alt);
      for (const f of FLAVORS) {
        if (ids.flavors.includes(f.id)) continue;
        lines.push(`openstack flavor create --id ${f.id} --ram ${f.ram} --disk ${f.disk} --vcpus 1 ${f.id}`);
        what.push(`flavor ${f.id}`);
      }
      if (what.length === 0) return noChange('images and flavors present');
      const script = sh`set -e; . ${ADMIN_RC}
for f in vmlinuz initrd.img disk.img; do [ -s ${guestDir}/"$f" ] || { echo "no ${raw(guestDir)}/$f on this host (verify_guest_dir: the lab's bootable guest)" >&2; exit 1; }; done
${raw(lines.join('\n'))}`;
      return { action: 'change', summary: `create ${what.join(', ')}`, steps: [{ kind: 'exec', cmd: script }] };
    },
  });
}

/** tempest.conf from the inventory and the ids of the deployed cloud; 0600, root's (the admin password is in it). */
function confTask(ctx: HostContext, extNet: string, blockHosts: readonly string[]) {
  const o = new OpenStackHost(ctx);
  const release = tempestRelease(ctx);
  return makeTask({
    module: 'file',
    name: `tempest.conf ${CONF}`,
    facts: { ids: cloudIdsFact(extNet), current: pathFact(CONF), dm: registeredFact(DEVICE_MAPPER, blockHosts) },
    plan: ({ ids, current, dm }): Plan => {
      const volumes = volumeBackend(blockHosts, dm);
      const sections = tempestConf({
        workspace: WORKSPACE,
        controller: o.controller,
        region: ctx.vars.str('region', 'RegionOne'),
        adminPassword: ctx.secret('admin_pass'),
        ids,
        flavorIds: [FLAVORS[0].id, FLAVORS[1].id],
        computeMaxMicroversion: release.computeMaxMicroversion,
        extNet,
        cinder: volumes.usable,
      });
      const content = editIni('', toIniSettings(sections)).text;
      return planContent(CONF, current, content, { mode: '0600', owner: 'root', group: 'root' });
    },
  });
}

/**
 * What `tempest init` makes besides etc/ (it refuses a directory that is not
 * empty): .stestr.conf naming this Tempest's test discovery, and stestr's
 * repository (.stestr/), without which `tempest run` finds no tests.
 */
function stestrTask() {
  const conf = `${WORKSPACE}/.stestr.conf`;
  return command(
    {
      cmd: sh`cd ${WORKSPACE} && top=$(python3 -c 'import os, tempest; print(os.path.dirname(os.path.dirname(tempest.__file__)))') && [ -d "$top/tempest/test_discover" ] || { echo "no tempest/test_discover under '$top'" >&2; exit 1; }
printf '%s\\n' '[DEFAULT]' "test_path=$top/tempest/test_discover" "top_dir=$top" 'group_regex=([^\\.]*\\.)*' >.stestr.conf.tmp && mv .stestr.conf.tmp .stestr.conf && { [ -d .stestr ] || stestr init; }`,
      unless: sh`test -s ${conf} && test -d ${WORKSPACE}/.stestr`,
    },
    { name: `stestr repository in ${WORKSPACE} (what tempest init makes besides etc/)` },
  );
}

/** The include list: each required test as exactly one of the tests this Tempest has (`tempest run --list-tests`). */
function includeListTask(required: readonly string[]) {
  const guideline = guidelineTests(JSON.parse(readFileSync(GUIDELINE.json, 'utf8')));
  return makeTask({
    module: 'file',
    name: `include list ${INCLUDE_LIST} (${required.length} required tests, as Tempest names them)`,
    facts: {
      available: {
        kind: 'shell',
        script: sh`cd ${WORKSPACE} && tempest run --list-tests --config-file ${CONF} 2>&1`,
        parse: ({ stdout, exitCode }) => {
          if (exitCode !== 0) throw new Error(`tempest run --list-tests failed (exit ${exitCode}): ${stdout.trim().split('\n').slice(-3).join(' ')}`);
          return stdout.split('\n').filter((l) => l.startsWith('tempest.'));
        },
        simulate: () => [],
      } satisfies ShellFact<string[]>,
      current: pathFact(INCLUDE_LIST),
    },
    plan: ({ available, current }) => planContent(INCLUDE_LIST, current, includeList(required, guideline, available), {}),
  });
}

/** Whether a volume can be created here: some block host has device-mapper (verify's block check passed there). */
export function volumeBackend(blockHosts: readonly string[], dm: ReadonlyMap<string, Registered>): { usable: boolean; why: string } {
  if (blockHosts.length === 0) return { usable: false, why: 'no block storage host in the inventory (group block)' };
  // The block check skips for want of device-mapper (and, on a simulated host, for want of a host).
  const noDm = blockHosts.filter((h) => dm.get(h)?.status === 'skipped' && /no device-mapper/.test(dm.get(h)?.detail ?? ''));
  if (noDm.length === blockHosts.length)
    return { usable: false, why: `no volume back end: the kernel of ${noDm.join(', ')} has no device-mapper, so cinder's LVM driver cannot create volumes` };
  return { usable: true, why: '' };
}

interface RunValue {
  readonly results: Results;
}

/**
 * Runs the required tests: a command, never a fact, so that it runs once,
 * in its turn (facts are read ahead and read again after a change). Tempest
 * leaves its own resources cleaned up, so it reports no change. What it
 * found is kept on the host (results/: the run's facts and one JSON line
 * per test) for the next task to read.
 */
function runTask(concurrency: number, required: number) {
  const cmd = sh`cd ${WORKSPACE} && mkdir -p results && rm -f results/run results/tests.jsonl || exit 1
t0=$(date +%s)
tempest run --config-file ${CONF} --include-list ${INCLUDE_LIST} --concurrency ${String(concurrency)} >logs/run.log 2>&1
rc=$?
{
  echo "rc $rc"
  echo "seconds $(( $(date +%s) - t0 ))"
  echo "version $(dpkg-query -W -f '\${Version}' tempest)"
  echo "date $(date -u +%Y-%m-%dT%H:%M:%SZ)"
} >results/run
# Failed tests make tempest exit 1; only a run that reported nothing is this task's failure.
stestr last --subunit | python3 ${WORKSPACE}/subunit_to_json.py >results/tests.jsonl && [ -s results/tests.jsonl ] || {
  echo "tempest run (exit $rc) reported no test: see ${WORKSPACE}/logs/run.log" >&2; tail -n 20 logs/run.log >&2; exit 1; }`;
  return command(
    { cmd, changedWhen: () => false },
    { name: `tempest run: the ${required} required tests of ${GUIDELINE.target} ${GUIDELINE.name} (concurrency ${concurrency})`, tags: ['tempest-run'] },
  );
}

/** Reads what the run left (results/) into one status per required test, handed on (registered) to be written on this machine; the last check judges them. */
function readResultsTask(ctx: HostContext, blockHosts: readonly string[], required: readonly string[]) {
  const concurrency = ctx.vars.int('tempest_concurrency', 2);
  const release = ctx.vars.str('openstack_release', 'zed');
  const guideline = guidelineTests(JSON.parse(readFileSync(GUIDELINE.json, 'utf8')));
  return makeTask({
    module: 'check',
    name: `read the results of ${required.length} required tests`,
    options: { register: REGISTER, tags: ['tempest-run'] },
    facts: {
      run: {
        kind: 'shell',
        script: sh`cd ${WORKSPACE}/results 2>/dev/null && sed 's/^/@@/' run && echo @@records && cat tests.jsonl`,
        parse: ({ stdout, exitCode }) => (exitCode === 0 ? stdout : ''),
        simulate: () => '',
      } satisfies ShellFact<string>,
      dm: registeredFact(DEVICE_MAPPER, blockHosts),
    },
    plan: ({ run, dm }): Plan => {
      if (run === '') return skip(`no results in ${WORKSPACE}/results (the run did not happen: --plan, --check)`);
      const field = (name: string) => new RegExp(`^@@${name} (.*)$`, 'm').exec(run)?.[1] ?? '';
      const records = parseRecords(run.split('\n@@records\n')[1] ?? '');
      if (records.length === 0) throw new Error(`tempest run reported no test (exit ${field('rc')}): see ${WORKSPACE}/logs/run.log and tempest.log`);
      const volumes = volumeBackend(blockHosts, dm);
      const machineSkips: MachineSkip[] = volumes.usable ? [] : [{ tempestReason: NO_CINDER, reason: volumes.why }];
      const results = summarize(
        {
          guideline: GUIDELINE.name,
          target: GUIDELINE.target,
          date: field('date'),
          tempest: field('version'),
          release,
          concurrency,
          durationS: Number(field('seconds')),
        },
        judge(required, records, guideline, machineSkips, `Tempest ${field('version')}`),
      );
      const value: RunValue = { results };
      return {
        action: 'none',
        reason: `${results.required} required: ${results.passed} passed, ${results.failed} failed, ${results.skipped} skipped in ${results.duration_s} s`,
        value,
      };
    },
  });
}

function tempestRole(ctx: HostContext): Role {
  if (tempestHost(ctx.inventory) !== ctx.host) return defineRole('tempest').tasks([]);
  tempestRelease(ctx);
  const o = new OpenStackHost(ctx);
  const extNet = ctx.vars.str('external_network', 'ext-net');
  const guestDir = ctx.vars.opt('conformance_guest_dir') ?? ctx.vars.opt('verify_guest_dir');
  if (guestDir === undefined)
    throw ctx.vars.bad(
      'verify_guest_dir',
      'conformance needs a bootable guest with an SSH server: set verify_guest_dir (the lab does) or conformance_guest_dir',
    );
  const blockHosts = ctx.inventory.groups.has('block') ? ctx.inventory.groupHosts('block') : [];
  const required = parseRequired(readFileSync(GUIDELINE.required, 'utf8'));
  return defineRole('tempest').tasks([
    packages({ names: ['tempest'], manager: o.os.packageManager }),
    directory({ path: WORKSPACE, mode: '0700' }),
    ...['etc', 'logs', 'lock'].map((d) => directory({ path: `${WORKSPACE}/${d}`, mode: '0700' })),
    file({ path: `${WORKSPACE}/subunit_to_json.py`, content: readFileSync(CONVERTER, 'utf8'), mode: '0755' }),
    stestrTask(),
    resourcesTask(guestDir, extNet),
    confTask(ctx, extNet, blockHosts),
    includeListTask(required),
    runTask(ctx.vars.int('tempest_concurrency', 2), required.length),
    readResultsTask(ctx, blockHosts, required),
  ]);
}

/** conformance/results/latest.json and README.md on this machine, from what the run handed on. */
function resultsRole(ctx: HostContext): Role {
  const host = tempestHost(ctx.inventory);
  const hosts = host === undefined ? [] : [host];
  const latest = path.join(RESULTS_DIR, 'latest.json');
  const readme = path.join(RESULTS_DIR, 'README.md');
  const results = (run: ReadonlyMap<string, Registered>): Results | undefined => (run.get(host ?? '')?.value as RunValue | undefined)?.results;
  return defineRole('conformance-results').tasks([
    directory({ path: RESULTS_DIR }),
    makeTask({
      module: 'file',
      name: `write ${path.relative(REPO_ROOT, latest)} and README.md`,
      facts: { run: registeredFact(REGISTER, hosts), json: pathFact(latest), md: pathFact(readme) },
      plan: ({ run, json, md }): Plan => {
        const r = results(run);
        if (!r) return skip('no Tempest run to report (it did not run, or failed before its results)');
        const plans = [planContent(latest, json, `${JSON.stringify(r, null, 2)}\n`, {}), planContent(readme, md, resultsMarkdown(r), {})];
        const steps: Step[] = plans.flatMap((p) => (p.action === 'none' ? [] : p.steps));
        if (steps.length === 0) return noChange('results unchanged');
        return { action: 'change', summary: `${r.passed} passed, ${r.failed} failed, ${r.skipped} skipped`, steps };
      },
    }),
    makeTask({
      module: 'check',
      name: `${GUIDELINE.target} ${GUIDELINE.name}: no required test failed`,
      facts: { run: registeredFact(REGISTER, hosts) },
      plan: ({ run }): Plan => {
        const reg = run.get(host ?? '');
        if (reg?.status === 'skipped') return skip(reg.detail);
        const r = results(run);
        if (!r) throw new Error(`no results: ${reg?.detail ?? 'the Tempest run did not report'}`);
        const failed = r.tests.filter((t) => t.status === 'failed').map((t) => t.id.replace(/^tempest\.api\./, ''));
        if (failed.length > 0)
          throw new Error(
            `${failed.length} of ${r.required} failed: ${failed.slice(0, 10).join(', ')}${failed.length > 10 ? ', …' : ''} (conformance/results/README.md)`,
          );
        const skipped = r.tests.filter((t) => t.status === 'skipped');
        return noChange(
          `${r.passed} of ${r.required} passed, 0 failed, ${skipped.length} skipped${skipped.length > 0 ? ` (${[...new Set(skipped.map((t) => t.reason.split(' (Tempest')[0]))].slice(0, 3).join('; ')})` : ''}`,
        );
      },
    }),
  ]);
}

export const plays: Play[] = [
  { name: 'conformance: block storage hosts (can a volume be created?)', hosts: 'block', roles: [blockChecks] },
  { name: 'conformance: Tempest on its host', hosts: 'controller', roles: [tempestRole] },
  { name: 'conformance: results on this machine', hosts: 'localhost', roles: [resultsRole] },
];

export const conformance = openstackPlaybook('conformance', plays);

if (isMain(import.meta.url)) await main(conformance);
