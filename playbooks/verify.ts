import path from 'node:path';
import { isMain, main } from '../lib/cli/cli.js';
import { defineRole, type HostContext, type Play, type Role } from '../lib/core/playbook.js';
import { raw, sh, type Cmd } from '../lib/core/shell.js';
import { makeTask, noChange, registeredFact, skip, type Plan, type Registered, type ShellFact, type Task } from '../lib/core/task.js';
import { hostVarsOf } from '../lib/inventory/vars.js';
import { OpenStackHost } from '../openstack/host.js';
import { OS } from '../openstack/platform.js';
import { openstackPlaybook } from '../openstack/playbook.js';
import { coreVars } from '../openstack/release.js';
import { networkMode, networkNodes } from '../openstack/topology.js';

/**
 * Checks the running cloud end to end, as an ordinary playbook. Every check
 * is a task whose only fact is a script run on the host (the openstack CLI
 * with /root/admin-openrc.sh on the controller); its plan is a pure function
 * of that script's verdict: pass → ok, skip → skipped (with the reason),
 * fail → failed. Checks ignore errors (`ignoreErrors`), so a failed check
 * does not stop the others; the run's recap and exit code (2 when any check
 * failed) are the verdict, and `--json` keeps every check's detail. Run with
 * `-v` to see each passed and skipped check's detail.
 *
 * What it creates to prove the cloud works (an image, a network, subnet and
 * router, a flavor, a server, a volume) is named `stackplay-verify*`,
 * removed before each check (leftovers of an interrupted run) and again at
 * the end. The last play loads Horizon's login page in a headless Chromium
 * on this machine (the implicit localhost) and saves a screenshot under
 * out/verify/.
 *
 *   npx tsx playbooks/verify.ts -i hosts/lab.ini -v [--json out/verify/report.json]
 */

export type Verdict = 'pass' | 'fail' | 'skip';

export interface Outcome {
  readonly verdict: Verdict;
  readonly detail: string;
  readonly output: string;
}

const PREFIX = 'stackplay-verify';
const ADMIN_RC = '/root/admin-openrc.sh';
/** Where the Horizon screenshot goes on this machine. */
export const SCREENSHOT = path.resolve('out', 'verify', 'horizon-login.png');
/** Registered by the block hosts' check: whether their kernel can activate LVM volumes. */
const DEVICE_MAPPER = 'device-mapper';

/** Shell helpers every check script starts with: pass/fail/skip print the marker and end the script. */
const PRELUDE = `exec 2>&1
t0=$(date +%s)
trap 'echo "@@seconds $(( $(date +%s) - t0 ))"' EXIT
pass() { echo "@@pass $*"; exit 0; }
fail() { echo "@@fail $*"; exit 0; }
skip() { echo "@@skip $*"; exit 0; }
# The last lines of a command's output, on one line, for a failure message.
tail1() { printf '%s' "$1" | tail -n 4 | tr '\\n' ' ' | cut -c1-400; }
`;
const OPENRC = `[ -r ${ADMIN_RC} ] || fail "no ${ADMIN_RC} (keystone role not run?)"
. ${ADMIN_RC}
command -v openstack >/dev/null || fail "no openstack CLI on this host"
`;

/** The verdict a check script printed last (`@@pass …`, `@@fail …`, `@@skip …`), with the script's own clock. */
export function parseOutcome(stdout: string, exitCode: number): Outcome {
  const lines = stdout.split('\n');
  const marker = [...lines].reverse().find((l) => /^@@(pass|fail|skip)( |$)/.test(l));
  const seconds = /^@@seconds (\d+)$/m.exec(stdout)?.[1];
  const took = seconds === undefined ? '' : ` (${seconds}s)`;
  if (!marker) {
    const tail = lines
      .filter((l) => l.trim() && !l.startsWith('@@'))
      .slice(-4)
      .join(' | ');
    return { verdict: 'fail', detail: `check script ended without a verdict (exit ${exitCode}): ${tail}`, output: stdout };
  }
  const m = /^@@(pass|fail|skip) ?(.*)$/.exec(marker)!;
  return { verdict: m[1] as Verdict, detail: `${m[2] ?? ''}${took}`, output: stdout };
}

function outcomeFact(script: Cmd): ShellFact<Outcome> {
  return {
    kind: 'shell',
    script,
    parse: ({ stdout, exitCode }) => parseOutcome(stdout, exitCode),
    simulate: () => ({ verdict: 'skip', detail: 'simulated host (--plan): nothing to check', output: '' }),
  };
}

/** A verdict as a plan: pass → nothing to change, skip → skipped, fail → the task fails (and, ignoring errors, the host goes on). */
export function verdictPlan(o: Outcome): Plan {
  if (o.verdict === 'fail') throw new Error(o.detail);
  return o.verdict === 'skip' ? skip(o.detail) : noChange(o.detail);
}

interface CheckOptions {
  /** Source the admin credentials first (default true). */
  readonly openrc?: boolean;
  /** Keep the result for later checks on other hosts. */
  readonly register?: string;
}

/** A read-only check: runs `body` after the prelude (and the admin credentials unless `openrc: false`); never plans a change. */
function check(name: string, body: string, options: CheckOptions = {}): Task {
  const script = sh`${raw(PRELUDE)}${raw(options.openrc === false ? '' : OPENRC)}${raw(body)}`;
  return makeTask({
    module: 'check',
    name,
    options: { tags: ['verify'], ignoreErrors: true, ...(options.register !== undefined ? { register: options.register } : {}) },
    facts: { outcome: outcomeFact(script) },
    plan: ({ outcome }) => verdictPlan(outcome),
  });
}

/**
 * The volume check's verdict: a volume that went to error is a skip, not a
 * failure, when every block host reported (registered) that its kernel has
 * no device-mapper, so cinder's LVM driver cannot activate volumes there.
 */
export function volumePlan(o: Outcome, blockHosts: readonly string[], deviceMapper: ReadonlyMap<string, Registered>): Plan {
  const noDm = blockHosts.filter((b) => deviceMapper.get(b)?.status === 'skipped');
  if (o.verdict === 'fail' && /^@@volume-error$/m.test(o.output) && blockHosts.length > 0 && noDm.length === blockHosts.length) {
    return skip(`no device-mapper on ${noDm.join(', ')} (cinder-volume runs; the LVM volume went to error as expected)`);
  }
  return verdictPlan(o);
}

const q = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`;

/**
 * Block storage hosts: the volume group and cinder-volume, and whether the
 * kernel can activate LVM volumes (device-mapper). Without it the check is
 * skipped, with the reason, and registered so the volume check knows why.
 */
function blockChecks(): Role {
  return defineRole('verify-block').tasks([
    check(
      'device-mapper and the cinder-volumes volume group',
      `vg=no; vgs --noheadings cinder-volumes >/dev/null 2>&1 && vg=yes
[ "$vg" = yes ] || fail "volume group cinder-volumes is missing"
pgrep -f cinder-volume >/dev/null || fail "cinder-volume is not running"
# The kernel's device-mapper registers a misc device; /dev/mapper/control can exist (the lab binds the machine's /dev) and still fail to open.
grep -qw device-mapper /proc/misc 2>/dev/null && pass "VG cinder-volumes present, cinder-volume running, device-mapper present"
skip "VG cinder-volumes present, cinder-volume running; no device-mapper in this kernel: volumes cannot be activated here"`,
      { openrc: false, register: DEVICE_MAPPER },
    ),
  ]);
}

/** Expected neutron agents: (type, host) pairs from the inventory and network mode. */
function expectedAgents(o: OpenStackHost): string[] {
  const inv = o.ctx.inventory;
  const mode = networkMode(o.ctx.vars, o.release);
  const l2 = mode.mechanism === 'openvswitch' ? 'Open vSwitch agent' : 'Linux bridge agent';
  const nodes = networkNodes(inv);
  const compute = inv.groups.has('compute') ? inv.groupHosts('compute') : [];
  const pairs = new Set<string>();
  for (const n of nodes) {
    pairs.add(`${l2}@${n}`).add(`DHCP agent@${n}`).add(`Metadata agent@${n}`);
    if (mode.router) pairs.add(`L3 agent@${n}`);
  }
  for (const c of compute) pairs.add(`${l2}@${c}`);
  return [...pairs];
}

function controllerChecks(ctx: HostContext): Role {
  const o = new OpenStackHost(ctx);
  const inv = ctx.inventory;
  const computeHosts = inv.groups.has('compute') ? inv.groupHosts('compute') : [];
  const blockHosts = inv.groups.has('block') ? inv.groupHosts('block') : [];
  const loginUrl = `http://${o.controller}${o.os.dashboardLoginPath}`;
  const image = PREFIX;
  const net = `${PREFIX}-net`;
  const subnet = `${PREFIX}-subnet`;
  const router = `${PREFIX}-router`;
  const server = `${PREFIX}-server`;
  const flavor = PREFIX;
  const volume = `${PREFIX}-volume`;
  const extNet = ctx.vars.str('external_network', 'ext-net');
  const cidr = ctx.vars.str('verify_cidr', '10.199.0.0/24');

  const catalogTypes = ['identity', 'image', 'placement', 'compute', 'network', 'volumev3'];
  const agents = expectedAgents(o);

  // Removes what a check creates (leftovers of an interrupted run, and at the end).
  const cleanServer = `for id in $(openstack server list --name '^${server}$' -f value -c ID 2>/dev/null); do openstack server delete --wait "$id" >/dev/null 2>&1; done`;
  const cleanVolume = `for id in $(openstack volume list --name ${q(volume)} -f value -c ID 2>/dev/null); do openstack volume delete --force "$id" >/dev/null 2>&1 || openstack volume delete "$id" >/dev/null 2>&1; done`;
  const cleanNetwork = `if openstack router show ${q(router)} >/dev/null 2>&1; then
  openstack router remove subnet ${q(router)} ${q(subnet)} >/dev/null 2>&1
  openstack router unset --external-gateway ${q(router)} >/dev/null 2>&1
  openstack router delete ${q(router)} >/dev/null 2>&1
fi
for id in $(openstack port list --network ${q(net)} -f value -c ID 2>/dev/null); do openstack port delete "$id" >/dev/null 2>&1; done
openstack subnet delete ${q(subnet)} >/dev/null 2>&1
openstack network delete ${q(net)} >/dev/null 2>&1`;
  const cleanImage = `for id in $(openstack image list --name ${q(image)} -f value -c ID 2>/dev/null); do openstack image delete "$id" >/dev/null 2>&1; done`;
  const cleanFlavor = `openstack flavor delete ${q(flavor)} >/dev/null 2>&1`;

  return defineRole('verify').tasks([
    check(
      'token issue',
      `out=$(openstack token issue -f value -c expires -c project_id) || fail "$(tail1 "$out")"
pass "token issued for project admin, expires $(printf '%s' "$out" | head -n 1)"`,
    ),

    check(
      `catalog holds ${catalogTypes.join(', ')}`,
      `out=$(openstack catalog list -f value -c Type) || fail "$(tail1 "$out")"
missing=""
for t in ${catalogTypes.join(' ')}; do printf '%s\\n' "$out" | grep -qx "$t" || missing="$missing $t"; done
[ -z "$missing" ] || fail "missing:$missing (catalog has: $(printf '%s' "$out" | tr '\\n' ' '))"
pass "$(printf '%s\\n' "$out" | sort | tr '\\n' ' ')"`,
    ),

    check(
      `nova-compute up on ${computeHosts.join(', ') || '(no compute hosts)'}`,
      `want=${q(computeHosts.join(' '))}
i=0
while :; do
  out=$(openstack compute service list --service nova-compute -f value -c Host -c Status -c State) || fail "$(tail1 "$out")"
  missing=""
  for h in $want; do printf '%s\\n' "$out" | grep -qE "^$h enabled up$" || missing="$missing $h"; done
  [ -z "$missing" ] && pass "$(printf '%s' "$out" | tr '\\n' ';')"
  i=$((i + 1)); [ "$i" -ge 12 ] && fail "not up:$missing (service list: $(printf '%s' "$out" | tr '\\n' ';'))"
  sleep 5
done`,
    ),

    check(
      'network agents alive',
      `want=${q(agents.join('|'))}
i=0
while :; do
  out=$(openstack network agent list -f value -c "Agent Type" -c Host -c Alive -c State) || fail "$(tail1 "$out")"
  bad=$(printf '%s\\n' "$out" | grep -vE ' True (UP|True)$' | grep -v '^$')
  missing=""
  IFS='|'; for a in $want; do t=\${a%@*}; h=\${a#*@}; printf '%s\\n' "$out" | grep -q "^$t $h " || missing="$missing, $a"; done; unset IFS
  [ -z "$bad$missing" ] && pass "$(printf '%s\\n' "$out" | wc -l) agents alive and up: $(printf '%s' "$out" | sed -E 's/ True (UP|True)$//' | tr '\\n' ';')"
  i=$((i + 1)); [ "$i" -ge 12 ] && fail "missing: \${missing#, }; not alive/up: $(printf '%s' "$bad" | tr '\\n' ';')"
  sleep 5
done`,
    ),

    check(
      'upload a qcow2 image (qemu-img create)',
      `${cleanImage}
f=$(mktemp /tmp/${PREFIX}-XXXXXX.qcow2)
out=$(qemu-img create -f qcow2 "$f" 64M) || { rm -f "$f"; fail "qemu-img: $(tail1 "$out")"; }
out=$(openstack image create --disk-format qcow2 --container-format bare --file "$f" -f value -c id ${q(image)}); rc=$?
rm -f "$f"
[ "$rc" -eq 0 ] || fail "$(tail1 "$out")"
id=$(printf '%s' "$out" | tail -n 1)
status=$(openstack image show "$id" -f value -c status)
[ "$status" = active ] || fail "image $id is $status"
pass "image ${image} ($id) active, $(openstack image show "$id" -f value -c size) bytes"`,
    ),

    check(
      'create network, subnet, router',
      `${cleanNetwork}
out=$(openstack network create ${q(net)} -f value -c id) || fail "network: $(tail1 "$out")"
out=$(openstack subnet create --network ${q(net)} --subnet-range ${q(cidr)} ${q(subnet)} -f value -c id) || fail "subnet: $(tail1 "$out")"
out=$(openstack router create ${q(router)} -f value -c id) || fail "router: $(tail1 "$out")"
out=$(openstack router add subnet ${q(router)} ${q(subnet)}) || fail "router interface: $(tail1 "$out")"
gw=""
if openstack network show ${q(extNet)} >/dev/null 2>&1; then
  out=$(openstack router set --external-gateway ${q(extNet)} ${q(router)}) || fail "router gateway on ${extNet}: $(tail1 "$out")"
  gw=", gateway on ${extNet}"
fi
# The router's interface port goes ACTIVE once the L3 agent has plugged it and the L2 agent has wired it.
i=0
while :; do
  st=$(openstack port list --router ${q(router)} --device-owner network:router_interface -f value -c Status)
  [ "$st" = ACTIVE ] && pass "network ${net}, subnet ${cidr}, router ${router} with its interface port ACTIVE$gw"
  i=$((i + 1)); [ "$i" -ge 30 ] && fail "router interface port is '$st' after 60s (L3/L2 agents did not wire it)"
  sleep 2
done`,
    ),

    check(
      'boot a server to ACTIVE',
      `${cleanServer}
openstack flavor show ${q(flavor)} >/dev/null 2>&1 || openstack flavor create --ram 128 --disk 1 --vcpus 1 ${q(flavor)} >/dev/null || fail "cannot create flavor ${flavor}"
openstack image show ${q(image)} >/dev/null 2>&1 || fail "no image ${image} (the image check failed)"
openstack network show ${q(net)} >/dev/null 2>&1 || fail "no network ${net} (the network check failed)"
out=$(timeout 300 openstack server create --flavor ${q(flavor)} --image ${q(image)} --network ${q(net)} --wait -f value -c id ${q(server)}); rc=$?
st=$(openstack server show ${q(server)} -f value -c status 2>/dev/null)
if [ "$st" != ACTIVE ]; then
  fault=$(openstack server show ${q(server)} -f value -c fault 2>/dev/null | cut -c1-300)
  fail "server is '\${st:-absent}' (exit $rc): \${fault:-$(tail1 "$out")}"
fi
where=$(openstack server show ${q(server)} -f value -c OS-EXT-SRV-ATTR:host -c addresses | tr '\\n' ' ')
hv=$(openstack hypervisor list -f value -c "Hypervisor Hostname" -c "Hypervisor Type" | tr '\\n' ';')
pass "server ${server} ACTIVE on $where(hypervisors: $hv)"`,
    ),

    // Without device-mapper (the lab's kernel) cinder's LVM driver cannot activate the volume:
    // that is an honest skip, never a pass; with device-mapper, an error is a failure.
    makeTask({
      module: 'check',
      name: 'create a volume to available',
      options: { tags: ['verify'], ignoreErrors: true },
      facts: {
        outcome: outcomeFact(
          sh`${raw(PRELUDE)}${raw(OPENRC)}${raw(`${cleanVolume}
out=$(openstack volume create --size 1 -f value -c id ${q(volume)}) || fail "$(tail1 "$out")"
id=$(printf '%s' "$out" | tail -n 1)
i=0
while :; do
  st=$(openstack volume show "$id" -f value -c status)
  case "$st" in
    available) pass "volume ${volume} ($id) available" ;;
    error) echo "@@volume-error"; fail "volume ${volume} ($id) went to error" ;;
  esac
  i=$((i + 1)); [ "$i" -ge 60 ] && fail "volume ${volume} is '$st' after 120s"
  sleep 2
done`)}`,
        ),
        deviceMapper: registeredFact(DEVICE_MAPPER, blockHosts),
      },
      plan: ({ outcome, deviceMapper }) => volumePlan(outcome, blockHosts, deviceMapper),
    }),

    // python3 is on every controller (the OpenStack services need it); curl is not in a minimal Debian.
    check(
      `Horizon login page answers 200 (${loginUrl})`,
      `code=$(python3 - ${q(loginUrl)} <<'PY'
import sys, urllib.request, urllib.error
try:
    r = urllib.request.urlopen(sys.argv[1], timeout=60)
    print(r.status, len(r.read()))
except urllib.error.HTTPError as e:
    print(e.code, 0)
except Exception as e:
    print('none', str(e).replace(' ', '_')[:200])
PY
)
[ "\${code%% *}" = 200 ] && pass "HTTP 200, \${code#* } bytes"
fail "HTTP \${code:-no answer}"`,
      { openrc: false },
    ),

    check(
      `clean up ${PREFIX}* resources`,
      `${cleanServer}
${cleanVolume}
${cleanNetwork}
${cleanImage}
${cleanFlavor}
left=$( { openstack server list --name '^${server}$' -f value -c ID; openstack network list --name ${q(net)} -f value -c ID; openstack router list --name ${q(router)} -f value -c ID; openstack image list --name ${q(image)} -f value -c ID; } 2>/dev/null | wc -l)
[ "$left" -eq 0 ] || fail "$left resource(s) left behind"
vol=$(openstack volume list --name ${q(volume)} -f value -c ID 2>/dev/null | wc -l)
[ "$vol" -eq 0 ] || pass "removed; $vol volume(s) in error could not be deleted (no device-mapper)"
pass "removed"`,
    ),
  ]);
}

/**
 * Horizon's login page as a person's browser on this machine sees it (at the
 * controller's inventory address): HTTP 200, then a headless Chromium
 * screenshot. Runs on the implicit localhost.
 */
function screenshotCheck(ctx: HostContext): Role {
  const controller = ctx.inventory.groups.has('controller') ? ctx.inventory.groupHosts('controller')[0] : undefined;
  if (controller === undefined) return defineRole('verify-local').tasks([]);
  const core = coreVars(ctx.inventory, hostVarsOf(ctx.inventory, controller));
  const url = `http://${core.ansibleHost}${OS[core.osFamily].dashboardLoginPath}`;
  const flags = CHROMIUM_FLAGS.join(' ');
  return defineRole('verify-local').tasks([
    check(
      `Horizon login page screenshot from this machine (${url})`,
      `command -v python3 >/dev/null || fail "no python3 on this machine"
code=$(python3 - ${q(url)} <<'PY'
import sys, urllib.request, urllib.error
try:
    r = urllib.request.urlopen(sys.argv[1], timeout=60)
    print(r.status)
except urllib.error.HTTPError as e:
    print(e.code)
except Exception as e:
    print('none', str(e)[:200])
PY
)
[ "$code" = 200 ] || fail "HTTP \${code:-no answer} from this machine"
bin=\${CHROMIUM:-chromium}
command -v "$bin" >/dev/null || fail "HTTP 200; no $bin on this machine for the screenshot (apt-get install chromium)"
mkdir -p ${q(path.dirname(SCREENSHOT))} && rm -f ${q(SCREENSHOT)}
profile=$(mktemp -d /tmp/stackplay-chromium-XXXXXX)
out=$(timeout 120 "$bin" ${flags} --user-data-dir="$profile" --hide-scrollbars --window-size=1280,900 --screenshot=${q(SCREENSHOT)} ${q(url)} 2>&1); rc=$?
rm -rf "$profile"
[ -s ${q(SCREENSHOT)} ] || fail "$bin exit $rc: $(tail1 "$out")"
pass "HTTP 200; screenshot ${SCREENSHOT} ($(wc -c < ${q(SCREENSHOT)}) bytes)"`,
      { openrc: false },
    ),
  ]);
}

/** Chromium's flags for a screenshot that talks to nothing but the page. */
export const CHROMIUM_FLAGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

export const plays: Play[] = [
  { name: 'verify: block storage hosts', hosts: 'block', roles: [blockChecks] },
  {
    name: 'verify: the cloud, from the controller',
    hosts: 'controller',
    roles: [(ctx) => (ctx.inventory.groupHosts('controller')[0] === ctx.host ? controllerChecks(ctx) : defineRole('verify').tasks([]))],
  },
  { name: 'verify: Horizon from this machine', hosts: 'localhost', roles: [screenshotCheck] },
];

export const verify = openstackPlaybook('verify', plays);

if (isMain(import.meta.url)) await main(verify);
