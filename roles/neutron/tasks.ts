import { pathFact } from '../../lib/modules/facts.js';
import { editIni } from '../../lib/modules/ini-edit.js';
import { makeTask, type ApiFact, type Task, type TaskOptions } from '../../lib/core/task.js';
import { planContent } from '../../lib/modules/file.js';
import { toIniSettings, type IniSections } from '../../lib/modules/ini.js';

/**
 * Two small task builders the neutron role needs and lib/tasks does not
 * have: an `ini` whose values depend on an API fact (Juno's
 * `nova_admin_tenant_id` is the service tenant's id), and one task made of
 * several (restarting neutron-api and neutron-rpc-server as one handler).
 */

/** Like `ini`, with settings computed from a fact read in the same round (e.g. an id from keystone). */
export function iniFromFact<T, H extends string = never>(
  args: {
    readonly path: string;
    readonly fact: ApiFact<T>;
    readonly settings: (value: T) => IniSections;
    readonly sections: readonly string[];
    readonly mode?: string;
    readonly owner?: string;
    readonly group?: string;
  },
  options?: TaskOptions<H>,
): Task<H> {
  return makeTask({
    module: 'ini',
    name: `ini ${args.path} [${args.sections.join('] [')}]`,
    options,
    facts: { current: pathFact(args.path), value: args.fact },
    plan: ({ current, value }) => {
      const settings = toIniSettings(args.settings(value as T));
      const before = current?.type === 'file' ? current.content : '';
      const { text } = editIni(before, settings);
      return planContent(args.path, current, text, args, `${settings.length} option(s) already set`);
    },
  });
}
