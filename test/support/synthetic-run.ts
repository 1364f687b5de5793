import type { RunEvent, RunOutcome, TaskResult } from '../../lib/core/executor.js';
import { Redactor } from '../../lib/core/secret.js';
import { RunRecorder, type RunRecord } from '../../lib/history/record.js';
import { mulberry32 } from './seeded.js';

/**
 * A run of a lab-sized deployment made up in the test, not run on hosts: it
 * exists so the report's timeline can be looked at with 50 hosts, which no
 * loopback test can deploy. The events are fed to the real RunRecorder on a
 * fake clock, as the executor would send them: plays as barriers, hosts in
 * parallel, tasks of a host in order, some changes with diffs, a failure and
 * an unreachable host when asked.
 */

/** Roles per kind of host, as a site playbook would lay them out (names only: nothing here runs). */
const PLAYS: readonly { readonly name: string; readonly on: 'all' | 'controller' | 'network' | 'compute'; readonly roles: readonly string[] }[] = [
  { name: 'base', on: 'all', roles: ['common', 'chrony'] },
  { name: 'infrastructure', on: 'controller', roles: ['mariadb', 'rabbitmq', 'memcached'] },
  { name: 'control plane', on: 'controller', roles: ['keystone', 'glance', 'placement', 'nova-api', 'neutron-server', 'horizon'] },
  { name: 'network nodes', on: 'network', roles: ['neutron-l3'] },
  { name: 'compute nodes', on: 'compute', roles: ['nova-compute', 'neutron-agent'] },
];

export interface SyntheticOptions {
  readonly hosts: number;
  readonly seed?: number;
  /** A task fails on the last compute host. */
  readonly failure?: boolean;
  /** The last host cannot be reached. */
  readonly unreachable?: boolean;
  /** Put into one diff, to prove the record masks it. */
  readonly secret?: string;
}

function hostNames(n: number): { name: string; kind: 'controller' | 'network' | 'compute' }[] {
  const controllers = n >= 10 ? 3 : 1;
  const network = n >= 10 ? 2 : 1;
  const out: { name: string; kind: 'controller' | 'network' | 'compute' }[] = [];
  for (let i = 1; i <= controllers; i++) out.push({ name: controllers === 1 ? 'controller' : `controller${i}`, kind: 'controller' });
  for (let i = 1; i <= network && out.length < n; i++) out.push({ name: network === 1 ? 'network' : `network${i}`, kind: 'network' });
  for (let i = 1; out.length < n; i++) out.push({ name: `compute${String(i).padStart(n > 10 ? 2 : 1, '0')}`, kind: 'compute' });
  return out;
}

export function syntheticRecord(options: SyntheticOptions): RunRecord {
  const random = mulberry32(options.seed ?? 19);
  const hosts = hostNames(options.hosts);
  const redactor = new Redactor();
  if (options.secret) redactor.add(options.secret);
  const events: { at: number; order: number; event: RunEvent }[] = [];
  let order = 0;
  const at = (ms: number, event: RunEvent) => events.push({ at: ms, order: order++, event });
  const lost = options.unreachable ? hosts.at(-1)!.name : undefined;
  const failing = options.failure ? hosts.filter((h) => h.kind === 'compute' && h.name !== lost).at(-1)?.name : undefined;
  const stopped = new Set<string>();
  let clock = 0;
  for (const play of PLAYS) {
    const on = hosts.filter((h) => (play.on === 'all' || h.kind === play.on) && !stopped.has(h.name));
    if (on.length === 0) continue;
    at(clock, { type: 'play', name: play.name, hosts: on.map((h) => h.name) });
    let end = clock;
    for (const host of on) {
      let t = clock + 50 + random() * 400;
      if (host.name === lost) {
        at(t + 10_000, { type: 'unreachable', host: host.name, error: `${host.name}: connect ETIMEDOUT 10.0.0.250:22 (after 3 tries)` });
        stopped.add(host.name);
        end = Math.max(end, t + 10_000);
        continue;
      }
      for (const role of play.roles) {
        const roleStart = t;
        const tasks = 3 + Math.floor(random() * 6);
        for (let i = 0; i < tasks; i++) {
          // Package installs and database migrations are the slow ones.
          const slow = i === 1 || (i === tasks - 1 && random() < 0.3);
          const durationMs = slow ? 4000 + random() * 40_000 : 40 + random() * 900;
          const changed = random() < 0.35;
          const fails = host.name === failing && role === 'nova-compute' && i === 2;
          const name = i === 1 ? `${role} packages` : `${role} task ${i + 1}`;
          const path = `/etc/${role}/${role}.conf`;
          const result: TaskResult = {
            host: host.name,
            role,
            task: name,
            module: i === 1 ? 'package' : 'ini',
            handler: false,
            status: fails ? 'failed' : changed ? 'changed' : 'ok',
            durationMs,
            ...(fails ? { error: `exit 1: ${role}-manage: cannot connect to the message queue at controller:5672` } : {}),
            ...(changed && !fails
              ? {
                  summary: `set [DEFAULT] debug, [database] connection in ${path}`,
                  diffs: [
                    {
                      path,
                      before: `[DEFAULT]\ndebug = true\n[database]\nconnection = mysql+pymysql://${role}:${options.secret ?? 'x'}@controller/${role}\n`,
                      after: `[DEFAULT]\ndebug = false\n[database]\nconnection = mysql+pymysql://${role}:${options.secret ?? 'x'}@controller/${role}\n`,
                    },
                  ],
                }
              : {}),
          };
          at(t, { type: 'task-start', host: host.name, role, task: name });
          at(t + durationMs, { type: 'task', result });
          t += durationMs + 5;
          if (fails) break;
        }
        if (host.name === failing && role === 'nova-compute') {
          stopped.add(host.name);
          break;
        }
        at(t, { type: 'role-end', host: host.name, role, durationMs: t - roleStart });
      }
      end = Math.max(end, t);
    }
    clock = end + 20;
  }
  events.sort((a, b) => a.at - b.at || a.order - b.order);
  let now = Date.UTC(2026, 11, 1, 9, 30, 0);
  const start = now;
  const recorder = new RunRecorder(
    {
      playbook: 'site',
      argv: ['-i', 'hosts/lab.ini', '--report', 'site.html'],
      inventory: '/srv/stackplay/hosts/lab.ini',
      check: false,
      user: 'operator',
      machine: 'deploy-host',
      cwd: '/srv/stackplay',
    },
    redactor,
    { now: () => now, suffix: 'a1b2c3' },
  );
  for (const e of events) {
    now = start + Math.round(e.at);
    recorder.handle(e.event);
  }
  now = start + Math.round(clock);
  const recap = new Map<string, { ok: number; changed: number; failed: number; skipped: number; unreachable: number; wouldRun: number }>();
  for (const h of hosts) recap.set(h.name, { ok: 0, changed: 0, failed: 0, skipped: 0, unreachable: 0, wouldRun: 0 });
  for (const e of events) {
    if (e.event.type === 'task') recap.get(e.event.result.host)![e.event.result.status === 'would-run' ? 'wouldRun' : e.event.result.status]++;
    if (e.event.type === 'unreachable') recap.get(e.event.host)!.unreachable++;
  }
  const exitCode = failing ? 2 : lost ? 4 : 0;
  const outcome: RunOutcome = { recap, exitCode, aborted: null };
  return recorder.finish(exitCode, outcome);
}
