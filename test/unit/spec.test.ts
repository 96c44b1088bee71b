/**
 * The shape rules of a spec (checkSpecShape, and validateSpecSync() refusing before any I/O):
 * every rule refuses with an OverlaySpecError that names the field. No filesystem, no addon;
 * the filesystem rules are in test/native/validate.test.ts.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { checkSpecShape, isInitialUidMap } from '../../src/spec/shape.js';
import { MAX_LAYERS } from '../../src/spec/options.js';
import { type OverlaySpec } from '../../src/spec/types.js';
import { OverlaySpecError } from '../../src/spec/errors.js';
import { validateSpecSync } from '../../src/mount/validate.js';
import { expectProblem, problem, problemsOf } from '../helpers/spec.js';

/** A spec that passes every shape rule (its paths need not exist). */
const ro: OverlaySpec = { lower: ['/l1', '/l2'], target: '/mnt' };
const rw: OverlaySpec = { lower: ['/l1'], upper: '/u', work: '/w', target: '/mnt' };

describe('checkSpecShape: a well-formed spec has no problems', () => {
  it.each([
    ['two lowers, no upper', ro],
    ['one lower with upper and work', rw],
    ['one lower plus one data layer (2 layers)', { lower: ['/l1'], data: ['/d1'], target: '/mnt' }],
    ['every option and attribute with a valid value', {
      ...rw,
      options: {
        redirectDir: 'on', index: 'on', xino: 'auto', metacopy: 'on', uuid: 'null', verity: 'on', fsync: 'strict',
        defaultPermissions: true, overrideCreds: false, volatile: false, userxattr: false, nfsExport: 'off',
      },
      attributes: { readOnly: true, nosuid: true, nodev: true, noexec: true, atime: 'noatime', nodiratime: true, nosymfollow: true },
      source: 'my-overlay',
      strategy: 'legacy',
      allowShared: false,
      clearVolatile: true,
    }],
  ] as Array<[string, OverlaySpec]>)('%s', (_name, spec) => {
    expect(checkSpecShape(spec)).toEqual([]);
  });
});

describe('validateSpec: path fields', () => {
  const fields: Array<[string, (v: unknown) => unknown]> = [
    ['lower[1]', (v) => ({ ...ro, lower: ['/l1', v] })],
    ['data[0]', (v) => ({ ...ro, data: [v] })],
    ['upper', (v) => ({ ...rw, upper: v })],
    ['work', (v) => ({ ...rw, work: v })],
    ['target', (v) => ({ ...ro, target: v })],
  ];

  it.each(fields)('%s: a relative path is refused', (field, make) => {
    expectProblem(make('layers/a'), field, /absolute path.*'layers\/a'/);
    expectProblem(make('./a'), field, /absolute path/);
  });

  it.each(fields)('%s: a NUL byte is refused', (field, make) => {
    expectProblem(make('/a\0/b'), field, /NUL/);
  });

  it.each(fields)('%s: an empty string is refused', (field, make) => {
    expectProblem(make(''), field, /empty/);
  });

  it.each(fields)('%s: a lone surrogate is refused (it would reach the kernel as U+FFFD, another name)', (field, make) => {
    expectProblem(make('/a\uD800b'), field, /well-formed Unicode/);
    expectProblem(make('/a\uDC00'), field, /well-formed Unicode/);
    expect(checkSpecShape(make('/a\uD83D\uDE00') as OverlaySpec)).toEqual([]);
  });

  it.each(fields)('%s: a non-string is refused', (field, make) => {
    expectProblem(make(42), field, /string.*number/);
    expectProblem(make(null), field, /string/);
  });

  it('a missing target is refused', () => {
    expectProblem({ lower: ['/l1', '/l2'] }, 'target', /string.*undefined/);
  });

  it('lower must be a non-empty array; data an array', () => {
    expectProblem({ ...ro, lower: '/l1:/l2' }, 'lower', /array/);
    expectProblem({ ...ro, lower: undefined }, 'lower', /array/);
    expectProblem({ ...ro, lower: [] }, 'lower', /at least one/);
    expectProblem({ ...ro, data: '/d1' }, 'data', /array/);
  });

  it('a spec that is not an object is refused', () => {
    expectProblem(null, 'spec', /object/);
    expectProblem('lowerdir=/a:/b', 'spec', /object/);
  });
});

describe('validateSpec: keys, options, attributes', () => {
  it('an unknown spec key is refused by name', () => {
    expectProblem({ ...ro, lowerdir: '/a:/b' }, 'lowerdir', /not a spec field/);
    expectProblem({ ...ro, readOnly: true }, 'readOnly', /not a spec field/);
  });

  it('an unknown option key is refused by name, kernel spellings included', () => {
    expectProblem({ ...ro, options: { redirect_dir: 'on' } }, 'options.redirect_dir', /not an overlay option/);
    expectProblem({ ...ro, options: { ro: true } }, 'options.ro', /not an overlay option/);
  });

  it('option and attribute keys that name Object.prototype members are unknown keys, not a crash', () => {
    expectProblem({ ...ro, options: { toString: 'on' } }, 'options.toString', /not an overlay option/);
    expectProblem({ ...ro, options: { constructor: 'on' } }, 'options.constructor', /not an overlay option/);
    expectProblem({ ...ro, attributes: { hasOwnProperty: true } }, 'attributes.hasOwnProperty', /not a mount attribute/);
  });

  it.each([
    ['redirectDir', 'yes', /'on', 'follow', 'nofollow', 'off'; got 'yes'/],
    ['redirectDir', true, /got true/],
    ['index', true, /'on', 'off'; got true/],
    ['index', 'yes', /got 'yes'/],
    ['xino', 'off ', /'on', 'off', 'auto'; got 'off '/],
    ['metacopy', 1, /got 1/],
    ['nfsExport', 'ON', /got 'ON'/],
    ['userxattr', 'on', /true, false; got 'on'/],
    ['uuid', 'random', /'off', 'null', 'auto', 'on'; got 'random'/],
    ['verity', 'strict', /'off', 'on', 'require'; got 'strict'/],
    ['volatile', 'on', /true, false/],
    ['fsync', 'ordered', /'volatile', 'auto', 'strict'; got 'ordered'/],
    ['defaultPermissions', 1, /true, false; got 1/],
    ['overrideCreds', 'yes', /true, false/],
  ])('options.%s = %j is refused with the allowed values', (key, value, re) => {
    expectProblem({ ...rw, options: { [key]: value } }, `options.${key}`, re);
  });

  it.each([
    ['readOnly', 'yes', /true, false; got 'yes'/],
    ['nosuid', 1, /got 1/],
    ['nodev', 'true', /true, false/],
    ['noexec', null, /got null/],
    ['atime', 'lazytime', /'relatime', 'noatime', 'strictatime'; got 'lazytime'/],
    ['nodiratime', 'on', /true, false/],
    ['nosymfollow', 0, /got 0/],
  ])('attributes.%s = %j is refused with the allowed values', (key, value, re) => {
    expectProblem({ ...ro, attributes: { [key]: value } }, `attributes.${key}`, re);
  });

  it('an unknown attribute is refused by name', () => {
    expectProblem({ ...ro, attributes: { rdonly: true } }, 'attributes.rdonly', /not a mount attribute/);
  });

  it('options and attributes must be objects', () => {
    expectProblem({ ...ro, options: 'userxattr' }, 'options', /object/);
    expectProblem({ ...ro, attributes: 5 }, 'attributes', /object/);
  });

  it('source: a non-empty string without NUL of at most 255 bytes', () => {
    expectProblem({ ...ro, source: '' }, 'source', /non-empty/);
    expectProblem({ ...ro, source: 7 }, 'source', /string/);
    expectProblem({ ...ro, source: 'a\0b' }, 'source', /NUL/);
    expectProblem({ ...ro, source: 'x'.repeat(256) }, 'source', /255 bytes/);
    // Counted in bytes: 128 two-byte characters are 256 bytes.
    expectProblem({ ...ro, source: 'é'.repeat(128) }, 'source', /255 bytes/);
    expect(checkSpecShape({ ...ro, source: 'x'.repeat(255) })).toEqual([]);
  });

  it('strategy must be one of the three', () => {
    expectProblem({ ...ro, strategy: 'fast' }, 'strategy', /'lowerdir\+', 'fd' or 'legacy', got 'fast'/);
  });

  it.each(['allowShared', 'clearVolatile'])('%s must be a boolean', (flag) => {
    expectProblem({ ...rw, [flag]: 'yes' }, flag, /boolean/);
  });
});

describe('validateSpec: upper, work and layer counts', () => {
  it('upper without work is refused on work', () => {
    expectProblem({ lower: ['/l1'], upper: '/u', target: '/mnt' }, 'work', /required with upper/);
  });

  it('work without upper is refused on upper', () => {
    expectProblem({ lower: ['/l1', '/l2'], work: '/w', target: '/mnt' }, 'upper', /required with work/);
  });

  const layers = (n: number, prefix = '/l') => Array.from({ length: n }, (_, i) => `${prefix}${i}`);

  it(`more than ${MAX_LAYERS} layers, lower and data counted together, are refused on lower`, () => {
    expect(MAX_LAYERS).toBe(500);
    expectProblem({ lower: layers(501), target: '/mnt' }, 'lower', /501 layers.*limit is 500/);
    expectProblem({ lower: layers(400), data: layers(101, '/d'), target: '/mnt' }, 'lower', /501 layers/);
  });

  it('exactly 500 layers are fine', () => {
    expect(checkSpecShape({ lower: layers(500), target: '/mnt' })).toEqual([]);
    expect(checkSpecShape({ lower: layers(499), data: layers(1, '/d'), target: '/mnt' })).toEqual([]);
    expect(checkSpecShape({ ...rw, lower: layers(300), data: layers(200, '/d') })).toEqual([]);
  });

  it('a read-only overlay (no upper) with fewer than 2 layers is refused on lower', () => {
    expectProblem({ lower: ['/l1'], target: '/mnt' }, 'lower', /no upper.*at least 2 layers/);
    // With an upper one lower is enough; without one, a data layer counts as the second.
    expect(checkSpecShape({ ...rw, lower: ['/l1'] })).toEqual([]);
    expect(checkSpecShape({ lower: ['/l1'], data: ['/d1'], target: '/mnt' })).toEqual([]);
  });
});

describe('validateSpec: option conflicts the kernel refuses (ovl_fs_params_verify)', () => {
  const withOptions = (options: object, base: OverlaySpec = rw) => ({ ...base, options });

  it.each(['follow', 'nofollow', 'off'])('metacopy=on with redirectDir %s', (redirectDir) => {
    expectProblem(withOptions({ metacopy: 'on', redirectDir }), 'options.metacopy', new RegExp(`redirect_dir=on.*'${redirectDir}'`));
  });

  it('metacopy=on with redirectDir on, or unset, is fine', () => {
    expect(checkSpecShape(withOptions({ metacopy: 'on', redirectDir: 'on' }))).toEqual([]);
    expect(checkSpecShape(withOptions({ metacopy: 'on' }))).toEqual([]);
  });

  it('without an upper the kernel treats follow as on, so metacopy=on with follow is fine; nofollow still conflicts', () => {
    expect(checkSpecShape(withOptions({ metacopy: 'on', redirectDir: 'follow' }, ro))).toEqual([]);
    expectProblem(withOptions({ metacopy: 'on', redirectDir: 'nofollow' }, ro), 'options.metacopy', /redirect_dir=on/);
  });

  it('nfsExport=on with index=off', () => {
    expectProblem(withOptions({ nfsExport: 'on', index: 'off' }), 'options.nfsExport', /index=on.*'off'/);
  });

  it('nfsExport=on with metacopy=on', () => {
    expectProblem(withOptions({ nfsExport: 'on', metacopy: 'on' }), 'options.nfsExport', /metacopy=on/);
  });

  it('without an upper, nfs_export is dropped unless redirect_dir=nofollow, so it conflicts with nothing', () => {
    // The kernel forces index off without an upper before it looks at nfs_export: an explicit
    // index=on changes nothing.
    for (const options of [
      { nfsExport: 'on', index: 'off' },
      { nfsExport: 'on', metacopy: 'on' },
      { nfsExport: 'on', index: 'on', metacopy: 'on' },
      { nfsExport: 'on', index: 'off', redirectDir: 'on' },
    ]) {
      expect(checkSpecShape(withOptions(options, ro)), JSON.stringify(options)).toEqual([]);
    }
    expectProblem(withOptions({ nfsExport: 'on', index: 'off', redirectDir: 'nofollow' }, ro), 'options.nfsExport', /index/);
  });

  it.each(['on', 'follow', 'off'])('userxattr with redirectDir %s', (redirectDir) => {
    expectProblem(withOptions({ userxattr: true, redirectDir }), 'options.userxattr', new RegExp(`only redirectDir 'nofollow', got '${redirectDir}'`));
  });

  it('userxattr with redirectDir nofollow is fine', () => {
    expect(checkSpecShape(withOptions({ userxattr: true, redirectDir: 'nofollow' }))).toEqual([]);
  });

  it('userxattr with metacopy=on', () => {
    expectProblem(withOptions({ userxattr: true, metacopy: 'on' }), 'options.userxattr', /metacopy=on/);
  });

  it('volatile with fsync strict or auto (volatile is fsync=volatile)', () => {
    expectProblem(withOptions({ volatile: true, fsync: 'strict' }), 'options.volatile', /fsync is 'strict'/);
    expectProblem(withOptions({ volatile: true, fsync: 'auto' }), 'options.volatile', /fsync is 'auto'/);
    expect(checkSpecShape(withOptions({ volatile: true, fsync: 'volatile' }))).toEqual([]);
    expect(checkSpecShape(withOptions({ volatile: false, fsync: 'strict' }))).toEqual([]);
  });
});

describe('validateSpec: every problem at once', () => {
  it('reports each problem of a spec, in one error whose message lists them', () => {
    let err: unknown;
    try {
      validateSpecSync({
        lower: ['relative', '/ok'],
        upper: '/u',
        target: '/mnt',
        options: { redirectDir: 'yes', metacopy: 'on', userxattr: true },
        extra: 1,
      } as unknown as OverlaySpec);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(OverlaySpecError);
    const { problems, message } = err as OverlaySpecError;
    expect(problems).toEqual(
      expect.arrayContaining([
        problem('extra', /not a spec field/),
        problem('lower[0]', /absolute/),
        problem('work', /required with upper/),
        problem('options.redirectDir', /got 'yes'/),
        problem('options.userxattr', /metacopy/),
      ]),
    );
    expect(problems.length).toBeGreaterThanOrEqual(5);
    expect(message).toMatch(new RegExp(`^invalid overlay spec \\(${problems.length} problems\\):\\n`));
    for (const p of problems) expect(message).toContain(`\n  ${p.field}: ${p.problem}`);
  });

  it('a single problem reads as one line naming the field', () => {
    const err = (() => {
      try {
        validateSpecSync({ ...ro, lower: ['/l1', 'l2'] });
      } catch (e) {
        return e as OverlaySpecError;
      }
      throw new Error('expected an OverlaySpecError');
    })();
    expect(err.message).toBe("invalid overlay spec: lower[1]: must be an absolute path, got 'l2'");
    expect(err.name).toBe('OverlaySpecError');
  });
});

describe('checkSpecShape stays pure', () => {
  it('never touches the filesystem: paths that do not exist pass', () => {
    expect(checkSpecShape({ lower: ['/nonexistent/a', '/nonexistent/b'], upper: '/nonexistent/u', work: '/nonexistent/w', target: '/nonexistent/m' })).toEqual([]);
  });
});

describe('idmap', () => {
  it("the initial user namespace's uid_map is the identity of every uid, however the kernel pads it", () => {
    expect(isInitialUidMap('         0          0 4294967295\n')).toBe(true);
    expect(isInitialUidMap('0 0 4294967295')).toBe(true);
    expect(isInitialUidMap('         0      12345          1\n')).toBe(false);
    expect(isInitialUidMap('         0          0 4294967294\n')).toBe(false);
    expect(isInitialUidMap('0 0 1000\n1000 1000 4294966295\n')).toBe(false);
  });

  const withMap = (idmap: unknown, more: Partial<OverlaySpec> = {}) => checkSpecShape({ ...ro, ...more, idmap } as OverlaySpec);
  const R = (inside: number, outside: number, count: number) => ({ inside, outside, count });
  const P = (field: string, text: string) => ({ field, problem: text });

  it('takes uid ranges (gid defaulting to them), separate gid ranges, a user namespace fd or handle, or a pid', () => {
    expect(withMap({ uid: [R(0, 100000, 65536)] })).toEqual([]);
    expect(withMap({ uid: [R(0, 100000, 1), R(1, 200001, 65535)], gid: [R(0, 300000, 65536)] })).toEqual([]);
    expect(withMap({ userns: 7 })).toEqual([]);
    expect(withMap({ userns: { fd: 7, closed: false } })).toEqual([]);
    expect(withMap({ pid: 1 })).toEqual([]);
  });

  it('refuses, by field, what the kernel would refuse with EINVAL, and shapes it cannot take', () => {
    expect(withMap(null)).toEqual([P('idmap', 'must be an object: { uid, gid } ranges, { userns } or { pid }')]);
    expect(withMap({})).toEqual([P('idmap', 'must have exactly one of uid (with gid), userns or pid; got none')]);
    expect(withMap({ uid: [R(0, 1, 1)], pid: 3 })).toEqual([P('idmap', 'must have exactly one of uid (with gid), userns or pid; got uid, pid')]);
    expect(withMap({ uid: [] })).toEqual([P('idmap.uid', 'must be a non-empty array of { inside, outside, count } ranges')]);
    expect(withMap({ uid: [R(0, 100000, 0)] })).toEqual([P('idmap.uid[0].count', 'must be at least 1, got 0')]);
    expect(withMap({ uid: [R(-1, 100000, 1)] })).toEqual([P('idmap.uid[0].inside', 'must be an id from 0 to 4294967295, got -1')]);
    expect(withMap({ uid: [R(0, 4294967290, 10)] })).toEqual([P('idmap.uid[0].count', 'runs past the last id (4294967294)')]);
    // first + count = 2^32 - 1 is the kernel's limit; one more is refused (it says EINVAL).
    expect(withMap({ uid: [R(1, 0, 4294967294)] })).toEqual([]);
    expect(withMap({ uid: [R(1, 0, 4294967295)] })).toEqual([P('idmap.uid[0].count', 'runs past the last id (4294967294)')]);
    // Every overlap named, a range inside a long earlier one too.
    expect(withMap({ uid: [R(0, 1000, 100), R(10, 2000, 5), R(50, 3000, 5)] })).toEqual([
      P('idmap.uid[1]', 'overlaps idmap.uid[0] inside (ids 10…14)'),
      P('idmap.uid[2]', 'overlaps idmap.uid[0] inside (ids 50…54)'),
    ]);
    expect(withMap({ uid: [R(0, 100000, 10), R(20, 100005, 10)] })).toEqual([P('idmap.uid[1]', 'overlaps idmap.uid[0] outside (ids 100005…100009)')]);
    expect(withMap({ uid: Array.from({ length: 341 }, (_, i) => R(i, 100000 + i, 1)) })).toEqual([P('idmap.uid', 'has 341 ranges; the kernel takes at most 340')]);
    expect(withMap({ uid: [R(0, 1, 1)], extra: 1 })).toEqual([P('idmap.extra', 'is not an idmap field (uid, gid)')]);
    expect(withMap({ userns: { fd: 3, closed: true } })).toEqual([P('idmap.userns', 'must be an open fd handle of a user namespace, or an fd number')]);
    expect(withMap({ pid: 0 })).toEqual([P('idmap.pid', 'must be a process id (a positive integer), got 0')]);
    expect(withMap({ uid: [R(0, 100000, 65536)] }, { strategy: 'legacy' })).toEqual([
      P('strategy', "'legacy' cannot mount idmapped layers: they go to the kernel as idmapped clones by fd ('fd', the default where the kernel has it)"),
    ]);
  });

  it('property: ranges laid end to end pass; any range moved onto another one is refused, naming both', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 1, max: 1000 }), { minLength: 2, maxLength: 20 }), fc.nat(), fc.nat(), (counts, a, b) => {
        let inside = 0;
        const ranges = counts.map((count) => {
          const r = R(inside, 100000 + inside, count);
          inside += count;
          return r;
        });
        expect(withMap({ uid: ranges })).toEqual([]);
        const i = a % ranges.length;
        const j = b % ranges.length;
        if (i === j) return;
        const moved = ranges.map((r, k) => (k === i ? { ...r, inside: ranges[j]!.inside, count: 1 } : r));
        const problems = withMap({ uid: moved });
        expect(problems).toHaveLength(1);
        expect(problems[0]!.field).toBe(`idmap.uid[${Math.max(i, j)}]`);
        expect(problems[0]!.problem).toContain(`overlaps idmap.uid[${Math.min(i, j)}] inside`);
      }),
    );
  });
});
