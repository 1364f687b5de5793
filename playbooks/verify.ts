import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { isMain, main } from '../lib/cli/cli.js';
import { defineRole, type HostContext, type Play, type Role } from '../lib/core/playbook.js';
import { raw, sh, withStdin, type Cmd } from '../lib/core/shell.js';
import { makeTask, noChange, registeredFact, skip, type Plan, type Registered, type ShellFact, type Task } from '../lib/core/task.js';
import { hostVarsOf, type HostVars } from '../lib/inventory/vars.js';
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
 * What it creates to prove the cloud works (images, a network, subnet and
 * router, a security group, a key pair, a flavor, two servers, a floating
 * IP, a volume) is named `stackplay-verify*`, removed before each check
 * (leftovers of an interrupted run) and by the last play. With a bootable
 * guest on the controller (`verify_guest_dir`: `vmlinuz`, `initrd.img`,
 * `disk.img`, as the lab's lab/guest.ts builds), the servers must boot to a
 * login prompt, get their fixed IPs by DHCP, read the metadata service and
 * take the SSH key of `verify_guest_key` (default: the inventory's SSH
 * key); this machine (the implicit localhost) then pings the first server
 * on its floating IP (`verify_floating_ip`, default `floating_end`), logs
 * in with that key and pings the second server and the router across the
 * tenant network. It also loads Horizon's login page in a headless Chromium
 * and saves a screenshot under out/verify/.
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
export const SCREENSHOT = path.resolve('out', 'verify', 'horizon-instances.png');
/** The checkout this playbook belongs to: the screenshot script runs from it. */
const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
/** Registered by the block hosts' check: whether their kernel can activate LVM volumes. */
export const DEVICE_MAPPER = 'device-mapper';

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
/** The longest one openstack CLI call may take in a check (a server create waits for ACTIVE under QEMU TCG). */
const CLI_TIMEOUT_S = 600;
const OPENRC = `[ -r ${ADMIN_RC} ] || fail "no ${ADMIN_RC} (keystone role not run?)"
. ${ADMIN_RC}
os_cli=$(command -v openstack) || fail "no openstack CLI on this host"
# An API that never answers fails the check instead of holding the run (a
# wedged neutron-api worker once kept \`openstack server create\` waiting for good).
openstack() { timeout -k 10 ${CLI_TIMEOUT_S} "$os_cli" "$@" || { rc=$?; [ $rc -ne 124 ] || echo "openstack $1 $2: no answer within ${CLI_TIMEOUT_S} s" >&2; return $rc; }; }
`;

/** The verdict a check script printed last (`@@pass …`, `@@fail …`, `@@skip …`), with the script's own clock. */
export function parseOutcome(stdout: string, exitCode: number): Outcome {
  // A carriage return (from a remote terminal, a guest's console) must not hide a verdict.
  const lines = stdout.replace(/\r/g, '').split('\n');
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

/** The address `offset` hosts into an IPv4 subnet (`10.199.0.0/24`, 11 → `10.199.0.11`); undefined when it does not fit. */
export function hostInSubnet(cidr: string, offset: number): string | undefined {
  const m = /^(\d+)\.(\d+)\.(\d+)\.(\d+)\/(\d+)$/.exec(cidr);
  if (!m) return undefined;
  const prefix = Number(m[5]);
  const base = m.slice(1, 5).reduce((acc, o) => acc * 256 + Number(o), 0);
  const size = 2 ** (32 - prefix);
  if (prefix > 30 || offset >= size - 1) return undefined;
  const n = Math.floor(base / size) * size + offset;
  return [24, 16, 8, 0].map((shift) => Math.floor(n / 2 ** shift) % 256).join('.');
}

/** The guest login key's public half (`<key>.pub` beside it, as ssh-keygen writes it); read, never generated. */
function publicKeyOf(keyFile: string | undefined): string | undefined {
  if (keyFile === undefined) return undefined;
  try {
    const line = readFileSync(`${path.resolve(keyFile)}.pub`, 'utf8')
      .split('\n')[0]
      ?.trim();
    return line && /^(ssh-|ecdsa-)[\w@.-]+ [A-Za-z0-9+/=]+( [^\n']*)?$/.test(line) ? line : undefined;
  } catch {
    return undefined;
  }
}

/** What the guest checks need, from the inventory: where the servers are, how to reach and log into them. */
interface GuestPlan {
  /** Directory on the controller with the bootable guest, or undefined (the image is then an empty disk). */
  readonly dir: string | undefined;
  readonly keyFile: string | undefined;
  readonly publicKey: string | undefined;
  readonly floatingIp: string | undefined;
  /** Router address and the two servers' fixed addresses in the verify subnet. */
  readonly gateway: string | undefined;
  readonly fixed: readonly [string | undefined, string | undefined];
}

function guestPlan(v: HostVars, cidr: string): GuestPlan {
  const keyFile = v.opt('verify_guest_key') ?? v.opt('ansible_ssh_private_key_file') ?? v.opt('ansible_private_key_file');
  return {
    dir: v.opt('verify_guest_dir'),
    keyFile,
    publicKey: publicKeyOf(keyFile),
    floatingIp: v.opt('verify_floating_ip') ?? v.opt('floating_end'),
    gateway: hostInSubnet(cidr, 1),
    fixed: [hostInSubnet(cidr, 11), hostInSubnet(cidr, 12)],
  };
}

/** Why the checks inside the guest cannot run here, or undefined when they can. */
function noGuestReason(g: GuestPlan): string | undefined {
  if (g.dir === undefined) return 'no bootable guest (verify_guest_dir unset; the lab sets it): the servers boot an empty disk';
  if (g.publicKey === undefined) return `no public key ${g.keyFile ?? '(verify_guest_key unset)'}.pub on this machine to log into the guest with`;
  if (g.gateway === undefined || g.fixed.includes(undefined)) return 'verify_cidr is not an IPv4 subnet with room for .1, .11 and .12';
  return undefined;
}

/**
 * Block storage hosts: the volume group and cinder-volume, and whether the
 * kernel can activate LVM volumes (device-mapper). Without it the check is
 * skipped, with the reason, and registered so the volume check knows why.
 */
export function blockChecks(): Role {
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

/** Names of what the checks create, and the shell that removes each (leftovers of an interrupted run, and at the end). */
function verifyResources(extNet: string) {
  const r = {
    image: PREFIX,
    kernel: `${PREFIX}-kernel`,
    ramdisk: `${PREFIX}-ramdisk`,
    net: `${PREFIX}-net`,
    subnet: `${PREFIX}-subnet`,
    router: `${PREFIX}-router`,
    servers: [`${PREFIX}-server`, `${PREFIX}-server2`] as const,
    flavor: PREFIX,
    volume: `${PREFIX}-volume`,
    secgroup: PREFIX,
    keypair: PREFIX,
  };
  const clean = {
    // One CLI call for all (each call starts Python: seconds on a busy controller).
    servers: `ids=$(openstack server list -f value -c ID -c Name 2>/dev/null | awk '${r.servers.map((n) => `$2 == "${n}"`).join(' || ')} { print $1 }')
[ -z "$ids" ] || openstack server delete --wait $ids >/dev/null 2>&1`,
    // An interrupted floating IP create can leave its port (device owner network:floatingip) without the floating IP: it goes too.
    floating: (ip: string | undefined) =>
      ip === undefined
        ? ''
        : `for id in $(openstack floating ip list --floating-ip-address ${q(ip)} -f value -c ID 2>/dev/null); do openstack floating ip delete "$id" >/dev/null 2>&1; done
for id in $(openstack port list --fixed-ip ip-address=${q(ip)} --device-owner network:floatingip -f value -c ID 2>/dev/null); do openstack port delete "$id" >/dev/null 2>&1; done`,
    volume: `for id in $(openstack volume list --name ${q(r.volume)} -f value -c ID 2>/dev/null); do openstack volume delete --force "$id" >/dev/null 2>&1 || openstack volume delete "$id" >/dev/null 2>&1; done`,
    network: `if openstack router show ${q(r.router)} >/dev/null 2>&1; then
  openstack router remove subnet ${q(r.router)} ${q(r.subnet)} >/dev/null 2>&1
  openstack router unset --external-gateway ${q(r.router)} >/dev/null 2>&1
  openstack router delete ${q(r.router)} >/dev/null 2>&1
fi
for id in $(openstack port list --network ${q(r.net)} -f value -c ID 2>/dev/null); do openstack port delete "$id" >/dev/null 2>&1; done
openstack subnet delete ${q(r.subnet)} >/dev/null 2>&1
openstack network delete ${q(r.net)} >/dev/null 2>&1`,
    images: `ids=$(openstack image list -f value -c ID -c Name 2>/dev/null | awk '${[r.image, r.kernel, r.ramdisk].map((n) => `$2 == "${n}"`).join(' || ')} { print $1 }')
[ -z "$ids" ] || openstack image delete $ids >/dev/null 2>&1`,
    access: `openstack security group delete ${q(r.secgroup)} >/dev/null 2>&1; openstack keypair delete ${q(r.keypair)} >/dev/null 2>&1`,
    flavor: `openstack flavor delete ${q(r.flavor)} >/dev/null 2>&1`,
  };
  return { ...r, clean, extNet };
}

type Resources = ReturnType<typeof verifyResources>;

/** A server's console log (nova's copy of its serial console), `server` a shell word such as `"$s"`. */
const consoleOf = (server: string) => `openstack console log show ${server} 2>/dev/null | tr -d '\\r'`;

function controllerChecks(ctx: HostContext): Role {
  const o = new OpenStackHost(ctx);
  const inv = ctx.inventory;
  const computeHosts = inv.groups.has('compute') ? inv.groupHosts('compute') : [];
  const blockHosts = inv.groups.has('block') ? inv.groupHosts('block') : [];
  const loginUrl = `http://${o.controller}${o.os.dashboardLoginPath}`;
  const cidr = ctx.vars.str('verify_cidr', '10.199.0.0/24');
  const r = verifyResources(ctx.vars.str('external_network', 'ext-net'));
  const g = guestPlan(ctx.vars, cidr);
  const noGuest = noGuestReason(g);

  const catalogTypes = ['identity', 'image', 'placement', 'compute', 'network', 'volumev3'];
  const agents = expectedAgents(o);

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

    g.dir === undefined
      ? check(
          'upload a qcow2 image (qemu-img create; no bootable guest: verify_guest_dir unset)',
          `${r.clean.images}
f=$(mktemp /tmp/${PREFIX}-XXXXXX.qcow2)
out=$(qemu-img create -f qcow2 "$f" 64M) || { rm -f "$f"; fail "qemu-img: $(tail1 "$out")"; }
out=$(openstack image create --disk-format qcow2 --container-format bare --file "$f" -f value -c id ${q(r.image)}); rc=$?
rm -f "$f"
[ "$rc" -eq 0 ] || fail "$(tail1 "$out")"
id=$(printf '%s' "$out" | tail -n 1)
status=$(openstack image show "$id" -f value -c status)
[ "$status" = active ] || fail "image $id is $status"
pass "image ${r.image} ($id) active, $(openstack image show "$id" -f value -c size) bytes"`,
        )
      : check(
          `upload the bootable guest (kernel, ramdisk, disk from ${g.dir})`,
          `${r.clean.images}
d=${q(g.dir)}
for f in vmlinuz initrd.img disk.img; do [ -s "$d/$f" ] || fail "no $d/$f on the controller"; done
kernel=$(openstack image create --disk-format aki --container-format aki --file "$d/vmlinuz" -f value -c id ${q(r.kernel)}) || fail "kernel: $(tail1 "$kernel")"
ramdisk=$(openstack image create --disk-format ari --container-format ari --file "$d/initrd.img" -f value -c id ${q(r.ramdisk)}) || fail "ramdisk: $(tail1 "$ramdisk")"
out=$(openstack image create --disk-format raw --container-format bare --file "$d/disk.img" --property kernel_id="$kernel" --property ramdisk_id="$ramdisk" -f value -c id ${q(r.image)}) || fail "disk: $(tail1 "$out")"
id=$(printf '%s' "$out" | tail -n 1)
for i in "$kernel" "$ramdisk" "$id"; do st=$(openstack image show "$i" -f value -c status); [ "$st" = active ] || fail "image $i is $st"; done
pass "image ${r.image} ($id, kernel $kernel, ramdisk $ramdisk) active; guest kernel $(sed -n 's/.*"release": *"\\([^"]*\\)".*/\\1/p' "$d/guest.json" 2>/dev/null | head -n 1)"`,
        ),

    check(
      'create network, subnet, router',
      `${r.clean.servers}
${r.clean.floating(g.floatingIp)}
${r.clean.network}
out=$(openstack network create ${q(r.net)} -f value -c id) || fail "network: $(tail1 "$out")"
out=$(openstack subnet create --network ${q(r.net)} --subnet-range ${q(cidr)} ${q(r.subnet)} -f value -c id) || fail "subnet: $(tail1 "$out")"
out=$(openstack router create ${q(r.router)} -f value -c id) || fail "router: $(tail1 "$out")"
out=$(openstack router add subnet ${q(r.router)} ${q(r.subnet)}) || fail "router interface: $(tail1 "$out")"
gw=""
if openstack network show ${q(r.extNet)} >/dev/null 2>&1; then
  out=$(openstack router set --external-gateway ${q(r.extNet)} ${q(r.router)}) || fail "router gateway on ${r.extNet}: $(tail1 "$out")"
  gw=", gateway on ${r.extNet}"
fi
# The router's interface port goes ACTIVE once the L3 agent has plugged it and the L2 agent has wired it.
i=0
while :; do
  st=$(openstack port list --router ${q(r.router)} --device-owner network:router_interface -f value -c Status)
  [ "$st" = ACTIVE ] && pass "network ${r.net}, subnet ${cidr}, router ${r.router} with its interface port ACTIVE$gw"
  i=$((i + 1)); [ "$i" -ge 30 ] && fail "router interface port is '$st' after 60s (L3/L2 agents did not wire it)"
  sleep 2
done`,
    ),

    bootCheck(r, g),
    guestCheck('servers boot to a login prompt (console log)', noGuest, guestConsoleScript(r, 'login-ready')),
    guestCheck('servers got their fixed IPs by DHCP (console log)', noGuest, guestConsoleScript(r, 'dhcp', g)),
    guestCheck('servers read the metadata service: instance id and SSH key (console log)', noGuest, guestConsoleScript(r, 'metadata')),
    floatingIpCheck(r, g, noGuest),

    // Without device-mapper (the lab's kernel) cinder's LVM driver cannot activate the volume:
    // that is an honest skip, never a pass; with device-mapper, an error is a failure.
    makeTask({
      module: 'check',
      name: 'create a volume to available',
      options: { tags: ['verify'], ignoreErrors: true },
      facts: {
        outcome: outcomeFact(
          sh`${raw(PRELUDE)}${raw(OPENRC)}${raw(`${r.clean.volume}
out=$(openstack volume create --size 1 -f value -c id ${q(r.volume)}) || fail "$(tail1 "$out")"
id=$(printf '%s' "$out" | tail -n 1)
i=0
while :; do
  st=$(openstack volume show "$id" -f value -c status)
  case "$st" in
    available) pass "volume ${r.volume} ($id) available" ;;
    error) echo "@@volume-error"; fail "volume ${r.volume} ($id) went to error" ;;
  esac
  i=$((i + 1)); [ "$i" -ge 60 ] && fail "volume ${r.volume} is '$st' after 120s"
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
  ]);
}

/** A check of the guests that is skipped, with the reason, when there is no bootable guest to check. */
function guestCheck(name: string, noGuest: string | undefined, body: string): Task {
  return check(name, noGuest === undefined ? body : `skip ${q(noGuest)}`);
}

/**
 * Two servers on the verify network, with fixed addresses (.11, .12), the
 * verify key pair and a security group that lets in ping and SSH: the
 * first gets the floating IP, the second is what it must reach.
 */
function bootCheck(r: Resources, g: GuestPlan): Task {
  const [a, b] = r.servers;
  const key = g.publicKey === undefined ? '' : ` --key-name ${q(r.keypair)}`;
  const create = (name: string, ip: string | undefined) =>
    `out=$(openstack server create --flavor ${q(r.flavor)} --image ${q(r.image)} ${ip === undefined ? `--network ${q(r.net)}` : `--nic net-id="$net",v4-fixed-ip=${ip}`} --security-group ${q(r.secgroup)}${key} -f value -c id ${q(name)}) || fail "server ${name}: $(tail1 "$out")"`;
  return check(
    'boot two servers to ACTIVE',
    `${r.clean.servers}
${r.clean.access}
openstack flavor show ${q(r.flavor)} >/dev/null 2>&1 || openstack flavor create --ram 128 --disk 1 --vcpus 1 ${q(r.flavor)} >/dev/null || fail "cannot create flavor ${r.flavor}"
openstack image show ${q(r.image)} >/dev/null 2>&1 || fail "no image ${r.image} (the image check failed)"
net=$(openstack network show ${q(r.net)} -f value -c id 2>/dev/null) || fail "no network ${r.net} (the network check failed)"
out=$(openstack security group create ${q(r.secgroup)} -f value -c id) || fail "security group: $(tail1 "$out")"
for rule in "--protocol icmp" "--protocol tcp --dst-port 22"; do
  out=$(openstack security group rule create --ingress $rule ${q(r.secgroup)}) || fail "security group rule $rule: $(tail1 "$out")"
done
${
  g.publicKey === undefined
    ? ''
    : `k=$(mktemp /tmp/${PREFIX}-XXXXXX.pub); printf '%s\\n' ${q(g.publicKey)} > "$k"
out=$(openstack keypair create --public-key "$k" ${q(r.keypair)}); rc=$?; rm -f "$k"
[ "$rc" -eq 0 ] || fail "key pair: $(tail1 "$out")"`
}
${create(a, g.fixed[0])}
${create(b, g.fixed[1])}
i=0
while :; do
  sa=$(openstack server show ${q(a)} -f value -c status 2>/dev/null); sb=$(openstack server show ${q(b)} -f value -c status 2>/dev/null)
  [ "$sa" = ACTIVE ] && [ "$sb" = ACTIVE ] && break
  for s in ${q(a)} ${q(b)}; do
    if [ "$(openstack server show "$s" -f value -c status 2>/dev/null)" = ERROR ]; then
      fail "server $s is ERROR: $(openstack server show "$s" -f value -c fault 2>/dev/null | cut -c1-300)"
    fi
  done
  i=$((i + 1)); [ "$i" -ge 100 ] && fail "servers are '$sa' and '$sb' after 300s"
  sleep 3
done
where=$(for s in ${q(a)} ${q(b)}; do openstack server show "$s" -f value -c OS-EXT-SRV-ATTR:host -c addresses | tr '\\n' ' '; echo ';'; done | tr -d '\\n')
hv=$(openstack hypervisor list -f value -c "Hypervisor Hostname" -c "Hypervisor Type" | tr '\\n' ';')
pass "${a}, ${b} ACTIVE on: $where (hypervisors: $hv)"`,
  );
}

/**
 * What each server's console log (nova's serial console) must show. The
 * guest prints `stackplay-guest: …` lines (lab/guest.ts): `login-ready`
 * once its SSH server listens, `dhcp <ip>/<prefix> via <router>` from
 * udhcpc, `metadata instance-id <id>` and `ssh key installed` from the
 * metadata service. Boots under QEMU TCG are slow: up to 6 minutes.
 */
function guestConsoleScript(r: Resources, what: 'login-ready' | 'dhcp' | 'metadata', g?: GuestPlan): string {
  const [a, b] = r.servers;
  const perServer: Record<typeof what, string> = {
    'login-ready': `${consoleOf('"$s"')} | grep -q 'stackplay-guest: login-ready'`,
    dhcp: `${consoleOf('"$s"')} | grep -qE "stackplay-guest: dhcp $want/[0-9]+ "`,
    metadata: `c=$(${consoleOf('"$s"')}); printf '%s\\n' "$c" | grep -q "stackplay-guest: metadata instance-id $want\\$" && printf '%s\\n' "$c" | grep -q 'stackplay-guest: ssh key installed'`,
  };
  const wantOf: Record<typeof what, string> = {
    'login-ready': 'want=""',
    dhcp: `if [ "$s" = ${q(a)} ]; then want=${q(g?.fixed[0] ?? '')}; else want=${q(g?.fixed[1] ?? '')}; fi`,
    // The EC2 id the metadata service gives is the instance name's hex number: instance-0000000a → i-0000000a.
    metadata: `n=$(openstack server show "$s" -f value -c OS-EXT-SRV-ATTR:instance_name); want="i-\${n#instance-}"`,
  };
  const tries = what === 'login-ready' ? 120 : 1;
  return `i=0
while :; do
  missing=""
  for s in ${q(a)} ${q(b)}; do
    ${wantOf[what]}
    ${perServer[what]} || missing="$missing $s"
  done
  [ -z "$missing" ] && break
  i=$((i + 1))
  if [ "$i" -ge ${tries} ]; then
    why=""
    for s in $missing; do why="$why $s: $(${consoleOf('"$s"')} | grep -E 'stackplay-guest|error|panic' | tail -n 3 | tr '\\n' ' ')"; done
    fail "not seen on$why"
  fi
  sleep 3
done
seen=$(for s in ${q(a)} ${q(b)}; do ${consoleOf('"$s"')} | grep -m 1 -E ${q(
    what === 'login-ready' ? 'stackplay-guest: login-ready' : what === 'dhcp' ? 'stackplay-guest: dhcp ' : 'stackplay-guest: metadata instance-id',
  )} | sed 's/^.*stackplay-guest: //'; done | tr '\\n' ';')
pass "${a}, ${b}: $seen"`;
}

/** The floating IP on the first server, at the address this machine's checks ping (`verify_floating_ip`). */
function floatingIpCheck(r: Resources, g: GuestPlan, noGuest: string | undefined): Task {
  const [a] = r.servers;
  if (noGuest !== undefined || g.floatingIp === undefined)
    return check('floating IP on the first server', `skip ${q(noGuest ?? 'no verify_floating_ip or floating_end in the inventory')}`);
  const ip = g.floatingIp;
  return check(
    `floating IP ${ip} on ${a}`,
    `openstack network show ${q(r.extNet)} >/dev/null 2>&1 || skip "no external network ${r.extNet}: no floating IPs in this cloud"
${r.clean.floating(ip)}
out=$(openstack floating ip create --floating-ip-address ${q(ip)} ${q(r.extNet)} -f value -c id 2>&1) || fail "floating IP ${ip}: $(tail1 "$out")"
fip=$(printf '%s' "$out" | tail -n 1)
out=$(openstack server add floating ip ${q(a)} ${q(ip)}) || fail "attach: $(tail1 "$out")"
i=0
while :; do
  st=$(openstack floating ip show "$fip" -f value -c status)
  [ "$st" = ACTIVE ] && pass "${ip} → ${a} $(openstack floating ip show "$fip" -f value -c fixed_ip_address), ACTIVE"
  i=$((i + 1)); [ "$i" -ge 30 ] && fail "floating IP ${ip} is '$st' after 60s"
  sleep 2
done`,
  );
}

/** The last play: remove everything the checks created. */
function cleanupChecks(ctx: HostContext): Role {
  const r = verifyResources(ctx.vars.str('external_network', 'ext-net'));
  const g = guestPlan(ctx.vars, ctx.vars.str('verify_cidr', '10.199.0.0/24'));
  return defineRole('verify-cleanup').tasks([
    check(
      `clean up ${PREFIX}* resources`,
      // Twice at most: a deletion neutron refuses while a port of a server just deleted is still going away
      // (a subnet, a security group) succeeds on the second pass. What is still there is named.
      `leftovers() {
  { for s in ${r.servers.map(q).join(' ')}; do openstack server list --name "^$s$" -f value -c ID | sed "s/^/server $s /"; done
    openstack network list --name ${q(r.net)} -f value -c ID | sed 's/^/network /'
    openstack router list --name ${q(r.router)} -f value -c ID | sed 's/^/router /'
    openstack image list --name ${q(r.image)} -f value -c ID | sed 's/^/image /'
    openstack security group list -f value -c ID -c Name | awk -v n=${q(r.secgroup)} '$2 == n { print "security group " $1 }'
  } 2>/dev/null
}
for round in 1 2; do
${r.clean.floating(g.floatingIp)}
${r.clean.servers}
${r.clean.volume}
${r.clean.network}
${r.clean.images}
${r.clean.access}
${r.clean.flavor}
left=$(leftovers)
[ -z "$left" ] && break
[ "$round" = 1 ] && sleep 10
done
[ -z "$left" ] || fail "left behind: $(printf '%s' "$left" | tr '\\n' ';')"
vol=$(openstack volume list --name ${q(r.volume)} -f value -c ID 2>/dev/null | wc -l)
[ "$vol" -eq 0 ] || pass "removed; $vol volume(s) in error could not be deleted (no device-mapper)"
pass "removed"`,
    ),
  ]);
}

/**
 * The seeds' last step, from this machine as an operator would: ping the
 * first server on its floating IP, log in with the key the guest took from
 * the metadata service, and from there ping the second server and the
 * router across the tenant network. The guest's host key is new on every
 * boot: it is accepted into a throw-away known_hosts file.
 */
function guestFromMachine(ctx: HostContext): Role {
  const controller = ctx.inventory.groups.has('controller') ? ctx.inventory.groupHosts('controller')[0] : undefined;
  if (controller === undefined) return defineRole('verify-guest').tasks([]);
  const vars = hostVarsOf(ctx.inventory, controller);
  const cidr = vars.str('verify_cidr', '10.199.0.0/24');
  const g = guestPlan(vars, cidr);
  const noGuest = noGuestReason(g) ?? (g.floatingIp === undefined ? 'no verify_floating_ip or floating_end in the inventory' : undefined);
  const [a, b] = verifyResources(vars.str('external_network', 'ext-net')).servers;
  const ip = g.floatingIp ?? '';
  const ssh = `kh=$(mktemp /tmp/${PREFIX}-known-XXXXXX)
trap 'rm -f "$kh"; echo "@@seconds $(( $(date +%s) - t0 ))"' EXIT
on_guest() { ssh -F /dev/null -o LogLevel=ERROR -i ${q(path.resolve(g.keyFile ?? ''))} -o IdentitiesOnly=yes -o BatchMode=yes -o ConnectTimeout=10 -o StrictHostKeyChecking=accept-new -o UserKnownHostsFile="$kh" root@${q(ip)} "$@"; }
`;
  const guest = (name: string, body: string) => check(name, noGuest === undefined ? body : `skip ${q(noGuest)}`, { openrc: false });
  return defineRole('verify-guest').tasks([
    guest(
      `ping ${a} on its floating IP ${ip} from this machine`,
      `i=0
while :; do
  out=$(ping -c 3 -W 2 ${q(ip)} 2>&1) && pass "$(printf '%s\n' "$out" | grep -E 'packets transmitted|rtt' | tr '\n' ' ')"
  i=$((i + 1)); [ "$i" -ge 20 ] && fail "no answer from ${ip}: $(tail1 "$out")"
  sleep 3
done`,
    ),
    guest(
      `SSH into ${a} on ${ip} with the key from the metadata service`,
      `${ssh}i=0
while :; do
  if out=$(on_guest 'cat /run/instance-id' 2>&1); then
    id=$(printf '%s' "$out" | tr -d '\\r' | head -n 1)
    case "$id" in i-[0-9a-f]*) pass "logged in as root; the guest says it is instance $id" ;; *) fail "logged in, but /run/instance-id holds '$id'" ;; esac
  fi
  i=$((i + 1)); [ "$i" -ge 10 ] && fail "$(tail1 "$out")"
  sleep 3
done`,
    ),
    guest(
      `${a} reaches ${b} (${g.fixed[1] ?? '?'}) and its router (${g.gateway ?? '?'}) over the tenant network`,
      `${ssh}out=$(on_guest ${q(`ping -c 2 -W 3 ${g.fixed[1] ?? ''} && ping -c 2 -W 3 ${g.gateway ?? ''}`)} 2>&1) || fail "$(tail1 "$out")"
pass "$(printf '%s\n' "$out" | grep 'packets transmitted' | tr '\n' ' ')"`,
    ),
  ]);
}

/**
 * Horizon as a person on this machine sees it (at the controller's inventory
 * address): a headless Chromium logs in as admin through the login form,
 * opens the instances page, which must list the verify server, and saves a
 * screenshot (openstack/horizon-screenshot.ts). The admin password reaches
 * it on stdin, never in argv. Runs on the implicit localhost.
 */
function screenshotCheck(ctx: HostContext): Role {
  const controller = ctx.inventory.groups.has('controller') ? ctx.inventory.groupHosts('controller')[0] : undefined;
  if (controller === undefined) return defineRole('verify-local').tasks([]);
  const vars = hostVarsOf(ctx.inventory, controller);
  const core = coreVars(ctx.inventory, vars);
  const base = `http://${core.ansibleHost}${OS[core.osFamily].dashboardLoginPath.replace(/auth\/login\/?$/, '')}`.replace(/\/$/, '');
  const page = '/project/instances/';
  const [server] = verifyResources(vars.str('external_network', 'ext-net')).servers;
  const shot = q(SCREENSHOT);
  const shooter = withStdin(
    sh`cd ${REPO_ROOT} && ${process.execPath} --import tsx openstack/horizon-screenshot.ts --base ${base} --user admin --page ${page} --expect ${server} --out ${SCREENSHOT}`,
    ctx.secret('admin_pass'),
  );
  const script = sh`${raw(PRELUDE)}bin=\${CHROMIUM:-chromium}
command -v "$bin" >/dev/null || fail "no $bin on this machine for the screenshot (apt-get install chromium)"
mkdir -p ${raw(q(path.dirname(SCREENSHOT)))} && rm -f ${raw(shot)}
out=$(${shooter}
)
case "$out" in
  *'"ok":true'*) pass "logged in as admin; ${raw(page)} lists ${raw(server)}; screenshot ${raw(SCREENSHOT)} ($(wc -c < ${raw(shot)}) bytes)" ;;
esac
fail "$(printf '%s' "$out" | tail -n 1 | cut -c1-500)"
`;
  return defineRole('verify-local').tasks([
    makeTask({
      module: 'check',
      name: `Horizon from this machine: log in, ${page} lists ${server}, screenshot (${base})`,
      options: { tags: ['verify'], ignoreErrors: true },
      facts: { outcome: outcomeFact(script) },
      plan: ({ outcome }) => verdictPlan(outcome),
    }),
  ]);
}

export const plays: Play[] = [
  { name: 'verify: block storage hosts', hosts: 'block', roles: [blockChecks] },
  {
    name: 'verify: the cloud, from the controller',
    hosts: 'controller',
    roles: [(ctx) => (ctx.inventory.groupHosts('controller')[0] === ctx.host ? controllerChecks(ctx) : defineRole('verify').tasks([]))],
  },
  { name: 'verify: the servers and Horizon from this machine', hosts: 'localhost', roles: [guestFromMachine, screenshotCheck] },
  {
    name: 'verify: clean up',
    hosts: 'controller',
    roles: [(ctx) => (ctx.inventory.groupHosts('controller')[0] === ctx.host ? cleanupChecks(ctx) : defineRole('verify-cleanup').tasks([]))],
  },
];

export const verify = openstackPlaybook('verify', plays);

if (isMain(import.meta.url)) await main(verify);
