/**
 * The lab's record of what it made. Written after every resource it creates
 * (atomically: temp file + rename), so an interrupted `up` can still be
 * undone by `down`.
 */
import fs from 'node:fs';
import path from 'node:path';
import { STATE_FILE } from './paths.js';

/** A process the lab started: pid plus its kernel start time, so a reused pid is never mistaken for it. */
export interface ProcRecord {
  readonly pid: number;
  readonly starttime: string;
  readonly startedAt: string;
}

export interface HostRecord {
  readonly name: string;
  readonly netns: string;
  readonly vethHost: string;
  readonly addresses: readonly string[];
  /** Overlay mount point (the host's /). */
  readonly root: string;
  netnsCreated: boolean;
  mounted: boolean;
  /** `unshare` parent of the host's PID namespace (its child, PID 1 inside, is systemd). */
  init?: ProcRecord;
  /** The host's cgroup subtrees on the machine (lab/boot.ts), removed when it stops. */
  cgroups?: string[];
}

export interface LabState {
  version: 1;
  inventory: string;
  bridge?: { readonly name: string; readonly cidr: string };
  /** The external network's bridge (floating IPs), when a host has an external link. */
  externalBridge?: { readonly name: string; readonly cidr: string };
  /** `ip netns add` made /run/netns (dir and/or self bind mount): remove it again when no namespace is left. */
  runNetns?: { readonly createdDir: boolean; readonly createdMount: boolean };
  /** The lab's nftables table (lab/firewall.ts) was created. */
  firewall?: { readonly table: string };
  /** `lab_bastion`: the host this machine reaches; the others only through it. */
  bastion?: string;
  hosts: Record<string, HostRecord>;
}

export function loadState(): LabState | undefined {
  let text: string;
  try {
    text = fs.readFileSync(STATE_FILE, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  const state = JSON.parse(text) as LabState;
  if (state.version !== 1) throw new Error(`${STATE_FILE}: unknown state version ${String(state.version)}`);
  return state;
}

export function saveState(state: LabState): void {
  fs.mkdirSync(path.dirname(STATE_FILE), { recursive: true });
  const tmp = `${STATE_FILE}.tmp-${process.pid}`;
  fs.writeFileSync(tmp, JSON.stringify(state, null, 2) + '\n');
  fs.renameSync(tmp, STATE_FILE);
}

export function removeState(): void {
  fs.rmSync(STATE_FILE, { force: true });
}
