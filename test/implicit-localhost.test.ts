import { expect } from 'chai';
import { hostname } from 'node:os';
import { PassThrough } from 'node:stream';
import { runPlaybook } from '../lib/cli/cli.js';
import { defineRole, playbook } from '../lib/core/playbook.js';
import { sh } from '../lib/core/shell.js';
import { makeTask, noChange } from '../lib/core/task.js';
import { commandFact } from '../lib/modules/facts.js';

/**
 * Ansible's implicit localhost: a play for `localhost`, with an inventory
 * that does not declare it, runs on this machine without SSH (the verify
 * playbook's Horizon screenshot is such a play). Real: the fact is a command
 * run by /bin/sh here.
 */
describe('implicit localhost', () => {
  const whereAmI = makeTask({
    module: 'check',
    name: 'where am I',
    facts: { h: commandFact(sh`hostname`, () => ({ exitCode: 0, stdout: 'simulated\n' })) },
    plan: ({ h }) => noChange(`on ${h.stdout.trim()}`),
  });
  const book = playbook('local', [{ name: 'local', hosts: 'localhost', roles: [() => defineRole('r').tasks([whereAmI])] }]);

  async function run(args: readonly string[]): Promise<{ code: number; out: string }> {
    const stdout = new PassThrough();
    const stderr = new PassThrough();
    let out = '';
    stdout.on('data', (d: Buffer) => (out += d.toString()));
    stderr.on('data', (d: Buffer) => (out += d.toString()));
    // --no-history: these real runs would otherwise leave records beside the repo's own inventory.
    const code = await runPlaybook(book, ['-i', 'hosts/juno.ini', '-v', '--no-history', ...args], { stdout, stderr });
    return { code, out };
  }

  it('runs the play on this machine (check mode and a real run), in no inventory host', async () => {
    for (const args of [['--check'], []]) {
      const { code, out } = await run(args);
      expect(code, out).to.equal(0);
      expect(out).to.include(`ok: [localhost] r | where am I — on ${hostname()}`);
      expect(out).to.match(
        args.length > 0
          ? /^localhost\s+: ok=1 changed=0 unreachable=0 failed=0 skipped=0 would_run=0$/m
          : /^localhost\s+: ok=1 changed=0 unreachable=0 failed=0 skipped=0$/m,
      );
      expect(out).not.to.match(/^controller\s+:/m);
    }
  });

  it('--plan simulates it like any host', async () => {
    const { code, out } = await run(['--plan', `/tmp/sp-implicit-localhost-${process.pid}`]);
    expect(code, out).to.equal(0);
    expect(out).to.include('ok: [localhost] r | where am I — on simulated');
  });

  it('a --limit that does not name it leaves it out', async () => {
    const { code, out } = await run(['--limit', 'controller']);
    expect(code, out).to.equal(0);
    expect(out).not.to.include('[localhost]');
  });
});
