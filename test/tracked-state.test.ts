import { expect } from 'chai';
import type { ShellFact, Task } from '../lib/core/task.js';
import { debconf } from '../lib/modules/debconf.js';
import { directory, file } from '../lib/modules/file.js';
import { hostname } from '../lib/modules/hostname.js';
import { packages } from '../lib/modules/package.js';
import { service } from '../lib/modules/service.js';
import { sysctl } from '../lib/modules/sysctl.js';
import { SimHost, SimNetwork } from '../lib/sim/sim.js';
import { StateTracker } from '../lib/sim/tracked-state.js';

/**
 * What check mode's overlay rests on (lib/core/predict.ts): the tracker
 * tells predicted state from absorbed real state, and every fact's `absorb`
 * is the inverse of its `simulate`.
 */
describe('check mode overlay: tracked state', () => {
  const tracked = () => {
    const tracker = new StateTracker();
    return { tracker, host: new SimHost('h', new SimNetwork(), {}, tracker) };
  };

  it('records what a read touched, member by member, and a whole set when iterated', () => {
    const { tracker, host } = tracked();
    const reads = tracker.readsOf(() => {
      host.set('packages').has('nova-api');
      host.files.get('/etc/nova/nova.conf');
      host.value('init');
      [...host.set('ovs:ports')];
    });
    expect([...reads]).to.deep.equal(['set\0packages\0nova-api', 'file\0/etc/nova/nova.conf', 'value\0init', 'set\0ovs:ports\0*']);
  });

  it('an absorbed real value never overwrites a prediction and is not itself a prediction', () => {
    const { tracker, host } = tracked();
    host.set('services:running').add('glance-api');
    host.writeFile('/etc/glance/glance-api.conf', 'predicted');
    tracker.absorbing(() => {
      host.set('services:running').delete('glance-api');
      host.set('services:running').add('nova-api');
      host.files.set('/etc/glance/glance-api.conf', { type: 'file', content: 'real', mode: '0640', owner: 'glance', group: 'glance' });
      host.files.set('/etc/nova/nova.conf', { type: 'file', content: 'real', mode: '0640', owner: 'nova', group: 'nova' });
    });
    expect(host.set('services:running').has('glance-api')).to.equal(true);
    expect(host.set('services:running').has('nova-api')).to.equal(true);
    expect(host.files.get('/etc/glance/glance-api.conf')).to.include({ content: 'predicted' });
    expect(tracker.isPredicted('set\0services:running\0nova-api')).to.equal(false);
    expect(tracker.isPredicted('file\0/etc/nova/nova.conf')).to.equal(false);
    // The parents a written file needed are not predictions: the real directories' attributes stand.
    expect(tracker.isPredicted('file\0/etc/glance')).to.equal(false);
  });

  it('clearing a set predicts every member of it', () => {
    const { tracker, host } = tracked();
    host.set('services:missing').clear();
    expect(tracker.isPredicted('set\0services:missing\0keystone')).to.equal(true);
    expect(tracker.isPredicted('set\0services:missing\0*')).to.equal(true);
    tracker.absorbing(() => host.set('services:missing').add('keystone'));
    expect(host.set('services:missing').has('keystone')).to.equal(false);
  });

  const tasks: Task<string>[] = [
    packages({ names: ['nova-api', 'nova-conductor'], manager: 'apt' }),
    service({ name: 'nova-api', state: 'started', enabled: true }),
    file({ path: '/etc/motd', content: 'hello\n', mode: '0600', owner: 'nova' }),
    directory({ path: '/var/lib/nova', owner: 'nova', mode: '0750' }),
    sysctl({ settings: { 'net.ipv4.ip_forward': '1' } }),
    hostname({ name: 'controller' }),
    debconf({ package: 'keystone', settings: [{ question: 'keystone/configure_db', type: 'boolean', value: false }] }),
  ];

  for (const task of tasks) {
    it(`${task.module}: absorb is the inverse of simulate (${task.name})`, () => {
      const source = new SimHost('s', new SimNetwork(), { init: 'sysv' });
      const shell = task.facts.filter((f): f is ShellFact<unknown> => f.kind === 'shell');
      expect(
        shell.some((f) => f.absorb),
        'the task has a fact with absorb',
      ).to.equal(true);
      // Before the task's change and after it: the same answer from the real host and from the overlay that absorbed it.
      for (const when of ['before', 'after']) {
        for (const fact of shell.filter((f) => f.absorb)) {
          const value = fact.simulate(source);
          const { tracker, host } = tracked();
          tracker.absorbing(() => fact.absorb!(host, value));
          expect(fact.simulate(host), `${when}: ${fact.script.display().split('\n')[0]}`).to.deep.equal(value);
        }
        const plan = task.plan(task.facts.map((f) => (f.kind === 'shell' ? f.simulate(source) : undefined)));
        for (const step of plan.action === 'none' ? [] : plan.steps) {
          if (step.kind === 'exec') step.simulate?.(source);
          else if (step.kind === 'write') source.writeFile(step.path, step.content, step);
        }
      }
    });
  }
});
