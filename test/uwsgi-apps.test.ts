import { expect } from 'chai';
import { apiWorkers, MAX_DEFAULT_API_WORKERS, uwsgiApp, uwsgiHeartbeat, UWSGI_HEARTBEAT_ENV } from '../openstack/uwsgi.js';
import { converge, planOn, simHost } from './support/sim.js';

/**
 * The worker processes of the APIs Debian 12 runs under uwsgi: sized to the
 * host's CPUs (at most 5) unless the inventory says `openstack_api_workers`,
 * written as one `processes` line even where Debian's file has two.
 */
const METADATA_INI = '/etc/nova/nova-api-metadata-uwsgi.ini';
// As Debian 12's nova-api-metadata-uwsgi.ini ships it: `processes` twice (uwsgi takes the later, 8).
const DEBIAN_METADATA = `[uwsgi]
http-socket = :8775
processes = 4
master = true
processes = 8
threads = 32
`;

function hostWith(cpus: string) {
  const host = simHost('controller', { cpus });
  host.sim.files.set(METADATA_INI, { type: 'file', content: DEBIAN_METADATA, mode: '0644', owner: 'root', group: 'root' });
  return host;
}

const processesLines = (text: string) => text.split('\n').filter((l) => /^processes\s*=/.test(l));

describe('uwsgi APIs: worker processes sized to the host', () => {
  it('one per CPU up to the cap, unless the inventory gives a count', () => {
    expect(apiWorkers(2, undefined)).to.equal(2);
    expect(apiWorkers(64, undefined)).to.equal(MAX_DEFAULT_API_WORKERS);
    expect(apiWorkers(64, 12)).to.equal(12);
    expect(apiWorkers(2, 1)).to.equal(1);
  });

  for (const [cpus, workers, want] of [
    ['2', undefined, '2'],
    ['16', undefined, String(MAX_DEFAULT_API_WORKERS)],
    ['2', 3, '3'],
  ] as const) {
    it(`${cpus} CPUs, openstack_api_workers ${workers ?? 'unset'}: processes = ${want}, once; the second run changes nothing`, async () => {
      const { sim, rt } = hostWith(cpus);
      const task = uwsgiHeartbeat(METADATA_INI, workers);
      expect((await converge(rt, task)).action).to.equal('change');
      const entry = sim.files.get(METADATA_INI);
      if (entry?.type !== 'file') throw new Error('the ini file is gone');
      expect(processesLines(entry.content)).to.deep.equal([`processes = ${want}`]);
      expect(entry.content).to.contain(`\nenv = ${UWSGI_HEARTBEAT_ENV}\n`);
      expect(entry.content, 'other options stay').to.contain('\nthreads = 32\n');
      expect((await planOn(rt, task)).action).to.equal('none');
    });
  }

  it('a host that gains CPUs gets more workers on the next run (the fact is read each run)', async () => {
    const small = hostWith('2');
    await converge(small.rt, uwsgiApp({ path: METADATA_INI, workers: undefined }));
    const entry = small.sim.files.get(METADATA_INI);
    if (entry?.type !== 'file') throw new Error('the ini file is gone');
    const big = simHost('controller', { cpus: '4' });
    big.sim.files.set(METADATA_INI, { ...entry });
    const plan = await planOn(big.rt, uwsgiApp({ path: METADATA_INI, workers: undefined }));
    expect(plan.action).to.equal('change');
    await converge(big.rt, uwsgiApp({ path: METADATA_INI, workers: undefined }));
    const after = big.sim.files.get(METADATA_INI);
    expect(after?.type === 'file' && processesLines(after.content)).to.deep.equal(['processes = 4']);
  });
});
