import { SimRuntime } from '../../lib/core/runtime.js';
import { SimHost, SimNetwork } from '../../lib/sim/sim.js';
import type { Plan, Task } from '../../lib/core/task.js';

/** A simulated host plus a runtime over it, for task unit tests. */
export function simHost(name = 'node1', hardware: Record<string, string> = {}, network = new SimNetwork()): { sim: SimHost; rt: SimRuntime } {
  const sim = new SimHost(name, network, hardware);
  return { sim, rt: new SimRuntime(sim, () => undefined) };
}

/** Plans a task on the runtime and, unless the plan is 'none', applies its steps; returns the plan. */
export async function converge(rt: SimRuntime, task: Task<string>): Promise<Plan> {
  const plan = task.plan(await rt.gather(task.facts));
  if (plan.action !== 'none') for (const step of plan.steps) await rt.apply(step);
  return plan;
}

/** Plans only. */
export async function planOn(rt: SimRuntime, task: Task<string>): Promise<Plan> {
  return task.plan(await rt.gather(task.facts));
}
