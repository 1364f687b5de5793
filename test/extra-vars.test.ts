/**
 * -e key=value and -e @FILE (issue 18): above every inventory level, typed
 * where roles read them, bad input named by where it was given, secrets kept
 * off the command line.
 */
import { expect } from 'chai';
import { copyFile, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { EXIT_BAD_INPUT, runPlaybook } from '../lib/cli/cli.js';
import { loadInventory } from '../lib/inventory/inventory.js';
import { loadExtraVars, withExtraVars } from '../lib/inventory/extra-vars.js';
import { hostVarsOf } from '../lib/inventory/vars.js';
import { site } from '../playbooks/site.js';

describe('-e / --extra-vars', function () {
  this.timeout(60_000);
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'sp-extra-'));
    await copyFile('hosts/juno.ini', join(dir, 'juno.ini'));
  });
  afterEach(() => rm(dir, { recursive: true, force: true }));

  async function plan(args: readonly string[]): Promise<{ code: number; out: string; err: string }> {
    let out = '';
    let err = '';
    const stdout = new Writable({ write: (c, _e, cb) => ((out += String(c)), cb()) });
    const stderr = new Writable({ write: (c, _e, cb) => ((err += String(c)), cb()) });
    const code = await runPlaybook(site, ['-i', join(dir, 'juno.ini'), '--plan', join(dir, 'out'), ...args], { stdout, stderr });
    return { code, out, err };
  }

  it('pairs (quoted values too), @FILE lines and JSON; later ones win; above host variables', async () => {
    await writeFile(join(dir, 'more.ini'), '# comment\nregion = RegionTwo\n; another\nglance_workers=3\n');
    await writeFile(join(dir, 'more.json'), '{\n  "glance_workers": 4,\n  "debug": true\n}\n');
    const extras = await loadExtraVars(['glance_workers=2 verify_guest_dir="/srv/a b"', '@' + join(dir, 'more.ini'), `@${join(dir, 'more.json')}`]);
    expect(Object.fromEntries([...extras].map(([k, v]) => [k, v.value]))).to.deep.equal({
      glance_workers: '4',
      verify_guest_dir: '/srv/a b',
      region: 'RegionTwo',
      debug: 'true',
    });
    expect(extras.get('region')?.source).to.deep.equal({ file: join(dir, 'more.ini'), line: 2 });
    expect(extras.get('glance_workers')?.source).to.deep.equal({ file: join(dir, 'more.json'), line: 2 });
    // The Juno inventory sets ansible_host per host: -e wins over it too.
    const inventory = withExtraVars(await loadInventory(join(dir, 'juno.ini')), await loadExtraVars(['ansible_user=ops']));
    expect(hostVarsOf(inventory, 'controller').str('ansible_user')).to.equal('ops');
  });

  it('a bad value stops the run naming the -e it came from, before any host (exit 5)', async () => {
    const r = await plan(['-e', 'glance_workers=many']);
    expect(r.code, r.err + r.out).to.equal(EXIT_BAD_INPUT);
    expect(r.err).to.match(/--extra-vars #1: .*glance_workers must be a whole number/);
    expect(r.out).not.to.contain('PLAY [');
  });

  it('a misspelled name gets a suggestion; a bad line names FILE:line', async () => {
    const typo = await plan(['-e', 'glance_worker=2']);
    expect(typo.code).to.equal(EXIT_BAD_INPUT);
    expect(typo.err).to.contain('unknown variable glance_worker (did you mean glance_workers?)');
    await writeFile(join(dir, 'bad.ini'), 'region=RegionOne\nthis line has no equals\n');
    const bad = await plan(['-e', `@${join(dir, 'bad.ini')}`]);
    expect(bad.code).to.equal(EXIT_BAD_INPUT);
    expect(bad.err).to.contain(`${join(dir, 'bad.ini')}:2: expected key=value`);
  });

  it('refuses a secret on the command line (ps, shell history), takes it from a FILE and masks it', async () => {
    const r = await plan(['-e', 'admin_pass=hunter2-canary']);
    expect(r.code).to.equal(EXIT_BAD_INPUT);
    expect(r.err).to.contain('admin_pass looks like a secret');
    expect(r.err + r.out).not.to.contain('hunter2-canary');
    // From a file it is a variable like another; the value never shows (here: a bad value echoed by an error).
    await writeFile(join(dir, 'secret.ini'), 'openstack_api_workers=hunter2-canary\nrabbit_pass=hunter2-canary\n');
    const f = await plan(['-e', `@${join(dir, 'secret.ini')}`]);
    expect(f.code).to.equal(EXIT_BAD_INPUT);
    expect(f.err).to.contain('openstack_api_workers');
    expect(f.err + f.out).not.to.contain('hunter2-canary');
  });

  it('nothing is written when -e is bad', async () => {
    await plan(['-e', 'glance_workers=many']);
    expect(await readdir(dir)).to.deep.equal(['juno.ini']);
  });
});
