import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { interruptedBuilds } from '../lab/interrupted-builds.js';

/** The lab's cached artefacts: which half-built directories a new build may remove. */
describe('lab cache: interrupted builds', () => {
  let dir: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sp-builds-'));
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  /** A pid that ran and has ended (its own child, waited for). */
  const endedPid = () => spawnSync('true').pid!;

  it("lists a dead build's directory and this process's own, and nothing else", () => {
    const dead = endedPid();
    for (const name of [`base-bookworm.tmp-${dead}`, `base-bookworm.tmp-${process.pid}-2`, 'base-bookworm', 'guest-2.tmp-1', 'base-bookworm.old']) {
      fs.mkdirSync(path.join(dir, name));
    }
    expect(interruptedBuilds(path.join(dir, 'base-bookworm'), 'base').sort()).to.deep.equal(
      [`base-bookworm.tmp-${dead}`, `base-bookworm.tmp-${process.pid}-2`].map((n) => path.join(dir, n)).sort(),
    );
  });

  it('refuses while another build still runs, naming it', () => {
    // The test's parent (mocha's or make's shell) is alive for as long as this test runs.
    fs.mkdirSync(path.join(dir, `guest-2.tmp-${process.ppid}`));
    expect(() => interruptedBuilds(path.join(dir, 'guest-2'), 'guest')).to.throw(`another guest build is running (pid ${process.ppid}`);
  });

  it('finds nothing where the cache does not exist yet', () => {
    expect(interruptedBuilds(path.join(dir, 'absent', 'base-bookworm'), 'base')).to.deep.equal([]);
  });
});
