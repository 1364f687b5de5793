import { expect } from 'chai';
import { execFile } from 'node:child_process';
import { copyFileSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { REPO_ROOT } from '../lab/paths.js';
import { loadState } from '../lab/state.js';
import type { TaskResult } from '../lib/core/executor.js';
import { labCli, onLabHost } from './support/lab-host.js';

/**
 * Issue 17's promise on real hosts (`make test-day2`): on a Zed cloud
 * deployed into a lab of its own, the day-2 playbooks do what an operator
 * does every week, each a second time with 0 changed:
 *
 * - stop and start compute1 (status fails while it is stopped, names it);
 * - add compute2 to the running cloud (only compute2, the other nodes'
 *   /etc/hosts and the cell mapping change) and boot a server on it;
 * - override one nova option on group compute: nova.conf changes on the two
 *   computes and only nova-compute restarts, there;
 * - rotate the admin and nova passwords: no old value left in any file on
 *   any host or in the output, and the cloud works with the new ones;
 * - back up, drop the glance database, restore: glance answers again;
 * - remove compute2: no nova-compute service or network agent of it left;
 * - then the verify playbook passes (servers boot, ping, SSH, Horizon).
 *
 * Opt-in: STACKPLAY_LAB_DAY2=1 (`make test-day2`); root only; refuses a lab
 * that is already up; brings up its own and takes it down. On this machine
 * (2 CPUs), 2026-12-06: 31 minutes (first site run 20, compute2 added and a
 * server booted on it 5, verify 4).
 */
const INVENTORY = '.lab/day2.ini';
const SECRETS = '.lab/day2.secrets.ini';
const BACKUPS = '.lab/day2.backups';
/** Config overrides beside the day-2 inventory (`<inventory>.d/`). */
const OVERRIDES = '.lab/day2.d';
const JSON_REPORT = '.lab/day2.json';
const CONTROLLER = '10.42.0.11';
const COMPUTE2 = { name: 'compute2', address: '10.42.0.22', tunnel: '10.42.1.22' };
const HOSTS = ['10.42.0.11', '10.42.0.12', '10.42.0.21', '10.42.0.31'];

interface Run {
  readonly code: number;
  readonly out: string;
  readonly results: TaskResult[];
}

/** A day-2 entry point on the day-2 inventory, with its JSON report's task results (of its last playbook). */
function day2(entry: string, ...args: string[]): Promise<Run> {
  rmSync(path.join(REPO_ROOT, JSON_REPORT), { force: true });
  return new Promise((resolve) =>
    execFile(
      process.execPath,
      ['--import', 'tsx', `playbooks/${entry}.ts`, '-i', INVENTORY, '--json', JSON_REPORT, ...args],
      { cwd: REPO_ROOT, env: { ...process.env, NO_COLOR: '1' }, maxBuffer: 64 * 1024 * 1024 },
      (error, stdout, stderr) => {
        let results: TaskResult[] = [];
        try {
          results = (JSON.parse(readFileSync(path.join(REPO_ROOT, JSON_REPORT), 'utf8')) as { results: TaskResult[] }).results;
        } catch {
          results = [];
        }
        resolve({ code: error ? ((error as { code?: number }).code ?? 1) : 0, out: stdout + stderr, results });
      },
    ),
  );
}

const changedOf = (run: Run) => run.results.filter((r) => r.status === 'changed').map((r) => `${r.host}: ${r.role} | ${r.handler ? 'handler: ' : ''}${r.task}`);
const admin = (script: string) => onLabHost(CONTROLLER, `. /root/admin-openrc.sh && ${script}`);
/** The value of a secret in the day-2 secrets file. */
/** glance's image ids, or `broken` when the listing fails. */
const IMAGES = `out=$(openstack image list -f value -c ID) && echo "images:$(printf '%s' "$out" | sort | tr '\\n' ' ')" || echo broken`;
const secretValue = (name: string) => new RegExp(`^${name} = (\\S+)$`, 'm').exec(readFileSync(path.join(REPO_ROOT, SECRETS), 'utf8'))?.[1] ?? '';

describe('lab day-2 operations (root, STACKPLAY_LAB_DAY2=1): stop/start, add and remove a compute host, rotate, back up and restore', function () {
  this.timeout(35 * 60_000);
  let started = false;

  before(async function () {
    if (process.env['STACKPLAY_LAB_DAY2'] !== '1') return this.skip();
    if (process.getuid?.() !== 0) throw new Error('the day-2 lab test needs root');
    if (loadState()) throw new Error('a lab is already up (make lab-down first); not touching it');
    for (const f of [SECRETS, BACKUPS, OVERRIDES]) rmSync(path.join(REPO_ROOT, f), { recursive: true, force: true });
    copyFileSync(path.join(REPO_ROOT, 'hosts/lab.ini'), path.join(REPO_ROOT, INVENTORY));
    started = true;
    const up = await labCli('up', '-i', INVENTORY);
    expect(up.code, up.out).to.equal(0);
    const site = await day2('site');
    expect(site.code, site.out.slice(-6000)).to.equal(0);
  });

  after(async () => {
    if (!started) return;
    await labCli('down');
    for (const f of [INVENTORY, SECRETS, BACKUPS, OVERRIDES, JSON_REPORT]) rmSync(path.join(REPO_ROOT, f), { recursive: true, force: true });
  });

  it('status, stop and start of compute1: status fails while it is stopped; a second stop or start changes nothing', async () => {
    const up = await day2('status');
    expect(up.code, up.out.slice(-3000)).to.equal(0);
    expect(up.results.filter((r) => r.status === 'ok').length).to.be.greaterThan(20);
    const stop = await day2('stop', '-l', 'compute1');
    expect(stop.code, stop.out.slice(-3000)).to.equal(0);
    expect(changedOf(stop)).to.include('compute1: stop | service nova-compute stopped');
    expect(new Set(stop.results.map((r) => r.host))).to.deep.equal(new Set(['compute1']));
    expect(changedOf(await day2('stop', '-l', 'compute1'))).to.deep.equal([]);
    const down = await day2('status');
    expect(down.code).to.equal(2);
    expect(down.out).to.match(/failed: \[compute1\] status \| status nova-compute\n\s+Error: nova-compute is stopped/);
    expect(new Set(down.results.filter((r) => r.status === 'failed').map((r) => r.host))).to.deep.equal(new Set(['compute1']));
    const start = await day2('start', '-l', 'compute1');
    expect(changedOf(start)).to.include('compute1: start | service nova-compute started');
    expect(changedOf(await day2('start', '-l', 'compute1'))).to.deep.equal([]);
    expect((await day2('status')).code).to.equal(0);
  });

  it('add compute2 to the running cloud: only compute2, /etc/hosts and the cell mapping change; a server boots on it', async () => {
    const text = readFileSync(path.join(REPO_ROOT, INVENTORY), 'utf8').replace(
      /^(compute1 ansible_host=.*)$/m,
      `$1\n${COMPUTE2.name} ansible_host=${COMPUTE2.address} tunnel_ip=${COMPUTE2.tunnel}`,
    );
    writeFileSync(path.join(REPO_ROOT, INVENTORY), text);
    const up = await labCli('up', '-i', INVENTORY);
    expect(up.code, up.out).to.equal(0);
    const add = await day2('add-compute', '-l', 'compute2');
    expect(add.code, add.out.slice(-6000)).to.equal(0);
    const elsewhere = changedOf(add).filter((l) => !l.startsWith('compute2: '));
    expect(
      elsewhere.filter((l) => !/\| \/etc\/hosts: 5 entries$/.test(l) && !/discover_hosts$/.test(l)),
      elsewhere.join('\n'),
    ).to.deep.equal([]);
    expect(elsewhere.filter((l) => /\/etc\/hosts/.test(l)).length).to.equal(4);
    expect(changedOf(await day2('add-compute', '-l', 'compute2')), 'second add').to.deep.equal([]);
    // Zed's cells v2: the new host is mapped (discover_hosts ran, in the add or already in the site's wait).
    expect(await onLabHost(CONTROLLER, `su -s /bin/sh -c 'nova-manage cell_v2 list_hosts' nova`)).to.match(/\| compute2 \|/);
    const boot = await admin(`set -e
openstack flavor show day2.tiny >/dev/null 2>&1 || openstack flavor create --ram 64 --disk 1 --vcpus 1 day2.tiny >/dev/null
head -c 1048576 /dev/zero > /tmp/day2-empty.raw
openstack image create --disk-format raw --container-format bare --file /tmp/day2-empty.raw day2-empty >/dev/null
net=$(openstack network show demo-net -f value -c id)
openstack server create --flavor day2.tiny --image day2-empty --nic net-id=$net --availability-zone nova:compute2 --wait day2-on-compute2 -f value -c status
openstack server show day2-on-compute2 -f value -c OS-EXT-SRV-ATTR:host
openstack server delete --wait day2-on-compute2
openstack image delete day2-empty`);
    expect(boot).to.equal('ACTIVE\ncompute2');
  });

  it('a nova option overridden on group compute changes nova.conf on both computes and restarts only nova-compute there', async () => {
    const dir = path.join(REPO_ROOT, OVERRIDES, 'group_compute/etc/nova');
    mkdirSync(dir, { recursive: true });
    writeFileSync(path.join(dir, 'nova.conf'), '[DEFAULT]\ncpu_allocation_ratio = 4.0\n');
    const run = await day2('site');
    expect(run.code, run.out.slice(-6000)).to.equal(0);
    expect(changedOf(run).sort()).to.deep.equal(
      ['compute1', 'compute2'].flatMap((h) => [
        `${h}: nova-compute | handler: service nova-compute restarted`,
        `${h}: nova-compute | ini /etc/nova/nova.conf [DEFAULT] [keystone_authtoken] [api] [vnc] [spice] [glance] [oslo_concurrency] [service_user] [placement] [neutron]`,
      ]),
    );
    for (const a of [HOSTS[2]!, COMPUTE2.address])
      expect(await onLabHost(a, "grep -x 'cpu_allocation_ratio = 4.0' /etc/nova/nova.conf")).to.equal('cpu_allocation_ratio = 4.0');
    expect(changedOf(await day2('site')), 'second run').to.deep.equal([]);
  });

  it('rotate the admin and nova passwords: no old value in any file or the output, the cloud answers with the new ones', async () => {
    const old = [secretValue('admin_pass'), secretValue('nova_pass')];
    for (const v of old) expect(v).to.match(/^[0-9a-f]{32}$/);
    const rotate = await day2('rotate-passwords', '--secrets', 'admin_pass,nova_pass', '-D', '-e', 'backup_name=before-rotation');
    expect(rotate.code, rotate.out.slice(-6000)).to.equal(0);
    const fresh = [secretValue('admin_pass'), secretValue('nova_pass')];
    expect(fresh[0]).not.to.equal(old[0]);
    expect(fresh[1]).not.to.equal(old[1]);
    for (const v of [...old, ...fresh]) expect(rotate.out, 'a password in the output').not.to.contain(v);
    // Only nova's services restart (and nothing of glance, cinder, neutron's agents); keystone gets the passwords through its API.
    const restarted = changedOf(rotate).filter((l) => l.includes('handler:'));
    expect(restarted.join('\n')).to.match(/nova-compute/);
    expect(restarted.join('\n')).not.to.match(/glance|cinder|rabbitmq|mariadb/);
    const leftovers = await Promise.all(
      [...HOSTS, COMPUTE2.address].map((a) => onLabHost(a, `grep -rlF -e ${old[0]} -e ${old[1]} /etc /root 2>/dev/null | head -n 5; true`)),
    );
    expect(leftovers.filter(Boolean), 'files still holding an old password').to.deep.equal([]);
    expect(await admin('openstack token issue -f value -c project_id | wc -l')).to.equal('1');
    expect(
      await admin(
        `for i in $(seq 30); do s=$(openstack compute service list --service nova-compute -f value -c Host -c State | sort | tr '\\n' ' '); [ "$s" = "compute1 up compute2 up " ] && break; sleep 4; done; echo "$s"`,
      ),
    ).to.equal('compute1 up compute2 up'); // onLabHost trims the list's trailing space
    expect(changedOf(await day2('site')), 'the site after rotation').to.deep.equal([]);
  });

  it('back up, drop the glance database, restore: glance answers again; a second backup and restore change nothing', async () => {
    const backup = await day2('backup', '-e', 'backup_name=day2');
    expect(backup.code, backup.out.slice(-3000)).to.equal(0);
    expect(changedOf(backup).filter((l) => /backup day2/.test(l)).length).to.equal(5);
    expect(await onLabHost(CONTROLLER, 'stat -c %a /var/backups/stackplay /var/backups/stackplay/day2.tar.gz')).to.equal('700\n600');
    expect(changedOf(await day2('backup', '-e', 'backup_name=day2'))).to.deep.equal([]);
    const imagesBefore = await admin(IMAGES);
    expect(imagesBefore).to.match(/^images:/);
    await onLabHost(CONTROLLER, `mysql -uroot -e 'DROP DATABASE glance'`);
    expect(await admin('openstack image list >/dev/null 2>&1 && echo answers || echo broken')).to.equal('broken');
    const restore = await day2('restore', '-e', 'backup_name=day2');
    expect(restore.code, restore.out.slice(-6000)).to.equal(0);
    expect(changedOf(restore)).to.include('controller: restore | restore day2: databases');
    expect(changedOf(restore).filter((l) => /restore day2: configuration/.test(l))).to.deep.equal([]);
    // glance answers again (a listing that fails says so: `wc -l` of a failed listing would still print a number).
    expect(await admin(`for i in $(seq 20); do openstack image list >/dev/null 2>&1 && break; sleep 3; done; ${IMAGES}`)).to.equal(imagesBefore);
    expect(changedOf(await day2('restore', '-e', 'backup_name=day2')), 'second restore').to.deep.equal([]);
  });

  it('remove compute2: no nova-compute service or network agent of it is left; a second run changes nothing', async () => {
    const remove = await day2('remove-compute', '-l', 'compute2', '-e', 'backup_name=before-removal');
    expect(remove.code, remove.out.slice(-6000)).to.equal(0);
    expect(changedOf(remove)).to.include.members([
      'controller: remove-compute | disable nova-compute on compute2',
      "controller: remove-compute | delete compute2's nova-compute service and network agents",
    ]);
    expect(await admin('openstack compute service list --host compute2 -f value -c ID | wc -l')).to.equal('0');
    expect(await admin('openstack network agent list --host compute2 -f value -c ID | wc -l')).to.equal('0');
    expect(await onLabHost(COMPUTE2.address, 'systemctl is-active nova-compute || true')).to.equal('inactive');
    expect(changedOf(await day2('remove-compute', '-l', 'compute2', '-e', 'backup_name=before-removal')), 'second removal').to.deep.equal([]);
  });

  it('verify passes on the cloud after all of it', async () => {
    // compute2 is retired: out of the inventory, as the operator would do next.
    const text = readFileSync(path.join(REPO_ROOT, INVENTORY), 'utf8').replace(/^compute2 .*\n/m, '');
    writeFileSync(path.join(REPO_ROOT, INVENTORY), text);
    const verify = await day2('verify');
    const failed = verify.results.filter((r) => r.status === 'failed').map((r) => `${r.host} ${r.task}: ${r.error}`);
    expect(failed, verify.out.slice(-4000)).to.deep.equal([]);
    expect(verify.code).to.equal(0);
  });
});
