import { readFileSync, renameSync } from 'node:fs';
import { getSystemErrorMap } from 'node:util';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createSystemError, errnoInfo, isSystemError } from '../../src/sys/errors.js';

function fsError(fn: () => unknown): NodeJS.ErrnoException {
  try {
    fn();
  } catch (e) {
    return e as NodeJS.ErrnoException;
  }
  throw new Error('expected the fs call to fail');
}

describe('errors shaped like Node fs errors', () => {
  it('has the same keys, message and values as a real fs error', () => {
    const real = fsError(() => readFileSync('/nonexistent/x'));
    const ours = createSystemError({ errno: 2, syscall: 'open', path: '/nonexistent/x' });
    expect(Object.keys(ours)).toEqual(Object.keys(real));
    expect(ours.message).toBe(real.message);
    expect(ours).toBeInstanceOf(Error);
    expect(ours.name).toBe(real.name);
    for (const k of ['errno', 'code', 'syscall', 'path'] as const) expect(ours[k]).toBe(real[k]);
  });

  it("writes ` -> 'dest'` as rename does", () => {
    const real = fsError(() => renameSync('/nonexistent/a', '/nonexistent/b'));
    const ours = createSystemError({ errno: 2, syscall: 'rename', path: '/nonexistent/a', dest: '/nonexistent/b' });
    expect(ours.message).toBe(real.message);
    expect(Object.keys(ours)).toEqual(Object.keys(real));
  });

  it('matches Node for any path, property-checked against real fs errors', () => {
    fc.assert(
      fc.property(fc.string({ minLength: 1, maxLength: 40 }).filter((s) => !s.includes('\0')), (name) => {
        const path = `/nonexistent-ovl-dir/${name}`;
        const real = fsError(() => readFileSync(path));
        const ours = createSystemError({ errno: 2, syscall: 'open', path });
        expect(ours.message).toBe(real.message);
      }),
      { numRuns: 200 },
    );
  });

  it('uses the code and text of Node’s map for every errno it knows', () => {
    for (const [negErrno, [code, text]] of getSystemErrorMap()) {
      const err = createSystemError({ errno: -negErrno, syscall: 'mount' });
      expect(err.code).toBe(code);
      expect(err.errno).toBe(negErrno);
      expect(err.message).toBe(`${code}: ${text}, mount`);
    }
  });

  it('names the Linux errnos Node’s map lacks', () => {
    expect(errnoInfo(15)).toEqual(['ENOTBLK', 'block device required']);
    expect(errnoInfo(116)).toEqual(['ESTALE', 'stale file handle']);
    expect(errnoInfo(117)).toEqual(['EUCLEAN', 'structure needs cleaning']);
    expect(errnoInfo(122)).toEqual(['EDQUOT', 'disk quota exceeded']);
    const stale = createSystemError({ errno: 116, syscall: 'fsconfig', key: 'upperdir' });
    expect(stale.message).toBe('ESTALE: stale file handle, fsconfig');
    expect(stale.code).toBe('ESTALE');
  });

  it('adds context only as extra properties', () => {
    const err = createSystemError({
      errno: 22,
      syscall: 'fsconfig',
      path: '/x',
      key: 'lowerdir+',
      kernelMessages: ["e overlay: Unknown parameter 'x'"],
      step: 3,
    });
    expect(err.message).toBe("EINVAL: invalid argument, fsconfig '/x'");
    expect(err.key).toBe('lowerdir+');
    expect(err.kernelMessages).toEqual(["e overlay: Unknown parameter 'x'"]);
    expect(err.step).toBe(3);
    expect(isSystemError(err)).toBe(true);
    expect(isSystemError(new Error('x'))).toBe(false);
  });
});
