import { sh } from '../core/shell.js';
import type { SimHost } from '../sim/sim.js';
import { makeTask, noChange, type Plan, type ShellFact, type Task, type TaskOptions } from '../core/task.js';

/**
 * Open vSwitch bridges and ports (seed 004: `ovs-vsctl add-br br-ex`,
 * `ovs-vsctl add-port br-ex eth0`). Changes use `--may-exist`, so a bridge
 * or port that appeared since the probe is not an error.
 */

export interface OvsState {
  readonly bridgeExists: boolean;
  /** Ports of the bridge (empty when it does not exist). */
  readonly ports: readonly string[];
  /** Bridge the port is on, when a port was asked about and it is on one. */
  readonly portBridge: string | null;
}

/**
 * `br-exists` exits 2 for "no such bridge" and 1 when ovsdb cannot be
 * reached — `list-ports` and `port-to-br` exit 1 for both, so they are read
 * only after br-exists said the database answers.
 */
export function ovsFact(bridge: string, port?: string): ShellFact<OvsState> {
  const portProbe = port === undefined ? sh`` : sh`\nprintf '@@port-to-br %s\\n' "$(ovs-vsctl port-to-br ${port} 2>/dev/null)"`;
  return {
    kind: 'shell',
    script: sh`ovs-vsctl br-exists ${bridge}; echo "@@br-exists $?"
ovs-vsctl list-ports ${bridge} 2>/dev/null; echo "@@list-ports $?"${portProbe}`,
    parse({ stdout, exitCode }) {
      const lines = stdout.split('\n');
      const brIndex = lines.findIndex((l) => l.startsWith('@@br-exists '));
      const lpIndex = lines.findIndex((l) => l.startsWith('@@list-ports '));
      if (brIndex < 0 || lpIndex < 0) throw new Error(`ovs-vsctl probe output was cut short (exit ${exitCode})`);
      const rc = Number(lines[brIndex]?.slice('@@br-exists '.length));
      if (rc !== 0 && rc !== 2) throw new Error(`ovs-vsctl br-exists ${bridge} failed (exit ${rc}): is ovsdb-server running?`);
      const portLine = lines.find((l) => l.startsWith('@@port-to-br '));
      return {
        bridgeExists: rc === 0,
        ports: rc === 0 ? lines.slice(brIndex + 1, lpIndex).filter((l) => l !== '') : [],
        portBridge: portLine ? portLine.slice('@@port-to-br '.length) || null : null,
      };
    },
    simulate: (host) => ({
      bridgeExists: host.set('ovs:bridges').has(bridge),
      ports: [...host.set('ovs:ports')].filter((p) => host.value(`ovs:port-bridge:${p}`) === bridge),
      portBridge: port === undefined ? null : (host.value(`ovs:port-bridge:${port}`) ?? null),
    }),
  };
}

const addBridge = (h: SimHost, bridge: string): void => {
  h.set('ovs:bridges').add(bridge);
};

export function ovsBridge<H extends string = never>(args: { readonly name: string }, options?: TaskOptions<H>): Task<H> {
  return makeTask({
    module: 'ovs',
    name: `ovs bridge ${args.name}`,
    options,
    facts: { current: ovsFact(args.name) },
    plan: ({ current }): Plan =>
      current.bridgeExists
        ? noChange(`bridge ${args.name} exists`)
        : {
            action: 'change',
            summary: `add bridge ${args.name}`,
            steps: [{ kind: 'exec', cmd: sh`ovs-vsctl --may-exist add-br ${args.name}`, simulate: (h) => addBridge(h, args.name) }],
          },
  });
}

/**
 * `port` on `bridge` (the bridge is created too when missing). A port on
 * another bridge is an error rather than moved: moving the host's NIC cuts
 * its connectivity (seed 001's br-ex losing its address).
 */
export function ovsPort<H extends string = never>(args: { readonly bridge: string; readonly port: string }, options?: TaskOptions<H>): Task<H> {
  return makeTask({
    module: 'ovs',
    name: `ovs port ${args.bridge}/${args.port}`,
    options,
    facts: { current: ovsFact(args.bridge, args.port) },
    plan: ({ current }): Plan => {
      if (current.bridgeExists && current.ports.includes(args.port)) return noChange(`${args.port} is on ${args.bridge}`);
      if (current.portBridge !== null && current.portBridge !== args.bridge)
        throw new Error(`${args.port} is on bridge ${current.portBridge}, not ${args.bridge}; refusing to move it`);
      const addPort = (h: SimHost): void => {
        addBridge(h, args.bridge);
        h.set('ovs:ports').add(args.port);
        h.setValue(`ovs:port-bridge:${args.port}`, args.bridge);
      };
      return {
        action: 'change',
        summary: `${current.bridgeExists ? '' : `add bridge ${args.bridge}, `}add port ${args.port} to ${args.bridge}`,
        steps: [
          {
            kind: 'exec',
            cmd: current.bridgeExists
              ? sh`ovs-vsctl --may-exist add-port ${args.bridge} ${args.port}`
              : sh`ovs-vsctl --may-exist add-br ${args.bridge} -- --may-exist add-port ${args.bridge} ${args.port}`,
            simulate: addPort,
          },
        ],
      };
    },
  });
}
