import { expect } from 'chai';
import { execute, type ExecuteOptions, type ResolvedPlay, type RunEvent, type TaskResult } from '../lib/core/executor.js';
import { defineRole, type Playbook, type Role } from '../lib/core/playbook.js';
import { HostLockedError, type HostSession, type LockHolder } from '../lib/core/host-session.js';
import { RemoteRuntime, StepFailed, type HostRuntime } from '../lib/core/runtime.js';
import { file } from '../lib/modules/file.js';
import type { ExecResult } from '../lib/transport/transport.js';
import { FakeTransport } from './support/fake-transport.js';
import { sh } from '../lib/core/shell.js';
import { flushHandlers, makeTask, noChange, registeredFact, skip, type Step, type Task, type TaskOptions } from '../lib/core/task.js';
import { UnreachableError } from '../lib/transport/transport.js';
import { resolvePlaybook } from '../lib/core/resolve.js';
import { Redactor } from '../lib/core/secret.js';
import { InputError } from '../lib/core/errors.js';
import { parseInventory } from '../lib/inventory/inventory.js';
import { SecretStore } from '../lib/inventory/secrets-store.js';

/**
 * The executor against a fake runtime: tasks plan from a fake fact (the
 * task's own "wanted" flag), steps are recorded, and faults are injected by
 * step text.
 */
class FakeRuntime implements HostRuntime {
  readonly applied: string[] = [];
  readonly done = new Set<string>();
  /** `role@handler` markers, as the host keeps them. */
  readonly pending = new Set<string>();
  lockedBy: string | null = null;
  lockTakes = 0;
  closed = false;
  constructor(
    readonly host: string,
    readonly faults: { failOn?: string; dropOn?: string } = {},
  ) {}
  #takeLock = false;
  begin(_holder: LockHolder, takeLock: boolean): void {
    this.#takeLock = takeLock;
  }
  async session(): Promise<HostSession> {
    if (this.lockedBy) throw new HostLockedError(this.host, this.lockedBy);
    if (this.#takeLock) this.lockTakes++;
    this.#takeLock = false;
    const pending = new Map<string, Set<string>>();
    for (const p of this.pending) {
      const [role = '', h = ''] = p.split('@');
      pending.set(role, new Set([...(pending.get(role) ?? []), h]));
    }
    return { pending };
  }
  async notePending(role: string, handlers: readonly string[]): Promise<void> {
    for (const h of handlers) this.pending.add(`${role}@${h}`);
  }
  async donePending(role: string, handler: string): Promise<void> {
    this.pending.delete(`${role}@${handler}`);
  }
  async gather(facts: readonly unknown[]): Promise<unknown[]> {
    return facts.map((f) => (f as { key: string }).key).map((k) => this.done.has(k));
  }
  async apply(step: Step): Promise<boolean> {
    const text = step.kind === 'exec' ? step.cmd.display() : step.kind;
    if (this.faults.dropOn === text) throw new UnreachableError(this.host, 'connection reset', true);
    if (this.faults.failOn === text) throw new StepFailed(`command exited 1: ${text}`);
    this.applied.push(text);
    this.done.add(text);
    return true;
  }
  async close(): Promise<void> {
    this.closed = true;
  }
}

/** A task that changes until it has run once (its fact is "did `name` run?"). */
function step<H extends string = never>(name: string, notify: readonly H[] = [], tags: readonly string[] = []): Task<H> {
  return makeTask({
    module: 'test',
    name,
    options: { notify, tags },
    facts: { done: { kind: 'shell', key: name, script: sh`true`, parse: () => false, simulate: () => false } as never },
    plan: ({ done }: { done: boolean }) =>
      done ? { action: 'none', reason: 'done' } : { action: 'change', summary: name, steps: [{ kind: 'exec', cmd: sh`${name}` }] },
  });
}

function play(hosts: readonly string[], roles: readonly Role[]): ResolvedPlay {
  return { name: 'test', hosts: new Map(hosts.map((h) => [h, roles])) };
}

async function run(plays: readonly ResolvedPlay[], runtimes: Map<string, FakeRuntime>, extra: Partial<ExecuteOptions> = {}) {
  const events: RunEvent[] = [];
  const outcome = await execute(plays, {
    check: false,
    forks: 10,
    tags: [],
    skipTags: [],
    connect: async (h) => {
      const rt = runtimes.get(h);
      if (!rt) throw new UnreachableError(h, 'connection refused', true);
      return rt;
    },
    emit: (e) => events.push(e),
    ...extra,
  });
  const results = events.flatMap((e) => (e.type === 'task' ? [e.result] : []));
  return { outcome, events, results };
}

const statuses = (results: readonly TaskResult[], host: string) =>
  results.filter((r) => r.host === host).map((r) => `${r.handler ? 'H:' : ''}${r.task}=${r.status}`);

describe('executor', () => {
  const role = defineRole('web', { restartA: step('restart-a'), restartB: step('restart-b') }).tasks([
    step('one', ['restartB']),
    step('two', ['restartA', 'restartB']),
    step('three'),
  ]);

  it('runs tasks in order and handlers once, at the end, in declaration order', async () => {
    const rts = new Map([['h1', new FakeRuntime('h1')]]);
    const { outcome, results } = await run([play(['h1'], [role])], rts);
    expect(rts.get('h1')!.applied).to.deep.equal(['one', 'two', 'three', 'restart-a', 'restart-b']);
    expect(statuses(results, 'h1')).to.deep.equal(['one=changed', 'two=changed', 'three=changed', 'H:restart-a=changed', 'H:restart-b=changed']);
    expect(outcome.exitCode).to.equal(0);
    expect(outcome.recap.get('h1')).to.deep.equal({ ok: 0, changed: 5, failed: 0, skipped: 0, unreachable: 0, wouldRun: 0 });
    expect(rts.get('h1')!.closed).to.equal(true);
  });

  it('runs no handler when nothing changed, and reports 0 changed on the second run', async () => {
    const rt = new FakeRuntime('h1');
    await run([play(['h1'], [role])], new Map([['h1', rt]]));
    rt.applied.length = 0;
    rt.closed = false;
    const { outcome } = await run([play(['h1'], [role])], new Map([['h1', rt]]));
    // Handlers are tasks too: once "done" they would plan none; none is even notified here.
    expect(rt.applied).to.deep.equal([]);
    expect(outcome.recap.get('h1')).to.include({ changed: 0, ok: 3 });
  });

  it('flushes notified handlers mid-role', async () => {
    const flushing = defineRole('r', { h: step('handler') }).tasks([step('a', ['h']), flushHandlers(), step('b', ['h'])]);
    const rt = new FakeRuntime('h1');
    await run([play(['h1'], [flushing])], new Map([['h1', rt]]));
    // The handler ran at the flush; at the end it is notified again but is already converged in this fake.
    expect(rt.applied).to.deep.equal(['a', 'handler', 'b']);
  });

  it('stops a failed host, lets the others finish, exits 2', async () => {
    const rts = new Map([
      ['h1', new FakeRuntime('h1', { failOn: 'two' })],
      ['h2', new FakeRuntime('h2')],
    ]);
    const { outcome, results } = await run([play(['h1', 'h2'], [role])], rts);
    expect(rts.get('h1')!.applied).to.deep.equal(['one']);
    expect(statuses(results, 'h1')).to.deep.equal(['one=changed', 'two=failed']);
    expect(results.find((r) => r.status === 'failed')!.error).to.match(/exited 1: two/);
    expect(rts.get('h2')!.applied).to.have.length(5);
    expect(outcome.exitCode).to.equal(2);
    expect(outcome.recap.get('h1')).to.include({ failed: 1, changed: 1 });
  });

  it('reports an unreachable host (exit 4) and skips it in later plays', async () => {
    const rts = new Map([['h1', new FakeRuntime('h1')]]);
    const { outcome, events } = await run([play(['h1', 'gone'], [role]), play(['h1', 'gone'], [role])], rts);
    expect(outcome.exitCode).to.equal(4);
    expect(outcome.recap.get('gone')).to.include({ unreachable: 1, failed: 0 });
    expect(events.filter((e) => e.type === 'unreachable')).to.have.length(1);
    const plays = events.filter((e) => e.type === 'play');
    expect(plays[1]).to.deep.include({ hosts: ['h1'] });
  });

  it('counts a connection dropped mid-step as unreachable, never re-running the step', async () => {
    const rt = new FakeRuntime('h1', { dropOn: 'two' });
    const { outcome, events } = await run([play(['h1'], [role])], new Map([['h1', rt]]));
    expect(outcome.exitCode).to.equal(4);
    expect(outcome.recap.get('h1')).to.include({ unreachable: 1, failed: 0, changed: 1 });
    expect(rt.applied).to.deep.equal(['one']);
    const un = events.find((e) => e.type === 'unreachable');
    expect(un)
      .to.have.property('error')
      .that.matches(/during "two"; it was not re-run/);
  });

  it('check mode applies nothing and predicts every change', async () => {
    const rt = new FakeRuntime('h1');
    const { results } = await run([play(['h1'], [role])], new Map([['h1', rt]]), { check: true });
    expect(rt.applied).to.deep.equal([]);
    expect(statuses(results, 'h1')).to.deep.equal(['one=changed', 'two=changed', 'three=changed', 'H:restart-a=changed', 'H:restart-b=changed']);
  });

  it('filters by --tags and --skip-tags', async () => {
    const tagged = defineRole('t').tasks([step('a', [], ['config']), step('b', [], ['packages']), step('c', [], ['always'])]);
    const rt1 = new FakeRuntime('h1');
    await run([play(['h1'], [tagged])], new Map([['h1', rt1]]), { tags: ['config'] });
    expect(rt1.applied).to.deep.equal(['a', 'c']);
    const rt2 = new FakeRuntime('h1');
    await run([play(['h1'], [tagged])], new Map([['h1', rt2]]), { skipTags: ['config'] });
    expect(rt2.applied).to.deep.equal(['b', 'c']);
  });

  it('runs hosts in parallel up to --forks', async () => {
    let active = 0;
    let peak = 0;
    class Slow extends FakeRuntime {
      override async apply(s: Step): Promise<boolean> {
        active++;
        peak = Math.max(peak, active);
        await new Promise((r) => setTimeout(r, 20));
        active--;
        return super.apply(s);
      }
    }
    const hosts = ['a', 'b', 'c', 'd', 'e', 'f'];
    const one = defineRole('o').tasks([step('x')]);
    await run([play(hosts, [one])], new Map(hosts.map((h) => [h, new Slow(h)])), { forks: 3 });
    expect(peak).to.equal(3);
  });

  describe('run lock and pending handlers', () => {
    it('a run that dies after a notifying change leaves the handler pending; the next run replays it', async () => {
      const rt = new FakeRuntime('h1', { dropOn: 'three' });
      const first = await run([play(['h1'], [role])], new Map([['h1', rt]]));
      expect(first.outcome.exitCode).to.equal(4);
      expect(rt.applied).to.deep.equal(['one', 'two']);
      expect([...rt.pending].sort()).to.deep.equal(['web@restartA', 'web@restartB']);
      // The host is back; tasks one and two are converged and report ok, yet the handlers run.
      const again = new FakeRuntime('h1');
      for (const d of rt.done) again.done.add(d);
      for (const p of rt.pending) again.pending.add(p);
      const second = await run([play(['h1'], [role])], new Map([['h1', again]]));
      expect(second.outcome.exitCode).to.equal(0);
      expect(again.applied).to.deep.equal(['three', 'restart-a', 'restart-b']);
      expect([...again.pending]).to.deep.equal([]);
    });

    it("records a task's handlers before its change, so dying mid-change still owes the restart", async () => {
      const rt = new FakeRuntime('h1', { dropOn: 'two' });
      await run([play(['h1'], [role])], new Map([['h1', rt]]));
      // "two" never finished (its change may or may not have landed): both its handlers are owed.
      expect([...rt.pending].sort()).to.deep.equal(['web@restartA', 'web@restartB']);
    });

    it('a host another run holds fails at once, naming the holder; others go on', async () => {
      const busy = new FakeRuntime('busy');
      busy.lockedBy = 'pid 4242 ops@deploy1 since 2026-11-21T10:00:00Z';
      const free = new FakeRuntime('free');
      const { outcome, results } = await run(
        [play(['busy', 'free'], [role])],
        new Map([
          ['busy', busy],
          ['free', free],
        ]),
      );
      expect(outcome.exitCode).to.equal(2);
      expect(busy.applied).to.deep.equal([]);
      expect(results.find((r) => r.host === 'busy')?.error).to.match(/being run by another stackplay \(pid 4242 ops@deploy1 since 2026-11-21T10:00:00Z\)/);
      expect(free.applied).to.have.length(5);
      expect(busy.closed).to.equal(true);
    });

    it('check mode neither takes the lock nor writes pending markers', async () => {
      const rt = new FakeRuntime('h1');
      await run([play(['h1'], [role])], new Map([['h1', rt]]), { check: true });
      expect(rt.lockTakes).to.equal(0);
      expect([...rt.pending]).to.deep.equal([]);
    });

    it('an aborted signal (Ctrl-C) stops every host at its next task and says why', async () => {
      const controller = new AbortController();
      class Slow extends FakeRuntime {
        override async apply(s: Step): Promise<boolean> {
          if (s.kind === 'exec' && s.cmd.display() === 'one') controller.abort('interrupted (SIGINT)');
          return super.apply(s);
        }
      }
      const rts = new Map([
        ['a', new Slow('a')],
        ['b', new Slow('b')],
      ]);
      const { outcome, events } = await run([play(['a', 'b'], [role]), play(['a', 'b'], [role])], rts, { signal: controller.signal });
      expect(outcome.aborted).to.equal('interrupted (SIGINT)');
      expect(events.filter((e) => e.type === 'abort')).to.have.length(1);
      for (const rt of rts.values()) expect(rt.applied).to.deep.equal(['one']);
      // "one" notified restartB before the abort: it stays pending for the next run.
      for (const rt of rts.values()) expect([...rt.pending]).to.deep.equal(['web@restartB']);
    });
  });

  describe('serial (rolling batches)', () => {
    const five = ['h1', 'h2', 'h3', 'h4', 'h5'];
    const chain = defineRole('chain', { restart: step('restart') }).tasks([step('one', ['restart']), step('two')]);
    /** Every applied step of every host, in the order they happened. */
    const traced = (faults: Record<string, { failOn?: string }> = {}) => {
      const order: string[] = [];
      const rts = new Map(
        five.map((h) => {
          const rt = new FakeRuntime(h, faults[h] ?? {});
          const apply = rt.apply.bind(rt);
          rt.apply = async (st) => {
            const r = await apply(st);
            order.push(`${h}:${st.kind === 'exec' ? st.cmd.display() : st.kind}`);
            return r;
          };
          return [h, rt];
        }),
      );
      return { order, rts };
    };

    it('serial 2 over 5 hosts: batches of 2, 2 and 1, each through its tasks and handlers before the next starts', async () => {
      const { order, rts } = traced();
      const { events, outcome } = await run([{ ...play(five, [chain]), serial: 2 }], rts, { forks: 10 });
      expect(events.filter((e) => e.type === 'play').map((e) => (e.type === 'play' ? e.hosts.join(',') : ''))).to.deep.equal(['h1,h2', 'h3,h4', 'h5']);
      const batchOf = (entry: string) => Math.floor((Number(entry.slice(1, entry.indexOf(':'))) - 1) / 2);
      expect(order.map(batchOf)).to.deep.equal([...order.map(batchOf)].sort());
      expect(order.filter((o) => o.startsWith('h1:'))).to.deep.equal(['h1:one', 'h1:two', 'h1:restart']);
      expect(order).to.have.length(15);
      expect(outcome.exitCode).to.equal(0);
    });

    it("a play's serial resolves against its hosts: a percentage rounds down to at least 1; 0 or '0%' is bad input", async () => {
      const inventory = parseInventory('[compute]\nc1\nc2\nc3\nc4\nc5\n', 'x.ini');
      const secrets = new SecretStore('/nonexistent/secrets.ini', new Redactor());
      const book = (serial: number | `${number}%`): Playbook => ({ name: 'b', plays: [{ name: 'p', hosts: 'compute', serial, roles: [() => chain] }] });
      expect(resolvePlaybook(book('50%'), inventory, secrets)[0]!.serial).to.equal(2);
      expect(resolvePlaybook(book('10%'), inventory, secrets)[0]!.serial).to.equal(1);
      expect(resolvePlaybook(book(3), inventory, secrets)[0]!.serial).to.equal(3);
      expect(() => resolvePlaybook(book(0), inventory, secrets)).to.throw(InputError, /serial must be a whole number of hosts or a percentage/);
      expect(() => resolvePlaybook(book('0%'), inventory, secrets)).to.throw(InputError, /serial must be/);
    });

    it('the failure policy applies per batch: a failed batch stops the hosts of later batches', async () => {
      const { order, rts } = traced({ h1: { failOn: 'one' } });
      const { outcome } = await run([{ ...play(five, [chain]), serial: 2 }], rts, { forks: 10, maxFailPercentage: 0 });
      expect(outcome.aborted).to.match(/1 of 2 hosts failed/);
      expect(order.some((o) => /^h[345]:/.test(o))).to.equal(false);
    });
  });

  describe('failure policy', () => {
    const ten = Array.from({ length: 10 }, (_, i) => `h${i}`);
    const chain = defineRole('chain').tasks([step('one'), step('two'), step('three')]);
    const failing = (n: number) => new Map(ten.map((h, i) => [h, new FakeRuntime(h, i < n ? { failOn: 'one' } : {})]));

    it('--max-fail-percentage 30 on 10 hosts: 3 failures go on', async () => {
      const rts = failing(3);
      const { outcome, events } = await run([play(ten, [chain]), play(ten, [chain])], rts, { maxFailPercentage: 30, forks: 10 });
      expect(events.some((e) => e.type === 'abort')).to.equal(false);
      expect(rts.get('h9')!.applied).to.deep.equal(['one', 'two', 'three']);
      expect(outcome.exitCode).to.equal(2);
      expect(outcome.aborted).to.equal(null);
    });

    it('--max-fail-percentage 30 on 10 hosts: 4 failures abort the run', async () => {
      const rts = failing(4);
      // forks=1: hosts run one after another, so the abort is seen before h4 starts.
      const { outcome, events } = await run([play(ten, [chain]), play(ten, [chain])], rts, { maxFailPercentage: 30, forks: 1 });
      const abort = events.find((e) => e.type === 'abort');
      expect(abort)
        .to.have.property('reason')
        .that.matches(/4 of 10 hosts failed \(40%\)/);
      expect(events.filter((e) => e.type === 'play')).to.have.length(1);
      for (const h of ['h4', 'h5', 'h9']) expect(rts.get(h)!.applied, h).to.deep.equal([]);
      expect(outcome.exitCode).to.equal(2);
    });

    it('--any-errors-fatal aborts at the first failure; running hosts stop at their next task', async () => {
      const rts = new Map([
        ['a', new FakeRuntime('a', { failOn: 'two' })],
        ['b', new FakeRuntime('b')],
      ]);
      class Slow extends FakeRuntime {
        override async apply(s: Step): Promise<boolean> {
          await new Promise((r) => setTimeout(r, 30));
          return super.apply(s);
        }
      }
      rts.set('b', new Slow('b'));
      const { outcome } = await run([play(['a', 'b'], [chain])], rts, { anyErrorsFatal: true });
      expect(outcome.aborted).to.match(/any-errors-fatal/);
      expect(rts.get('b')!.applied.length).to.be.lessThan(3);
      expect(outcome.exitCode).to.equal(2);
    });

    it('unreachable hosts count as failed for the policy', async () => {
      const rts = new Map([['up', new FakeRuntime('up')]]);
      const { outcome } = await run([play(['gone', 'up'], [chain]), play(['up'], [chain])], rts, { anyErrorsFatal: true, forks: 1 });
      expect(outcome.aborted).to.match(/any-errors-fatal/);
      expect(rts.get('up')!.applied).to.deep.equal([]);
      expect(outcome.exitCode).to.equal(4);
    });
  });

  describe('ignoreErrors, skip and register (what the verify playbook is made of)', () => {
    /** A check whose verdict is fixed: pass plans no change, skip plans a skip, fail throws. */
    const check = (name: string, verdict: 'pass' | 'fail' | 'skip', options: TaskOptions = {}) =>
      makeTask({
        module: 'check',
        name,
        options,
        facts: {},
        plan: () => {
          if (verdict === 'fail') throw new Error(`${name} broke`);
          return verdict === 'pass' ? noChange(`${name} passed`) : skip(`${name} cannot run here`);
        },
      });

    it('a task with ignoreErrors that fails counts as failed, and the host goes on (exit 2)', async () => {
      const rt = new FakeRuntime('h1');
      const role = defineRole('verify').tasks([check('a', 'fail', { ignoreErrors: true }), step('after')]);
      const { outcome, results } = await run([play(['h1'], [role])], new Map([['h1', rt]]));
      expect(statuses(results, 'h1')).to.deep.equal(['a=failed', 'after=changed']);
      expect(results[0]).to.include({ ignored: true, error: 'Error: a broke' });
      expect(results[1]?.ignored).to.equal(undefined);
      expect(rt.applied).to.deep.equal(['after']);
      expect(outcome.recap.get('h1')).to.include({ failed: 1, changed: 1 });
      expect(outcome.exitCode).to.equal(2);
    });

    it('a failing step of an ignoreErrors task likewise; without ignoreErrors the host stops', async () => {
      const boom = (options: TaskOptions) =>
        makeTask({
          module: 'test',
          name: 'boom',
          options,
          facts: {},
          plan: () => ({ action: 'change', summary: 'boom', steps: [{ kind: 'exec', cmd: sh`boom` }] }),
        });
      const ignoring = new FakeRuntime('h1', { failOn: 'boom' });
      const first = await run([play(['h1'], [defineRole('r').tasks([boom({ ignoreErrors: true }), step('after')])])], new Map([['h1', ignoring]]));
      expect(statuses(first.results, 'h1')).to.deep.equal(['boom=failed', 'after=changed']);
      const stopping = new FakeRuntime('h1', { failOn: 'boom' });
      const second = await run([play(['h1'], [defineRole('r').tasks([boom({}), step('after')])])], new Map([['h1', stopping]]));
      expect(statuses(second.results, 'h1')).to.deep.equal(['boom=failed']);
      expect(stopping.applied).to.deep.equal([]);
    });

    it('skip() reports skipped with its reason, not ok', async () => {
      const { outcome, results } = await run([play(['h1'], [defineRole('r').tasks([check('volume', 'skip')])])], new Map([['h1', new FakeRuntime('h1')]]));
      expect(results[0]).to.include({ status: 'skipped', reason: 'volume cannot run here' });
      expect(outcome.recap.get('h1')).to.include({ ok: 0, skipped: 1 });
      expect(outcome.exitCode).to.equal(0);
    });

    it('a later play reads what an earlier play registered on other hosts; a host that registered nothing is absent', async () => {
      const dm = (verdict: 'pass' | 'skip') => defineRole('block').tasks([check('device-mapper', verdict, { register: 'dm' })]);
      const reader = makeTask({
        module: 'check',
        name: 'read',
        facts: { dm: registeredFact('dm', ['b1', 'b2', 'b3']) },
        plan: ({ dm: seen }) => noChange([...seen].map(([h, r]) => `${h}=${r.status}:${r.detail}`).join(', ')),
      });
      const block: ResolvedPlay = {
        name: 'block',
        hosts: new Map([
          ['b1', [dm('skip')]],
          ['b2', [dm('pass')]],
        ]),
      };
      const rts = new Map(['b1', 'b2', 'c'].map((h) => [h, new FakeRuntime(h)]));
      const { results } = await run([block, play(['c'], [defineRole('controller').tasks([reader])])], rts);
      expect(results.find((r) => r.host === 'c')?.reason).to.equal('b1=skipped:device-mapper cannot run here, b2=ok:device-mapper passed');
    });

    it('a plan that changes nothing can hand a value on with its registered result; the reader sees it typed as it knows it', async () => {
      const finder = makeTask({
        module: 'check',
        name: 'find',
        options: { register: 'found' },
        facts: {},
        plan: () => ({ action: 'none', reason: '2 found', value: { ids: ['a', 'b'] } }),
      });
      const reader = makeTask({
        module: 'check',
        name: 'read',
        facts: { found: registeredFact('found', ['t']) },
        plan: ({ found }) => noChange(JSON.stringify(found.get('t'))),
      });
      const rts = new Map(['t', 'c'].map((h) => [h, new FakeRuntime(h)]));
      const { results } = await run([play(['t'], [defineRole('tempest').tasks([finder])]), play(['c'], [defineRole('local').tasks([reader])])], rts);
      expect(JSON.parse(results.find((r) => r.host === 'c')?.reason ?? '')).to.deep.equal({ status: 'ok', detail: '2 found', value: { ids: ['a', 'b'] } });
      // The value is not printed: the task's own result carries only its reason.
      expect(results.find((r) => r.host === 't')).to.not.have.property('value');
    });
  });

  it('a misspelled handler name does not compile', () => {
    defineRole('typed', { restartNova: step('restart') }).tasks([
      // @ts-expect-error 'restartNovaa' is not a handler of this role
      step('x', ['restartNovaa']),
    ]);
  });
});

describe('executor over RemoteRuntime with a fake transport', () => {
  /** Answers fact batches by echoing their markers with empty output (`ready` for the run's begin), and counts execs; `upTo` cuts the batch short. */
  const answerBatch = (script: string, upTo = Infinity): ExecResult => {
    const markers = [...script.matchAll(/printf '%s\\n' '(@@[0-9a-f]+:\d+)'\n\( (d=)?/g)];
    if (markers.length === 0) return { exitCode: 0, stdout: '', stderr: '' };
    const nonce = markers[0]![1]!.split(':')[0]!;
    const stdout = markers
      .slice(0, upTo)
      .map((m) => `${m[1]}\n${m[2] ? 'ready' : 'absent'}\n\n${nonce}:0\n`)
      .join('');
    return upTo < markers.length ? { exitCode: 141, stdout, stderr: 'broken pipe' } : { exitCode: 0, stdout, stderr: '' };
  };
  const files = defineRole('files').tasks([
    file({ path: '/etc/a', content: 'a\n' }),
    file({ path: '/etc/b', content: 'b\n' }),
    file({ path: '/etc/c', content: 'c\n' }),
  ]);

  it('takes the run lock with the first facts read, then one round trip per fact read and per step, and no unlock', async () => {
    const t = new FakeTransport('h1', (s) => answerBatch(s));
    const outcome = await execute([play(['h1'], [files])], {
      check: false,
      forks: 1,
      tags: [],
      skipTags: [],
      connect: async () => new RemoteRuntime(t),
      emit: () => {},
    });
    expect(outcome.recap.get('h1')).to.include({ changed: 3 });
    // begin + facts of a, b, c; write a; facts b, c; write b; facts c; write c.
    expect(t.scripts).to.have.length(6);
    expect(t.scripts[0]).to.contain('lock="$d/run.lock"').and.contain('flock -n 9').and.contain('p=/etc/a\n');
    expect(t.scripts[1]).to.contain('base64 -d >"$t"').and.contain('mv -f "$t" "$p"');
    expect(t.scripts.slice(1).join('\n')).not.to.contain('run.lock');
    expect(t.closed).to.equal(true);
  });

  it('a transport that dies mid-run makes the host unreachable, not failed', async () => {
    const t = new FakeTransport('h1', (script, i) => {
      if (i === 3) throw new UnreachableError('h1', 'connection to root@h1:22 lost', true);
      return answerBatch(script);
    });
    const outcome = await execute([play(['h1'], [files])], {
      check: false,
      forks: 1,
      tags: [],
      skipTags: [],
      connect: async () => new RemoteRuntime(t),
      emit: () => {},
    });
    expect(outcome.exitCode).to.equal(4);
    expect(outcome.recap.get('h1')).to.include({ changed: 1, unreachable: 1, failed: 0 });
    // begin + facts, write of the first file, facts of the second, its write dies.
    expect(t.scripts).to.have.length(4);
  });

  it('a fact probe whose output is cut short fails the task with a clear message', async () => {
    // The run's begin is answered, the facts after it are not.
    const t = new FakeTransport('h1', (s) => answerBatch(s, 1));
    const events: RunEvent[] = [];
    const { exitCode } = await execute([play(['h1'], [files])], {
      check: false,
      forks: 1,
      tags: [],
      skipTags: [],
      connect: async () => new RemoteRuntime(t),
      emit: (e) => events.push(e),
    });
    expect(exitCode).to.equal(2);
    const failed = events.flatMap((e) => (e.type === 'task' && e.result.status === 'failed' ? [e.result] : []));
    expect(failed[0]?.error).to.match(/cut short \(exit 141\): broken pipe/);
  });
});
