import { posix } from 'node:path';
import { joinCmds, sh } from '../core/shell.js';
import type { SimHost } from '../sim/sim.js';
import { makeTask, noChange, type ExecStep, type Plan, type ShellFact, type Task, type TaskOptions } from '../core/task.js';
import type { ExecResult } from '../transport/transport.js';

/**
 * LVM for cinder's `cinder-volumes` group (`pvcreate /dev/sdb`, `vgcreate
 * cinder-volumes /dev/sdb`), and loop devices backed by sparse files because
 * the lab has no spare disks. (Lab kernels have no device-mapper: PVs and VGs
 * can be written, logical volumes cannot be activated.)
 */

/** What LVM and the block layer say about some devices. */
export interface LvmState {
  /** Given device path → canonical path (`readlink -f`), or null when no such block device exists. */
  readonly devices: ReadonlyMap<string, string | null>;
  /** Canonical PV path → its volume group ('' when in none). */
  readonly pvs: ReadonlyMap<string, string>;
  readonly vgs: ReadonlySet<string>;
}

/**
 * Sections of a probe's output: each `@@name rc` line closes the lines
 * printed since the previous marker.
 */
function sections(stdout: string): Map<string, { rc: number; lines: string[] }> {
  const out = new Map<string, { rc: number; lines: string[] }>();
  let lines: string[] = [];
  for (const line of stdout.split('\n')) {
    const m = /^@@(\S+) (\d+)$/.exec(line);
    if (m?.[1] && m[2]) {
      out.set(m[1], { rc: Number(m[2]), lines });
      lines = [];
    } else if (line.trim() !== '') lines.push(line);
  }
  return out;
}

function section(result: ExecResult, all: Map<string, { rc: number; lines: string[] }>, name: string, command: string): string[] {
  const s = all.get(name);
  if (!s) throw new Error(`${command} probe output was cut short (exit ${result.exitCode})`);
  if (s.rc !== 0) throw new Error(`${command} failed (exit ${s.rc})${s.rc === 127 ? ': is lvm2 installed?' : ''}`);
  return s.lines;
}

export function lvmFact(devices: readonly string[]): ShellFact<LvmState> {
  const probes = devices.map(
    (d) => sh`d=${d}; if [ -b "$d" ]; then printf '@@device\\t%s\\t%s\\n' "$d" "$(readlink -f -- "$d")"; else printf '@@device\\t%s\\t\\n' "$d"; fi`,
  );
  const script = joinCmds(
    [
      ...probes,
      sh`pvs --noheadings --separator '|' -o pv_name,vg_name 2>/dev/null; echo "@@pvs $?"`,
      sh`vgs --noheadings -o vg_name 2>/dev/null; echo "@@vgs $?"`,
    ],
    '\n',
  );
  return {
    kind: 'shell',
    script,
    parse(result) {
      const deviceLines = result.stdout.split('\n').filter((l) => l.startsWith('@@device\t'));
      const all = sections(
        result.stdout
          .split('\n')
          .filter((l) => !l.startsWith('@@device\t'))
          .join('\n'),
      );
      const found = new Map<string, string | null>();
      for (const l of deviceLines) {
        const [, given = '', canonical = ''] = l.split('\t');
        found.set(given, canonical || null);
      }
      const pvs = new Map<string, string>();
      for (const line of section(result, all, 'pvs', 'pvs')) {
        const [pv = '', vg = ''] = line.trim().split('|');
        pvs.set(pv, vg);
      }
      const vgs = new Set(section(result, all, 'vgs', 'vgs').map((l) => l.trim()));
      return { devices: new Map(devices.map((d) => [d, found.get(d) ?? null])), pvs, vgs };
    },
    // A simulated host cannot tell which disks exist: every named device does.
    simulate: (host) => ({
      devices: new Map(devices.map((d) => [d, d])),
      pvs: new Map([...host.set('lvm:pvs')].map((pv) => [pv, host.value(`lvm:vg-of:${pv}`) ?? ''])),
      vgs: new Set(host.set('lvm:vgs')),
    }),
  };
}

function canonical(state: LvmState, device: string): string {
  const c = state.devices.get(device);
  if (!c) throw new Error(`${device} is not a block device on this host`);
  return c;
}

function pvcreateStep(devices: readonly string[], canonicals: readonly string[]): ExecStep {
  return {
    kind: 'exec',
    cmd: sh`pvcreate ${devices}`,
    simulate: (h: SimHost) => canonicals.forEach((c) => h.set('lvm:pvs').add(c)),
  };
}

/** An LVM physical volume on `device`. */
export function lvmPhysicalVolume<H extends string = never>(args: { readonly device: string }, options?: TaskOptions<H>): Task<H> {
  return makeTask({
    module: 'lvm',
    name: `lvm physical volume ${args.device}`,
    options,
    facts: { current: lvmFact([args.device]) },
    plan: ({ current }): Plan => {
      const dev = canonical(current, args.device);
      if (current.pvs.has(dev)) return noChange(`${args.device} is a physical volume${current.pvs.get(dev) ? ` in ${current.pvs.get(dev)}` : ''}`);
      return { action: 'change', summary: `pvcreate ${args.device}`, steps: [pvcreateStep([args.device], [dev])] };
    },
  });
}

/**
 * A volume group holding at least `devices`; missing ones are initialized
 * and added. Devices in the group but not listed stay: shrinking a group is
 * not something to do implicitly.
 */
export function lvmVolumeGroup<H extends string = never>(
  args: { readonly name: string; readonly devices: readonly string[] },
  options?: TaskOptions<H>,
): Task<H> {
  if (args.devices.length === 0) throw new Error(`volume group ${args.name}: no devices given`);
  return makeTask({
    module: 'lvm',
    name: `lvm volume group ${args.name}`,
    options,
    facts: { current: lvmFact(args.devices) },
    plan: ({ current }): Plan => {
      const devs = args.devices.map((d) => ({ given: d, path: canonical(current, d) }));
      for (const d of devs) {
        const vg = current.pvs.get(d.path);
        if (vg && vg !== args.name) throw new Error(`${d.given} belongs to volume group ${vg}; refusing to move it to ${args.name}`);
      }
      const missing = devs.filter((d) => current.pvs.get(d.path) !== args.name);
      if (current.vgs.has(args.name) && missing.length === 0) return noChange(`volume group ${args.name} holds ${args.devices.join(', ')}`);
      const steps: ExecStep[] = [];
      const uninitialized = missing.filter((d) => !current.pvs.has(d.path));
      if (uninitialized.length > 0)
        steps.push(
          pvcreateStep(
            uninitialized.map((d) => d.given),
            uninitialized.map((d) => d.path),
          ),
        );
      const create = !current.vgs.has(args.name);
      const verb = create ? 'vgcreate' : 'vgextend';
      steps.push({
        kind: 'exec',
        cmd: create ? sh`vgcreate ${args.name} ${missing.map((d) => d.given)}` : sh`vgextend ${args.name} ${missing.map((d) => d.given)}`,
        simulate: (h) => {
          h.set('lvm:vgs').add(args.name);
          for (const d of missing) {
            h.set('lvm:pvs').add(d.path);
            h.setValue(`lvm:vg-of:${d.path}`, args.name);
          }
        },
      });
      return { action: 'change', summary: `${verb} ${args.name} ${missing.map((d) => d.given).join(' ')}`, steps };
    },
  });
}

export interface LoopDeviceArgs {
  /** Backing file; created sparse when absent. */
  readonly file: string;
  readonly sizeMb: number;
  /**
   * A fixed device such as '/dev/loop2', so that a volume group task can
   * name it; by default the first free one (`losetup -f`). Loop devices
   * belong to the kernel: lab hosts sharing one see each other's.
   */
  readonly device?: string;
}

export interface LoopState {
  /** Size of the backing file in bytes; null when it does not exist. */
  readonly size: number | null;
  /** Loop devices the file is attached to (`losetup -j`). */
  readonly attachedTo: readonly string[];
  /** Whether the wanted fixed device is in use (by anything); false when no device was asked for. */
  readonly deviceBusy: boolean;
}

/** `/dev/loop0: [65024]:2146931 (/var/lib/stackplay/cinder.img)` → '/dev/loop0'. */
export function parseLosetup(lines: readonly string[]): string[] {
  return lines.map((l) => /^(\/dev\/[^:]+):/.exec(l)?.[1]).filter((d): d is string => d !== undefined);
}

export function loopFact(args: LoopDeviceArgs): ShellFact<LoopState> {
  const device = args.device ? sh`\nlosetup ${args.device} >/dev/null 2>&1; echo "@@device $?"` : sh``;
  return {
    kind: 'shell',
    script: sh`f=${args.file}
if [ -f "$f" ]; then echo "@@size $(stat -c %s -- "$f")"; else echo '@@size'; fi
losetup -j "$f" 2>/dev/null; echo "@@attached 0"${device}`,
    parse(result) {
      const all = sections(
        result.stdout
          .split('\n')
          .filter((l) => !l.startsWith('@@size'))
          .join('\n'),
      );
      const sizeLine = result.stdout.split('\n').find((l) => l.startsWith('@@size'));
      if (sizeLine === undefined || !all.has('attached')) throw new Error(`loop device probe for ${args.file} was cut short (exit ${result.exitCode})`);
      const size = sizeLine === '@@size' ? null : Number(sizeLine.slice('@@size '.length));
      return { size, attachedTo: parseLosetup(all.get('attached')?.lines ?? []), deviceBusy: all.get('device')?.rc === 0 };
    },
    simulate(host) {
      const attachedTo = [...host.set('loop:attached')].filter((e) => e.endsWith(`=${args.file}`)).map((e) => e.slice(0, e.indexOf('=')));
      const size = host.value(`loop:size:${args.file}`);
      const busy = args.device !== undefined && [...host.set('loop:attached')].some((e) => e.startsWith(`${args.device}=`));
      return { size: host.files.get(args.file)?.type === 'file' && size !== undefined ? Number(size) : null, attachedTo, deviceBusy: busy };
    },
  };
}

/** The first /dev/loopN a simulated host has not attached. */
function freeSimLoop(h: SimHost): string {
  const used = new Set([...h.set('loop:attached')].map((e) => e.slice(0, e.indexOf('='))));
  for (let n = 0; ; n++) if (!used.has(`/dev/loop${n}`)) return `/dev/loop${n}`;
}

/**
 * A sparse file of `sizeMb` attached to a loop device. A smaller file is
 * grown (and attached devices told with `losetup -c`); a larger one is left
 * alone, since shrinking would cut a PV.
 */
export function loopDevice<H extends string = never>(args: LoopDeviceArgs, options?: TaskOptions<H>): Task<H> {
  if (!Number.isInteger(args.sizeMb) || args.sizeMb <= 0) throw new Error(`loop device ${args.file}: sizeMb must be a positive integer`);
  const bytes = args.sizeMb * 1024 * 1024;
  const setSize = (h: SimHost): void => {
    if (h.files.get(args.file)?.type !== 'file') h.writeFile(args.file, '');
    h.setValue(`loop:size:${args.file}`, String(bytes));
  };
  return makeTask({
    module: 'loop',
    name: `loop device ${args.device ?? ''}${args.device ? ' ← ' : ''}${args.file}`,
    options,
    facts: { current: loopFact(args) },
    plan: ({ current }): Plan => {
      const steps: ExecStep[] = [];
      const what: string[] = [];
      if (current.size === null) {
        steps.push({ kind: 'exec', cmd: sh`mkdir -p ${posix.dirname(args.file)} && truncate -s ${`${args.sizeMb}M`} ${args.file}`, simulate: setSize });
        what.push(`create sparse ${args.file} (${args.sizeMb} MiB)`);
      } else if (current.size < bytes) {
        steps.push({ kind: 'exec', cmd: sh`truncate -s ${`${args.sizeMb}M`} ${args.file}`, simulate: setSize });
        for (const dev of current.attachedTo) steps.push({ kind: 'exec', cmd: sh`losetup -c ${dev}` });
        what.push(`grow ${args.file} to ${args.sizeMb} MiB`);
      }
      const attached = args.device ? current.attachedTo.includes(args.device) : current.attachedTo.length > 0;
      if (!attached) {
        if (args.device && current.attachedTo.length > 0)
          throw new Error(`${args.file} is attached to ${current.attachedTo.join(', ')}, not ${args.device}; detach it first (losetup -d)`);
        if (args.device && current.deviceBusy) throw new Error(`${args.device} is in use by another file`);
        const device = args.device;
        steps.push({
          kind: 'exec',
          cmd: device ? sh`losetup ${device} ${args.file}` : sh`losetup -f --show ${args.file}`,
          simulate: (h) => {
            const dev = device ?? freeSimLoop(h);
            h.set('loop:attached').add(`${dev}=${args.file}`);
            return { stdout: device ? '' : `${dev}\n` };
          },
        });
        what.push(`attach ${args.file}${device ? ` to ${device}` : ''}`);
      }
      if (steps.length === 0) return noChange(`${args.file} is attached to ${current.attachedTo.join(', ')}`);
      return { action: 'change', summary: what.join('; '), steps };
    },
  });
}
