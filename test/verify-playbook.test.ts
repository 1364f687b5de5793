import { expect } from 'chai';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { runPlaybook } from '../lib/cli/cli.js';
import type { Registered } from '../lib/core/task.js';
import { parseOutcome, verdictPlan, verify, volumePlan } from '../playbooks/verify.js';

/**
 * The verify playbook is an ordinary playbook: pure check plans, verdicts
 * through the run's outcome. Its real run is `make verify` on the lab
 * (README); here its plans and its offline run.
 */
describe('verify playbook', () => {
  it('--plan of the Juno site prints each check once and exits 0', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'sp-verify-'));
    try {
      const stdout = new PassThrough();
      let out = '';
      stdout.on('data', (d: Buffer) => (out += d.toString()));
      const code = await runPlaybook(verify, ['-i', 'hosts/juno.ini', '--plan', dir, '-v'], { stdout, stderr: stdout });
      expect(code, out).to.equal(0);
      const lines = out.split('\n').filter((l) => /^(ok|skipped|failed|changed):/.test(l));
      const names = lines.map((l) => /\] (.*?) —/.exec(l)?.[1]);
      // block 1; controller 13 (token … Horizon 200); this machine 4 (ping, SSH, tenant network, Horizon screenshot); clean-up 1.
      expect(names.length).to.equal(19);
      expect(new Set(names).size, lines.join('\n')).to.equal(names.length);
      expect(names).to.include.members([
        'verify-block | device-mapper and the cinder-volumes volume group',
        'verify | token issue',
        'verify | create a volume to available',
        'verify | boot two servers to ACTIVE',
        'verify | servers read the metadata service: instance id and SSH key (console log)',
        'verify-cleanup | clean up stackplay-verify* resources',
      ]);
      expect(out).to.include('second simulated run: 0 changed (idempotent)');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('a check script’s last marker is its verdict; none is a failure', () => {
    expect(parseOutcome('noise\n@@pass all good\n@@seconds 3\n', 0)).to.include({ verdict: 'pass', detail: 'all good (3s)' });
    expect(parseOutcome('@@fail first\n@@skip then skipped\n', 0)).to.include({ verdict: 'skip', detail: 'then skipped' });
    // A guest's console or a remote terminal ends lines with CR LF: the verdict still reads.
    expect(parseOutcome('@@pass logged in as i-0000000a\r\n@@seconds 2\r\n', 0)).to.include({ verdict: 'pass', detail: 'logged in as i-0000000a (2s)' });
    expect(parseOutcome('Traceback\nboom\n', 1).verdict).to.equal('fail');
    expect(parseOutcome('Traceback\nboom\n', 1).detail).to.match(/ended without a verdict \(exit 1\): Traceback \| boom/);
  });

  it('pass plans no change, skip a skip, fail throws (the task fails, the host goes on)', () => {
    expect(verdictPlan({ verdict: 'pass', detail: 'fine', output: '' })).to.deep.equal({ action: 'none', reason: 'fine' });
    expect(verdictPlan({ verdict: 'skip', detail: 'n/a', output: '' })).to.deep.equal({ action: 'none', reason: 'n/a', skipped: true });
    expect(() => verdictPlan({ verdict: 'fail', detail: 'broken', output: '' })).to.throw('broken');
  });

  it('a volume in error is skipped only when every block host registered that it has no device-mapper', () => {
    const error = { verdict: 'fail' as const, detail: 'volume went to error', output: '@@volume-error\n@@fail volume went to error\n' };
    const noDm: Registered = { status: 'skipped', detail: 'no device-mapper' };
    const dm: Registered = { status: 'ok', detail: 'device-mapper present' };
    expect(
      volumePlan(
        error,
        ['block1', 'block2'],
        new Map([
          ['block1', noDm],
          ['block2', noDm],
        ]),
      ),
    ).to.include({ action: 'none', skipped: true });
    expect(() =>
      volumePlan(
        error,
        ['block1', 'block2'],
        new Map([
          ['block1', noDm],
          ['block2', dm],
        ]),
      ),
    ).to.throw('volume went to error');
    expect(() => volumePlan(error, ['block1'], new Map())).to.throw('volume went to error');
    expect(() => volumePlan(error, [], new Map())).to.throw('volume went to error');
    const timeout = { verdict: 'fail' as const, detail: "volume is 'creating' after 120s", output: '@@fail …\n' };
    expect(() => volumePlan(timeout, ['block1'], new Map([['block1', noDm]]))).to.throw('after 120s');
  });
});
