/**
 * The architecture, checked: which folder of src/ may import which (DESIGN: imports point from
 * the higher layers down, never up), and the pure parts work without the native addon.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { linux618 } from '../helpers/kernels.js';
import { native, nativeLoaded } from '../../src/sys/binding.js';

const SRC = fileURLToPath(new URL('../../src', import.meta.url));

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((d) => {
    const p = join(dir, d.name);
    return d.isDirectory() ? sourceFiles(p) : d.name.endsWith('.ts') ? [p] : [];
  });
}

interface Import {
  from: string;
  /** The specifier as written. */
  spec: string;
  /** For a relative import: the folder of src/ it lands in ('' for src/ itself). */
  folder?: string;
  typeOnly: boolean;
}

/** Every static import/export-from and dynamic import() of a file. */
function importsOf(file: string): Import[] {
  const text = readFileSync(file, 'utf8');
  const out: Import[] = [];
  const from = relative(SRC, file);
  const add = (spec: string, typeOnly: boolean) => {
    const imp: Import = { from, spec, typeOnly };
    if (spec.startsWith('.')) {
      const target = relative(SRC, resolve(dirname(file), spec));
      imp.folder = target.includes('/') ? target.split('/')[0]! : '';
    }
    out.push(imp);
  };
  for (const m of text.matchAll(/^(?:import|export)\s+(type\s+)?(?:[^'";]*?\s+from\s+)?'([^']+)'/gm)) add(m[2]!, m[1] !== undefined);
  for (const m of text.matchAll(/\bimport\(\s*'([^']+)'\s*\)/g)) add(m[1]!, false);
  return out;
}

const all = sourceFiles(SRC).flatMap(importsOf);
const folderOf = (i: Import) => (i.from.includes('/') ? i.from.split('/')[0]! : '');
const inFolder = (folder: string) => all.filter((i) => folderOf(i) === folder);
const show = (list: Import[]) => list.map((i) => `${i.from} -> ${i.spec}`);

describe('import boundaries', () => {
  it('finds the imports it checks', () => {
    expect(all.length).toBeGreaterThan(100);
    expect(new Set(all.map(folderOf))).toEqual(new Set(['', 'boot', 'sys', 'spec', 'mount', 'read', 'layers', 'oci', 'store', 'registry', 'snapshotter', 'cli']));
  });

  it('boot/ (the bundles\' loader and the ovl executable) imports only itself and Node built-ins, and nothing imports it', () => {
    expect(show(inFolder('boot').filter((i) => !(i.folder === 'boot' || (i.folder === undefined && i.spec.startsWith('node:')))))).toEqual([]);
    expect(show(all.filter((i) => i.folder === 'boot' && folderOf(i) !== 'boot'))).toEqual([]);
  });

  it('spec/ is pure: it imports only spec/ and node:path (no I/O, no addon)', () => {
    expect(show(inFolder('spec').filter((i) => !(i.folder === 'spec' || i.spec === 'node:path')))).toEqual([]);
  });

  it('sys/ imports nothing outside itself (Node built-ins aside)', () => {
    expect(show(inFolder('sys').filter((i) => i.folder !== undefined && i.folder !== 'sys'))).toEqual([]);
  });

  it('read/ and layers/ never import mount/ (nor the command line)', () => {
    const bad = [...inFolder('read'), ...inFolder('layers')].filter((i) => i.folder === 'mount' || i.folder === 'cli');
    expect(show(bad)).toEqual([]);
  });

  it('read/ does not import layers/ (layers/ reads mounts back through read/, not the other way)', () => {
    expect(show(inFolder('read').filter((i) => i.folder === 'layers'))).toEqual([]);
  });

  it('oci/ imports only sys/, spec/, layers/ (and itself), Node built-ins and fzstd', () => {
    const ok = (i: Import) => (i.folder === undefined ? i.spec.startsWith('node:') || i.spec === 'fzstd' : ['oci', 'sys', 'spec', 'layers'].includes(i.folder));
    expect(show(inFolder('oci').filter((i) => !ok(i)))).toEqual([]);
  });

  it('store/ uses oci/, mount/, layers/ and what is below them (never cli/), Node built-ins only', () => {
    const ok = (i: Import) => (i.folder === undefined ? i.spec.startsWith('node:') : ['store', 'oci', 'mount', 'layers', 'read', 'sys', 'spec'].includes(i.folder));
    expect(show(inFolder('store').filter((i) => !ok(i)))).toEqual([]);
  });

  it('nothing below store/ imports it', () => {
    const below = ['sys', 'spec', 'read', 'layers', 'mount', 'oci'].flatMap(inFolder);
    expect(show(below.filter((i) => i.folder === 'store'))).toEqual([]);
  });

  it('registry/ feeds the store: it uses store/, oci/, spec/ (never cli/, never mount/ directly), Node built-ins only', () => {
    const ok = (i: Import) => (i.folder === undefined ? i.spec.startsWith('node:') : ['registry', 'store', 'oci', 'spec'].includes(i.folder));
    expect(show(inFolder('registry').filter((i) => !ok(i)))).toEqual([]);
  });

  it('nothing below registry/ imports it (store/ and all below)', () => {
    const below = ['sys', 'spec', 'read', 'layers', 'mount', 'oci', 'store'].flatMap(inFolder);
    expect(show(below.filter((i) => i.folder === 'registry'))).toEqual([]);
  });

  it('snapshotter/ is a thin shell over the store: store/ and spec/, gRPC, Node built-ins', () => {
    const ok = (i: Import) => (i.folder === undefined ? i.spec.startsWith('node:') || i.spec.startsWith('@grpc/') : ['snapshotter', 'store', 'spec'].includes(i.folder));
    expect(show(inFolder('snapshotter').filter((i) => !ok(i)))).toEqual([]);
  });

  it("only snapshotter/ loads gRPC, and only cli/ and the library's index import snapshotter/", () => {
    expect(show(all.filter((i) => i.spec.startsWith('@grpc/') && folderOf(i) !== 'snapshotter'))).toEqual([]);
    expect(show(all.filter((i) => i.folder === 'snapshotter' && !['snapshotter', 'cli', ''].includes(folderOf(i))))).toEqual([]);
  });

  it('nothing below oci/ imports it (sys/, spec/, read/, layers/, mount/)', () => {
    const below = ['sys', 'spec', 'read', 'layers', 'mount'].flatMap(inFolder);
    expect(show(below.filter((i) => i.folder === 'oci'))).toEqual([]);
  });

  it('only cli/ imports cli/; the library (index.ts) does not', () => {
    expect(show(all.filter((i) => i.folder === 'cli' && folderOf(i) !== 'cli'))).toEqual([]);
  });

  it('the addon is loaded in one place: only sys/binding.ts requires it', () => {
    const loaders = sourceFiles(SRC).filter((f) => /node-gyp-build|\.node['"]/.test(readFileSync(f, 'utf8')));
    expect(loaders.map((f) => relative(SRC, f))).toEqual(['sys/binding.ts']);
  });

  it('mount/plan.ts, the dry run, imports nothing that does I/O', () => {
    const plan = all.filter((i) => i.from === 'mount/plan.ts' && !i.typeOnly);
    expect(show(plan.filter((i) => !(i.folder === 'spec' || i.spec === './sequences.js' || i.spec === '../sys/constants.js' || i.spec === 'node:path')))).toEqual([]);
  });
});

describe('the pure parts work without the addon', () => {
  it('this project cannot load it (test/helpers/no-addon.ts), so everything below ran without it', () => {
    expect(() => native()).toThrow(/unit tests run without it/);
  });

  it('plan(), formatPlan(), the shape checks and the mount(8) syntax parser', async () => {
    const { plan, formatPlan, parseMountOptions, specFromMountOptions } = await import('../../src/index.js');
    const { checkSpecShape } = await import('../../src/spec/shape.js');
    const spec = specFromMountOptions(['lowerdir=/l/a:/l/b,upperdir=/u,workdir=/w,ro'], '/m');
    expect(checkSpecShape(spec)).toEqual([]);
    expect(parseMountOptions(['nosuid'])).toEqual({ attributes: { nosuid: true } });
    expect(formatPlan(plan(spec, linux618))).toMatch(/^strategy: fd /);
    expect(nativeLoaded()).toBe(false);
  });
});
