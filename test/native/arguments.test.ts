import { spawnSync } from 'node:child_process';
import { existsSync, openSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { native } from '../../src/sys/binding.js';
import {
  applyMarkersSync,
  bindMountSync,
  createWhiteoutSync,
  getOpaqueSync,
  MS,
  O,
  resolvePathSync,
  S,
  setOpaqueSync,
  sys,
  tmpfsMountSync,
} from '../../src/index.js';
import type { FdHandle } from '../../src/index.js';
import { NUMS_PER_STEP, OP_NAMES, SLOTS } from '../../src/sys/step-schema.js';
import { hasCapSysAdmin } from '../helpers/caps.js';
import { tempDir } from '../helpers/tmp.js';

// Every call into the addon is recorded, so "refused before any syscall" means "refused before
// the addon was called at all".
const calls = vi.hoisted(() => [] as string[]);
vi.mock('../../src/sys/binding.js', async (importOriginal) => {
  const mod = await importOriginal<typeof import('../../src/sys/binding.js')>();
  const spied = new Proxy(mod.native(), {
    get(target, key, receiver) {
      const value: unknown = Reflect.get(target, key, receiver);
      if (typeof key !== 'string' || typeof value !== 'function' || !/^[a-z]/.test(key)) return value;
      return (...args: unknown[]) => {
        calls.push(key);
        return (value as (...a: unknown[]) => unknown).apply(target, args);
      };
    },
  });
  return { ...mod, native: () => spied };
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
const forged = (): object => Object.create(native().FdHandle.prototype as object) as object;
const proxied = (): object => new Proxy(open, {});

function show(args: unknown[]): string {
  const name = (v: unknown): unknown =>
    v === closed ? '<closed handle>' : v === open ? '<handle>' : v === closedFs ? '<closed fs handle>' : v === openFs ? '<fs handle>' : v instanceof native().FdHandle ? '<not a handle>' : v;
  return args.map((a) => JSON.stringify(a, (_, v: unknown) => name(v)) ?? String(a)).join(', ');
}

type Case = [fn: string, args: () => unknown[], want: Want];
const cases: Case[] = [
  ['mount', () => [null, `${NX}/m\0x`, 'tmpfs'], VALUE],
  ['mount', () => [`src\0`, `${NX}/m`, 'tmpfs'], VALUE],
  ['mount', () => [null, `${NX}/m`, 'tmp\0fs'], VALUE],
  ['mount', () => [null, `${NX}/m`, 'tmpfs', { data: 'size=1\0,nr_inodes=2' }], VALUE],
  ['mount', () => [null, 42, 'tmpfs'], TYPE],
  ['mount', () => [{}, `${NX}/m`, 'tmpfs'], TYPE],
  ['mount', () => [null, `${NX}/m`, 'tmpfs', { flags: '0' }], TYPE],
  ['mount', () => [null, `${NX}/m`, 'tmpfs', { flags: -1 }], RANGE],
  ['mount', () => [null, `${NX}/m`, 'tmpfs', { flags: 1.5 }], RANGE],
  ['mount', () => [null, `${NX}/m`, 'tmpfs', { flags: 2 ** 32 }], RANGE],
  ['mount', () => [null, `${NX}/m`, 'tmpfs', { flags: [MS.BIND, -1] }], RANGE],
  ['mount', () => [null, `${NX}/m`, 'tmpfs', { cwd: closed }], VALUE],
  ['umount2', () => [`${NX}\0/x`], VALUE],
  ['umount2', () => [undefined], TYPE],
  ['umount2', () => [{ path: `${NX}/x` }], TYPE],
  ['umount2', () => [`${NX}/x`, { flags: -1 }], RANGE],
  ['umount2', () => [`${NX}/x`, { flags: 0.5 }], RANGE],
  ['umount2', () => [`${NX}/x`, { flags: NaN }], RANGE],
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
  ['mknod', () => [`${NX}/a\0b`, S.IFCHR], VALUE],
  ['mknod', () => [`${NX}/x`, S.IFCHR, { dirfd: closed }], VALUE],
  ['mknod', () => [5, S.IFCHR], TYPE],
  ['mknod', () => [`${NX}/x`, S.IFCHR, { major: '0' }], TYPE],
  ['mknod', () => [`${NX}/x`, -1], RANGE],
  ['mknod', () => [`${NX}/x`, S.IFCHR, { major: 0x1000 }], RANGE],
  ['mknod', () => [`${NX}/x`, S.IFCHR, { minor: 1.5 }], RANGE],
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
  ['moveMount', () => [`${NX}/a\0`, `${NX}/b`], VALUE],
  ['moveMount', () => [`${NX}/a`, 'b', { to: closed }], VALUE],
  ['moveMount', () => [`${NX}/a`, 7], TYPE],
  ['moveMount', () => [`${NX}/a`, `${NX}/b`, { from: '0' }], TYPE],
  ['moveMount', () => ['', `${NX}/b`, { from: -1 }], RANGE],
  ['moveMount', () => [`${NX}/a`, 'b', { to: 2.5 }], RANGE],
  ['moveMount', () => [`${NX}/a`, `${NX}/b`, { flags: 1.5 }], RANGE],
  ['runSteps', () => ['fsopen'], TYPE],
  ['runSteps', () => [[null]], TYPE],
  ['runSteps', () => [[{ op: 5 }]], TYPE],
  ['runSteps', () => [[{ op: 'fsopne', fsname: 'overlay' }]], VALUE],
  ['runSteps', () => [[{ op: 'fsopen', fsname: 'over\0lay' }]], VALUE],
  ['runSteps', () => [[{ op: 'fsopen', fsname: 7 }]], TYPE],
  ['runSteps', () => [[{ op: 'fsopen', fsname: 'overlay', flags: -1 }]], RANGE],
  // A misspelt field is refused, not ignored.
  ['runSteps', () => [[{ op: 'fsopen', fsname: 'overlay', flag: 1 }]], VALUE],
  ['runSteps', () => [[{ op: 'statx', path: '/', keep: true }]], VALUE],
  ['runSteps', () => [[{ op: 'statx', path: '/', okErrno: 5000 }]], RANGE],
  ['runSteps', () => [[{ op: 'mountSetattr', path: `${NX}/x`, attrSet: 0.5 }]], RANGE],
  ['runSteps', () => [[{ op: 'fsopen', fsname: 'overlay' }, { op: 'fsconfigSetString', fs: 0, key: 'source' }]], TYPE],
  ['runSteps', () => [[{ op: 'fsopen', fsname: 'overlay' }, { op: 'fsconfigSetBinary', fs: 0, key: 'k', value: 5 }]], TYPE],
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
  ['runSteps', () => [[{ op: 'open', path: '/' }, { op: 'fsmount', fs: 0 }]], VALUE],
  ['runSteps', () => [[{ op: 'fsconfigCreate', fs: closed }]], VALUE],
  ['runSteps', () => [[{ op: 'fsconfigCreate', fs: forged() }]], VALUE],
  ['open', () => [`${NX}/a\0`, O.RDONLY], VALUE],
  ['open', () => [`${NX}/a`, O.RDONLY, { mode: 0o10000 }], RANGE],
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

  it('a lone surrogate: the error offers a Buffer only where one is taken', () => {
    calls.length = 0;
    const lone = `${NX}/\uD800`;
    const offers = /give a Buffer/;
    // The marker functions take a Buffer path: the way out the message names is there.
    for (const f of [() => createWhiteoutSync(lone), () => setOpaqueSync(lone), () => getOpaqueSync(lone), () => applyMarkersSync([{ op: 'whiteout', path: lone }])]) {
      expect(thrown(f)).toMatchObject({ code: 'ERR_INVALID_ARG_VALUE', message: expect.stringMatching(offers) });
    }
    // These take strings only: their message does not offer one.
    for (const f of [() => bindMountSync(lone, `${NX}/t`), () => tmpfsMountSync(lone), () => resolvePathSync([lone], '/x')]) {
      const err = thrown(f) as Error & { code?: string };
      expect(err.code).toBe('ERR_INVALID_ARG_VALUE');
      expect(err.message).toMatch(/well-formed/);
      expect(err.message).not.toMatch(/Buffer/);
    }
    expect(thrown(() => bindMountSync(Buffer.from(`${NX}/s`) as never, `${NX}/t`))).toMatchObject({ code: 'ERR_INVALID_ARG_TYPE' });
    expect(calls).toEqual([]);
  });

  it('the checks do not refuse good arguments (the spy sees the call)', () => {
    calls.length = 0;
    expect(sys.statxSync('/').mode & S.IFMT).toBe(S.IFDIR);
    expect(calls).toEqual(['runStepsSync']);
  });

  it('a flag word TypeScript accepts is not refused by the addon (open flags are unsigned)', () => {
    // open(2) ignores unknown bits, so bit 31 is harmless, and TS allows any u32.
    const h = sys.openSync('/dev/null', O.RDONLY + 0x80000000); // not |: that gives a negative int32
    expect(h.kind).toBe('file');
    h.close();
  });

  it('a string fsconfigSetBinary value in a step is converted, not refused by the addon', () => {
    // fsopen of a filesystem that does not exist fails in step 0, after the checks passed: the
    // kernel's ENODEV, or EPERM without CAP_SYS_ADMIN, which fsopen checks first.
    const err = thrown(() =>
      sys.runStepsSync([
        { op: 'fsopen', fsname: 'no-such-fs-ovl' },
        { op: 'fsconfigSetBinary', fs: 0, key: 'k', value: 'text' },
      ]),
    );
    expect(err).toMatchObject({ code: hasCapSysAdmin ? 'ENODEV' : 'EPERM', syscall: 'fsopen', step: 0 });
  });
});

// The addon's own guards: a direct call to the raw binding with bad packed steps throws a
// TypeError or RangeError and never reaches the kernel (or crashes). The packed form is
// src/sys/steps.ts's: per step [opcode, bits, okErrno, fd slots..., number slots...], strings,
// byte buffers, the caller's handles, a statx buffer, and `single`.
describe('raw binding backstop', () => {
  const code = (op: string) => OP_NAMES.indexOf(op as (typeof OP_NAMES)[number]);
  interface RawStep {
    op: number;
    bits?: number;
    okErrno?: number;
    fds?: number[];
    nums?: number[];
    strs?: unknown[];
  }
  /** Packs raw steps by hand, exactly as given (no checks). */
  function pack(list: RawStep[], extra: { handles?: unknown[]; bufs?: unknown; statx?: unknown; single?: unknown } = {}): unknown[] {
    const nums = new Float64Array(list.length * NUMS_PER_STEP);
    const strs: unknown[] = new Array(list.length * SLOTS.str).fill(null);
    list.forEach((st, i) => {
      const row = [st.op, st.bits ?? 0, st.okErrno ?? 0, ...(st.fds ?? [-1, -1]), ...(st.nums ?? [0, 0, 0, 0])];
      nums.set(row.slice(0, NUMS_PER_STEP), i * NUMS_PER_STEP);
      (st.strs ?? []).forEach((v, k) => (strs[i * SLOTS.str + k] = v));
    });
    return [nums, list.length, strs, extra.bufs, extra.handles ?? [], extra.statx ?? new Float64Array(13 * Math.max(1, list.length)), extra.single ?? false];
  }
  type Raw = [what: string, args: () => unknown[], want: typeof TypeError | typeof RangeError];
  const FSOPEN: RawStep = { op: code('fsopen'), strs: ['overlay'] };
  const raw: Raw[] = [
    ['not packed at all', () => [[{ op: 'fsopen' }]], TypeError],
    ['numbers not a Float64Array', () => { const a = pack([FSOPEN]); a[0] = [3, 0, 0, -1, -1, 0, 0, 0, 0]; return a; }, TypeError],
    ['a count that is not a number', () => { const a = pack([FSOPEN]); a[1] = '1'; return a; }, TypeError],
    ['strings not an array', () => { const a = pack([FSOPEN]); a[2] = 'overlay'; return a; }, TypeError],
    ['single not a boolean', () => pack([FSOPEN], { single: 1 }), TypeError],
    ['a partial step', () => { const a = pack([FSOPEN]); a[0] = new Float64Array(5); return a; }, RangeError],
    ['more steps than numbers', () => { const a = pack([FSOPEN]); a[1] = 2; return a; }, RangeError],
    ['a negative count', () => { const a = pack([FSOPEN]); a[1] = -1; return a; }, RangeError],
    ['a fractional count', () => { const a = pack([FSOPEN]); a[1] = 0.5; return a; }, RangeError],
    ['fewer strings than steps need', () => { const a = pack([FSOPEN]); a[2] = ['overlay']; return a; }, RangeError],
    ['single with two steps', () => pack([FSOPEN, FSOPEN], { single: true }), RangeError],
    ['an unknown opcode', () => pack([{ op: 999 }]), TypeError],
    ['a negative opcode', () => pack([{ op: -1 }]), TypeError],
    ['a NaN opcode', () => pack([{ op: NaN }]), TypeError],
    ['okErrno out of range', () => pack([{ ...FSOPEN, okErrno: 5000 }]), TypeError],
    ['a NUL in a string', () => pack([{ op: code('fsopen'), strs: ['over\0lay'] }]), TypeError],
    ['a required string missing', () => pack([{ op: code('fsopen') }]), TypeError],
    ['a string that is a number', () => pack([{ op: code('fsopen'), strs: [7] }]), TypeError],
    ['a u32 out of range', () => pack([{ op: code('fsopen'), strs: ['overlay'], nums: [-1, 0, 0, 0] }]), TypeError],
    ['a u32 that is not an integer', () => pack([{ op: code('fsopen'), strs: ['overlay'], nums: [0.5, 0, 0, 0] }]), TypeError],
    ['an unused number slot set', () => pack([{ op: code('fsopen'), strs: ['overlay'], nums: [0, 7, 0, 0] }]), TypeError],
    ['a u64 over 2^53', () => pack([{ op: code('statmount'), nums: [2 ** 60, 0, 0, 0] }]), TypeError],
    ['a bool of 2', () => pack([{ op: code('getxattr'), strs: ['/', 'user.x'], nums: [2, 0, 0, 0] }]), TypeError],
    ['bytes that are not a Buffer', () => pack([{ op: code('setxattr'), strs: ['/', 'user.x'] }], { bufs: ['text'] }), TypeError],
    ['bytes missing', () => pack([{ op: code('setxattr'), strs: ['/', 'user.x'] }]), TypeError],
    // fd slots: step refs must be earlier fd-making steps, in range, integral (no UB casts).
    ['a required fd missing', () => pack([{ op: code('fsmount') }]), TypeError],
    ['a ref to a later step', () => pack([FSOPEN, { op: code('fsmount'), fds: [2, -1] }, FSOPEN]), TypeError],
    ['a ref to itself', () => pack([FSOPEN, { op: code('fsmount'), fds: [1, -1] }]), TypeError],
    ['a huge ref', () => pack([FSOPEN, { op: code('fsmount'), fds: [1e300, -1] }]), TypeError],
    ['a NaN ref', () => pack([FSOPEN, { op: code('fsmount'), fds: [NaN, -1] }]), TypeError],
    ['a fractional ref', () => pack([FSOPEN, { op: code('fsmount'), fds: [0.5, -1] }]), TypeError],
    ['a ref to a step without an fd', () => pack([{ op: code('statx'), strs: ['/'] }, { op: code('fsmount'), fds: [0, -1] }]), TypeError],
    ['an fs ref to a file fd', () => pack([{ op: code('open'), strs: ['/'] }, { op: code('fsmount'), fds: [0, -1] }]), TypeError],
    ['a ref to a closed step', () => pack([FSOPEN, { op: code('close'), fds: [0, -1] }, { op: code('fsmount'), fds: [0, -1] }]), TypeError],
    ['close of a handle', () => pack([{ op: code('close'), fds: [-2, -1] }], { handles: [0] }), TypeError],
    ['a ref in a single call', () => pack([{ op: code('fsmount'), fds: [0, -1] }], { single: true }), TypeError],
    ['a handle index out of range', () => pack([{ op: code('statx'), fds: [-3, -1], strs: ['/'] }]), TypeError],
    ['a closed handle', () => pack([{ op: code('statx'), fds: [-2, -1], strs: ['/'] }], { handles: [closed] }), TypeError],
    ['a forged handle', () => pack([{ op: code('statx'), fds: [-2, -1], strs: ['/'] }], { handles: [forged()] }), TypeError],
    ['a negative raw fd', () => pack([{ op: code('statx'), fds: [-2, -1], strs: ['/'] }], { handles: [-5] }), RangeError],
    ['a raw fd as fs context', () => pack([{ op: code('fsmount'), fds: [-2, -1] }], { handles: [0] }), TypeError],
    ['a file handle as fs context', () => pack([{ op: code('fsmount'), fds: [-2, -1] }], { handles: [open] }), TypeError],
    ['a statx buffer too small', () => pack([{ op: code('statx'), strs: ['/'] }], { statx: new Float64Array(2) }), RangeError],
  ];

  it.each(raw.map(([what, args, want]) => [`${what} -> ${want.name}`, args, want] as const))('%s', async (_, args, want) => {
    const err = thrown(() => native().runStepsSync(...(args() as Parameters<ReturnType<typeof native>['runStepsSync']>)));
    expect(err).toBeInstanceOf(want);
    expect(err).not.toHaveProperty('errno');
    // The Promise form checks on the JS thread too: it throws (raw layer), never queues.
    let asyncErr: unknown;
    try {
      await native().runSteps(...(args() as Parameters<ReturnType<typeof native>['runSteps']>));
      asyncErr = new Error('resolved');
    } catch (e) {
      asyncErr = e;
    }
    expect(asyncErr).toBeInstanceOf(want);
  });

  it('adoptFd refuses a bad fd', () => {
    expect(() => native().adoptFd(-1)).toThrow(RangeError);
    expect(() => native().adoptFd('1' as unknown as number)).toThrow(TypeError);
  });

  it('a NUL byte never reaches mknod or setxattr (nothing is created under the cut-short name)', () => {
    const dir = tempDir();
    const file = join(dir, 'f');
    writeFileSync(file, '');
    const mknod = (name: string) => pack([{ op: code('mknod'), strs: [join(dir, name)], nums: [S.IFREG | 0o600, 0, 0, 0] }]);
    const setx = (name: string) => pack([{ op: code('setxattr'), strs: [file, name] }], { bufs: [Buffer.from('v')] });
    const run = (a: unknown[]) => native().runStepsSync(...(a as Parameters<ReturnType<typeof native>['runStepsSync']>));
    expect(() => run(mknod('a\0b'))).toThrow(TypeError);
    expect(existsSync(join(dir, 'a'))).toBe(false);
    expect(() => run(setx('user.a\0b'))).toThrow(TypeError);
    expect(sys.listxattrSync(file)).toEqual([]);
    // The same calls without the NUL do land, so the checks above could have seen a result.
    run(mknod('a'));
    run(setx('user.a'));
    expect(existsSync(join(dir, 'a'))).toBe(true);
    expect(sys.listxattrSync(file)).toEqual(['user.a']);
  });

  it('FdHandle refuses bad construction and methods on foreign objects, without crashing', () => {
    const Ctor = native().FdHandle as unknown as new (...args: unknown[]) => FdHandle;
    expect(() => new Ctor(-1, 'file')).toThrow(RangeError);
    expect(() => new Ctor('x', 'file')).toThrow(TypeError);
    expect(() => new Ctor(0)).toThrow(TypeError);
    expect(() => (Ctor as unknown as AnyFn)(0, 'file')).toThrow(TypeError);
    const proto = native().FdHandle.prototype as FdHandle;
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
    sys.mknodSync(fifo, 0o010000 /* S_IFIFO */ | 0o600);
    const fixture = fileURLToPath(new URL('./fixtures/drain-wrong-fd.mjs', import.meta.url));
    const r = spawnSync(process.execPath, [fixture, fifo], { encoding: 'utf8', timeout: 30_000 });
    expect(r.signal, `the child hung: ${r.stderr}`).toBe(null);
    expect(r.status, r.stderr).toBe(0);
    // (The child uses the raw binding: errors carry errno, not code.)
    const out = JSON.parse(r.stdout) as Record<string, { ok?: unknown; errno?: number; kernelMessages?: string[] }>;
    expect(out.logPipe).toEqual({ ok: [] });
    expect(out.configPipe).toEqual({ errno: -22, syscall: 'fsconfig', kernelMessages: [] });
    // fsmount checks CAP_SYS_ADMIN before the fd (EPERM without it); a failure drains the fd either way.
    expect(out.mountPipe).toEqual({ errno: hasCapSysAdmin ? -22 : -1, syscall: 'fsmount', kernelMessages: [] });
    // The kernel's fs-context log holds at most 8 messages, so more is never a log.
    expect(out.logZero!.ok).toBeLessThanOrEqual(8);
    expect(out.configZero).toMatchObject({ errno: -22, syscall: 'fsconfig' });
    expect(out.configZero!.kernelMessages!.length).toBeLessThanOrEqual(8);
  });
});
