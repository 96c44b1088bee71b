import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { matches, matchesAny, parseFilter } from '../../src/snapshotter/filters.js';

const fields = (o: Record<string, string | undefined>, labels: Record<string, string> = {}) => (path: readonly string[]) =>
  path[0] === 'labels' ? labels[path.slice(1).join('.')] : o[path[0]!];

describe("containerd's filter syntax for snapshots", () => {
  it('parses field paths, quoted label keys, the three operators and bare presence', () => {
    expect(parseFilter('name==a')).toEqual([{ path: ['name'], op: '==', value: 'a' }]);
    expect(parseFilter('labels."containerd.io/gc.root"')).toEqual([{ path: ['labels', 'containerd.io/gc.root'] }]);
    expect(parseFilter('kind!=view,parent==sha256:abc')).toEqual([
      { path: ['kind'], op: '!=', value: 'view' },
      { path: ['parent'], op: '==', value: 'sha256:abc' },
    ]);
    const re = parseFilter('labels.x~=^v[0-9]+$');
    expect(re[0]!.regexp!.test('v12')).toBe(true);
    expect(parseFilter('name=="a,b"')[0]!.value).toBe('a,b');
  });

  it('all terms of a filter must hold; any filter of the list may', () => {
    const f = fields({ name: 'n1', kind: 'committed', parent: 'p' }, { 'containerd.io/gc.root': 'x' });
    expect(matches(parseFilter('kind==committed,labels."containerd.io/gc.root"'), f)).toBe(true);
    expect(matches(parseFilter('kind==committed,labels.missing'), f)).toBe(false);
    expect(matchesAny([parseFilter('name==zz'), parseFilter('parent==p')], f)).toBe(true);
    expect(matchesAny([], f)).toBe(true);
    expect(matches(parseFilter('name!=n1'), f)).toBe(false);
    expect(matches(parseFilter('name~=^n'), f)).toBe(true);
  });

  it('refuses what does not parse, naming the filter', () => {
    expect(() => parseFilter('name==a b,')).not.toThrow();
    expect(() => parseFilter('"open')).toThrow(/does not end/);
    expect(() => parseFilter('name~=(')).toThrow(/regular expression/);
    expect(() => parseFilter('name=a')).toThrow(/'name=a'/);
  });

  it('never throws anything but its own error on any input', () => {
    fc.assert(
      fc.property(fc.string(), (s) => {
        try {
          parseFilter(s);
        } catch (e) {
          expect((e as { code?: string }).code).toBe('ERR_OVERLAY_SPEC');
        }
      }),
    );
  });
});
