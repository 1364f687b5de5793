import { expect } from 'chai';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The layout is the architecture (roles/CONVENTIONS.md): the engine in lib/
 * knows no OpenStack; the domain in openstack/ builds on the engine only;
 * roles use both but never each other; playbooks compose roles. This test
 * reads every import of every TypeScript file and fails on a reversed arrow.
 */

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');

function tsFiles(dir: string): string[] {
  return readdirSync(join(ROOT, dir), { withFileTypes: true, recursive: true })
    .filter((e) => e.isFile() && e.name.endsWith('.ts'))
    .map((e) => relative(ROOT, join(e.parentPath, e.name)));
}

/** Relative import specifiers of a source text: static imports and exports, `import()` calls. */
export function importsOf(source: string): string[] {
  const specs: string[] = [];
  for (const m of source.matchAll(
    /(?:^|\n)\s*(?:import|export)\s[^;]*?\sfrom\s+['"]([^'"]+)['"]|(?:^|\n)\s*import\s+['"]([^'"]+)['"]|\bimport\(\s*['"]([^'"]+)['"]\s*\)/g,
  )) {
    const spec = m[1] ?? m[2] ?? m[3];
    if (spec !== undefined && spec.startsWith('.')) specs.push(spec);
  }
  return specs;
}

/** The top-level folder (and for roles, the role) a repo path belongs to: `lib`, `openstack`, `roles/nova`, `playbooks`, … */
function layerOf(path: string): string {
  const [top, second] = path.split(sep);
  return top === 'roles' && second !== undefined && second.endsWith('.ts') === false ? `roles/${second}` : (top ?? '');
}

/** Which layers a layer may import from. */
function allowed(from: string, to: string): boolean {
  if (from === to) return true;
  if (from === 'lib') return false;
  if (from === 'openstack') return to === 'lib';
  if (from.startsWith('roles/')) return to === 'lib' || to === 'openstack';
  if (from === 'playbooks') return to === 'lib' || to === 'openstack' || to.startsWith('roles/');
  // tests, bench and lab may use anything.
  return true;
}

interface Violation {
  readonly file: string;
  readonly spec: string;
  readonly target: string;
}

export function violations(files: readonly string[], read: (file: string) => string): Violation[] {
  const found: Violation[] = [];
  for (const file of files) {
    const from = layerOf(file);
    for (const spec of importsOf(read(file))) {
      const target = relative(ROOT, resolve(ROOT, dirname(file), spec));
      if (!allowed(from, layerOf(target))) found.push({ file, spec, target });
    }
  }
  return found;
}

describe('layering', () => {
  const sources = ['lib', 'openstack', 'roles', 'playbooks'].flatMap(tsFiles);
  const read = (file: string) => readFileSync(join(ROOT, file), 'utf8');

  it('reads the imports of every engine, domain, role and playbook file', () => {
    // A parser that found nothing would make the checks below pass vacuously.
    const counts = sources.map((f) => importsOf(read(f)).length);
    expect(sources.length).to.be.greaterThan(60);
    expect(counts.reduce((a, b) => a + b, 0)).to.be.greaterThan(300);
    expect(
      importsOf(
        `import { a } from './a.js';\nexport { b } from "../b.js";\nimport type {\n  C,\n} from '../c/c.js';\nconst d = await import('./d.js');\nimport x from 'node:fs';`,
      ),
    ).to.deep.equal(['./a.js', '../b.js', '../c/c.js', './d.js']);
  });

  it('flags an engine file importing the domain, a role importing another role, the domain importing a role', () => {
    const fake: Record<string, string> = {
      [join('lib', 'core', 'x.ts')]: `import { OpenStackHost } from '../../openstack/host.js';`,
      [join('roles', 'nova', 'index.ts')]: `import { glance } from '../glance/index.js';\nimport { OS } from '../../openstack/platform.js';`,
      [join('openstack', 'y.ts')]: `import { nova } from '../roles/nova/index.js';`,
    };
    const found = violations(Object.keys(fake), (f) => fake[f]!);
    expect(found.map((v) => `${v.file} → ${v.target}`)).to.deep.equal([
      `${join('lib', 'core', 'x.ts')} → ${join('openstack', 'host.ts').replace(/\.ts$/, '.js')}`,
      `${join('roles', 'nova', 'index.ts')} → ${join('roles', 'glance', 'index.js')}`,
      `${join('openstack', 'y.ts')} → ${join('roles', 'nova', 'index.js')}`,
    ]);
  });

  it('lib/ imports nothing outside lib/; openstack/ only lib/; a role only lib/, openstack/ and itself', () => {
    expect(violations(sources, read)).to.deep.equal([]);
  });

  it('lib/ never mentions openstack_release', () => {
    const mentions = tsFiles('lib').filter((f) => read(f).includes('openstack_release'));
    expect(mentions).to.deep.equal([]);
  });
});
