/**
 * validateSpec() and validateSpecSync() against a real filesystem: every rule that needs one
 * (existence, directories, the same directory twice, nesting, mounts) refuses with an
 * OverlaySpecError naming the field. The shape checks that need no filesystem are unit tests
 * (test/unit/spec.test.ts).
 */
import { existsSync, mkdirSync, mkdtempSync, rmSync, statSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { STATX } from '../../src/sys/constants.js';
import { OverlaySpecError } from '../../src/spec/errors.js';
import { validateSpec, validateSpecSync, validateTask } from '../../src/mount/validate.js';
import { runSync } from '../../src/sys/io.js';
import { type OverlaySpec } from '../../src/spec/types.js';
import { statxSync } from '../../src/sys/inodes.js';
import { expectProblem, problem, problemsOf } from '../helpers/spec.js';
import { tempDir, writeTree } from '../helpers/tmp.js';

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


describe('validateSpec (Promise) agrees with validateSpecSync', () => {
  it('the same problems, in the same order, for specs with filesystem problems; the same spec back when valid', async () => {
    const t = tempDir('ovl-spec-');
    writeTree(t, { 'l1/': null, 'l2/': null, 'u/': null, 'mnt/': null, file: 'x', 'l1/sub/': null });
    symlinkSync(join(t, 'l1'), join(t, 'link'));
    const at = (p: string) => join(t, p);
    const specs: OverlaySpec[] = [
      { lower: [at('l1'), at('nope'), at('l1')], upper: at('file'), work: at('w'), target: at('mnt') },
      { lower: [at('l1'), at('link')], target: at('mnt') },
      { lower: [at('l1'), at('l1/sub')], upper: at('u'), work: at('u/w'), target: at('mnt') },
      { lower: [at('l1'), at('l2')], target: at('link') },
      { lower: [at('l1'), at('l2')], upper: at('u'), work: at('a/b/w'), target: at('mnt') },
    ];
    for (const spec of specs) {
      let sync: unknown;
      try {
        validateSpecSync(spec);
        sync = spec;
      } catch (e) {
        sync = e;
      }
      const async = await validateSpec(spec).catch((e: unknown) => e);
      if (sync instanceof OverlaySpecError) {
        expect(async).toBeInstanceOf(OverlaySpecError);
        expect((async as OverlaySpecError).problems).toEqual(sync.problems);
      } else expect(async).toBe(spec);
    }
  });

  it('rejects rather than throws for bad input', () => {
    let result: unknown;
    expect(() => {
      result = validateSpec({ lower: 'nope' } as unknown as OverlaySpec);
    }).not.toThrow();
    return expect(result).rejects.toBeInstanceOf(OverlaySpecError);
  });
});
