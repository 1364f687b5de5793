import { sh, type Cmd } from '../core/shell.js';
import { makeTask, noChange, type Plan, type ShellFact, type Step, type Task, type TaskOptions } from '../core/task.js';

/**
 * Service state for systemd, upstart (Ubuntu 14.04) and sysvinit (hosts
 * without systemd, such as the benchmark's). The init system is a fact, so
 * the same role works on all three.
 */
export type InitSystem = 'systemd' | 'upstart' | 'sysv';

export interface ServiceFacts {
  readonly init: InitSystem;
  readonly exists: boolean;
  readonly running: boolean;
  readonly enabled: boolean;
}

export interface ServiceArgs {
  readonly name: string;
  /** started/stopped converge; restarted/reloaded always act (handlers). */
  readonly state?: 'started' | 'stopped' | 'restarted' | 'reloaded';
  readonly enabled?: boolean;
}

export function serviceFact(name: string): ShellFact<ServiceFacts> {
  return {
    kind: 'shell',
    script: sh`n=${name}
if [ -d /run/systemd/system ]; then
  echo systemd
  if systemctl cat "$n" >/dev/null 2>&1; then echo exists; else echo missing; fi
  systemctl is-active --quiet "$n" && echo running || echo stopped
  systemctl is-enabled --quiet "$n" 2>/dev/null && echo enabled || echo disabled
elif [ -f "/etc/init/$n.conf" ] && command -v initctl >/dev/null 2>&1; then
  echo upstart; echo exists
  status "$n" 2>/dev/null | grep -q 'start/' && echo running || echo stopped
  grep -qs '^manual' "/etc/init/$n.override" && echo disabled || echo enabled
else
  echo sysv
  if [ -x "/etc/init.d/$n" ]; then echo exists; else echo missing; fi
  if grep -qs 'openstack-pkg-tools' "/etc/init.d/$n" && grep -qs '^PIDFILE=/var/run/\${PROJECT_NAME}/\${NAME}.pid' "/etc/init.d/$n"; then
    # Debian's OpenStack init scripts (openstack-pkg-tools) answer status with status_of_proc on the binary:
    # every uwsgi service shares /usr/bin/uwsgi_python3*, so keystone's uwsgi made placement-api look running.
    # Their start writes /var/run/<project>/<name>.pid: the daemon runs when that pid is alive.
    pf=$(eval "$(grep -E '^(PROJECT_NAME|NAME)=' "/etc/init.d/$n" | head -n 2)"; echo "/var/run/$PROJECT_NAME/$NAME.pid")
    [ -s "$pf" ] && kill -0 "$(cat "$pf")" 2>/dev/null && echo running || echo stopped
  else
    service "$n" status >/dev/null 2>&1 && echo running || echo stopped
  fi
  e=disabled
  for f in /etc/rc2.d/S[0-9][0-9]"$n" /etc/rc.d/rc3.d/S[0-9][0-9]"$n"; do [ -e "$f" ] && e=enabled; done
  echo "$e"
fi`,
    parse({ stdout }) {
      const [init, exists, running, enabled] = stdout.trim().split('\n');
      if (init !== 'systemd' && init !== 'upstart' && init !== 'sysv') throw new Error(`cannot tell the init system: ${stdout.trim()}`);
      return { init, exists: exists === 'exists', running: running === 'running', enabled: enabled === 'enabled' };
    },
    simulate: (host) => ({
      init: ((host.value('init') ?? host.hardware['init']) as InitSystem | undefined) ?? 'systemd',
      exists: !host.set('services:missing').has(name),
      running: host.set('services:running').has(name),
      enabled: host.set('services:enabled').has(name),
    }),
    absorb(host, svc) {
      host.setValue('init', svc.init);
      const mark = (set: string, yes: boolean) => (yes ? host.set(set).add(name) : host.set(set).delete(name));
      mark('services:missing', !svc.exists);
      mark('services:running', svc.running);
      mark('services:enabled', svc.enabled);
    },
  };
}

function actionCmd(init: InitSystem, name: string, action: 'start' | 'stop' | 'restart' | 'reload'): Cmd {
  switch (init) {
    case 'systemd':
      return sh`systemctl ${action} ${name}`;
    case 'upstart':
      // upstart's restart fails on a stopped job; stop+start does what an operator means.
      return action === 'restart' ? sh`(stop ${name} || true) && start ${name}` : sh`initctl ${action} ${name}`;
    case 'sysv':
      return sh`service ${name} ${action}`;
  }
}

function enableCmd(init: InitSystem, name: string, enable: boolean): Cmd {
  switch (init) {
    case 'systemd':
      return sh`systemctl ${enable ? 'enable' : 'disable'} ${name}`;
    case 'upstart':
      return enable ? sh`rm -f /etc/init/${name}.override` : sh`echo manual > /etc/init/${name}.override`;
    case 'sysv':
      return sh`if command -v update-rc.d >/dev/null 2>&1; then update-rc.d ${name} ${enable ? 'defaults' : 'disable'}; else chkconfig ${name} ${enable ? 'on' : 'off'}; fi`;
  }
}

export function service<H extends string = never>(args: ServiceArgs, options?: TaskOptions<H>): Task<H> {
  const state = args.state ?? 'started';
  const label = [state, args.enabled === undefined ? '' : args.enabled ? 'enabled' : 'disabled'].filter(Boolean).join(', ');
  return makeTask({
    module: 'service',
    name: `service ${args.name} ${label}`,
    options,
    ...(state === 'started' ? { daemon: args.name } : {}),
    facts: { svc: serviceFact(args.name) },
    plan: ({ svc }): Plan => {
      if (!svc.exists) throw new Error(`service ${args.name} is not installed (${svc.init})`);
      const steps: Step[] = [];
      const what: string[] = [];
      const run = (action: 'start' | 'stop' | 'restart' | 'reload', running: boolean) => {
        steps.push({
          kind: 'exec',
          cmd: actionCmd(svc.init, args.name, action),
          simulate: (h) => {
            if (running) h.set('services:running').add(args.name);
            else h.set('services:running').delete(args.name);
            h.setValue(`pid:${args.name}`, String(Number(h.value(`pid:${args.name}`) ?? '100') + 1));
          },
        });
        what.push(action);
      };
      if (state === 'started' && !svc.running) run('start', true);
      if (state === 'stopped' && svc.running) run('stop', false);
      if (state === 'restarted') run(svc.running ? 'restart' : 'start', true);
      if (state === 'reloaded') run(svc.running ? 'reload' : 'start', true);
      if (args.enabled !== undefined && args.enabled !== svc.enabled) {
        steps.push({
          kind: 'exec',
          cmd: enableCmd(svc.init, args.name, args.enabled),
          simulate: (h) => {
            if (args.enabled) h.set('services:enabled').add(args.name);
            else h.set('services:enabled').delete(args.name);
          },
        });
        what.push(args.enabled ? 'enable' : 'disable');
      }
      if (steps.length === 0)
        return noChange(`${args.name} is ${svc.running ? 'running' : 'stopped'}${args.enabled === undefined ? '' : svc.enabled ? ', enabled' : ', disabled'}`);
      return { action: 'change', summary: `${what.join(' + ')} ${args.name} (${svc.init})`, steps };
    },
  });
}

/**
 * Reports a service's state and changes nothing: ok while it runs, failed
 * when it does not (the host goes on to its next service, so one run lists
 * every stopped service, and the exit code says whether all run).
 */
export function serviceStatus<H extends string = never>(name: string, options?: TaskOptions<H>): Task<H> {
  return makeTask({
    module: 'service',
    name: `status ${name}`,
    options: { ignoreErrors: true, ...options },
    facts: { svc: serviceFact(name) },
    plan: ({ svc }): Plan => {
      if (!svc.exists) throw new Error(`${name} is not installed (${svc.init})`);
      if (!svc.running) throw new Error(`${name} is stopped${svc.enabled ? '' : ' and not enabled at boot'}`);
      return noChange(`running${svc.enabled ? ', enabled' : ', not enabled at boot'}`);
    },
  });
}
