import { spawnSync } from 'node:child_process';
import { existsSync, openSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { native } from '../../src/binding.js';
import { O, S, sys } from '../../src/index.js';
import type { FdHandle } from '../../src/index.js';
import { tempDir } from '../helpers/tmp.js';

// Every call into the addon is recorded, so "refused before any syscall" means "refused before
// the addon was called at all".
const calls = vi.hoisted(() => [] as string[]);
vi.mock('../../src/binding.js', async (importOriginal) => {
  const mod = await importOriginal<typeof import('../../src/binding.js')>();
  const spied = new Proxy(mod.native, {
    get(target, key, receiver) {
      const value: unknown = Reflect.get(target, key, receiver);
      if (typeof key !== 'string' || typeof value !== 'function' || !/^[a-z]/.test(key)) return value;
      return (...args: unknown[]) => {
        calls.push(key);
        return (value as (...a: unknown[]) => unknown).apply(target, args);
      };
    },
  });
  return { ...mod, native: spied };
});

const VALUE = { type: TypeError, code: 'ERR_INVALID_ARG_VALUE' } as const;
const TYPE = { type: TypeError, code: 'ERR_INVALID_ARG_TYPE' } as const;
const RANGE = { type: RangeError, code: 'ERR_OUT_OF_RANGE' } as const;
type Want = typeof VALUE | typeof TYPE | typeof RANGE;

// Paths under a directory that does not exist: were a check missing, the syscall would fail
// with ENOENT instead of touching anything.
const NX = '/nonexistent-ovl-args';

// Made at collection time: the test names below show them.
const closed = sys.adoptFd(openSync('/dev/null', 'r'));
closed.close();
const open = sys.adoptFd(openSync('/dev/null', 'r'));
afterAll(() => open.close());
// fs-context handles by kind (over /dev/null: a check that let one through reads nothing).
const closedFs = sys.adoptFd(openSync('/dev/null', 'r'), 'fs');
closedFs.close();
const openFs = sys.adoptFd(openSync('/dev/null', 'r'), 'fs');
afterAll(() => openFs.close());

// Objects that pass `instanceof FdHandle` but wrap no native handle.
const forged = (): object => Object.create(native.FdHandle.prototype as object) as object;
const proxied = (): object => new Proxy(open, {});

function show(args: unknown[]): string {
  const name = (v: unknown): unknown =>
    v === closed ? '<closed handle>' : v === open ? '<handle>' : v === closedFs ? '<closed fs handle>' : v === openFs ? '<fs handle>' : v instanceof native.FdHandle ? '<not a handle>' : v;
  return args.map((a) => JSON.stringify(a, (_, v: unknown) => name(v)) ?? String(a)).join(', ');
}

type Case = [fn: string, args: () => unknown[], want: Want];
const cases: Case[] = [
  ['mount', () => [null, `${NX}/m\0x`, 'tmpfs', 0, null], VALUE],
  ['mount', () => [`src\0`, `${NX}/m`, 'tmpfs'], VALUE],
  ['mount', () => [null, `${NX}/m`, 'tmp\0fs'], VALUE],
  ['mount', () => [null, `${NX}/m`, 'tmpfs', 0, 'size=1\0,nr_inodes=2'], VALUE],
  ['mount', () => [null, 42, 'tmpfs'], TYPE],
  ['mount', () => [{}, `${NX}/m`, 'tmpfs'], TYPE],
  ['mount', () => [null, `${NX}/m`, 'tmpfs', '0'], TYPE],
  ['mount', () => [null, `${NX}/m`, 'tmpfs', -1], RANGE],
  ['mount', () => [null, `${NX}/m`, 'tmpfs', 1.5], RANGE],
  ['mount', () => [null, `${NX}/m`, 'tmpfs', 2 ** 32], RANGE],
  ['umount2', () => [`${NX}\0/x`], VALUE],
  ['umount2', () => [undefined], TYPE],
  ['umount2', () => [Buffer.from(`${NX}/x`)], TYPE],
  ['umount2', () => [`${NX}/x`, -1], RANGE],
  ['umount2', () => [`${NX}/x`, 0.5], RANGE],
  ['umount2', () => [`${NX}/x`, NaN], RANGE],
  ['statx', () => [`${NX}/a\0b`], VALUE],
  ['statx', () => [1], TYPE],
  ['statx', () => [`${NX}/x`, { dirfd: closed }], VALUE],
  ['statx', () => [`${NX}/x`, { dirfd: '3' }], TYPE],
  ['statx', () => [`${NX}/x`, { dirfd: {} }], TYPE],
  ['statx', () => [`${NX}/x`, { dirfd: { fd: 0 } }], TYPE],
  ['statx', () => [`${NX}/x`, { dirfd: forged() }], TYPE],
  ['statx', () => [`${NX}/x`, { dirfd: proxied() }], TYPE],
  ['statx', () => [`${NX}/x`, { dirfd: -1 }], RANGE],
  // AT_FDCWD as a number: the API spells it null.
  ['statx', () => [`${NX}/x`, { dirfd: -100 }], RANGE],
  ['statx', () => [`${NX}/x`, { dirfd: 1.5 }], RANGE],
  ['statx', () => [`${NX}/x`, { dirfd: 2 ** 31 }], RANGE],
  ['statx', () => [`${NX}/x`, { flags: -1 }], RANGE],
  ['statx', () => [`${NX}/x`, { mask: 0.5 }], RANGE],
  ['getxattr', () => [`${NX}/x`, 'user.a\0b'], VALUE],
  ['getxattr', () => [`${NX}/\0x`, 'user.a'], VALUE],
  ['getxattr', () => [`${NX}/x`, 7], TYPE],
  ['getxattr', () => [null, 'user.a'], TYPE],
  ['getxattr', () => [`${NX}/x`, 'user.a', { follow: 'yes' }], TYPE],
  ['setxattr', () => [`${NX}/x`, 'user.a\0b', 'v'], VALUE],
  ['setxattr', () => [`${NX}/x`, 'user.a', 42], TYPE],
  ['setxattr', () => [`${NX}/x`, 'user.a', 'v', { follow: 1 }], TYPE],
  ['setxattr', () => [`${NX}/x`, 'user.a', 'v', { flags: -1 }], RANGE],
  ['setxattr', () => [`${NX}/x`, 'user.a', 'v', { flags: 1.5 }], RANGE],
  ['mknod', () => [`${NX}/a\0b`, S.IFCHR, 0, 0], VALUE],
  ['mknod', () => [`${NX}/x`, S.IFCHR, 0, 0, { dirfd: closed }], VALUE],
  ['mknod', () => [5, S.IFCHR, 0, 0], TYPE],
  ['mknod', () => [`${NX}/x`, S.IFCHR, '0', 0], TYPE],
  ['mknod', () => [`${NX}/x`, -1, 0, 0], RANGE],
  ['mknod', () => [`${NX}/x`, S.IFCHR, 0x1000, 0], RANGE],
  ['mknod', () => [`${NX}/x`, S.IFCHR, 0, 1.5], RANGE],
  ['fsconfigSetString', () => [closedFs, 'source', 'v'], VALUE],
  ['fsconfigSetString', () => [openFs, 'sou\0rce', 'v'], VALUE],
  ['fsconfigSetString', () => [openFs, 'source', 'v\0w'], VALUE],
  ['fsconfigSetString', () => ['3', 'source', 'v'], TYPE],
  ['fsconfigSetString', () => [{}, 'source', 'v'], TYPE],
  ['fsconfigSetString', () => [forged(), 'source', 'v'], TYPE],
  ['fsconfigSetString', () => [null, 'source', 'v'], TYPE],
  ['fsconfigSetString', () => [openFs, 'source', 5], TYPE],
  // Only fs-context handles: a failed fsconfig reads the context's log from its fd, and read(2)
  // on a raw number or a file handle would eat that file's data.
  ['fsconfigSetString', () => [0, 'source', 'v'], TYPE],
  ['fsconfigSetString', () => [open, 'source', 'v'], TYPE],
  ['fsmount', () => [open], TYPE],
  ['fsReadLog', () => [open], TYPE],
  ['moveMount', () => [null, `${NX}/a\0`, null, `${NX}/b`], VALUE],
  ['moveMount', () => [null, `${NX}/a`, closed, 'b'], VALUE],
  ['moveMount', () => [null, `${NX}/a`, null, 7], TYPE],
  ['moveMount', () => ['0', `${NX}/a`, null, `${NX}/b`], TYPE],
  ['moveMount', () => [-1, '', null, `${NX}/b`], RANGE],
  ['moveMount', () => [null, `${NX}/a`, 2.5, 'b'], RANGE],
  ['moveMount', () => [null, `${NX}/a`, null, `${NX}/b`, 1.5], RANGE],
  ['runSteps', () => ['fsopen'], TYPE],
  ['runSteps', () => [[null]], TYPE],
  ['runSteps', () => [[{ op: 5 }]], TYPE],
  ['runSteps', () => [[{ op: 'fsopne', fsname: 'overlay' }]], VALUE],
  ['runSteps', () => [[{ op: 'fsopen', fsname: 'over\0lay' }]], VALUE],
  ['runSteps', () => [[{ op: 'fsopen', fsname: 7 }]], TYPE],
  ['runSteps', () => [[{ op: 'fsopen', fsname: 'overlay', flags: -1 }]], RANGE],
  ['runSteps', () => [[{ op: 'mount_setattr', path: `${NX}/x`, attrSet: 0.5 }]], RANGE],
  ['runSteps', () => [[{ op: 'fsopen', fsname: 'overlay' }, { op: 'fsconfig', fs: 0, cmd: 1.5 }]], RANGE],
  ['runSteps', () => [[{ op: 'fsopen', fsname: 'overlay' }, { op: 'fsconfig', fs: 0, cmd: 1, key: 'source' }]], TYPE],
  ['runSteps', () => [[{ op: 'fsopen', fsname: 'overlay' }, { op: 'fsconfig', fs: 0, cmd: 2, key: 'k', value: 5 }]], TYPE],
  // An fd reference to a later step, to the step itself, and to no step.
  [
    'runSteps',
    () => [[{ op: 'fsopen', fsname: 'overlay' }, { op: 'fsmount', fs: 2 }, { op: 'fsopen', fsname: 'overlay' }]],
    VALUE,
  ],
  ['runSteps', () => [[{ op: 'fsopen', fsname: 'overlay' }, { op: 'fsmount', fs: 1 }]], VALUE],
  ['runSteps', () => [[{ op: 'fsopen', fsname: 'overlay' }, { op: 'fsmount', fs: -1 }]], VALUE],
  ['runSteps', () => [[{ op: 'fsopen', fsname: 'overlay' }, { op: 'fsmount', fs: 0.5 }]], VALUE],
  ['runSteps', () => [[{ op: 'fsopen', fsname: 'overlay' }, { op: 'fsmount', fs: '0' }]], VALUE],
  ['runSteps', () => [[{ op: 'fsconfig', fs: closed, cmd: 6 }]], VALUE],
  ['runSteps', () => [[{ op: 'fsconfig', fs: forged(), cmd: 6 }]], VALUE],
  ['open', () => [`${NX}/a\0`, O.RDONLY], VALUE],
  ['open', () => [`${NX}/a`, O.RDONLY, 0o10000], RANGE],
];

type AnyFn = (...args: unknown[]) => unknown;
const api = sys as unknown as Record<string, AnyFn>;

function label([fn, args, want]: Case): string {
  return `${fn}(${show(args())}) -> ${want.code}`;
}

function thrown(fn: () => unknown): unknown {
  try {
    fn();
  } catch (e) {
    return e;
  }
  throw new Error('expected a throw');
}

describe('arguments are refused in TypeScript, with Node’s codes, before any syscall', () => {
  it.each(cases.map((c) => [label(c), c] as const))('%s', (_, [fn, args, want]) => {
    calls.length = 0;
    const err = thrown(() => api[`${fn}Sync`]!(...args()));
    expect(err).toBeInstanceOf(want.type);
    expect((err as { code?: unknown }).code).toBe(want.code);
    expect(calls).toEqual([]);
  });

  it.each(cases.map((c) => [label(c), c] as const))('noZalgo: %s rejects, never throws', async (_, [fn, args, want]) => {
    calls.length = 0;
    let result: unknown;
    expect(() => {
      result = api[fn]!(...args());
    }).not.toThrow();
    expect(result).toBeInstanceOf(Promise);
    const err: unknown = await (result as Promise<unknown>).then(
      () => new Error('resolved'),
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(want.type);
    expect((err as { code?: unknown }).code).toBe(want.code);
    expect(calls).toEqual([]);
  });

  it('adoptFd refuses a bad fd', () => {
    calls.length = 0;
    for (const [v, want] of [
      [-1, RANGE],
      [1.5, RANGE],
      ['1', TYPE],
      [null, TYPE],
    ] as const) {
      const err = thrown(() => sys.adoptFd(v as number));
      expect(err).toBeInstanceOf(want.type);
      expect((err as { code?: unknown }).code).toBe(want.code);
    }
    expect(calls).toEqual([]);
  });

  it('the checks do not refuse good arguments (the spy sees the call)', () => {
    calls.length = 0;
    expect(sys.statxSync('/').mode & S.IFMT).toBe(S.IFDIR);
    expect(calls).toEqual(['statxSync']);
  });

  it('a flag word TypeScript accepts is not refused by the addon (open flags are unsigned)', () => {
    // open(2) ignores unknown bits, so bit 31 is harmless, and TS allows any u32.
    const h = sys.openSync('/dev/null', O.RDONLY + 0x80000000); // not |: that gives a negative int32
    expect(h.kind).toBe('file');
    h.close();
  });

  it('a string FSCONFIG_SET_BINARY value in a step is converted, not refused by the addon', () => {
    // fsopen of a filesystem that does not exist fails in step 0, after the checks passed.
    const err = thrown(() =>
      sys.runStepsSync([
        { op: 'fsopen', fsname: 'no-such-fs-ovl' },
        { op: 'fsconfig', fs: 0, cmd: 2, key: 'k', value: 'text' as unknown as Buffer },
      ]),
    );
    expect(err).toMatchObject({ code: 'ENODEV', syscall: 'fsopen', step: 0 });
  });
});

// The addon's own guards: a direct call to the raw binding with bad arguments throws a
// TypeError or RangeError and never reaches the kernel (or crashes).
describe('raw binding backstop', () => {
  type Raw = [fn: string, args: () => unknown[], want: typeof TypeError | typeof RangeError];
  const raw: Raw[] = [
    ['umount2', () => [`${NX}\0/x`, 0], TypeError],
    ['umount2', () => [1, 0], TypeError],
    ['umount2', () => [`${NX}/x`], TypeError],
    ['umount2', () => [`${NX}/x`, -1], RangeError],
    ['umount2', () => [`${NX}/x`, 1.5], RangeError],
    ['mount', () => [null, `${NX}/m\0`, 'tmpfs', 0, null], TypeError],
    ['mount', () => [null, `${NX}/m`, 'tmpfs', 2 ** 32, null], RangeError],
    ['mount', () => [null, `${NX}/m`, 'tmpfs', 0, 5], TypeError],
    ['statx', () => [-1, '/', 0, 0x7ff], RangeError],
    ['statx', () => [-100, '/', 0, 0x7ff], RangeError],
    ['statx', () => [1.5, '/', 0, 0x7ff], RangeError],
    ['statx', () => [NaN, '/', 0, 0x7ff], RangeError],
    ['statx', () => [Infinity, '/', 0, 0x7ff], RangeError],
    ['statx', () => [2 ** 31, '/', 0, 0x7ff], RangeError],
    ['statx', () => [-(2 ** 64), '/', 0, 0x7ff], RangeError],
    ['statx', () => ['3', '/', 0, 0x7ff], TypeError],
    ['statx', () => [{}, '/', 0, 0x7ff], TypeError],
    ['statx', () => [{ fd: 0 }, '/', 0, 0x7ff], TypeError],
    ['statx', () => [closed, '/', 0, 0x7ff], TypeError],
    ['statx', () => [forged(), '/', 0, 0x7ff], TypeError],
    ['statx', () => [proxied(), '/', 0, 0x7ff], TypeError],
    ['statx', () => [null, '/a\0b', 0, 0x7ff], TypeError],
    ['statx', () => [null, '/', 0, -1], RangeError],
    ['fgetxattr', () => [-1, 'user.x'], RangeError],
    ['fgetxattr', () => [closed, 'user.x'], TypeError],
    ['fgetxattr', () => [forged(), 'user.x'], TypeError],
    ['fgetxattr', () => [0, 'user.\0x'], TypeError],
    ['getxattr', () => ['/', 'user.x', 'no'], TypeError],
    ['getxattr', () => ['/', 'user.x'], TypeError],
    ['setxattr', () => ['/', 'user.x', 'text', 0, false], TypeError],
    ['setxattr', () => ['/', 'user.x', Buffer.from('v'), -1, false], RangeError],
    ['fsconfigSetString', () => [-1, 'k', 'v'], RangeError],
    ['fsconfigSetString', () => [closed, 'k', 'v'], TypeError],
    ['fsconfigSetString', () => [{}, 'k', 'v'], TypeError],
    ['fsconfigSetString', () => [0, 'k', 'v\0'], TypeError],
    ['fsconfigSetString', () => [0, 'k'], TypeError],
    ['moveMount', () => [-1, '', null, NX, 0], RangeError],
    ['moveMount', () => [null, 'a\0', null, NX, 0], TypeError],
    ['moveMount', () => [null, `${NX}/a`, forged(), 'b', 0], TypeError],
    ['mknod', () => [-5, 'x', S.IFCHR, 0, 0], RangeError],
    ['mknod', () => [null, `${NX}/x`, S.IFCHR, 0.5, 0], RangeError],
    ['runSteps', () => ['x'], TypeError],
    ['runSteps', () => [[7]], TypeError],
    ['runSteps', () => [[{ op: 'nope' }]], TypeError],
    ['runSteps', () => [[{ op: 'fsopen', fsname: 'a\0' }]], TypeError],
    ['runSteps', () => [[{ op: 'fsopen', fsname: 'overlay', flags: -1 }]], TypeError],
    ['runSteps', () => [[{ op: 'fsopen', fsname: 'overlay' }, { op: 'fsmount', fs: 1 }]], TypeError],
    ['runSteps', () => [[{ op: 'fsopen', fsname: 'overlay' }, { op: 'fsmount', fs: 5 }]], TypeError],
    // Out-of-range step indexes must be refused before any double -> size_t conversion (UB).
    ['runSteps', () => [[{ op: 'fsopen', fsname: 'overlay' }, { op: 'fsmount', fs: -1 }]], TypeError],
    ['runSteps', () => [[{ op: 'fsopen', fsname: 'overlay' }, { op: 'fsmount', fs: 1e300 }]], TypeError],
    ['runSteps', () => [[{ op: 'fsopen', fsname: 'overlay' }, { op: 'fsmount', fs: NaN }]], TypeError],
    ['runSteps', () => [[{ op: 'fsopen', fsname: 'overlay' }, { op: 'fsmount', fs: closed }]], TypeError],
    ['runSteps', () => [[{ op: 'statx', path: '/' }, { op: 'close', fd: 0 }]], TypeError],
    ['runSteps', () => [[{ op: 'fsopen', fsname: 'overlay' }, { op: 'close', fd: 0 }, { op: 'fsmount', fs: 0 }]], TypeError],
    ['runSteps', () => [[{ op: 'fsopen', fsname: 'overlay' }, { op: 'fsconfig', fs: 0, cmd: 99 }]], TypeError],
    ['runSteps', () => [[{ op: 'fsopen', fsname: 'overlay' }, { op: 'fsconfig', fs: 0, cmd: 2, key: 'k', value: 'v' }]], TypeError],
    ['open', () => [`${NX}/x`, -1, 0], RangeError],
    ['open', () => [`${NX}/x`, 0, -1], RangeError],
    ['adoptFd', () => [-1], RangeError],
    ['adoptFd', () => ['1'], TypeError],
  ];

  function rawLabel([fn, args, want]: Raw): string {
    return `${fn}(${show(args())}) -> ${want.name}`;
  }
  const nativeFns = native as unknown as Record<string, AnyFn>;

  it.each(raw.map((c) => [rawLabel(c), c] as const))('%s', async (_, [fn, args, want]) => {
    const sync = fn === 'adoptFd' ? fn : `${fn}Sync`;
    const err = thrown(() => nativeFns[sync]!(...args()));
    expect(err).toBeInstanceOf(want);
    expect(err).not.toHaveProperty('errno');
    if (fn === 'adoptFd') return;
    // The Promise form checks on the JS thread too: it throws (raw layer) or rejects, never queues.
    let asyncErr: unknown;
    try {
      await nativeFns[fn]!(...args());
      asyncErr = new Error('resolved');
    } catch (e) {
      asyncErr = e;
    }
    expect(asyncErr).toBeInstanceOf(want);
  });

  it('a NUL byte never reaches mknod or setxattr (nothing is created under the cut-short name)', () => {
    const dir = tempDir();
    const file = join(dir, 'f');
    writeFileSync(file, '');
    expect(() => native.mknodSync(null, join(dir, 'a\0b'), S.IFREG | 0o600, 0, 0)).toThrow(TypeError);
    expect(existsSync(join(dir, 'a'))).toBe(false);
    expect(() => native.setxattrSync(file, 'user.a\0b', Buffer.from('v'), 0, false)).toThrow(TypeError);
    expect(native.listxattrSync(file, false)).toEqual([]);
    // The same calls without the NUL do land, so the checks above could have seen a result.
    native.mknodSync(null, join(dir, 'a'), S.IFREG | 0o600, 0, 0);
    native.setxattrSync(file, 'user.a', Buffer.from('v'), 0, false);
    expect(existsSync(join(dir, 'a'))).toBe(true);
    expect(native.listxattrSync(file, false)).toEqual(['user.a']);
  });

  it('FdHandle refuses bad construction and methods on foreign objects, without crashing', () => {
    const Ctor = native.FdHandle as unknown as new (...args: unknown[]) => FdHandle;
    expect(() => new Ctor(-1, 'file')).toThrow(RangeError);
    expect(() => new Ctor('x', 'file')).toThrow(TypeError);
    expect(() => new Ctor(0)).toThrow(TypeError);
    expect(() => (Ctor as unknown as AnyFn)(0, 'file')).toThrow(TypeError);
    const proto = native.FdHandle.prototype as FdHandle;
    const getter = (k: string) => Object.getOwnPropertyDescriptor(proto, k)!.get!;
    for (const k of ['fd', 'kind', 'closed']) {
      expect(() => getter(k).call({})).toThrow();
      expect(() => getter(k).call(proto)).toThrow();
    }
    expect(() => proto.close.call({} as FdHandle)).toThrow();
    expect(() => proto.close.call(forged() as FdHandle)).toThrow();
  });
});

describe('an fd that is not an fs context', () => {
  // fsReadLog, and every failing fsconfig/fsmount (which drains the log into the error), read
  // whatever fd they were given until the kernel says the log is empty. On /dev/zero that was
  // forever, on an empty pipe a read that never returns; a child process keeps a hang from
  // hanging the runner.
  it('is neither read forever nor blocked on', () => {
    const fifo = join(tempDir(), 'fifo');
    native.mknodSync(null, fifo, 0o010000 /* S_IFIFO */ | 0o600, 0, 0);
    const fixture = fileURLToPath(new URL('./fixtures/drain-wrong-fd.mjs', import.meta.url));
    const r = spawnSync(process.execPath, [fixture, fifo], { encoding: 'utf8', timeout: 30_000 });
    expect(r.signal, `the child hung: ${r.stderr}`).toBe(null);
    expect(r.status, r.stderr).toBe(0);
    // (The child uses the raw binding: errors carry errno, not code.)
    const out = JSON.parse(r.stdout) as Record<string, { ok?: unknown; errno?: number; kernelMessages?: string[] }>;
    expect(out.logPipe).toEqual({ ok: [] });
    expect(out.configPipe).toEqual({ errno: -22, syscall: 'fsconfig', kernelMessages: [] });
    expect(out.mountPipe).toEqual({ errno: -22, syscall: 'fsmount', kernelMessages: [] });
    // The kernel's fs-context log holds at most 8 messages, so more is never a log.
    expect(out.logZero!.ok).toBeLessThanOrEqual(8);
    expect(out.configZero).toMatchObject({ errno: -22, syscall: 'fsconfig' });
    expect(out.configZero!.kernelMessages!.length).toBeLessThanOrEqual(8);
  });
});
