/** The docker shapes, without a kernel: GraphDriver.Data from an OverlayInfo, and diff lines. */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { formatChange, toDocker, type OverlayInfo } from '../../src/index.js';

function info(over: Partial<OverlayInfo>): OverlayInfo {
  return {
    mountId: 1,
    target: '/m',
    source: 'overlay',
    lower: ['/a'],
    data: [],
    readOnly: false,
    mountOptions: ['rw'],
    options: {},
    rawOptions: [],
    form: 'lowerdir+',
    from: 'mountinfo',
    pathsKnown: true,
    ...over,
  };
}

describe('toDocker(): docker inspect --format {{json .GraphDriver.Data}}', () => {
  it("keys in Go's map order (sorted), layers joined with ':' top first, data layers left out", () => {
    const d = toDocker(info({ lower: ['/l/top', '/l/mid', '/l/base'], data: ['/d'], upper: '/u', work: '/w', target: '/merged' }));
    expect(JSON.stringify(d)).toBe('{"LowerDir":"/l/top:/l/mid:/l/base","MergedDir":"/merged","UpperDir":"/u","WorkDir":"/w"}');
  });

  it('a read-only overlay has empty UpperDir and WorkDir', () => {
    expect(JSON.stringify(toDocker(info({ lower: ['/a', '/b'] })))).toBe('{"LowerDir":"/a:/b","MergedDir":"/m","UpperDir":"","WorkDir":""}');
  });

  it('always exactly the four keys, sorted, for any paths', () => {
    const path = fc.string({ minLength: 1, maxLength: 12 }).map((s) => `/${s}`);
    fc.assert(
      fc.property(fc.array(path, { minLength: 1, maxLength: 5 }), fc.option(path, { nil: undefined }), path, (lower, upper, target) => {
        const d = toDocker(info(upper === undefined ? { lower, target } : { lower, target, upper, work: `${upper}-work` }));
        expect(Object.keys(d)).toEqual(['LowerDir', 'MergedDir', 'UpperDir', 'WorkDir']);
        expect(d.LowerDir).toBe(lower.join(':'));
        expect(JSON.parse(JSON.stringify(d))).toEqual(d);
      }),
    );
  });
});

describe('formatChange(): docker diff lines', () => {
  it('is the kind, a space and the path; the cause is not printed', () => {
    expect(formatChange({ kind: 'C', path: '/etc' })).toBe('C /etc');
    expect(formatChange({ kind: 'D', path: '/etc/os-release', cause: 'whiteout' })).toBe('D /etc/os-release');
    expect(formatChange({ kind: 'A', path: '/a b' })).toBe('A /a b');
  });
});
