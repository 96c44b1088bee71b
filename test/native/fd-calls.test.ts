// openat2, flock, the expectFile step, and names given as bytes: the calls the mount path uses to
// pin what it validated (a layer swapped after the check, a second process mounting the same upper).
import { execFileSync } from 'node:child_process';
import { mkdirSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { LOCK, O, RESOLVE, sys, type Step } from '../../src/index.js';
import { tempDir } from '../helpers/tmp.js';

function errorOf(fn: () => unknown): NodeJS.ErrnoException {
  try {
    fn();
  } catch (e) {
    return e as NodeJS.ErrnoException;
  }
  throw new Error('expected a throw');
}

describe('openat2', () => {
  it('RESOLVE.BENEATH refuses a path that climbs out of dirfd (EXDEV), as Node names it', () => {
    const dir = tempDir('ovl-openat2-');
    mkdirSync(join(dir, 'in'));
    using root = sys.openSync(join(dir, 'in'), O.PATH | O.DIRECTORY);
    const e = errorOf(() => sys.openat2Sync('../in', O.PATH, { dirfd: root, resolve: RESOLVE.BENEATH }));
    expect(e).toMatchObject({ code: 'EXDEV', syscall: 'openat2', path: '../in' });
    expect(e.message).toBe("EXDEV: cross-device link not permitted, openat2 '../in'");
    using ok = sys.openat2Sync('.', O.PATH | O.DIRECTORY, { dirfd: root, resolve: RESOLVE.BENEATH });
    expect(ok.kind).toBe('file');
  });

  it('RESOLVE.NO_SYMLINKS refuses a symlink anywhere in the path (ELOOP); without it the link is followed', async () => {
    const dir = tempDir('ovl-openat2-');
    mkdirSync(join(dir, 'real'));
    writeFileSync(join(dir, 'real', 'f'), 'x');
    symlinkSync('real', join(dir, 'link'));
    expect(errorOf(() => sys.openat2Sync(join(dir, 'link', 'f'), O.RDONLY, { resolve: RESOLVE.NO_SYMLINKS }))).toMatchObject({ code: 'ELOOP' });
    await expect(sys.openat2(join(dir, 'link', 'f'), O.RDONLY, { resolve: RESOLVE.NO_SYMLINKS })).rejects.toMatchObject({ code: 'ELOOP' });
    using h = await sys.openat2(join(dir, 'link', 'f'), O.RDONLY);
    expect(h.closed).toBe(false);
  });

  it('refuses an unknown resolve flag before the syscall, and the kernel refuses unknown bits (EINVAL)', () => {
    expect(errorOf(() => sys.openat2Sync('/', O.PATH, { resolve: -1 as never }))).toMatchObject({ code: 'ERR_OUT_OF_RANGE' });
    expect(errorOf(() => sys.openat2Sync('/', O.PATH, { resolve: 0x4000 as never }))).toMatchObject({ code: 'EINVAL', syscall: 'openat2' });
  });
});

describe('flock', () => {
  it('LOCK.EX | LOCK.NB fails EWOULDBLOCK (EAGAIN) while another open file holds the lock, and succeeds once it is closed', async () => {
    const dir = tempDir('ovl-flock-');
    const a = sys.openSync(dir, O.RDONLY | O.DIRECTORY);
    const b = sys.openSync(dir, O.RDONLY | O.DIRECTORY);
    sys.flockSync(a, LOCK.EX);
    expect(errorOf(() => sys.flockSync(b, LOCK.EX | LOCK.NB))).toMatchObject({ code: 'EAGAIN', syscall: 'flock' });
    await expect(sys.flock(b, LOCK.SH | LOCK.NB)).rejects.toMatchObject({ code: 'EAGAIN' });
    a.close(); // the kernel drops the lock with the last fd of the open file
    await sys.flock(b, [LOCK.EX, LOCK.NB]);
    sys.flockSync(b, LOCK.UN);
    b.close();
  });
});

describe('the kernelLog step', () => {
  it('a read that fails names read(2), as Node names a failed call (a write-only fd: EBADF)', () => {
    const dir = tempDir('ovl-records-');
    const fifo = join(dir, 'fifo');
    execFileSync('mkfifo', [fifo]);
    using r = sys.openSync(fifo, O.RDONLY | O.NONBLOCK);
    using w = sys.openSync(fifo, O.WRONLY);
    const e = errorOf(() => sys.runStepsSync([{ op: 'kernelLog', fd: w }]));
    expect(e).toMatchObject({ code: 'EBADF', syscall: 'read', step: 0 });
    expect(r.closed).toBe(false);
  });
});

describe('the expectFile step', () => {
  it('passes for the file the fd is, fails ESTALE for any other inode or device', () => {
    const dir = tempDir('ovl-expect-');
    mkdirSync(join(dir, 'a'));
    mkdirSync(join(dir, 'b'));
    const st = statSync(join(dir, 'a'), { bigint: true });
    const me = sys.statxSync(join(dir, 'a'));
    const steps = (ino: number | bigint, devMinor = me.devMinor) => [
      { op: 'open', path: join(dir, 'a'), flags: O.PATH | O.DIRECTORY },
      { op: 'expectFile', fd: 0, devMajor: me.devMajor, devMinor, ino: Number(ino) },
    ] as const;
    expect(sys.runStepsSync(steps(st.ino)).results).toEqual([undefined, undefined]);
    const other = statSync(join(dir, 'b')).ino;
    expect(errorOf(() => sys.runStepsSync(steps(other)))).toMatchObject({ code: 'ESTALE', syscall: 'statx', step: 1 });
    expect(errorOf(() => sys.runStepsSync(steps(st.ino, me.devMinor + 1)))).toMatchObject({ code: 'ESTALE', step: 1 });
  });
});

describe('the refuseFsType step', () => {
  it("fails EMEDIUMTYPE (fstatfs) when the fd is on a filesystem of the type given, passes otherwise", async () => {
    const dir = tempDir('ovl-fstype-');
    const type = sys.runStepsSync([{ op: 'statfs', path: dir }]).results[0] as number;
    const steps = (fsType: number) => [
      { op: 'open', path: dir, flags: O.PATH | O.DIRECTORY },
      { op: 'refuseFsType', fd: 0, fsType },
      { op: 'mknod', dirfd: 0, path: 'after', mode: 0o100644 },
    ] as const;
    const err = errorOf(() => sys.runStepsSync(steps(type)));
    expect(err).toMatchObject({ code: 'EMEDIUMTYPE', syscall: 'fstatfs', step: 1 });
    expect(err.message).toBe('EMEDIUMTYPE: wrong medium type, fstatfs');
    // The batch stopped there: the step after it made nothing.
    await expect(sys.runSteps(steps(type))).rejects.toMatchObject({ code: 'EMEDIUMTYPE', step: 1 });
    expect(() => statSync(join(dir, 'after'))).toThrow(expect.objectContaining({ code: 'ENOENT' }));
    // Another type (the overlay's magic, on a directory that is not on one) passes.
    expect(type).not.toBe(0x794c7630);
    expect(sys.runStepsSync(steps(0x794c7630)).results).toEqual([undefined, undefined, undefined]);
    expect(statSync(join(dir, 'after')).isFile()).toBe(true);
  });
});

describe('the fsetxattrAt and fremovexattrAt steps', () => {
  it('set and remove an xattr of the file openat2 opens, one step each; a link at the name is not followed', async () => {
    const dir = tempDir('ovl-xattrat-');
    mkdirSync(join(dir, 'd'));
    writeFileSync(join(dir, 'f'), 'x');
    symlinkSync(join(dir, 'd'), join(dir, 'link'));
    const at = (path: string, value?: string): Step[] => [
      { op: 'open', path: dir, flags: O.PATH | O.DIRECTORY },
      value === undefined
        ? { op: 'fremovexattrAt', dirfd: 0, path, flags: O.RDONLY | O.NOFOLLOW | O.NONBLOCK, resolve: RESOLVE.NO_SYMLINKS, name: 'user.t' }
        : { op: 'fsetxattrAt', dirfd: 0, path, flags: O.RDONLY | O.NOFOLLOW | O.NONBLOCK, resolve: RESOLVE.NO_SYMLINKS, name: 'user.t', value },
    ];
    expect(sys.runStepsSync(at('d', 'v')).results).toEqual([undefined, undefined]);
    await sys.runSteps(at('f', ''));
    expect(sys.getxattrSync(join(dir, 'd'), 'user.t').toString()).toBe('v');
    expect(sys.getxattrSync(join(dir, 'f'), 'user.t')).toEqual(Buffer.alloc(0));
    // A failed open names openat2, a failed write the xattr call (with the name as key).
    expect(errorOf(() => sys.runStepsSync(at('link', 'v')))).toMatchObject({ code: 'ELOOP', syscall: 'openat2', path: 'link', step: 1 });
    expect(errorOf(() => sys.runStepsSync(at('nope', 'v')))).toMatchObject({ code: 'ENOENT', syscall: 'openat2', path: 'nope' });
    sys.runStepsSync(at('d'));
    expect(errorOf(() => sys.runStepsSync(at('d')))).toMatchObject({ code: 'ENODATA', syscall: 'fremovexattr', path: 'd', key: 'user.t', step: 1 });
    expect(errorOf(() => sys.getxattrSync(join(dir, 'd'), 'user.t'))).toMatchObject({ code: 'ENODATA' });
    expect(sys.listxattrSync(join(dir, 'link'))).toEqual([]);
  });
});

describe('names as bytes', () => {
  // A name that is not UTF-8 (Latin-1 é): as a string it cannot be spelt, as a Buffer it can.
  const latin1 = Buffer.from([0x63, 0x61, 0x66, 0xe9]);

  it('a step path may be a Buffer, taken byte for byte', () => {
    const dir = tempDir('ovl-bytes-');
    const path = Buffer.concat([Buffer.from(`${dir}/`), latin1]);
    writeFileSync(path, 'x');
    const ino = statSync(path).ino;
    const r = sys.runStepsSync([{ op: 'statx', path }]);
    expect((r.results[0] as { ino: number }).ino).toBe(ino);
    // The same name as a string is another name (U+00E9 is two bytes in UTF-8).
    expect(errorOf(() => sys.runStepsSync([{ op: 'statx', path: `${dir}/café` }]))).toMatchObject({ code: 'ENOENT' });
  });

  it('a lone surrogate is refused before any syscall (it would become U+FFFD, another name); a Buffer with a NUL too', () => {
    expect(errorOf(() => sys.runStepsSync([{ op: 'statx', path: '/tmp/\uD800' }]))).toMatchObject({ code: 'ERR_INVALID_ARG_VALUE', message: expect.stringMatching(/well-formed/) });
    expect(errorOf(() => sys.statxSync('/tmp/\uDC00x'))).toMatchObject({ code: 'ERR_INVALID_ARG_VALUE' });
    expect(errorOf(() => sys.runStepsSync([{ op: 'statx', path: Buffer.from('/tmp/a\0b') }]))).toMatchObject({ code: 'ERR_INVALID_ARG_VALUE' });
    expect(errorOf(() => sys.runStepsSync([{ op: 'statx', path: 42 as never }]))).toMatchObject({ code: 'ERR_INVALID_ARG_TYPE' });
  });
});
