/**
 * LayerStack makes the real path of an entry by appending to the layer's root (no join() for
 * every entry of a walk): the same string join() gives, for any root and name (property).
 */
import { join, posix } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { LayerStack, type LayerDir } from '../../src/layers/lookup.js';

const segment = fc.constantFrom('', '.', '..', 'a', 'b c', 'é', 'x.y', '...', '-');
const relative = fc.array(segment, { maxLength: 5 }).map((s) => s.join('/'));
const root = fc.oneof(
  relative.map((p) => `/${p}`),
  relative.map((p) => `/${p}/`),
  relative.map((p) => `//${p}`),
  relative.filter((p) => p !== ''),
);
/** A layer dir's path as lookups make them: normalized, absolute. */
const dirPath = relative.map((p) => posix.normalize(`/${p}`).replace(/(.)\/$/, '$1'));
const name = fc.oneof(segment, fc.string({ maxLength: 6 }), relative);

describe('LayerStack.lookupPaths()', () => {
  it('gives join(layer root, dir path, name) for any root, dir and name (property)', () => {
    fc.assert(
      fc.property(fc.array(root, { minLength: 1, maxLength: 3 }), fc.array(dirPath, { minLength: 1, maxLength: 3 }), name, (roots, dirs, n) => {
        const parents: LayerDir[] = dirs.map((path, i) => ({ layer: i % roots.length, path }));
        const stack = new LayerStack(roots);
        expect(stack.lookupPaths(parents, n)).toEqual(parents.map((p) => join(roots[p.layer]!, p.path, n)));
      }),
      { numRuns: 2000 },
    );
  });

  it('keeps a root of / and trailing slashes as join() does', () => {
    expect(new LayerStack(['/']).lookupPaths([{ layer: 0, path: '/' }], 'etc')).toEqual(['/etc']);
    expect(new LayerStack(['/l/']).lookupPaths([{ layer: 0, path: '/d' }], 'f')).toEqual(['/l/d/f']);
    expect(new LayerStack(['rel/./l']).lookupPaths([{ layer: 0, path: '/' }], 'f')).toEqual(['rel/l/f']);
  });
});
