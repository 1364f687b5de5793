import { commandFact, pathFact } from '../../lib/modules/facts.js';
import { editIni } from '../../lib/modules/ini-edit.js';
import { sh } from '../../lib/core/shell.js';
import { makeTask, noChange, type ShellFact, type Task, type TaskOptions, type Plan } from '../../lib/core/task.js';
import { planContent } from '../../lib/modules/file.js';
import { mergeSections, toIniSettings, type IniFileTask, type IniSections } from '../../lib/modules/ini.js';
import { line } from '../../lib/modules/line.js';
import { service, serviceFact } from '../../lib/modules/service.js';
import type { Daemon } from './data.js';
import { allOf } from '../../lib/modules/all-of.js';

/** CPU flags relevant to virtualization: nova uses qemu when neither vmx nor svm is present. */
export function hardwareVirtFact(): ShellFact<boolean> {
  return {
    kind: 'shell',
    script: sh`grep -Eqw 'vmx|svm' /proc/cpuinfo`,
    parse: ({ exitCode }) => exitCode === 0,
    simulate: (host) => host.hardware['virt'] === 'yes',
  };
}

/** Task shapes the nova roles need beyond lib/modules: fact-dependent settings, daemons without init scripts, service groups. */

export interface VirtChoice {
  /** CPU has vmx or svm (`hardwareVirtFact`). */
  readonly hardwareVirt: boolean;
  /** Inventory `nova_virt_type`: wins over the CPU flags. */
  readonly virtType?: string | undefined;
  /** Inventory `nova_compute_driver`, as a class path (`fake.FakeDriver`). */
  readonly computeDriver?: string | undefined;
}

/**
 * Seed 004 §7.2.2 and every guide: `egrep -c '(vmx|svm)' /proc/cpuinfo` is 0
 * → `[libvirt] virt_type = qemu`; with hardware support the package default
 * (kvm) stays untouched. Null: nothing to set.
 */
export function virtSections(choice: VirtChoice): IniSections | null {
  const libvirt = choice.computeDriver === undefined || choice.computeDriver.startsWith('libvirt.');
  const virtType = libvirt ? (choice.virtType ?? (choice.hardwareVirt ? undefined : 'qemu')) : undefined;
  const sections: Record<string, Record<string, string>> = {};
  if (choice.computeDriver !== undefined) sections['DEFAULT'] = { compute_driver: choice.computeDriver };
  if (virtType !== undefined) sections['libvirt'] = { virt_type: virtType };
  return Object.keys(sections).length > 0 ? sections : null;
}

/** The hypervisor settings of a compute node, chosen from its CPU flags when the inventory does not say. */
export function virtSettings<H extends string = never>(
  args: {
    readonly path: string;
    readonly virtType?: string | undefined;
    readonly computeDriver?: string | undefined;
    /** More options for the same file (config overrides), winning over the chosen ones. */
    readonly extra?: IniSections;
  },
  options?: TaskOptions<H>,
): IniFileTask<H> {
  const name = `ini ${args.path} [libvirt] virt_type by CPU flags`;
  const task = makeTask({
    module: 'ini',
    name,
    options,
    facts: { hardwareVirt: hardwareVirtFact(), current: pathFact(args.path) },
    plan: ({ hardwareVirt, current }): Plan => {
      const chosen = virtSections({ hardwareVirt, virtType: args.virtType, computeDriver: args.computeDriver });
      if (!chosen && !args.extra) return noChange('the CPU has vmx/svm: the package default virt_type (kvm) stays');
      const before = current?.type === 'file' ? current.content : '';
      const { text } = editIni(before, toIniSettings(mergeSections(chosen ?? {}, args.extra ?? {})));
      return planContent(args.path, current, text, {}, `virt settings already set${hardwareVirt ? '' : ' (no vmx/svm: qemu)'}`);
    },
  });
  const withSettings = (extra: IniSections) =>
    virtSettings({ ...args, extra: mergeSections(args.extra ?? {}, extra) }, { ...options, name: options?.name ?? name });
  // What it may write: overrides of these names count as known.
  const settings = { DEFAULT: { compute_driver: '' }, libvirt: { virt_type: '' } };
  return { ...task, iniFile: { path: args.path, mode: undefined, settings, withSettings } };
}

const basename = (path: string): string => path.slice(path.lastIndexOf('/') + 1);

/**
 * A daemon started and enabled through its service when it has one; where
 * it has neither init script nor unit (libvirt on the systemd-less Debian
 * lab hosts) its binary is started directly, once, guarded by pgrep.
 */
export function daemon<H extends string = never>(d: Daemon, options?: TaskOptions<H>): Task<H> {
  const binary = d.binary;
  if (binary === undefined) return service({ name: d.service, state: 'started', enabled: true }, options);
  const viaService = service({ name: d.service, state: 'started', enabled: true });
  const name = basename(binary);
  return makeTask({
    module: 'service',
    name: `daemon ${d.service} started`,
    options,
    facts: {
      svc: serviceFact(d.service),
      running: commandFact(sh`pgrep -x ${name} >/dev/null`, (h) => ({ exitCode: h.set('services:running').has(d.service) ? 0 : 1, stdout: '' })),
    },
    plan: ({ svc, running }): Plan => {
      if (svc.exists) return viaService.plan([svc]);
      if (running.exitCode === 0) return noChange(`${name} is running (no ${svc.init} service for it)`);
      return {
        action: 'change',
        summary: `start ${binary} -d (no ${svc.init} service for it)`,
        steps: [{ kind: 'exec', cmd: sh`${binary} -d`, simulate: (h) => void h.set('services:running').add(d.service) }],
      };
    },
  });
}

/**
 * Restarts a daemon: through its service when it has one, else by ending
 * the running binary (SIGTERM, up to 10 s) and starting it again (`-d`).
 */
export function daemonRestarted(d: Daemon): Task {
  const binary = d.binary;
  if (binary === undefined) return service({ name: d.service, state: 'restarted' });
  const viaService = service({ name: d.service, state: 'restarted' });
  const name = basename(binary);
  return makeTask({
    module: 'service',
    name: `daemon ${d.service} restarted`,
    facts: { svc: serviceFact(d.service) },
    plan: ({ svc }): Plan => {
      if (svc.exists) return viaService.plan([svc]);
      return {
        action: 'change',
        summary: `restart ${binary} (no ${svc.init} service for it)`,
        steps: [
          {
            kind: 'exec',
            // Up to 30 s for a clean exit (libvirtd shuts its drivers down), then SIGKILL: never two at once.
            cmd: sh`for p in $(pgrep -x ${name}); do kill "$p"; i=0; while kill -0 "$p" 2>/dev/null && [ "$i" -lt 150 ]; do sleep 0.2; i=$((i + 1)); done; kill -9 "$p" 2>/dev/null; done
${binary} -d`,
            simulate: (h) => void h.set('services:running').add(d.service),
          },
        ],
      };
    },
  });
}

/** The `key = value` lines of a daemon's config files (libvirtd.conf, qemu.conf); commented defaults stay as they are. */
export function daemonConfig<H extends string = never>(d: Daemon, options?: TaskOptions<H>): Task<H>[] {
  return (d.config ?? []).flatMap(({ path, settings }) =>
    Object.entries(settings).map(([key, value]) => line({ path, regexp: new RegExp(`^\\s*${key}\\s*=`), line: `${key} = ${value}` }, options)),
  );
}

/** `service X restarted` for each name, in order, as one handler. */
export function restartAll(names: readonly string[]): Task {
  return allOf(
    `restart ${names.join(' ')}`,
    names.map((name) => service({ name, state: 'restarted' })),
  );
}

/** The daemons that have a config file of their own, restarted as one handler (none: a handler with nothing to do). */
export function restartDaemons(daemons: readonly Daemon[]): Task {
  const configured = daemons.filter((d) => d.config);
  return allOf(`restart ${configured.map((d) => d.service).join(' ') || 'nothing'}`, configured.map(daemonRestarted));
}
