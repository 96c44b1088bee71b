/**
 * The order of a directory's names in changes(): mergedNames() takes shortcuts (no lower side,
 * the same map for before and now) that must give what merging and sorting all three would.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { compareNames, mergedNames } from '../../src/layers/changes.js';

const name = fc.oneof(fc.constantFrom('a', 'b', 'B', 'a.txt', 'é', '\u{1F600}', '\uE000', '\uFFFD', 'z'), fc.string({ maxLength: 4, unit: 'binary' }));
const names = fc.uniqueArray(name, { maxLength: 8 });
const asMap = (list: string[]) => new Map(list.map((n) => [n, 0]));

describe('mergedNames()', () => {
  it('is the union of the three, in UTF-8 byte order (property)', () => {
    fc.assert(
      fc.property(names, names, names, fc.boolean(), (before, upper, lower, shared) => {
        const b = asMap(before);
        const l = shared ? b : asMap(lower);
        const expected = [...new Set([...b.keys(), ...upper, ...l.keys()])].sort(compareNames);
        expect(mergedNames(b, asMap(upper), l)).toEqual(expected);
      }),
      { numRuns: 2000 },
    );
  });

  it('sorts by UTF-8 bytes: U+E000 before an astral character', () => {
    expect(mergedNames(new Map(), asMap(['\u{1F600}', '\uE000', 'a']), new Map())).toEqual(['a', '\uE000', '\u{1F600}']);
    expect(Buffer.compare(Buffer.from('\uE000'), Buffer.from('\u{1F600}'))).toBe(-1);
  });
});
