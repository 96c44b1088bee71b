/**
 * validateSpecSync() / checkSpecShape(): every rule refuses with an OverlaySpecError that names the
 * field. Shape rules need no filesystem; the filesystem rules use real temp dirs (no root).
 */
import { existsSync, mkdirSync, mkdtempSync, rmSync, statSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { STATX } from '../../src/sys/constants.js';
import { checkSpecShape } from '../../src/spec/shape.js';
import { MAX_LAYERS } from '../../src/spec/options.js';
import { OverlaySpecError, type SpecProblem } from '../../src/spec/errors.js';
import { validateSpecSync, validateTask } from '../../src/mount/validate.js';
import { runSync } from '../../src/sys/io.js';
import { type OverlaySpec } from '../../src/spec/types.js';
import { statxSync } from '../../src/sys/inodes.js';
import { tempDir, writeTree } from '../helpers/tmp.js';

/** The problems of the OverlaySpecError that validateSpec throws for `spec`. */
function problemsOf(spec: unknown): SpecProblem[] {
  let thrown: unknown;
  try {
    validateSpecSync(spec as OverlaySpec);
  } catch (e) {
    thrown = e;
  }
  expect(thrown).toBeInstanceOf(OverlaySpecError);
  const err = thrown as OverlaySpecError;
  expect(err.code).toBe('ERR_OVERLAY_SPEC');
  return [...err.problems];
}

const problem = (field: string, re: RegExp) => ({ field, problem: expect.stringMatching(re) as unknown as string });

/** Asserts validateSpec refuses `spec` with (at least) this field and problem. */
function expectProblem(spec: unknown, field: string, re: RegExp): SpecProblem[] {
  const problems = problemsOf(spec);
  expect(problems).toContainEqual(problem(field, re));
  return problems;
}

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

describe('validateSpec: the filesystem (real temp dirs)', () => {
  /** A temp dir with directories l1, l2, u and an empty mount point mnt. */
  function dirs() {
    const t = tempDir('ovl-spec-');
    writeTree(t, { 'l1/': null, 'l2/': null, 'u/': null, 'mnt/': null, 'file': 'x' });
    return { t, l1: join(t, 'l1'), l2: join(t, 'l2'), u: join(t, 'u'), w: join(t, 'w'), mnt: join(t, 'mnt'), file: join(t, 'file') };
  }

  it('a valid spec is returned unchanged, with the identity of each directory', () => {
    const d = dirs();
    mkdirSync(d.w);
    const spec: OverlaySpec = { lower: [d.l1, d.l2], upper: d.u, work: d.w, target: d.mnt };
    expect(validateSpecSync(spec)).toBe(spec);
    const ids = runSync(validateTask(spec)).identities;
    expect([...ids.keys()].sort()).toEqual(['lower[0]', 'lower[1]', 'target', 'upper', 'work']);
    for (const [field, path] of [['lower[0]', d.l1], ['upper', d.u], ['work', d.w]] as const) {
      expect(ids.get(field)?.ino).toBe(statSync(path).ino);
    }
  });

  it('a work dir that does not exist yet is fine, even several levels down', () => {
    const d = dirs();
    expect(() => validateSpecSync({ lower: [d.l1], upper: d.u, work: d.w, target: d.mnt })).not.toThrow();
    expect(() => validateSpecSync({ lower: [d.l1], upper: d.u, work: join(d.t, 'a', 'b', 'w'), target: d.mnt })).not.toThrow();
    expect(existsSync(d.w)).toBe(false);
  });

  it('a missing work dir is judged by its whole future path, not its name under the nearest existing dir', () => {
    // t/new/u (to be made) is neither upper t/u nor inside it; t/new/l1 is not lower t/l1.
    const d = dirs();
    expect(() => validateSpecSync({ lower: [d.l1], upper: d.u, work: join(d.t, 'new', 'u'), target: d.mnt })).not.toThrow();
    expect(() => validateSpecSync({ lower: [d.l1], upper: d.u, work: join(d.t, 'new', 'l1'), target: d.mnt })).not.toThrow();
  });

  it('a missing layer is refused by field', () => {
    const d = dirs();
    expectProblem({ lower: [d.l1, join(d.t, 'nope')], target: d.mnt }, 'lower[1]', /nope.*ENOENT/);
    expectProblem({ lower: [d.l1, d.l2], target: join(d.t, 'nomnt') }, 'target', /ENOENT/);
    expectProblem({ lower: [d.l1], upper: join(d.t, 'nou'), work: d.w, target: d.mnt }, 'upper', /ENOENT/);
  });

  it('a file where a directory belongs is refused by field', () => {
    const d = dirs();
    expectProblem({ lower: [d.file, d.l1], target: d.mnt }, 'lower[0]', /is not a directory/);
    expectProblem({ lower: [d.l1], data: [d.file], target: d.mnt }, 'data[0]', /is not a directory/);
    expectProblem({ lower: [d.l1], upper: d.file, work: d.w, target: d.mnt }, 'upper', /is not a directory/);
    expectProblem({ lower: [d.l1], upper: d.u, work: d.file, target: d.mnt }, 'work', /is not a directory/);
  });

  it('a work path below a file is refused, not left to mkdir', () => {
    const d = dirs();
    expectProblem({ lower: [d.l1], upper: d.u, work: join(d.file, 'w'), target: d.mnt }, 'work', /ENOTDIR/);
  });

  it('the same layer twice is refused on the second', () => {
    const d = dirs();
    expectProblem({ lower: [d.l1, d.l2, d.l1], target: d.mnt }, 'lower[2]', /same directory as lower\[0\]/);
    expectProblem({ lower: [d.l1, `${d.t}/./l1/`], target: d.mnt }, 'lower[1]', /same directory as lower\[0\]/);
    expectProblem({ lower: [d.l1], data: [d.l1], target: d.mnt }, 'data[0]', /same directory as lower\[0\]/);
  });

  it('the same layer twice through a symlink is refused', () => {
    const d = dirs();
    const link = join(d.t, 'link-to-l1');
    symlinkSync(d.l1, link);
    expectProblem({ lower: [d.l1, link], target: d.mnt }, 'lower[1]', /same directory as lower\[0\]/);
  });

  it("a path through a symlink and '..' is judged by the directory the kernel resolves it to", () => {
    // t/link -> t/real/deep, so t/link/../c is t/real/c for the kernel; a lexical '..' says t/c.
    const d = dirs();
    for (const p of ['real/deep', 'real/c', 'c']) mkdirSync(join(d.t, p), { recursive: true });
    symlinkSync(join(d.t, 'real', 'deep'), join(d.t, 'link'));
    const viaLink = `${d.t}/link/../c`;
    expectProblem({ lower: [join(d.t, 'real', 'c'), viaLink], target: d.mnt }, 'lower[1]', /same directory as lower\[0\]/);
    expectProblem({ lower: [join(d.t, 'real'), viaLink], target: d.mnt }, 'lower[1]', /inside lower\[0\]/);
    expect(() => validateSpecSync({ lower: [join(d.t, 'c'), viaLink], target: d.mnt })).not.toThrow();
  });

  it('a layer nested in another is refused, whichever comes first', () => {
    const d = dirs();
    const sub = join(d.l1, 'sub');
    mkdirSync(sub);
    expectProblem({ lower: [d.l1, sub], target: d.mnt }, 'lower[1]', /inside lower\[0\]/);
    expectProblem({ lower: [sub, d.l1], target: d.mnt }, 'lower[1]', /contains lower\[0\]/);
    expectProblem({ lower: [d.l1], data: [sub], target: d.mnt }, 'data[0]', /inside lower\[0\]/);
  });

  it('a sibling whose name extends another layer\'s is not nested (path components, not string prefix)', () => {
    const d = dirs();
    const l1x = join(d.t, 'l1x');
    mkdirSync(l1x);
    expect(() => validateSpecSync({ lower: [d.l1, l1x], target: d.mnt })).not.toThrow();
  });

  it('upper inside a lower is refused on upper; a lower inside upper on the lower', () => {
    const d = dirs();
    const upperInL1 = join(d.l1, 'u');
    mkdirSync(upperInL1);
    expectProblem({ lower: [d.l1], upper: upperInL1, work: d.w, target: d.mnt }, 'upper', /inside lower\[0\]/);
    const lowerInU = join(d.u, 'l');
    mkdirSync(lowerInU);
    expectProblem({ lower: [lowerInU], upper: d.u, work: d.w, target: d.mnt }, 'lower[0]', /inside upper/);
    expectProblem({ lower: [d.l1], upper: d.l1, work: d.w, target: d.mnt }, 'upper', /same directory as lower\[0\]/);
  });

  it('work inside a lower is refused, also when work does not exist yet', () => {
    const d = dirs();
    expectProblem({ lower: [d.l1], upper: d.u, work: join(d.l1, 'w'), target: d.mnt }, 'work', /inside lower\[0\]/);
    expectProblem({ lower: [d.l1], upper: d.u, work: join(d.l1, 'x', 'w'), target: d.mnt }, 'work', /inside lower\[0\]/);
  });

  it('work inside upper, upper inside work, and work = upper are refused', () => {
    const d = dirs();
    expectProblem({ lower: [d.l1], upper: d.u, work: join(d.u, 'w'), target: d.mnt }, 'work', /inside upper/);
    expectProblem({ lower: [d.l1], upper: d.u, work: join(d.u, 'not', 'yet'), target: d.mnt }, 'work', /inside upper/);
    const upperInW = join(d.t, 'w2', 'u');
    mkdirSync(upperInW, { recursive: true });
    expectProblem({ lower: [d.l1], upper: upperInW, work: join(d.t, 'w2'), target: d.mnt }, 'upper', /inside work/);
    expectProblem({ lower: [d.l1], upper: d.u, work: d.u, target: d.mnt }, 'work', /upper directory itself/);
  });

  it('work on a different mount than upper is refused (work on /dev/shm, upper under the temp dir)', (ctx) => {
    if (!existsSync('/dev/shm')) ctx.skip();
    const d = dirs();
    const shm = mkdtempSync('/dev/shm/ovl-spec-');
    try {
      // Precondition: these really are two mounts.
      const mountOf = (p: string) => statxSync(p, { mask: STATX.MNT_ID }).mountId;
      expect(mountOf(shm)).not.toBe(mountOf(d.u));
      expectProblem({ lower: [d.l1], upper: d.u, work: shm, target: d.mnt }, 'work', /different mount than upper/);
      // A work dir still to be made is judged by the mount it will be made on.
      expectProblem({ lower: [d.l1], upper: d.u, work: join(shm, 'later'), target: d.mnt }, 'work', /different mount than upper/);
    } finally {
      rmSync(shm, { recursive: true, force: true });
    }
  });

  it('reports every filesystem problem of a spec at once', () => {
    const d = dirs();
    const problems = problemsOf({ lower: [d.l1, join(d.t, 'nope'), d.l1], upper: d.file, work: d.w, target: d.mnt });
    expect(problems).toEqual(
      expect.arrayContaining([
        problem('lower[1]', /ENOENT/),
        problem('lower[2]', /same directory as lower\[0\]/),
        problem('upper', /not a directory/),
      ]),
    );
  });

  it('with a shape problem the filesystem is not consulted: only the shape problem is reported', () => {
    // A relative path would be resolved against the cwd if it reached the filesystem checks.
    const d = dirs();
    const problems = problemsOf({ lower: [d.l1, 'l2'], target: d.mnt });
    expect(problems).toEqual([problem('lower[1]', /absolute/)]);
  });
});

describe('checkSpecShape stays pure', () => {
  it('never touches the filesystem: paths that do not exist pass', () => {
    expect(checkSpecShape({ lower: ['/nonexistent/a', '/nonexistent/b'], upper: '/nonexistent/u', work: '/nonexistent/w', target: '/nonexistent/m' })).toEqual([]);
  });
});
