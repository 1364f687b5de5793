import { expect } from 'chai';
import { execute, type ResolvedPlay, type RunEvent, type TaskResult } from '../lib/core/executor.js';
import { defineRole, type Role } from '../lib/core/playbook.js';
import { prefetching } from '../lib/core/prefetch.js';
import { RemoteRuntime, SimRuntime } from '../lib/core/runtime.js';
import { SimHost, SimNetwork } from '../lib/sim/sim.js';
import { file } from '../lib/modules/file.js';
import { makeTask, noChange, type ApiFact, type Task } from '../lib/core/task.js';
import type { ExecResult } from '../lib/transport/transport.js';
import { FakeTransport } from './support/fake-transport.js';

/**
 * A host with files only, behind a fake transport that answers fact batches
 * (pathFact probes) and applies write scripts: enough to watch how many
 * round trips the executor makes and what each task saw.
 */
class FileHost {
  readonly files = new Map<string, string>();
  readonly transport = new FakeTransport('h1', (script) => this.#answer(script));
  /** Kinds of the scripts received, in order: `lock+facts:<paths>` (one round trip), facts:<paths>, write:<path>. */
  readonly log: string[] = [];
  /** Batches after which the output is cut short (the probe's shell dies). */
  cutAfterFacts: number | undefined;

  #answer(script: string): ExecResult {
    const ok = (stdout = ''): ExecResult => ({ exitCode: 0, stdout, stderr: '' });
    const write = /^p=(\S+)$[\s\S]*base64 -d >"\$t" <<'SP_EOF'\n([\s\S]*?)\nSP_EOF/m.exec(script);
    if (write) {
      this.log.push(`write:${write[1]}`);
      this.files.set(write[1]!, Buffer.from(write[2]!.replace(/\n/g, ''), 'base64').toString('utf8'));
      return ok();
    }
    // A facts batch: each probe follows its marker; the run's begin (lock, pending handlers) may ride along first.
    const markers = [...script.matchAll(/printf '%s\\n' '(@@[0-9a-f]+):(\d+)'\n\( (?:p=(\S+)\n|(d=))/g)];
    if (markers.length > 0) {
      const begin = markers[0]![4] !== undefined;
      const facts = markers.filter((m) => m[3] !== undefined);
      this.log.push([begin ? 'lock' : '', facts.length > 0 ? `facts:${facts.map((m) => m[3]).join(',')}` : ''].filter(Boolean).join('+'));
      let out = '';
      for (const [i, m] of markers.entries()) {
        if (this.cutAfterFacts !== undefined && i >= this.cutAfterFacts + (begin ? 1 : 0)) return { exitCode: 141, stdout: out, stderr: 'broken pipe' };
        const content = m[3] === undefined ? 'ready\n' : this.files.get(m[3]);
        out += `${m[1]}:${m[2]}\n${m[3] === undefined ? content : content === undefined ? 'absent\n' : `file 644 root root\n${content}`}\n${m[1]}:0\n`;
      }
      return ok(out);
    }
    this.log.push(`other:${script.slice(0, 40)}`);
    return ok();
  }
}

const play = (roles: readonly Role[]): ResolvedPlay => ({ name: 'p', hosts: new Map([['h1', roles]]) });

async function run(host: FileHost, roles: readonly Role[], check = false): Promise<TaskResult[]> {
  const results: TaskResult[] = [];
  await execute([play(roles)], {
    check,
    forks: 1,
    tags: [],
    skipTags: [],
    connect: async () => new RemoteRuntime(host.transport),
    emit: (e: RunEvent) => {
      if (e.type === 'task') results.push(e.result);
    },
  });
  return results;
}

const paths = (n: number): string[] => Array.from({ length: n }, (_, i) => `/etc/f${i}`);

describe('fact prefetching (one round trip per role while nothing changes)', () => {
  it('an idempotent role reads the facts of all its tasks in one round trip', async () => {
    const host = new FileHost();
    for (const p of paths(5)) host.files.set(p, `${p}\n`);
    const role = defineRole('r').tasks(paths(5).map((p) => file({ path: p, content: `${p}\n` })));
    const results = await run(host, [role]);
    expect(results.map((r) => r.status)).to.deep.equal(['ok', 'ok', 'ok', 'ok', 'ok']);
    // The run lock rides along with the facts; closing the connection releases it.
    expect(host.log).to.deep.equal([`lock+facts:${paths(5).join(',')}`]);
  });

  it('a change drops what was read ahead: later tasks see the host as the change left it', async () => {
    const host = new FileHost();
    for (const p of paths(4)) host.files.set(p, `${p}\n`);
    host.files.set('/etc/f0', 'old\n');
    // Task 2 manages the same file as task 0: it must plan from task 0's result, not from the read-ahead.
    const role = defineRole('r').tasks([
      file({ path: '/etc/f0', content: 'new\n' }),
      file({ path: '/etc/f1', content: '/etc/f1\n' }),
      file({ path: '/etc/f0', content: 'newer\n' }),
      file({ path: '/etc/f3', content: '/etc/f3\n' }),
    ]);
    const results = await run(host, [role]);
    expect(results.map((r) => r.status)).to.deep.equal(['changed', 'ok', 'changed', 'ok']);
    expect(results[2]!.diffs?.[0]?.before).to.equal('new\n');
    expect(host.log).to.deep.equal([
      'lock+facts:/etc/f0,/etc/f1,/etc/f0,/etc/f3',
      'write:/etc/f0',
      'facts:/etc/f1,/etc/f0,/etc/f3',
      'write:/etc/f0',
      'facts:/etc/f3',
    ]);
  });

  it('check mode changes nothing, so one round trip serves the whole role', async () => {
    const host = new FileHost();
    const role = defineRole('r').tasks(paths(4).map((p) => file({ path: p, content: 'x\n' })));
    const results = await run(host, [role], true);
    expect(results.map((r) => r.status)).to.deep.equal(['changed', 'changed', 'changed', 'changed']);
    expect(host.log).to.deep.equal([`lock+facts:${paths(4).join(',')}`]);
  });

  it('a probe cut short fails the task it belongs to, after the tasks whose facts arrived', async () => {
    const host = new FileHost();
    for (const p of paths(4)) host.files.set(p, 'x\n');
    host.cutAfterFacts = 2;
    const role = defineRole('r').tasks(paths(4).map((p) => file({ path: p, content: 'x\n' })));
    const results = await run(host, [role]);
    expect(results.map((r) => r.status)).to.deep.equal(['ok', 'ok', 'failed']);
    expect(results[2]!.error).to.match(/cut short \(exit 141\): broken pipe/);
  });

  it('handlers read their facts when they run, after the changes that notified them', async () => {
    const host = new FileHost();
    const role = defineRole('r', { h: file({ path: '/etc/f0', content: 'by handler\n' }) }).tasks([
      file({ path: '/etc/f0', content: 'by task\n' }, { notify: ['h'] }),
      file({ path: '/etc/f1', content: 'x\n' }),
    ]);
    const results = await run(host, [role]);
    expect(results.map((r) => `${r.task}:${r.status}`)).to.deep.equal(['file /etc/f0:changed', 'file /etc/f1:changed', 'file /etc/f0:changed']);
    expect(results[2]!.diffs?.[0]?.before).to.equal('by task\n');
    expect(host.files.get('/etc/f0')).to.equal('by handler\n');
  });

  it('after a change, reads ahead only up to a byte budget (big files are not re-read over and over)', async () => {
    const host = new FileHost();
    const big = 'x'.repeat(100 * 1024) + '\n';
    for (const p of paths(6)) host.files.set(p, big);
    host.files.set('/etc/f0', 'old\n');
    const role = defineRole('r').tasks(paths(6).map((p) => file({ path: p, content: p === '/etc/f0' ? 'new\n' : big })));
    const results = await run(host, [role]);
    expect(results.every((r) => r.status === (r.task === 'file /etc/f0' ? 'changed' : 'ok'))).to.equal(true);
    const facts = host.log.filter((l) => l.includes('facts:'));
    expect(facts[0]).to.equal(`lock+facts:${paths(6).join(',')}`);
    // ~100 KiB each, budget 256 KiB: two files per read after the change.
    expect(facts.slice(1)).to.deep.equal(['facts:/etc/f1,/etc/f2', 'facts:/etc/f3,/etc/f4', 'facts:/etc/f5']);
  });

  it('leaves runtimes that cannot probe (the simulated hosts of --plan) as they are', () => {
    const sim = new SimRuntime(new SimHost('s', new SimNetwork(), {}), () => undefined);
    const tasks = [file({ path: '/a', content: '' }), file({ path: '/b', content: '' })];
    expect(prefetching(sim, tasks)).to.equal(sim);
  });

  describe('API facts', () => {
    /** A service with one value per key, whose reads take a while; counts reads and how many were in flight at once. */
    class SlowApi {
      readonly values = new Map<string, number>();
      reads = 0;
      inFlight = 0;
      maxInFlight = 0;
      /** Keys whose next read fails (a service still starting). */
      readonly failNext = new Set<string>();
      fact(key: string): ApiFact<number> {
        return {
          kind: 'api',
          run: async () => {
            this.reads++;
            this.maxInFlight = Math.max(this.maxInFlight, ++this.inFlight);
            await new Promise((r) => setTimeout(r, 15));
            this.inFlight--;
            if (this.failNext.delete(key)) throw new Error(`${key}: 503 Service Unavailable`);
            return this.values.get(key) ?? 0;
          },
        };
      }
      /** A task that wants `key` to be `want`, and sets it when it is not. */
      task(key: string, want: number): Task {
        return makeTask({
          module: 'api_value',
          name: `${key}=${want}`,
          facts: { have: this.fact(key) },
          plan: ({ have }) =>
            have === want
              ? noChange(`${key} is ${want}`)
              : {
                  action: 'change',
                  summary: `${key} ${have} → ${want}`,
                  steps: [{ kind: 'api', description: `set ${key}`, run: async () => void this.values.set(key, want) }],
                },
        });
      }
    }

    it('a converged role reads them side by side, at most 4 at a time, each task getting its own', async () => {
      const api = new SlowApi();
      for (let i = 0; i < 8; i++) api.values.set(`k${i}`, i);
      const role = defineRole('r').tasks(Array.from({ length: 8 }, (_, i) => api.task(`k${i}`, i)));
      const results = await run(new FileHost(), [role]);
      expect(results.map((r) => r.status)).to.deep.equal(Array(8).fill('ok'));
      expect(api.reads).to.equal(8);
      expect(api.maxInFlight).to.equal(4);
    });

    it('an applied step drops them: a later task plans from the state the change left', async () => {
      const api = new SlowApi();
      // Task 0 sets `a`; task 2 wants the same value: it must see task 0's write, not the read-ahead.
      const role = defineRole('r').tasks([api.task('a', 1), api.task('b', 0), api.task('a', 1), api.task('c', 0)]);
      const results = await run(new FileHost(), [role]);
      expect(results.map((r) => r.status)).to.deep.equal(['changed', 'ok', 'ok', 'ok']);
      // 4 read ahead, then the 3 tasks after the change read their own, one at a time.
      expect(api.reads).to.equal(7);
    });

    it("a read ahead that failed is read again by its task, so an error is always the task's own", async () => {
      const api = new SlowApi();
      api.values.set('b', 2);
      api.failNext.add('b');
      const role = defineRole('r').tasks([api.task('a', 0), api.task('b', 2)]);
      expect((await run(new FileHost(), [role])).map((r) => r.status)).to.deep.equal(['ok', 'ok']);
      expect(api.reads).to.equal(3);
    });

    it('after a change earlier in the role (a first deployment), they are read task by task', async () => {
      const api = new SlowApi();
      const host = new FileHost();
      const role = defineRole('r').tasks([file({ path: '/etc/f0', content: 'x\n' }), ...['a', 'b', 'c'].map((k) => api.task(k, 0))]);
      const results = await run(host, [role]);
      expect(results.map((r) => r.status)).to.deep.equal(['changed', 'ok', 'ok', 'ok']);
      expect(api.maxInFlight).to.equal(1);
      expect(api.reads).to.equal(3);
    });
  });
});
