import { expect } from 'chai';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { InputError } from '../lib/core/errors.js';
import { RemoteRuntime } from '../lib/core/runtime.js';
import { Redactor } from '../lib/core/secret.js';
import { SecretStore } from '../lib/inventory/secrets-store.js';
import type { ShellFact, Task } from '../lib/core/task.js';
import { LocalTransport } from '../lib/transport/local.js';
import { clockInSync, namesResolve, portsFree } from '../roles/prechecks/index.js';

/** Issue 7 §11: checks before anything changes, each failure naming the check and what is wrong. */
const planWith = (task: Task, stdout: string) => task.plan([(task.facts[0] as ShellFact<unknown>).parse({ exitCode: 0, stdout, stderr: '' })]);

describe('prechecks', () => {
  it('clock: passes within 5 s, fails beyond, saying which way', () => {
    const now = Math.floor(Date.now() / 1000);
    expect(planWith(clockInSync(), `${now + 2}\n`).action).to.equal('none');
    expect(() => planWith(clockInSync(), `${now - 600}\n`)).to.throw(/precheck clock: host clock is behind by (599|600|601) s/);
  });

  it('ports: a port held by the expected daemon is fine, by another program a failure', () => {
    const ss = [
      'LISTEN 0 80 10.0.0.11:3306 0.0.0.0:* users:(("mariadbd",pid=812,fd=20))',
      'LISTEN 0 511 0.0.0.0:80 0.0.0.0:* users:(("nginx",pid=90,fd=6))',
      'LISTEN 0 128 0.0.0.0:22 0.0.0.0:* users:(("sshd",pid=1,fd=3))',
    ].join('\n');
    expect(planWith(portsFree([3306, 5672]), ss).action).to.equal('none');
    expect(() => planWith(portsFree([3306, 80]), ss)).to.throw('precheck ports: taken by another program: 80 (nginx)');
  });

  it('names: unresolved or right is fine, elsewhere is a failure naming both addresses', () => {
    const expected = new Map([
      ['controller', '10.0.0.11'],
      ['compute1', '10.0.0.31'],
    ]);
    expect(planWith(namesResolve(expected, 'compute1'), 'controller 10.0.0.11\ncompute1 127.0.1.1\n').action).to.equal('none');
    expect(planWith(namesResolve(expected, 'compute1'), 'controller \ncompute1 \n').action).to.equal('none');
    expect(() => planWith(namesResolve(expected, 'compute1'), 'controller 192.168.9.9\ncompute1 10.0.0.31\n')).to.throw(
      'controller → 192.168.9.9 (inventory: 10.0.0.11)',
    );
  });

  it('run for real on this machine: clock and listeners are read and judged', async () => {
    const rt = new RemoteRuntime(new LocalTransport());
    for (const task of [clockInSync(), portsFree([65000])]) {
      const plan = task.plan(await rt.gather(task.facts));
      expect(plan.action, task.name).to.equal('none');
    }
  });

  it('no password may be empty: not default_password, not a stored secret', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'sp-pw-'));
    try {
      expect(() => SecretStore.besideInventory(join(dir, 'x.ini'), new Redactor(), '')).to.throw(InputError, /default_password is set but empty/);
      await writeFile(join(dir, 'y.secrets.ini'), 'nova_pass = abcdefgh1\nglance_pass =\n', { mode: 0o600 });
      expect(() => SecretStore.besideInventory(join(dir, 'y.ini'), new Redactor())).to.throw(InputError, /y\.secrets\.ini:2: secret glance_pass is empty/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
