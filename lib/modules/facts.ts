import { sh } from '../core/shell.js';
import type { SimHost } from '../sim/sim.js';
import type { ShellFact } from '../core/task.js';

/** Facts shared by several task modules: small typed pairs of a probe and a parser (pyinfra's facts). */

export type PathInfo =
  | { readonly type: 'file'; readonly content: string; readonly mode: string; readonly owner: string; readonly group: string }
  | { readonly type: 'dir'; readonly mode: string; readonly owner: string; readonly group: string }
  | { readonly type: 'link'; readonly target: string }
  | null;

const mode4 = (m: string): string => m.padStart(4, '0');

/** What is at `path`: a file (with content), a directory, a symlink, or nothing (null). */
export function pathFact(path: string): ShellFact<PathInfo> {
  return {
    kind: 'shell',
    script: sh`p=${path}
if [ -L "$p" ]; then echo link; readlink -- "$p"
elif [ -d "$p" ]; then stat -c 'dir %a %U %G' -- "$p"
elif [ -f "$p" ]; then stat -c 'file %a %U %G' -- "$p" && cat -- "$p"
else echo absent; fi`,
    parse({ stdout, exitCode }) {
      const nl = stdout.indexOf('\n');
      const head = nl < 0 ? stdout : stdout.slice(0, nl);
      const rest = nl < 0 ? '' : stdout.slice(nl + 1);
      const [type, mode = '', owner = '', group = ''] = head.split(' ');
      if (exitCode !== 0 && type !== 'file') throw new Error(`cannot inspect ${path}: exit ${exitCode}`);
      switch (type) {
        case 'absent':
          return null;
        case 'link':
          return { type: 'link', target: rest.replace(/\n$/, '') };
        case 'dir':
          return { type: 'dir', mode: mode4(mode), owner, group };
        case 'file':
          if (exitCode !== 0) throw new Error(`cannot read ${path}`);
          return { type: 'file', content: rest, mode: mode4(mode), owner, group };
        default:
          throw new Error(`unexpected probe output for ${path}: ${head}`);
      }
    },
    simulate(host: SimHost) {
      const e = host.files.get(path);
      if (!e) return null;
      return e.type === 'file' ? { ...e } : e.type === 'dir' ? { ...e } : { type: 'link', target: e.target };
    },
    absorb(host, info) {
      if (info === null) host.files.delete(path);
      else host.files.set(path, { ...info });
    },
    mayChangeByInstall: (info) => (info === null ? `a package this run installs may create ${path}` : undefined),
  };
}

/** Output and exit code of a read-only command; on a simulated host, `simulated` answers. */
export function commandFact(
  script: ReturnType<typeof sh>,
  simulated: (host: SimHost) => { exitCode: number; stdout: string },
): ShellFact<{ exitCode: number; stdout: string }> {
  return {
    kind: 'shell',
    script,
    parse: ({ exitCode, stdout }) => ({ exitCode, stdout }),
    simulate: simulated,
  };
}
