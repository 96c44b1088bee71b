/**
 * plan(): pure, so every kernel is a hand-written Capabilities object and no path has to exist
 * (except where a test checks what a planned relative name resolves to).
 */
import { mkdirSync, realpathSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { AT, FSCONFIG, MOUNT_ATTR, MS, O, STATX } from '../../src/sys/constants.js';
import { splitLegacyLowerdir, unescapeBackslashes } from '../../src/spec/escape.js';
import type { Step } from '../../src/sys/steps.js';
import { FSCONFIG_VALUE_MAX, formatPlan, mountAttrs, msFlags, overlayOptionEntries, plan, type MountPlan } from '../../src/mount/plan.js';
import type { Capabilities } from '../../src/mount/probe.js';
import { linux618 } from '../helpers/kernels.js';
import { OverlaySpecError, type SpecProblem } from '../../src/spec/errors.js';
import { type OverlayOptions, type OverlaySpec } from '../../src/spec/types.js';
import { tempDir } from '../helpers/tmp.js';

/** 6.8: lowerdir+ but no FSCONFIG_SET_FD for layers (6.13), no override_creds (6.15). */
const linux68: Capabilities = { ...linux618, kernel: '6.8.0', layersByFd: false, overrideCreds: false, fsync: false, fsyncModes: [] };

/** 6.1: the new mount API, but overlay has no fs_context parser and no lowerdir+. */
const linux61: Capabilities = {
  ...linux68,
  kernel: '6.1.0',
  fsContextParser: false,
  lowerdirPlus: false,
  datadirPlus: false,
  createExcl: false,
  verity: false,
  uuidModes: [],
  statmount: false,
  statmountOptionArray: false,
  mountIdUnique: false,
};

/** 5.1: no new mount API at all. */
const linux51: Capabilities = { ...linux61, kernel: '5.1.0', newMountApi: false, userxattr: false, volatile: false };

/** 6.18 inside `unshare -Urm`. */
const rootless618: Capabilities = { ...linux618, root: false, userNamespace: true };

/** 6.18 as a process without CAP_SYS_ADMIN sees it: fsopen fails EPERM, so nothing past it was asked. */
const EPERM_REASON = 'fsopen(overlay) needs CAP_SYS_ADMIN: EPERM';
const unprivileged618: Capabilities = {
  ...linux618,
  canMount: false,
  root: false,
  fsContextParser: false,
  lowerdirPlus: false,
  datadirPlus: false,
  layersByFd: false,
  createExcl: false,
  userxattr: false,
  volatile: false,
  fsync: false,
  fsyncModes: [],
  uuidModes: [],
  verity: false,
  overrideCreds: false,
  unknown: Object.fromEntries(
    ['fsContextParser', 'lowerdirPlus', 'datadirPlus', 'layersByFd', 'createExcl', 'userxattr', 'volatile', 'fsync', 'uuidModes', 'verity', 'overrideCreds'].map((f) => [f, EPERM_REASON]),
  ),
};

function refusal(fn: () => unknown): SpecProblem[] {
  let thrown: unknown;
  try {
    fn();
  } catch (e) {
    thrown = e;
  }
  expect(thrown).toBeInstanceOf(OverlaySpecError);
  return [...(thrown as OverlaySpecError).problems];
}

const problem = (field: string, re: RegExp) => ({ field, problem: expect.stringMatching(re) as unknown as string });

type FsconfigStep = Extract<Step, { op: `fsconfig${string}` }>;
type MountStep = Extract<Step, { op: 'mount' }>;

/** The fsconfig steps as [key, value | {fd}] in order. */
function fsconfigs(p: MountPlan): Array<[string | undefined, string | { fd: number } | undefined]> {
  return p.steps
    .map((s) => s.step)
    .filter((s): s is FsconfigStep => s.op.startsWith('fsconfig'))
    .map((s) => ['key' in s ? String(s.key) : undefined, s.op === 'fsconfigSetFd' ? { fd: s.fd as number } : 'value' in s ? (s.value as string) : undefined]);
}

function mountStep(p: MountPlan): MountStep {
  const steps = p.steps.map((s) => s.step).filter((s): s is MountStep => s.op === 'mount');
  expect(steps).toHaveLength(1);
  return steps[0]!;
}

/** mount(2) data of a plan that needs no fds. */
function legacyDataOf(p: MountPlan): string {
  const data = mountStep(p).data;
  expect(typeof data).toBe('string');
  return data as string;
}

const rw: OverlaySpec = { lower: ['/srv/l/top', '/srv/l/bottom'], upper: '/srv/rw/upper', work: '/srv/rw/work', target: '/srv/merged' };

describe('strategy: the best the kernel has, with the reason', () => {
  it.each([
    ['6.18', linux618, 'fd', /checked to be the one validated.*swapped.*refused/],
    ['6.8 (no layers by fd)', linux68, 'lowerdir+', /one layer per fsconfig call.*before 6\.13/],
    ['6.1 (no lowerdir+)', linux61, 'legacy', /no lowerdir\+ \(before 6\.7\)/],
    ['5.1 (no new mount API)', linux51, 'legacy', /no new mount API/],
    ['6.18 in a user namespace', rootless618, 'fd', /passed by fd/],
  ] as const)('%s → %s', (_name, caps, strategy, reason) => {
    const p = plan(rw, caps);
    expect(p.strategy).toBe(strategy);
    expect(p.reason).toMatch(reason);
  });

  it('a forced strategy the kernel has is used', () => {
    expect(plan({ ...rw, strategy: 'fd' }, linux618).strategy).toBe('fd');
    expect(plan({ ...rw, strategy: 'legacy' }, linux618).strategy).toBe('legacy');
    expect(plan({ ...rw, strategy: 'lowerdir+' }, linux68).strategy).toBe('lowerdir+');
  });

  it.each([
    ['fd', linux68, /'fd' needs FSCONFIG_SET_FD.*6\.13.*6\.8\.0/],
    ['fd', linux61, /'fd' needs/],
    ['lowerdir+', linux61, /'lowerdir\+' needs the new mount API with lowerdir\+.*6\.7.*6\.1\.0/],
    ['lowerdir+', linux51, /'lowerdir\+' needs/],
    ['legacy', { ...linux618, overlay: false }, /overlay filesystem is not available/],
  ] as const)('forcing %s on a kernel without it is refused on strategy', (strategy, caps, re) => {
    expect(refusal(() => plan({ ...rw, strategy }, caps))).toEqual([problem('strategy', re)]);
  });

  it('an invalid spec is refused before any planning, with every problem', () => {
    const problems = refusal(() => plan({ lower: ['rel'], upper: '/u', target: '/m' }, linux618));
    expect(problems).toEqual(expect.arrayContaining([problem('lower[0]', /absolute/), problem('work', /required/)]));
  });
});

describe('lowerdir+: one fsconfig per layer', () => {
  const planLp = (spec: OverlaySpec, caps: Capabilities) => plan({ strategy: 'lowerdir+', ...spec }, caps);

  it('layers top first, data layers after, then upper, work, options, source, create', () => {
    const p = planLp({ ...rw, data: ['/srv/d/1'], options: { redirectDir: 'nofollow', userxattr: true } }, linux618);
    expect(fsconfigs(p)).toEqual([
      ['lowerdir+', '/srv/l/top'],
      ['lowerdir+', '/srv/l/bottom'],
      ['datadir+', '/srv/d/1'],
      ['upperdir', '/srv/rw/upper'],
      ['workdir', '/srv/rw/work'],
      ['redirect_dir', 'nofollow'],
      ['userxattr', undefined],
      ['source', 'overlay'],
      [undefined, undefined],
    ]);
    expect(p.steps.find((s) => s.stage === 'create')?.step).toMatchObject({ op: 'fsconfigCreateExcl' });
    expect(p.byFd).toEqual([]);
    expect(p.openPhase).toBe(0);
  });

  it('CMD_CREATE where the kernel has no CMD_CREATE_EXCL', () => {
    const p = planLp(rw, { ...linux68, createExcl: false });
    expect(p.steps.some((s) => s.step.op === 'fsconfigCreate')).toBe(true);
    expect(p.steps.some((s) => s.step.op === 'fsconfigCreateExcl')).toBe(false);
  });

  it('upperdir/workdir values get backslashes doubled (the kernel unescapes them); lowerdir+ values are raw', () => {
    const spec: OverlaySpec = {
      lower: ['/x/a\\b', '/x/c:d,e f=g'],
      data: ['/x/d\\1'],
      upper: '/x/u\\p,p:er',
      work: '/x/w\\\\k',
      target: '/m',
    };
    expect(fsconfigs(planLp(spec, linux618)).slice(0, 5)).toEqual([
      ['lowerdir+', '/x/a\\b'],
      ['lowerdir+', '/x/c:d,e f=g'],
      ['datadir+', '/x/d\\1'],
      ['upperdir', '/x/u\\\\p,p:er'],
      ['workdir', '/x/w\\\\\\\\k'],
    ]);
  });

  const long = (bytes: number, prefix = '/x/') => prefix + 'a'.repeat(bytes - prefix.length);

  it(`a ${FSCONFIG_VALUE_MAX}-byte path goes as a string, a 256-byte one by fd (where SET_FD exists)`, () => {
    expect(FSCONFIG_VALUE_MAX).toBe(255);
    const p255 = planLp({ ...rw, lower: ['/srv/l/top', long(255)] }, linux618);
    expect(p255.byFd).toEqual([]);
    expect(fsconfigs(p255)[1]).toEqual(['lowerdir+', long(255)]);

    const path256 = long(256);
    const p = planLp({ ...rw, lower: ['/srv/l/top', path256] }, linux618);
    expect(p.strategy).toBe('lowerdir+');
    expect(p.byFd).toEqual(['lower[1]']);
    expect(p.reason).toMatch(/lower\[1\] by fd \(over 255 bytes\)/);
    // Opened, checked and handed to fsconfig in the one batch.
    expect(p.openPhase).toBe(0);
    expect(p.steps[0]).toEqual({ stage: expect.any(String), field: 'lower[1]', step: { op: 'open', path: path256, flags: O.PATH | O.DIRECTORY } });
    expect(p.steps[1]).toMatchObject({ field: 'lower[1]', step: { op: 'expectFile', fd: 0 } });
    expect(fsconfigs(p).slice(0, 2)).toEqual([
      ['lowerdir+', '/srv/l/top'],
      ['lowerdir+', { fd: 0 }],
    ]);
  });

  it('bytes, not characters, decide: 128 two-byte characters are 256 bytes', () => {
    const path = '/' + 'é'.repeat(127) + 'x'; // 1 + 254 + 1 = 256 bytes, 129 characters
    expect(planLp({ ...rw, lower: [path, '/b'] }, linux618).byFd).toEqual(['lower[0]']);
  });

  it('a 256-byte path without SET_FD for layers is refused, naming the field, the size and the kernel needed', () => {
    const problems = refusal(() => planLp({ ...rw, lower: ['/srv/l/top', long(256)] }, linux68));
    expect(problems).toEqual([problem('lower[1]', /256 bytes.*at most 255.*by fd \(Linux 6\.13\)/)]);
  });

  it('upperdir is measured after its backslashes are doubled', () => {
    const upper254 = '/u' + '\\'.repeat(126); // 128 bytes raw, 254 as the fsconfig value
    const upper256 = '/u' + '\\'.repeat(127); // 129 bytes raw, 256 as the fsconfig value
    expect(planLp({ ...rw, upper: upper254 }, linux618).byFd).toEqual([]);
    expect(planLp({ ...rw, upper: upper256 }, linux618).byFd).toEqual(['upper']);
    expect(refusal(() => planLp({ ...rw, upper: upper256 }, linux68))).toEqual([problem('upper', /256 bytes/)]);
  });

  it('every long field goes by fd, in spec order', () => {
    const p = planLp({ lower: [long(300), '/b', long(400, '/y/')], upper: long(256, '/u/'), work: '/w', target: '/m' }, linux618);
    expect(p.byFd).toEqual(['lower[0]', 'lower[2]', 'upper']);
    expect(p.openPhase).toBe(0);
  });
});

describe('fd: every layer, upper and work as an O_PATH fd', () => {
  it('opens each path, checks each fd, then passes them with FSCONFIG_SET_FD, all in one batch', () => {
    const p = plan({ ...rw, data: ['/srv/d/1'], strategy: 'fd' }, linux618);
    const fields = ['lower[0]', 'lower[1]', 'data[0]', 'upper', 'work'];
    expect(p.byFd).toEqual(fields);
    expect(p.openPhase).toBe(0);
    fields.forEach((field, i) => {
      // Not kept: the batch that opens them closes them.
      expect(p.steps[i]?.step).toEqual({ op: 'open', path: expect.any(String), flags: O.PATH | O.DIRECTORY });
      // The identity is filled in at execution, from what validation saw.
      expect(p.steps[5 + i]).toMatchObject({ field, step: { op: 'expectFile', fd: i } });
    });
    expect(fsconfigs(p).slice(0, 5)).toEqual([
      ['lowerdir+', { fd: 0 }],
      ['lowerdir+', { fd: 1 }],
      ['datadir+', { fd: 2 }],
      ['upperdir', { fd: 3 }],
      ['workdir', { fd: 4 }],
    ]);
  });
});

describe('legacy: mount(2) data', () => {
  it('escapes \\, : and , in every path exactly as the kernel unescapes them (reference §2 example)', () => {
    const p = plan({ lower: ['/x/a:b', '/x/c,d', '/x/e f', '/x/g\\h'], data: ['/x/d1'], target: '/m' }, linux61);
    expect(legacyDataOf(p)).toBe('lowerdir=/x/a\\:b:/x/c\\,d:/x/e f:/x/g\\\\h::/x/d1');
  });

  it('upperdir and workdir are escaped the same way; options follow in mountinfo order', () => {
    const p = plan(
      { lower: ['/l'], upper: '/u,1:\\', work: '/w', target: '/m', options: { userxattr: true, redirectDir: 'nofollow', volatile: true } },
      linux61,
    );
    expect(legacyDataOf(p)).toBe('lowerdir=/l,upperdir=/u\\,1\\:\\\\,workdir=/w,redirect_dir=nofollow,volatile,userxattr');
  });

  it('source and MS_* flags go to mount(2); the new mount is stat-ed for its id', () => {
    const p = plan({ ...rw, source: 'demo', attributes: { readOnly: true, nodev: true } }, linux61);
    expect(mountStep(p)).toMatchObject({ source: 'demo', target: '/srv/merged', fstype: 'overlay', flags: MS.RDONLY | MS.NODEV });
    expect(mountStep(plan(rw, linux61)).source).toBe('overlay');
    expect(p.steps.at(-1)?.step).toEqual({ op: 'statx', path: '/srv/merged', flags: AT.SYMLINK_NOFOLLOW, mask: STATX.MNT_ID });
  });

  it('override_creds cannot be passed by mount(2)', () => {
    expect(refusal(() => plan({ ...rw, strategy: 'legacy', options: { overrideCreds: true } }, linux618))).toEqual([
      problem('options.overrideCreds', /new mount API/),
    ]);
  });

  describe('the page limit: pageSize - 1 bytes', () => {
    const base = '/srv/layers/';
    const second = `${base}b`;
    /** A two-layer spec whose absolute data `lowerdir=<base>…:<base>b` is exactly `bytes` long. */
    function specOfDataBytes(bytes: number, fill = 'a'): OverlaySpec {
      const room = bytes - Buffer.byteLength(`lowerdir=${base}:${second}`);
      const n = Math.floor(room / Buffer.byteLength(fill));
      const name = 'a'.repeat(room - n * Buffer.byteLength(fill)) + fill.repeat(n);
      const spec = { lower: [base + name, second], target: '/m' };
      expect(Buffer.byteLength(`lowerdir=${spec.lower.join(':')}`)).toBe(bytes);
      return spec;
    }

    it('data of exactly pageSize-1 (4095) bytes is used as is', () => {
      const spec = specOfDataBytes(4095);
      const p = plan(spec, linux61);
      const data = legacyDataOf(p);
      expect(data).toBe(`lowerdir=${spec.lower[0]}:${second}`);
      expect(Buffer.byteLength(data)).toBe(4095);
      expect(p.dataBytes).toBe(4095);
      expect(mountStep(p).cwd).toBeUndefined();
      expect(p.steps).toHaveLength(2);
    });

    it('one byte more (4096, which the kernel would cut) switches to paths relative to the common parent', () => {
      const spec = specOfDataBytes(4096);
      const p = plan(spec, linux61);
      expect(p.steps[0]?.step).toEqual({ op: 'open', path: '/srv/layers', flags: O.PATH | O.DIRECTORY });
      expect(mountStep(p).cwd).toBe(0);
      expect(p.steps[2]?.step).toEqual({ op: 'close', fd: 0 });
      const data = legacyDataOf(p);
      expect(data).toBe(`lowerdir=${spec.lower[0]!.slice(base.length)}:b`);
      expect(p.dataBytes).toBe(Buffer.byteLength(data));
      expect(p.reason).toMatch(/4096 bytes of absolute paths exceed one page.*relative to \/srv\/layers/);
    });

    it('bytes, not characters: 4096 bytes of two-byte characters also switch', () => {
      const spec = specOfDataBytes(4096, 'é');
      expect(`lowerdir=${spec.lower.join(':')}`.length).toBeLessThan(2100);
      expect(mountStep(plan(spec, linux61)).cwd).toBe(0);
      expect(mountStep(plan(specOfDataBytes(4094, 'é'), linux61)).cwd).toBeUndefined();
    });

    it('the limit follows the page size the kernel reports', () => {
      const spec = specOfDataBytes(4096);
      expect(mountStep(plan(spec, { ...linux61, pageSize: 16384 })).cwd).toBeUndefined();
      expect(mountStep(plan(specOfDataBytes(100), { ...linux61, pageSize: 100 })).cwd).toBe(0);
      expect(mountStep(plan(specOfDataBytes(99), { ...linux61, pageSize: 100 })).cwd).toBeUndefined();
    });

    it('an upper outside the common parent stays absolute in relative data', () => {
      const spec = { lower: ['/srv/layers/a', '/srv/layers/b'], upper: '/elsewhere/u', work: '/elsewhere/w', target: '/m' };
      const p = plan(spec, { ...linux61, pageSize: 64 });
      expect(mountStep(p).cwd).toBe(0);
      expect(legacyDataOf(p)).toBe('lowerdir=a:b,upperdir=/elsewhere/u,workdir=/elsewhere/w');
    });

    it("an upper inside the common parent stays absolute too: mountinfo must show it to other processes' in-use checks", () => {
      const spec = { lower: ['/srv/layers/a', '/srv/layers/b'], upper: '/srv/layers/u', work: '/srv/layers/w', target: '/m' };
      const p = plan(spec, { ...linux61, pageSize: 80 });
      expect(mountStep(p).cwd).toBe(0);
      expect(p.steps[0]?.step).toEqual({ op: 'open', path: '/srv/layers', flags: O.PATH | O.DIRECTORY });
      expect(legacyDataOf(p)).toBe('lowerdir=a:b,upperdir=/srv/layers/u,workdir=/srv/layers/w');
      expect(p.dataBytes).toBe(Buffer.byteLength(legacyDataOf(p)));
      expect(p.reason).toMatch(/relative to \/srv\/layers \(upper and work stay absolute, for other processes' in-use checks\)$/);
      // Without an upper there is nothing to say about it.
      expect(plan({ lower: spec.lower, target: '/m' }, { ...linux61, pageSize: 32 }).reason).toMatch(/relative to \/srv\/layers$/);
    });

    it('upper and work, kept absolute, count toward the page: relative data that would fit with them relative falls back to fd numbers', () => {
      const lower = ['/srv/layers/first-layer', '/srv/layers/second-layer'];
      const rwPair = { upper: `/srv/layers/${'u'.repeat(40)}`, work: `/srv/layers/${'w'.repeat(40)}` };
      // 'lowerdir=first-layer:second-layer' is 33 bytes; upper and work add 123 as absolute
      // paths (99 relative: 132 in all would fit the 149 bytes).
      const p = plan({ lower, ...rwPair, target: '/m' }, { ...linux61, pageSize: 150 });
      expect(p.reason).toMatch(/even relative paths \(156 bytes\) exceed one page/);
      expect(p.byFd).toEqual(['lower[0]', 'lower[1]']);
      expect(p.dataBytes).toBe(Buffer.byteLength(`lowerdir=0000:0000,upperdir=${rwPair.upper},workdir=${rwPair.work}`));
    });

    it("relative names resolve from the opened parent to the spec's own directories, even through a symlink and '..'", () => {
      // lower[0] is t/base/link/../c: the kernel resolves it physically to t/real/c, while a
      // lexical path.relative() would say 'c', i.e. t/base/c, a different directory.
      const t = realpathSync(tempDir('ovl-plan-'));
      for (const d of ['base/c', 'base/l2', 'real/deep', 'real/c']) mkdirSync(join(t, d), { recursive: true });
      symlinkSync(join(t, 'real', 'deep'), join(t, 'base', 'link'));
      const spec: OverlaySpec = { lower: [`${t}/base/link/../c`, `${t}/base/l2`], target: '/m' };
      const p = plan(spec, { ...linux61, pageSize: Buffer.byteLength(`lowerdir=${spec.lower.join(':')}`) });
      expect(mountStep(p).cwd).toBe(0);
      const opened = (p.steps[0]?.step as { path: string }).path;
      const names = splitLegacyLowerdir(legacyDataOf(p).slice('lowerdir='.length)).lower;
      expect(names).toHaveLength(2);
      names.forEach((name, i) => {
        // realpath(3), not Node's realpathSync, which collapses '..' before resolving.
        expect(realpathSync.native(`${opened}/${name}`), name).toBe(realpathSync.native(spec.lower[i]!));
      });
    });

    const longLayers = (n: number) => Array.from({ length: n }, (_, i) => `/srv/layers/layer-with-a-rather-long-name-${String(i).padStart(3, '0')}`);

    it('when relative paths exceed the page too, every layer is opened and named by its fd number from /proc/self/fd: 500 long paths', () => {
      const spec: OverlaySpec = { lower: longLayers(500), upper: '/srv/rw/u', work: '/srv/rw/w', target: '/m' };
      const p = plan(spec, linux61);
      expect(p.strategy).toBe('legacy');
      expect(p.reason).toMatch(/even relative paths \(\d+ bytes\) exceed one page.*\/proc\/self\/fd/);
      // The layers only: upper and work go as absolute paths, which mountinfo shows to another
      // process's in-use check (an fd number of ours names nothing there).
      const fields = spec.lower.map((_, i) => `lower[${i}]`);
      expect(p.byFd).toEqual(fields);
      expect(p.reason).toMatch(/from \/proc\/self\/fd \(upper and work stay absolute, for other processes' in-use checks\)$/);
      expect(p.openPhase).toBe(2 * fields.length);
      fields.forEach((field, i) => {
        expect(p.steps[i]).toMatchObject({ field, step: { op: 'open', path: spec.lower[i], keep: true } });
        // Each fd is checked to be the directory validated.
        expect(p.steps[fields.length + i]).toMatchObject({ field, step: { op: 'expectFile', fd: i } });
      });
      expect(p.steps.filter((s) => s.step.op === 'open' && [spec.upper, spec.work].includes(s.step.path as string))).toEqual([]);
      const procFd = p.openPhase;
      expect(p.steps[procFd]?.step).toEqual({ op: 'open', path: '/proc/self/fd', flags: O.PATH | O.DIRECTORY });
      const mount = p.steps[procFd + 1]!;
      expect(mount.step).toMatchObject({ op: 'mount', cwd: procFd });
      // The data names, where field i goes, the fd that step i opened.
      const pieces = mount.dataPieces!;
      const text = pieces.map((x) => (typeof x === 'string' ? x : `<${x.fdOf}>`)).join('');
      expect(text).toBe(`lowerdir=${spec.lower.map((_, i) => `<${i}>`).join(':')},upperdir=/srv/rw/u,workdir=/srv/rw/w`);
      // Estimated with 4-digit fd numbers (fewer than 1024 fds open before, 500 opened);
      // execution checks the real length.
      expect(p.dataBytes).toBe(text.replace(/<\d+>/g, '').length + 4 * fields.length);
      expect(p.dataBytes).toBeLessThanOrEqual(4095);
      expect(p.steps[procFd + 2]?.step).toEqual({ op: 'close', fd: procFd });
    });

    it('refused, never truncated, when even fd numbers would exceed the page', () => {
      // 300 layers: 'lowerdir=' + 300 × 4 digits + 299 colons = 1508 bytes > 1023.
      const small = { ...linux61, pageSize: 1024 };
      expect(refusal(() => plan({ lower: longLayers(300), target: '/m' }, small))).toEqual([
        problem('lower', /fd number.*about 1508 bytes, over one page \(1024\); this kernel has no lowerdir\+/),
      ]);
      expect(refusal(() => plan({ lower: longLayers(300), target: '/m', strategy: 'legacy' }, { ...linux618, pageSize: 1024 }))).toEqual([
        problem('lower', /use the 'lowerdir\+' or 'fd' strategy/),
      ]);
    });

    it('upper and work stay absolute in the fd-number data, so they count toward the page, and the refusal says so', () => {
      const small = { ...linux61, pageSize: 1024 };
      // 'lowerdir=' + 190 × 4 digits + 189 colons = 958 bytes: fits alone, and fitted with upper
      // and work by fd number (+ 27); as the absolute paths other processes can check, it does not.
      const rwPair = { upper: `/srv/rw/${'u'.repeat(40)}`, work: `/srv/rw/${'w'.repeat(40)}` };
      expect(plan({ lower: longLayers(190), target: '/m' }, small).dataBytes).toBe(958);
      const upperWork = Buffer.byteLength(`,upperdir=${rwPair.upper},workdir=${rwPair.work}`);
      expect(upperWork).toBe(115);
      expect(refusal(() => plan({ lower: longLayers(190), ...rwPair, target: '/m' }, small))).toEqual([
        problem(
          'lower',
          /^even with every layer named by fd number the mount\(2\) data would be about 1073 bytes \(115 of them upperdir= and workdir=, which stay absolute paths: another process's in-use check reads them from mountinfo\), over one page \(1024\); this kernel has no lowerdir\+/,
        ),
      ]);
    });
  });
});

describe('read-only', () => {
  it('readOnly makes the superblock read-only too (fsconfig ro), so no rw bind of it can write the upper', () => {
    const p = plan({ ...rw, attributes: { readOnly: true } }, linux618);
    expect(fsconfigs(p)).toContainEqual(['ro', undefined]);
    expect(fsconfigs(plan(rw, linux618)).map(([k]) => k)).not.toContain('ro');
  });
});

describe('user namespaces and kernel support', () => {
  it('adds userxattr in a user namespace, says so, and leaves the caller\'s spec alone', () => {
    const spec: OverlaySpec = { ...rw, options: { index: 'off' } };
    const p = plan(spec, rootless618);
    expect(p.spec.options?.userxattr).toBe(true);
    expect(spec.options).toEqual({ index: 'off' });
    expect(p.warnings).toEqual([expect.stringMatching(/added userxattr.*trusted\.overlay/)]);
    expect(fsconfigs(p)).toContainEqual(['userxattr', undefined]);
    expect(legacyDataOf(plan({ ...spec, strategy: 'legacy' }, rootless618))).toMatch(/,userxattr$/);
  });

  it('does not add userxattr outside a user namespace, nor when the caller decided', () => {
    expect(plan(rw, linux618).spec.options?.userxattr).toBeUndefined();
    const ro: OverlaySpec = { lower: rw.lower, target: rw.target, options: { userxattr: false } };
    const p = plan(ro, rootless618);
    expect(p.spec.options?.userxattr).toBe(false);
    expect(p.warnings).toEqual([]);
  });

  it('refuses userxattr:false in a user namespace when there is an upper (opaque marks would fail EIO)', () => {
    expect(refusal(() => plan({ ...rw, options: { userxattr: false } }, rootless618))).toEqual([
      problem('options.userxattr', /upper layer.*opaque.*EIO/),
    ]);
    expect(plan({ ...rw, options: { userxattr: false } }, linux618).spec.options?.userxattr).toBe(false);
  });

  it.each([
    [{ redirectDir: 'on' }, /redirect_dir=on/],
    [{ redirectDir: 'follow' }, /redirect_dir=follow/],
    [{ metacopy: 'on' }, /metacopy=on/],
    [{ verity: 'require' }, /verity=require/],
  ] as Array<[OverlayOptions, RegExp]>)('with userxattr:false in a user namespace, trusted-only %j is refused', (options, re) => {
    expect(refusal(() => plan({ ...rw, options: { ...options, userxattr: false } }, rootless618))).toEqual([
      problem('options.userxattr', new RegExp(`${re.source}.*trusted\\.overlay.*user namespace`)),
    ]);
  });

  it('with userxattr:false in a user namespace, data-only layers are refused too', () => {
    expect(refusal(() => plan({ ...rw, data: ['/d'], options: { userxattr: false } }, rootless618))).toEqual([
      problem('options.userxattr', /data-only layers/),
    ]);
    // Outside a user namespace the same spec is fine.
    expect(() => plan({ ...rw, data: ['/d'], options: { userxattr: false } }, linux618)).not.toThrow();
  });

  it('a trusted feature next to the automatic userxattr is the kernel\'s conflict, reported on userxattr', () => {
    expect(refusal(() => plan({ ...rw, options: { metacopy: 'on' } }, rootless618))).toEqual([
      problem('options.userxattr', /metacopy/),
    ]);
  });

  it.each([
    [{ fsync: 'strict' }, linux68, /6\.8\.0.*fsync=strict/],
    [{ overrideCreds: true }, linux68, /override_creds \(Linux 6\.15\)/],
    [{ verity: 'on' }, linux61, /verity \(Linux 6\.5\)/],
    [{ userxattr: true }, linux51, /userxattr \(Linux 5\.11\)/],
    [{ volatile: true }, linux51, /volatile \(Linux 5\.10\)/],
    [{ uuid: 'on' }, { ...linux618, uuidModes: ['off'] }, /uuid=on/],
  ] as Array<[OverlayOptions, Capabilities, RegExp]>)('an option the kernel lacks (%j) is refused on options', (options, caps, re) => {
    expect(refusal(() => plan({ ...rw, options }, caps))).toEqual([problem('options', re)]);
  });

  it('warns about options the kernel ignores without an upper', () => {
    const p = plan({ lower: ['/a', '/b'], target: '/m', options: { index: 'on', volatile: true, uuid: 'on' } }, linux618);
    expect(p.warnings).toEqual([
      expect.stringMatching(/index=on is ignored without an upper/),
      expect.stringMatching(/volatile is ignored without an upper/),
      expect.stringMatching(/uuid=on becomes uuid=null without an upper/),
    ]);
    expect(plan({ lower: ['/a', '/b'], target: '/m', options: { fsync: 'volatile' } }, linux618).warnings).toEqual([
      expect.stringMatching(/volatile is ignored/),
    ]);
    expect(plan({ ...rw, options: { index: 'on', volatile: true, uuid: 'on' } }, linux618).warnings).toEqual([]);
  });
});

describe('options and attributes in the kernel\'s spelling', () => {
  it('overlayOptionEntries: every option, in the order mountinfo shows them', () => {
    const all: OverlayOptions = {
      overrideCreds: true, verity: 'on', userxattr: true, fsync: 'strict', metacopy: 'off', xino: 'auto',
      nfsExport: 'off', uuid: 'null', index: 'off', redirectDir: 'nofollow', defaultPermissions: true,
    };
    expect(overlayOptionEntries(all).map((e) => (e.value === null ? e.key : `${e.key}=${e.value}`))).toEqual([
      'default_permissions', 'redirect_dir=nofollow', 'index=off', 'uuid=null', 'nfs_export=off', 'xino=auto',
      'metacopy=off', 'fsync=strict', 'userxattr', 'verity=on', 'override_creds',
    ]);
  });

  it('volatile is a flag; with an explicit fsync it is not repeated; false flags are left out', () => {
    expect(overlayOptionEntries({ volatile: true })).toEqual([{ key: 'volatile', value: null }]);
    expect(overlayOptionEntries({ volatile: true, fsync: 'volatile' })).toEqual([{ key: 'fsync', value: 'volatile' }]);
    expect(overlayOptionEntries({ volatile: false, userxattr: false, defaultPermissions: false, overrideCreds: false })).toEqual([]);
  });

  it('each attribute sets its own MOUNT_ATTR_* and MS_* bit', () => {
    const cases: Array<[OverlaySpec['attributes'], number, number]> = [
      [{ readOnly: true }, MOUNT_ATTR.RDONLY, MS.RDONLY],
      [{ nosuid: true }, MOUNT_ATTR.NOSUID, MS.NOSUID],
      [{ nodev: true }, MOUNT_ATTR.NODEV, MS.NODEV],
      [{ noexec: true }, MOUNT_ATTR.NOEXEC, MS.NOEXEC],
      [{ atime: 'noatime' }, MOUNT_ATTR.NOATIME, MS.NOATIME],
      [{ atime: 'strictatime' }, MOUNT_ATTR.STRICTATIME, MS.STRICTATIME],
      [{ atime: 'relatime' }, 0, 0],
      [{ nodiratime: true }, MOUNT_ATTR.NODIRATIME, MS.NODIRATIME],
      [{ nosymfollow: true }, MOUNT_ATTR.NOSYMFOLLOW, MS.NOSYMFOLLOW],
      [{ readOnly: false, nosuid: false }, 0, 0],
    ];
    for (const [attributes, attr, ms] of cases) {
      const spec = { ...rw, ...(attributes ? { attributes } : {}) };
      expect([mountAttrs(spec), msFlags(spec)], JSON.stringify(attributes)).toEqual([attr, ms]);
    }
  });
});

/** ovl_next_opt + vfs_parse_monolithic_sep: the kernel's split of mount(2) data into key/value. */
function kernelOptions(data: string): Array<[string, string | null]> {
  const raw: string[] = [];
  let start = 0;
  for (let i = 0; i < data.length; i++) {
    // A backslash hides the next character, whatever it is, from the comma split; it stays.
    if (data[i] === '\\') i++;
    else if (data[i] === ',') {
      raw.push(data.slice(start, i));
      start = i + 1;
    }
  }
  raw.push(data.slice(start));
  return raw
    .filter((opt) => opt.length > 0)
    .filter((opt) => !opt.startsWith('='))
    .map((opt) => {
      const eq = opt.indexOf('=');
      return eq < 0 ? [opt, null] : [opt.slice(0, eq), opt.slice(eq + 1)];
    });
}

describe('legacy data cannot be steered by directory names', () => {
  it('the kernel split is anchored on the reference example (§2)', () => {
    expect(kernelOptions('lowerdir=/x/a\\:b:/x/c\\,d:/x/e f:/x/g\\\\h::/x/d1,upperdir=/u,userxattr')).toEqual([
      ['lowerdir', '/x/a\\:b:/x/c\\,d:/x/e f:/x/g\\\\h::/x/d1'],
      ['upperdir', '/u'],
      ['userxattr', null],
    ]);
  });

  function expectExactly(spec: OverlaySpec, caps: Capabilities = linux61) {
    const p = plan({ ...spec, strategy: 'legacy' }, caps);
    const opts = kernelOptions(legacyDataOf(p));
    const keys = opts.map(([k]) => k);
    const expectedKeys = ['lowerdir', ...(spec.upper !== undefined ? ['upperdir', 'workdir'] : []), ...overlayOptionEntries(p.spec.options ?? {}).map((e) => e.key)];
    expect(keys).toEqual(expectedKeys);
    const value = (k: string) => opts.find(([key]) => key === k)?.[1] ?? '';
    expect(splitLegacyLowerdir(value('lowerdir'))).toEqual({ lower: spec.lower, data: spec.data ?? [] });
    if (spec.upper !== undefined) {
      expect(unescapeBackslashes(value('upperdir'))).toBe(spec.upper);
      expect(unescapeBackslashes(value('workdir'))).toBe(spec.work);
    }
  }

  it.each([
    ['x,upperdir=/etc'],
    ['x\\,upperdir=/etc'],
    ['x\\'],
    ['x,lowerdir=/'],
    ['x:/etc'],
    ['x::/etc'],
    ['x\\:,workdir=/etc'],
    ['x,userxattr'],
    ['x,metacopy=on,redirect_dir=on'],
  ])('a layer named %j', (name) => {
    expectExactly({ lower: [`/t/${name}`, '/t/b'], target: '/m' });
    expectExactly({ lower: ['/t/a'], data: [`/t/${name}`], upper: `/t/u/${name}`, work: `/t/w/${name}`, target: '/m', options: { redirectDir: 'nofollow' } });
  });

  it('in both fallbacks upperdir and workdir are the absolute paths, escaped as the absolute form escapes them', () => {
    const upper = '/t/u/x,upperdir=/etc\\:y';
    const work = '/t/w/x\\,workdir=/etc:';
    const lower = Array.from({ length: 20 }, (_, i) => `/t/layers/${String(i).padStart(2, '0')}-${'l'.repeat(40)}`);
    const absolute = legacyDataOf(plan({ lower: ['/t/a'], upper, work, target: '/m' }, linux61));
    const rwPart = absolute.slice(absolute.indexOf(',upperdir='));
    expect(rwPart).toBe(',upperdir=/t/u/x\\,upperdir=/etc\\\\\\:y,workdir=/t/w/x\\\\\\,workdir=/etc\\:');
    // Relative to /t/layers: 20 × 44 bytes fit a 1024-byte page; 256 bytes need fd numbers.
    for (const [pageSize, fallback] of [[1024, 'relative'], [256, 'fd']] as const) {
      const p = plan({ lower, upper, work, target: '/m' }, { ...linux61, pageSize });
      const m = p.steps.find((s) => s.step.op === 'mount')!;
      const data = m.dataPieces ? m.dataPieces.map((x) => (typeof x === 'string' ? x : '1000')).join('') : legacyDataOf(p);
      expect(m.dataPieces !== undefined, fallback).toBe(fallback === 'fd');
      expect(data.endsWith(rwPart), fallback).toBe(true);
      const opts = kernelOptions(data);
      expect(opts.map(([k]) => k)).toEqual(['lowerdir', 'upperdir', 'workdir']);
      expect(unescapeBackslashes(opts[1]![1]!)).toBe(upper);
      expect(unescapeBackslashes(opts[2]![1]!)).toBe(work);
    }
  });

  it('any name built from separators, escapes and option text yields exactly the spec (property)', () => {
    const token = fc.constantFrom(',', ':', '::', '\\', '=', 'upperdir=', 'lowerdir=', 'workdir=', '/etc', 'userxattr', ' ', '\n', 'x');
    const name = fc.array(token, { minLength: 1, maxLength: 8 }).map((t) => `/t/${t.join('')}`);
    fc.assert(
      fc.property(
        fc.array(name, { minLength: 1, maxLength: 4 }),
        fc.array(name, { maxLength: 2 }),
        fc.option(fc.tuple(name, name), { nil: undefined }),
        (lower, data, rwPair) => {
          const spec: OverlaySpec = {
            lower,
            ...(data.length > 0 ? { data } : {}),
            ...(rwPair ? { upper: rwPair[0], work: rwPair[1] } : {}),
            target: '/m',
          };
          if (!rwPair && lower.length + data.length < 2) return;
          expectExactly(spec);
        },
      ),
      { numRuns: 300 },
    );
  });
});

describe('formatPlan(): a readable, stable dry run', () => {
  const example: OverlaySpec = {
    lower: ['/srv/layers/config', '/srv/layers/app', '/srv/layers/base'],
    upper: '/srv/rw/upper',
    work: '/srv/rw/work',
    target: '/srv/merged',
    options: { redirectDir: 'nofollow', volatile: true },
    attributes: { nosuid: true, nodev: true },
    source: 'demo',
  };

  it('lowerdir+', () => {
    expect(formatPlan(plan(example, linux68))).toBe(
      [
        'strategy: lowerdir+ (the kernel takes one layer per fsconfig call: no escaping, no page limit (no layers by fd: before 6.13))',
        '  0  fsopen("overlay", FSOPEN_CLOEXEC) = fd#0',
        '  1  fsconfig(fd#0, FSCONFIG_SET_STRING, "lowerdir+", "/srv/layers/config", 0)',
        '  2  fsconfig(fd#0, FSCONFIG_SET_STRING, "lowerdir+", "/srv/layers/app", 0)',
        '  3  fsconfig(fd#0, FSCONFIG_SET_STRING, "lowerdir+", "/srv/layers/base", 0)',
        '  4  fsconfig(fd#0, FSCONFIG_SET_STRING, "upperdir", "/srv/rw/upper", 0)',
        '  5  fsconfig(fd#0, FSCONFIG_SET_STRING, "workdir", "/srv/rw/work", 0)',
        '  6  fsconfig(fd#0, FSCONFIG_SET_STRING, "redirect_dir", "nofollow", 0)',
        '  7  fsconfig(fd#0, FSCONFIG_SET_FLAG, "volatile", NULL, 0)',
        '  8  fsconfig(fd#0, FSCONFIG_SET_STRING, "source", "demo", 0)',
        '  9  fsconfig(fd#0, FSCONFIG_CMD_CREATE_EXCL, NULL, NULL, 0)',
        ' 10  fsmount(fd#0, FSMOUNT_CLOEXEC, MOUNT_ATTR_NOSUID|MOUNT_ATTR_NODEV) = fd#10',
        ' 11  move_mount(fd#10, "", AT_FDCWD, "/srv/merged", MOVE_MOUNT_F_EMPTY_PATH)',
        ' 12  close(fd#10)',
        ' 13  close(fd#0)',
        ' 14  statx(AT_FDCWD, "/srv/merged", AT_SYMLINK_NOFOLLOW, STATX_MNT_ID)  # mount id',
        ' 15  statx(AT_FDCWD, "/srv/merged", AT_SYMLINK_NOFOLLOW, STATX_MNT_ID_UNIQUE)  # mount id',
      ].join('\n'),
    );
  });

  it('fd', () => {
    expect(formatPlan(plan(example, linux618))).toBe(
      [
        'strategy: fd (each directory is opened, checked to be the one validated and passed by fd: a path swapped after the checks is refused, never mounted)',
        'by fd: lower[0], lower[1], lower[2], upper, work',
        '  0  open("/srv/layers/config", O_DIRECTORY|O_CLOEXEC|O_PATH) = fd#0',
        '  1  open("/srv/layers/app", O_DIRECTORY|O_CLOEXEC|O_PATH) = fd#1',
        '  2  open("/srv/layers/base", O_DIRECTORY|O_CLOEXEC|O_PATH) = fd#2',
        '  3  open("/srv/rw/upper", O_DIRECTORY|O_CLOEXEC|O_PATH) = fd#3',
        '  4  open("/srv/rw/work", O_DIRECTORY|O_CLOEXEC|O_PATH) = fd#4',
        '  5  statx(fd#0, "", AT_EMPTY_PATH, STATX_INO)  # ESTALE unless it is the validated lower[0]',
        '  6  statx(fd#1, "", AT_EMPTY_PATH, STATX_INO)  # ESTALE unless it is the validated lower[1]',
        '  7  statx(fd#2, "", AT_EMPTY_PATH, STATX_INO)  # ESTALE unless it is the validated lower[2]',
        '  8  statx(fd#3, "", AT_EMPTY_PATH, STATX_INO)  # ESTALE unless it is the validated upper',
        '  9  statx(fd#4, "", AT_EMPTY_PATH, STATX_INO)  # ESTALE unless it is the validated work',
        ' 10  fsopen("overlay", FSOPEN_CLOEXEC) = fd#10',
        ' 11  fsconfig(fd#10, FSCONFIG_SET_FD, "lowerdir+", NULL, fd#0)',
        ' 12  fsconfig(fd#10, FSCONFIG_SET_FD, "lowerdir+", NULL, fd#1)',
        ' 13  fsconfig(fd#10, FSCONFIG_SET_FD, "lowerdir+", NULL, fd#2)',
        ' 14  fsconfig(fd#10, FSCONFIG_SET_FD, "upperdir", NULL, fd#3)',
        ' 15  fsconfig(fd#10, FSCONFIG_SET_FD, "workdir", NULL, fd#4)',
        ' 16  fsconfig(fd#10, FSCONFIG_SET_STRING, "redirect_dir", "nofollow", 0)',
        ' 17  fsconfig(fd#10, FSCONFIG_SET_FLAG, "volatile", NULL, 0)',
        ' 18  fsconfig(fd#10, FSCONFIG_SET_STRING, "source", "demo", 0)',
        ' 19  fsconfig(fd#10, FSCONFIG_CMD_CREATE_EXCL, NULL, NULL, 0)',
        ' 20  fsmount(fd#10, FSMOUNT_CLOEXEC, MOUNT_ATTR_NOSUID|MOUNT_ATTR_NODEV) = fd#20',
        ' 21  move_mount(fd#20, "", AT_FDCWD, "/srv/merged", MOVE_MOUNT_F_EMPTY_PATH)',
        ' 22  close(fd#20)',
        ' 23  close(fd#10)',
        ' 24  statx(AT_FDCWD, "/srv/merged", AT_SYMLINK_NOFOLLOW, STATX_MNT_ID)  # mount id',
        ' 25  statx(AT_FDCWD, "/srv/merged", AT_SYMLINK_NOFOLLOW, STATX_MNT_ID_UNIQUE)  # mount id',
      ].join('\n'),
    );
  });

  it('legacy', () => {
    expect(formatPlan(plan(example, linux61))).toBe(
      [
        'strategy: legacy (this kernel has no lowerdir+ (before 6.7))',
        'mount(2) data: 135 bytes',
        '  0  mount("demo", "/srv/merged", "overlay", MS_NOSUID|MS_NODEV, "lowerdir=/srv/layers/config:/srv/layers/app:/srv/layers/base,upperdir=/srv/rw/upper,workdir=/srv/rw/work,redirect_dir=nofollow,volatile")',
        '  1  statx(AT_FDCWD, "/srv/merged", AT_SYMLINK_NOFOLLOW, STATX_MNT_ID)  # mount id',
      ].join('\n'),
    );
  });

  it('legacy, relative to the common parent (a 128-byte page)', () => {
    expect(formatPlan(plan(example, { ...linux61, pageSize: 128 }))).toBe(
      [
        "strategy: legacy (this kernel has no lowerdir+ (before 6.7); 135 bytes of absolute paths exceed one page, so layers are given relative to /srv/layers (upper and work stay absolute, for other processes' in-use checks))",
        'mount(2) data: 99 bytes',
        '  0  open("/srv/layers", O_DIRECTORY|O_CLOEXEC|O_PATH) = fd#0',
        '  1  mount("demo", "/srv/merged", "overlay", MS_NOSUID|MS_NODEV, "lowerdir=config:app:base,upperdir=/srv/rw/upper,workdir=/srv/rw/work,redirect_dir=nofollow,volatile")  # on a thread with cwd = fd#0',
        '  2  close(fd#0)',
        '  3  statx(AT_FDCWD, "/srv/merged", AT_SYMLINK_NOFOLLOW, STATX_MNT_ID)  # mount id',
      ].join('\n'),
    );
  });

  it('legacy, by fd number from /proc/self/fd (a 40-byte page)', () => {
    const spec: OverlaySpec = { lower: ['/srv/layers/configuration-layer', '/srv/layers/application-layer'], target: '/srv/merged' };
    expect(formatPlan(plan(spec, { ...linux61, pageSize: 40 }))).toBe(
      [
        'strategy: legacy (this kernel has no lowerdir+ (before 6.7); even relative paths (46 bytes) exceed one page, so every layer is opened and named by fd number from /proc/self/fd)',
        'mount(2) data: about 18 bytes (fd numbers are known once opened)',
        'by fd (mountinfo shows the fd numbers, not these paths): lower[0], lower[1]',
        '  0  open("/srv/layers/configuration-layer", O_DIRECTORY|O_CLOEXEC|O_PATH) = fd#0',
        '  1  open("/srv/layers/application-layer", O_DIRECTORY|O_CLOEXEC|O_PATH) = fd#1',
        '  2  statx(fd#0, "", AT_EMPTY_PATH, STATX_INO)  # ESTALE unless it is the validated lower[0]',
        '  3  statx(fd#1, "", AT_EMPTY_PATH, STATX_INO)  # ESTALE unless it is the validated lower[1]',
        '-- the numbers of the fds above go into the mount data --',
        '  4  open("/proc/self/fd", O_DIRECTORY|O_CLOEXEC|O_PATH) = fd#4',
        '  5  mount("overlay", "/srv/merged", "overlay", 0, "lowerdir=<fd#0>:<fd#1>")  # on a thread with cwd = fd#4',
        '  6  close(fd#4)',
        '  7  statx(AT_FDCWD, "/srv/merged", AT_SYMLINK_NOFOLLOW, STATX_MNT_ID)  # mount id',
      ].join('\n'),
    );
  });

  it('legacy, by fd number from /proc/self/fd, with upper and work as absolute paths (a 64-byte page)', () => {
    const spec: OverlaySpec = {
      lower: ['/srv/layers/configuration-layer', '/srv/layers/application-layer'],
      upper: '/srv/rw/u',
      work: '/srv/rw/w',
      target: '/srv/merged',
    };
    expect(formatPlan(plan(spec, { ...linux61, pageSize: 64 }))).toBe(
      [
        "strategy: legacy (this kernel has no lowerdir+ (before 6.7); even relative paths (83 bytes) exceed one page, so every layer is opened and named by fd number from /proc/self/fd (upper and work stay absolute, for other processes' in-use checks))",
        'mount(2) data: about 55 bytes (fd numbers are known once opened)',
        'by fd (mountinfo shows the fd numbers, not these paths): lower[0], lower[1]',
        '  0  open("/srv/layers/configuration-layer", O_DIRECTORY|O_CLOEXEC|O_PATH) = fd#0',
        '  1  open("/srv/layers/application-layer", O_DIRECTORY|O_CLOEXEC|O_PATH) = fd#1',
        '  2  statx(fd#0, "", AT_EMPTY_PATH, STATX_INO)  # ESTALE unless it is the validated lower[0]',
        '  3  statx(fd#1, "", AT_EMPTY_PATH, STATX_INO)  # ESTALE unless it is the validated lower[1]',
        '-- the numbers of the fds above go into the mount data --',
        '  4  open("/proc/self/fd", O_DIRECTORY|O_CLOEXEC|O_PATH) = fd#4',
        '  5  mount("overlay", "/srv/merged", "overlay", 0, "lowerdir=<fd#0>:<fd#1>,upperdir=/srv/rw/u,workdir=/srv/rw/w")  # on a thread with cwd = fd#4',
        '  6  close(fd#4)',
        '  7  statx(AT_FDCWD, "/srv/merged", AT_SYMLINK_NOFOLLOW, STATX_MNT_ID)  # mount id',
      ].join('\n'),
    );
  });

  it('warnings come before the steps', () => {
    const text = formatPlan(plan({ lower: ['/a', '/b'], target: '/m' }, rootless618));
    expect(text.split('\n').slice(0, 4)).toEqual([
      'strategy: fd (each directory is opened, checked to be the one validated and passed by fd: a path swapped after the checks is refused, never mounted)',
      'by fd: lower[0], lower[1]',
      'warning: added userxattr: in a user namespace the trusted.overlay.* xattrs are not available',
      '  0  open("/a", O_DIRECTORY|O_CLOEXEC|O_PATH) = fd#0',
    ]);
  });
});

describe('features the probe could not test: planned as present, with a warning', () => {
  const ASSUMED =
    "overlay's fs_context parser, lowerdir+, datadir+, layers by fd (FSCONFIG_SET_FD), FSCONFIG_CMD_CREATE_EXCL, userxattr, volatile, fsync=, uuid= values, verity, override_creds";

  it('plans what the kernel with those features gets (not legacy "before 6.7"), and says what it assumed and why', () => {
    for (const spec of [rw, { ...rw, data: ['/srv/d/1'] }, { lower: ['/a', '/b'], target: '/m' }] as OverlaySpec[]) {
      const seen = plan(spec, linux618);
      const p = plan(spec, unprivileged618);
      expect(p.strategy).toBe(seen.strategy);
      expect(p.reason).toBe(seen.reason);
      expect(p.reason).not.toMatch(/no lowerdir\+|before 6\.7/);
      expect(p.steps).toEqual(seen.steps);
      expect(p.warnings).toEqual([`assumed this kernel has ${ASSUMED}: the probe could not test them (${EPERM_REASON})`, ...seen.warnings]);
    }
  });

  it('the warning names each assumed feature once, grouped by reason', () => {
    const caps: Capabilities = { ...linux618, layersByFd: false, userxattr: false, unknown: { layersByFd: 'reason one', userxattr: 'reason two' } };
    expect(plan(rw, caps).warnings).toEqual([
      'assumed this kernel has layers by fd (FSCONFIG_SET_FD): the probe could not test them (reason one)',
      'assumed this kernel has userxattr: the probe could not test them (reason two)',
    ]);
  });

  it('a forced strategy or an option that needs an untested feature is planned, not refused', () => {
    expect(plan({ ...rw, strategy: 'fd' }, unprivileged618).strategy).toBe('fd');
    expect(plan({ ...rw, strategy: 'lowerdir+', data: ['/d'] }, unprivileged618).strategy).toBe('lowerdir+');
    const p = plan({ ...rw, options: { fsync: 'strict', verity: 'on', overrideCreds: true, uuid: 'on', volatile: false } }, unprivileged618);
    expect(fsconfigs(p)).toEqual(expect.arrayContaining([['fsync', 'strict'], ['verity', 'on'], ['override_creds', undefined], ['uuid', 'on']]));
    // A path over 255 bytes goes by fd rather than being refused for want of FSCONFIG_SET_FD.
    const long = `/srv/${'d'.repeat(300)}`;
    expect(plan({ ...rw, lower: [long, '/srv/l/b'], strategy: 'lowerdir+' }, unprivileged618).byFd).toEqual(['lower[0]']);
    // CMD_CREATE_EXCL as the kernel that has it gets.
    expect(p.steps.map((s) => s.step.op)).toContain('fsconfigCreateExcl');
  });

  it('in a user namespace an untested userxattr is assumed, so it is added as on a kernel that has it', () => {
    const p = plan(rw, { ...unprivileged618, userNamespace: true });
    expect(p.spec.options?.userxattr).toBe(true);
  });

  it('what the probe saw absent is still refused: an untested feature does not stand for a missing one', () => {
    const caps: Capabilities = { ...linux68, unknown: { userxattr: 'reason' } };
    expect(refusal(() => plan({ ...rw, strategy: 'fd' }, caps))).toEqual([problem('strategy', /'fd' needs FSCONFIG_SET_FD/)]);
    expect(refusal(() => plan({ ...rw, options: { overrideCreds: true } }, caps))).toEqual([problem('options', /override_creds/)]);
  });

  it('the caller\'s report is left as it was', () => {
    const before = structuredClone(unprivileged618);
    plan(rw, unprivileged618);
    expect(unprivileged618).toEqual(before);
  });
});
