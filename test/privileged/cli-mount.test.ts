/**
 * `ovl mount` run as a subprocess: mount(8)'s overlay syntax (escapes as the kernel reads them,
 * several -o merged, -t and the source optional), the friendly --lower/--upper/--work form,
 * --strategy, --dry-run and --json. A mount is checked in THIS process's /proc/self/mountinfo
 * after the child exited: it must exist in the caller's mount namespace, with the layers and
 * options asked for.
 */
import { chownSync, existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { findOverlaySync, MS, sys, type Strategy } from '../../src/index.js';
import { ovl, ovlOk, rawMountAt } from '../helpers/cli.js';
import { expectUnmounted } from '../helpers/overlay.js';
import { describePrivileged, itWithKernel, itWithKernelLog, strategyNeeds } from '../helpers/privileged.js';
import { mountsUnder, tempDir, writeTree } from '../helpers/tmp.js';

/** The kernel's escaping for lowerdir=/upperdir=/workdir= in mount(2) data. */
const esc = (p: string) => p.replace(/[\\:,]/g, (c) => `\\${c}`);

interface Fixture {
  root: string;
  /** Top first; their names need every escape: ':', ',' and '\'. */
  lower: [string, string, string];
  upper: string;
  work: string;
  target: string;
}

/** Three lowers whose names need escaping, an upper with a ',' and a work dir with a ':'. */
function fixture(): Fixture {
  const root = tempDir();
  const x: Fixture = {
    root,
    lower: [join(root, 'top:1'), join(root, 'mid,2'), join(root, 'bot\\3')],
    upper: join(root, 'up,per'),
    work: join(root, 'wo:rk'),
    target: join(root, 'm'),
  };
  writeTree(x.lower[0], { 'shared.txt': 'top', 'top.txt': 'top only' });
  writeTree(x.lower[1], { 'mid.txt': 'mid only' });
  writeTree(x.lower[2], { 'shared.txt': 'bottom', 'low.txt': 'low' });
  writeTree(root, { 'up,per/': null, 'm/': null });
  return x;
}

/** `lowerdir=A:B:C` for the fixture, escaped as mount(8) users write it. */
const lowerdir = (x: Fixture) => `lowerdir=${x.lower.map(esc).join(':')}`;

/** Unmounts whatever is at `target` (the test's own mount), then asserts nothing is left. */
function unmount(target: string): void {
  for (const m of mountsUnder(target).reverse()) sys.umount2Sync(m);
  expectUnmounted(target);
}

/** The merged view of the fixture: every layer contributes, the top one wins. */
function expectMergedView(x: Fixture): void {
  expect(readdirSync(x.target).sort()).toEqual(['low.txt', 'mid.txt', 'shared.txt', 'top.txt']);
  expect(readFileSync(join(x.target, 'shared.txt'), 'utf8')).toBe('top');
}

/** The overlay at `target` as this process reads it: layers (unescaped) and options. */
function expectLayers(x: Fixture, want: { upper: boolean }): void {
  const info = findOverlaySync(x.target);
  expect(info).toBeDefined();
  expect(info!.lower).toEqual(x.lower);
  expect(info!.upper).toBe(want.upper ? x.upper : undefined);
  expect(info!.work).toBe(want.upper ? x.work : undefined);
}

const STRATEGIES: Strategy[] = ['lowerdir+', 'fd', 'legacy'];

describePrivileged('ovl mount: mount(8) syntax', () => {
  for (const strategy of [undefined, ...STRATEGIES]) {
    itWithKernel(strategyNeeds(strategy), `-t overlay overlay, escaped paths in several -o, attributes and overlay options${strategy ? ` (--strategy ${strategy})` : ''}`, () => {
      const x = fixture();
      const args = [
        'mount', '-t', 'overlay', 'overlay',
        '-o', lowerdir(x),
        '-o', `upperdir=${esc(x.upper)},workdir=${esc(x.work)}`,
        '-o', 'nosuid,nodev,noatime',
        '-o', 'redirect_dir=on,index=off',
        ...(strategy ? ['--strategy', strategy] : []),
        x.target,
      ];
      expect(ovlOk(args)).toBe('');
      try {
        const m = rawMountAt(x.target);
        expect(m?.fsType).toBe('overlay');
        expect(m?.source).toBe('overlay');
        expect(m?.mountOptions).toEqual(expect.arrayContaining(['rw', 'nosuid', 'nodev', 'noatime']));
        expect(m?.mountOptions).not.toContain('noexec');
        expect(m?.superOptions).toEqual(expect.arrayContaining(['redirect_dir=on']));
        expectLayers(x, { upper: true });
        expectMergedView(x);
        // Writable: a write lands in the upper dir (the work dir was created with its ':').
        writeFileSync(join(x.target, 'low.txt'), 'changed');
        expect(readFileSync(join(x.upper, 'low.txt'), 'utf8')).toBe('changed');
        expect(readFileSync(join(x.lower[2], 'low.txt'), 'utf8')).toBe('low');
        expect(existsSync(join(x.work, 'work'))).toBe(true);
      } finally {
        unmount(x.target);
      }
    });
  }

  it('reads the escapes exactly as the kernel does: the same options through mount(2) give the same layers', () => {
    const x = fixture();
    const data = `${lowerdir(x)},upperdir=${esc(x.upper)},workdir=${esc(x.work)}`;
    // The kernel itself parses the string (mount(2), no library in between).
    mkdirSync(x.work);
    sys.mountSync('overlay', x.target, 'overlay', { data });
    let byKernel;
    try {
      byKernel = findOverlaySync(x.target);
    } finally {
      unmount(x.target);
    }
    expect(byKernel?.lower).toEqual(x.lower);
    expect(byKernel?.upper).toBe(x.upper);
    expect(byKernel?.work).toBe(x.work);

    ovlOk(['mount', '-t', 'overlay', 'overlay', '-o', data, x.target]);
    try {
      const byOvl = findOverlaySync(x.target);
      expect({ lower: byOvl?.lower, upper: byOvl?.upper, work: byOvl?.work }).toEqual({
        lower: byKernel!.lower,
        upper: byKernel!.upper,
        work: byKernel!.work,
      });
      expectMergedView(x);
    } finally {
      unmount(x.target);
    }
  });

  it('`\\\\` is a backslash and `::` starts the data-only layers', () => {
    const x = fixture();
    const data = writeTree(join(x.root, 'data\\only'), { 'blob': 'data' });
    ovlOk(['mount', '-o', `lowerdir=${esc(x.lower[0])}:${esc(x.lower[1])}:${x.lower[2].replace('\\', '\\\\')}::${esc(data)}`, x.target]);
    try {
      const info = findOverlaySync(x.target);
      expect(info?.lower).toEqual(x.lower);
      expect(info?.data).toEqual([data]);
      // Data-only layers are not part of the merged namespace.
      expectMergedView(x);
    } finally {
      unmount(x.target);
    }
  });

  it('-o lowerdir=A:B -o upperdir=U,workdir=W -o ro: a read-only mount of an overlay with an upper', () => {
    const x = fixture();
    ovlOk(['mount', '-t', 'overlay', 'overlay', '-o', lowerdir(x), '-o', `upperdir=${esc(x.upper)},workdir=${esc(x.work)}`, '-o', 'ro', x.target]);
    try {
      expect(rawMountAt(x.target)?.mountOptions).toContain('ro');
      expectLayers(x, { upper: true });
      expect(findOverlaySync(x.target)?.readOnly).toBe(true);
      expectMergedView(x);
      expect(() => writeFileSync(join(x.target, 'new.txt'), 'x')).toThrow(expect.objectContaining({ code: 'EROFS' }));
      expect(readdirSync(x.upper)).toEqual([]);
    } finally {
      unmount(x.target);
    }
  });

  it('a later -o overrides an earlier one, as mount(8) merges them: ro then rw, noatime then strictatime or atime, nosuid then suid, lowerdir= twice', () => {
    const x = fixture();
    const first = writeTree(join(x.root, 'ignored'), { 'ignored.txt': 'no' });
    ovlOk(['mount', '-o', `lowerdir=${esc(first)}:${esc(x.lower[2])}`, '-o', 'ro,noatime', '-o', lowerdir(x), '-o', 'rw,strictatime', x.target]);
    try {
      const m = rawMountAt(x.target);
      // A read-only overlay (no upper) is read-only whatever the mount flag says; the mount is rw.
      expect(m?.mountOptions[0]).toBe('rw');
      expect(m?.mountOptions).not.toContain('noatime');
      expect(m?.mountOptions).not.toContain('relatime');
      expectLayers(x, { upper: false });
      expectMergedView(x);
    } finally {
      unmount(x.target);
    }
    // atime undoes an earlier noatime (back to the kernel's relatime), suid an earlier nosuid.
    ovlOk(['mount', '-o', lowerdir(x), '-o', 'noatime,nosuid', '-o', 'atime,suid', x.target]);
    try {
      const m = rawMountAt(x.target);
      expect(m?.mountOptions).toContain('relatime');
      expect(m?.mountOptions).not.toContain('noatime');
      expect(m?.mountOptions).not.toContain('nosuid');
    } finally {
      unmount(x.target);
    }
  });

  it('-t and the source may be omitted; options may follow the target; another source is the mountinfo label', () => {
    const x = fixture();
    ovlOk(['mount', x.target, '-o', lowerdir(x)]);
    try {
      expect(rawMountAt(x.target)?.source).toBe('overlay');
      expectLayers(x, { upper: false });
      expectMergedView(x);
    } finally {
      unmount(x.target);
    }
    ovlOk(['mount', '-t', 'overlay', 'my-container', '-o', lowerdir(x), x.target]);
    try {
      expect(rawMountAt(x.target)?.source).toBe('my-container');
      expectLayers(x, { upper: false });
    } finally {
      unmount(x.target);
    }
  });

  // The automatic strategy is 'lowerdir+' where the kernel has it.
  itWithKernel('layersByFd', '--json after a mount: target, mount id (the one mountinfo shows) and strategy', () => {
    const x = fixture();
    const out = JSON.parse(ovlOk(['mount', '--json', '-o', `${lowerdir(x)},upperdir=${esc(x.upper)},workdir=${esc(x.work)}`, x.target])) as Record<string, unknown>;
    try {
      expect(out).toMatchObject({ target: x.target, strategy: 'fd', byFd: [...x.lower.map((_, i) => `lower[${i}]`), 'upper', 'work'] });
      expect(out.mountId).toBe(rawMountAt(x.target)?.mountId);
    } finally {
      unmount(x.target);
    }
  });
});

describePrivileged('ovl mount: the friendly form', () => {
  it('--lower A --lower B --lower C --upper U --work W: paths as they are, no escaping', () => {
    const x = fixture();
    const args = ['mount', ...x.lower.flatMap((l) => ['--lower', l]), '--upper', x.upper, '--work', x.work, x.target];
    expect(ovlOk(args)).toBe('');
    try {
      expect(rawMountAt(x.target)?.fsType).toBe('overlay');
      expectLayers(x, { upper: true });
      expectMergedView(x);
    } finally {
      unmount(x.target);
    }
  });

  it('relative paths are taken from the current directory; --option and -o add options and attributes', () => {
    const x = fixture();
    ovlOk(['mount', '--lower', 'top:1', '--lower', './mid,2', '--lower', 'bot\\3', '--upper', 'up,per', '--work', 'wo:rk', '--option', 'redirect_dir=on', '-o', 'nosuid', 'm'], { cwd: x.root });
    try {
      expectLayers(x, { upper: true });
      expect(rawMountAt(x.target)?.mountOptions).toContain('nosuid');
      expect(findOverlaySync(x.target)?.options.redirectDir).toBe('on');
    } finally {
      unmount(x.target);
    }
  });

  for (const strategy of STRATEGIES) {
    itWithKernel(strategyNeeds(strategy), `--strategy ${strategy}: used, reported by --json, and the mount reads back the same`, () => {
      const x = fixture();
      const out = ovlOk(['mount', '--json', '--strategy', strategy, ...x.lower.flatMap((l) => ['--lower', l]), '--upper', x.upper, '--work', x.work, x.target]);
      try {
        const r = JSON.parse(out) as { strategy: string; mountId: number; byFd: string[] };
        expect(r.strategy).toBe(strategy);
        expect(r.mountId).toBe(rawMountAt(x.target)?.mountId);
        expect(r.byFd).toEqual(strategy === 'fd' ? ['lower[0]', 'lower[1]', 'lower[2]', 'upper', 'work'] : []);
        const super_ = rawMountAt(x.target)!.superOptions;
        if (strategy === 'legacy') expect(super_.some((o) => o.startsWith('lowerdir='))).toBe(true);
        else expect(super_.filter((o) => o.startsWith('lowerdir+=')).length).toBe(3);
        expectLayers(x, { upper: true });
        expectMergedView(x);
      } finally {
        unmount(x.target);
      }
    });
  }
});

describePrivileged('ovl mount --idmap', () => {
  itWithKernel('layersByFd', '--idmap IN:OUT:COUNT maps the layers\' owners (uids and gids); --uidmap/--gidmap apart; a bad range is a usage error', () => {
    const x = fixture();
    const first = join(x.lower[2]!, 'low.txt');
    chownSync(first, 1000, 2000);
    ovlOk(['mount', ...x.lower.flatMap((l) => ['--lower', l]), '--idmap', '0:100000:65536', x.target]);
    try {
      expect([statSync(join(x.target, 'low.txt')).uid, statSync(join(x.target, 'low.txt')).gid]).toEqual([101000, 102000]);
    } finally {
      unmount(x.target);
    }
    ovlOk(['mount', ...x.lower.flatMap((l) => ['--lower', l]), '--uidmap', '0:100000:65536', '--gidmap', '0:300000:65536', x.target]);
    try {
      expect([statSync(join(x.target, 'low.txt')).uid, statSync(join(x.target, 'low.txt')).gid]).toEqual([101000, 302000]);
    } finally {
      unmount(x.target);
    }
    expect(statSync(first).uid).toBe(1000);
    const dry = ovlOk(['mount', '--dry-run', ...x.lower.flatMap((l) => ['--lower', l]), '--idmap', '0:100000:65536', x.target]);
    expect(dry).toContain('mount_setattr(fd#1, "", AT_EMPTY_PATH, {attr_set: MOUNT_ATTR_IDMAP, userns_fd: fd#0})');
    const bad = ovl(['mount', '--lower', x.lower[0]!, '--lower', x.lower[1]!, '--idmap', '0:100000', x.target]);
    expect(bad.status).toBe(1);
    expect(bad.stderr).toContain("--idmap takes INSIDE:OUTSIDE:COUNT (e.g. 0:100000:65536), not '0:100000'");
    const half = ovl(['mount', '--lower', x.lower[0]!, '--lower', x.lower[1]!, '--uidmap', '0:100000:1', x.target]);
    expect(half.status).toBe(1);
    expect(half.stderr).toContain('--uidmap needs its pair (--gidmap), or give both with --idmap');
    expectUnmounted(x.target);
  });
});

describePrivileged('ovl mount --dry-run', () => {
  itWithKernel('layersByFd', 'prints the plan (the exact syscalls), mounts nothing and creates no work dir', () => {
    const x = fixture();
    const out = ovlOk(['mount', '--dry-run', ...x.lower.flatMap((l) => ['--lower', l]), '--upper', x.upper, '--work', x.work, x.target]);
    expect(out).toMatch(/^strategy: fd /);
    expect(out).toContain('fsopen("overlay", FSOPEN_CLOEXEC)');
    // Each layer opened, checked against what validation saw, and handed over by fd.
    x.lower.forEach((l, i) => {
      expect(out).toContain(`open(${JSON.stringify(l)}, O_DIRECTORY|O_CLOEXEC|O_PATH) = fd#${i}`);
      expect(out).toContain(`# ESTALE unless it is the validated lower[${i}]`);
      expect(out).toMatch(new RegExp(`FSCONFIG_SET_FD, "lowerdir\\+", NULL, fd#${i}\\)`));
    });
    expect(out).toContain(`move_mount(fd#`);
    expect(out).toContain(JSON.stringify(x.target));
    expect(mountsUnder(x.root)).toEqual([]);
    expect(existsSync(x.work)).toBe(false);
  });

  it('in mount(8) syntax with --strategy legacy: the mount(2) call with the option string, escaped', () => {
    const x = fixture();
    const out = ovlOk(['mount', '--dry-run', '--strategy', 'legacy', '-t', 'overlay', 'overlay', '-o', lowerdir(x), '-o', 'ro', x.target]);
    expect(out).toMatch(/^strategy: legacy/);
    // formatPlan prints the data as a JSON string: each backslash doubled.
    expect(out).toContain(`mount("overlay", ${JSON.stringify(x.target)}, "overlay", MS_RDONLY, ${JSON.stringify(lowerdir(x))})`);
    expect(mountsUnder(x.root)).toEqual([]);
  });

  itWithKernel(['layersByFd', 'createExcl'], '--json: the plan as data', () => {
    const x = fixture();
    const plan = JSON.parse(ovlOk(['mount', '--dry-run', '--json', '--strategy', 'fd', ...x.lower.flatMap((l) => ['--lower', l]), x.target])) as {
      strategy: string;
      byFd: string[];
      steps: Array<{ step: { op: string } }>;
      spec: { lower: string[]; target: string };
    };
    expect(plan.strategy).toBe('fd');
    expect(plan.byFd).toEqual(['lower[0]', 'lower[1]', 'lower[2]']);
    expect(plan.spec).toMatchObject({ lower: x.lower, target: x.target });
    expect(plan.steps.map((s) => s.step.op)).toEqual(expect.arrayContaining(['open', 'fsopen', 'fsconfigSetFd', 'fsconfigCreateExcl', 'fsmount', 'moveMount']));
    expect(mountsUnder(x.root)).toEqual([]);
  });
});

// In mount(8)'s syntax (-o lowerdir=...) the first line is mount(8)'s (cli-mount8.test.ts compares
// it with mount(8)'s); the kernel's words follow it, and with -v the stage, strategy and hint.
describePrivileged('ovl mount: a failing mount exits 32 with the kernel\'s words, the stage and a hint', () => {
  /** `ovl mount` index=on with a reused upper whose lowers changed: it fails, and leaves nothing. */
  function staleOrigin(strategy: Strategy) {
    const root = tempDir();
    writeTree(root, { 'a/from-a': 'a', 'b/from-b': 'b', 'u/': null, 'm/': null });
    const [a, b, u, w, m] = ['a', 'b', 'u', 'w', 'm'].map((n) => join(root, n)) as [string, string, string, string, string];
    ovlOk(['mount', '-o', `lowerdir=${a},upperdir=${u},workdir=${w},index=on`, m]);
    ovlOk(['umount', m]);
    expectUnmounted(m);
    const r = ovl(['mount', '-v', '--strategy', strategy, '-o', `lowerdir=${b},upperdir=${u},workdir=${w},index=on`, m]);
    expectUnmounted(m);
    return r;
  }

  for (const strategy of ['lowerdir+', 'legacy'] as const) {
    itWithKernel(strategyNeeds(strategy), `index=on with a reused upper whose lowers changed (--strategy ${strategy}): ESTALE at ${strategy === 'legacy' ? 'mount' : 'create'}`, () => {
      const r = staleOrigin(strategy);
      expect(r.status).toBe(32);
      expect(r.stdout).toBe('');
      expect(r.stderr).toMatch(new RegExp(`^ovl: .*: ${strategy === 'legacy' ? 'mount\\(2\\)' : 'fsconfig'} system call failed: Stale file handle\\.\n`));
      expect(r.stderr).toContain('\n       ESTALE: stale file handle');
      expect(r.stderr).toContain(`stage: ${strategy === 'legacy' ? 'mount' : 'create'} (strategy ${strategy})`);
      // From ESTALE at create with index=on, whether or not the log could be read.
      expect(r.stderr).toMatch(/\n +hint: index=on recorded other lower layers/);
    });

    // The kernel says why only in its log (/dev/kmsg), in a line that names no path: it could
    // be another overlay's, so the CLI shows it as a kernel log line, not in the message.
    itWithKernelLog(strategyNeeds(strategy), `that ESTALE (--strategy ${strategy}): the kernel log's line apart from the message, and the index hint`, () => {
      const r = staleOrigin(strategy);
      expect(r.status).toBe(32);
      expect(r.stderr.split('\n')[0]).not.toContain('failed to verify upper root origin');
      expect(r.stderr).toContain('\n       kernel log: overlayfs: failed to verify upper root origin\n');
      expect(r.stderr).toMatch(/\n +hint: index=on recorded other lower layers/);
    });
  }

  /** `ovl mount` with upper and work on a read-only tmpfs: it fails, and leaves nothing. */
  function readOnlyUpper(strategy: Strategy) {
    const root = tempDir();
    writeTree(root, { 'a/x': 'a', 'b/y': 'b', 'ro/': null, 'm/': null });
    const ro = join(root, 'ro');
    const upper = join(ro, 'u');
    sys.mountSync('tmpfs', ro, 'tmpfs', { data: 'size=1m' });
    try {
      writeTree(ro, { 'u/': null, 'w/': null });
      sys.mountSync(null, ro, null, { flags: MS.REMOUNT | MS.RDONLY });
      const r = ovl(['mount', '-v', '--strategy', strategy, '-o', `lowerdir=${join(root, 'a')}:${join(root, 'b')},upperdir=${upper},workdir=${join(ro, 'w')}`, join(root, 'm')]);
      expectUnmounted(join(root, 'm'));
      return { r, upper };
    } finally {
      sys.umount2Sync(ro);
    }
  }

  for (const strategy of STRATEGIES) {
    itWithKernel(strategyNeeds(strategy), `upper and work on a read-only tmpfs (--strategy ${strategy}): EINVAL${strategy === 'legacy' ? '' : ', "filesystem on ... is read-only"'}`, () => {
      const { r, upper } = readOnlyUpper(strategy);
      expect(r.status).toBe(32);
      if (strategy === 'legacy') {
        // mount(2) has no fs-context log: mount(8)'s words for EINVAL.
        expect(r.stderr).toMatch(/^ovl: .*: wrong fs type, bad option, bad superblock on overlay, missing codepage or helper program, or other error\.\n/);
        expect(r.stderr).toContain('stage: mount (strategy legacy)');
      } else {
        // The kernel's words from the fs context in the first line, as util-linux 2.39+ prints them.
        expect(r.stderr.split('\n')[0]).toBe(`ovl: ${join(upper, '..', '..', 'm')}: fsconfig system call failed: overlay: filesystem on ${upper} is read-only.`);
        expect(r.stderr).toContain(`stage: fsconfig upperdir '${upper}' (strategy ${strategy})`);
        expect(r.stderr).not.toContain('kernel: ');
        expect(r.stderr).toMatch(/\n +hint: .*writable/);
      }
    });
  }

  // mount(2) has no fs-context log: the kernel's words are in its log only.
  itWithKernelLog([], 'upper and work on a read-only tmpfs (--strategy legacy): the kernel log\'s "filesystem on ... is read-only" and the hint', () => {
    const { r, upper } = readOnlyUpper('legacy');
    expect(r.status).toBe(32);
    // The second line: the kernel's words (mount(8) would say "dmesg(1) may have more information").
    expect(r.stderr.split('\n')[1]).toBe(`       overlay: filesystem on ${upper} is read-only`);
    expect(r.stderr).toMatch(/\n +hint: .*writable/);
  });

  itWithKernel('lowerdirPlus', 'relative paths in -o mean what they mean to mount(8): relative to the caller\'s cwd', () => {
    const root = tempDir();
    writeTree(root, { 'a/x': 'a', 'b/y': 'b', 'u/': null, 'm/': null });
    ovlOk(['mount', '-o', 'lowerdir=a:b,upperdir=u,workdir=w', 'm'], { cwd: root });
    try {
      const m = rawMountAt(join(root, 'm'))!;
      expect(m.fsType).toBe('overlay');
      // Passed as absolute paths, so mountinfo names the real directories.
      expect(m.superOptions).toEqual(expect.arrayContaining([`lowerdir+=${join(root, 'a')}`, `lowerdir+=${join(root, 'b')}`, `upperdir=${join(root, 'u')}`, `workdir=${join(root, 'w')}`]));
      expect(readdirSync(join(root, 'm')).sort()).toEqual(['x', 'y']);
    } finally {
      sys.umount2Sync(join(root, 'm'));
    }
  });

  it('--dry-run validates like a real mount: a missing layer exits 32 with the problem, and nothing is made', () => {
    const root = tempDir();
    writeTree(root, { 'a/x': 'a', 'm/': null });
    const r = ovl(['mount', '--dry-run', '--lower', join(root, 'a'), '--lower', join(root, 'gone'), join(root, 'm')]);
    expect(r.status).toBe(32);
    expect(r.stderr).toMatch(/lower\[1\]: '.*gone' cannot be used: ENOENT/);
    expect(mountsUnder(root)).toEqual([]);
  });

  it('-r/-w are -o ro/-o rw, -n is accepted; a bad --strategy and --lower with -o lowerdir= are usage errors', () => {
    const root = tempDir();
    writeTree(root, { 'a/x': 'a', 'b/y': 'b', 'm/': null });
    ovlOk(['mount', '-n', '-r', '-o', `lowerdir=${join(root, 'a')}:${join(root, 'b')}`, join(root, 'm')]);
    try {
      expect(rawMountAt(join(root, 'm'))!.mountOptions).toContain('ro');
    } finally {
      sys.umount2Sync(join(root, 'm'));
    }
    expect(ovl(['mount', '--strategy', 'bogus', '--lower', join(root, 'a'), '--lower', join(root, 'b'), join(root, 'm')]).status).toBe(1);
    expect(ovl(['mount', '--lower', join(root, 'a'), '-o', `lowerdir=${join(root, 'b')}`, join(root, 'm')]).status).toBe(1);
    expect(mountsUnder(root)).toEqual([]);
  });

  it('an invalid spec lists every problem: a missing layer, work on another mount than upper, a target that is a file', () => {
    const root = tempDir();
    writeTree(root, { 'a/x': 'a', 'u/': null, 'other/': null, file: 'not a dir' });
    const other = join(root, 'other');
    sys.mountSync('tmpfs', other, 'tmpfs', { data: 'size=1m' });
    try {
      const r = ovl(['mount', '-o', `lowerdir=${join(root, 'a')}:${join(root, 'gone')},upperdir=${join(root, 'u')},workdir=${join(other, 'w')}`, join(root, 'file')]);
      expect(r.status).toBe(32);
      const lines = r.stderr.trimEnd().split('\n');
      // mount(8)'s words for the first problem mount(2) meets (the mount point), then every one.
      expect(lines[0]).toBe(`ovl: ${join(root, 'file')}: mount point is not a directory.`);
      expect(lines.slice(1).sort()).toEqual([
        expect.stringMatching(/^ {7}lower\[1\]: '.*\/gone' cannot be used: .*ENOENT/),
        expect.stringMatching(/^ {7}target: '.*\/file' is not a directory$/),
        expect.stringMatching(/^ {7}work: is on a different mount than upper/),
      ]);
      expect(existsSync(join(other, 'w'))).toBe(false);
      expect(mountsUnder(root)).toEqual([other]);
    } finally {
      sys.umount2Sync(other);
    }
  });

  it('options that are not overlay or mount options, and bad values, are each named (exit 32)', () => {
    const root = tempDir();
    writeTree(root, { 'a/x': 'a', 'b/y': 'b', 'm/': null });
    const r = ovl(['mount', '-o', `lowerdir=${join(root, 'a')}:${join(root, 'b')},frobnicate,index=maybe`, '-o', 'xino=sometimes', join(root, 'm')]);
    expect(r.status).toBe(32);
    expect(r.stderr.split('\n')).toEqual([
      `ovl: ${join(root, 'm')}: wrong fs type, bad option, bad superblock on overlay, missing codepage or helper program, or other error.`,
      '       -o frobnicate: is not an overlay or mount option',
      "       -o index: must be one of on, off; got 'maybe'",
      "       -o xino: must be one of on, off, auto; got 'sometimes'",
      '',
    ]);
    expectUnmounted(join(root, 'm'));
  });

  it('no lowerdir at all: exit 32, naming -o lowerdir', () => {
    const root = tempDir();
    writeTree(root, { 'm/': null });
    const r = ovl(['mount', '-t', 'overlay', 'overlay', '-o', 'ro', join(root, 'm')]);
    expect(r.status).toBe(32);
    expect(r.stderr).toContain('-o lowerdir: is required');
    expectUnmounted(join(root, 'm'));
  });
});

describePrivileged('ovl mount: bad usage exits 1 with the usage', () => {
  const cases: Array<[string, string[], RegExp]> = [
    ['an unknown flag', ['--frobnicate', '/mnt'], /Unknown option '--frobnicate'/],
    ['no target', ['-t', 'overlay', '-o', 'lowerdir=/a:/b'], /mount needs a TARGET/],
    ['three positionals', ['overlay', '/x', '/y', '-o', 'lowerdir=/a:/b'], /mount needs a TARGET/],
    ['another filesystem type', ['-t', 'ext4', '/dev/sda1', '/mnt'], /mounts overlays only \(-t ext4\)/],
    ['-o without a value', ['/mnt', '-o'], /argument missing/],
  ];
  for (const [what, args, message] of cases) {
    it(what, () => {
      const r = ovl(['mount', ...args]);
      expect(r.status).toBe(1);
      expect(r.stdout).toBe('');
      expect(r.stderr).toMatch(message);
      expect(r.stderr).toContain('usage: ovl mount');
    });
  }
});
