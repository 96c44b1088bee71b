/**
 * The `ovl` commands other than mount and demo, run as subprocesses against real overlays:
 * umount (--lazy, --clean-workdir), ls, inspect (--typed), which, diff, probe, whiteout, opaque;
 * --help on each, no command, an unknown one; colours only on a TTY.
 */
import { spawnSync } from 'node:child_process';
import { closeSync, existsSync, lstatSync, mkdirSync, openSync, readdirSync, readFileSync, readSync, rmSync, writeFileSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { expect, it } from 'vitest';
import { findOverlaySync, probeSync, sys } from '../../src/index.js';
import { CLI, ovl, ovlOk, rawMountAt, SCRIPT } from '../helpers/cli.js';
import { expectUnmounted } from '../helpers/overlay.js';
import { describePrivileged, itWithKernel } from '../helpers/privileged.js';
import { mountsUnder, tempDir, writeTree } from '../helpers/tmp.js';

interface Fx {
  root: string;
  top: string;
  bottom: string;
  upper: string;
  work: string;
  target: string;
}

/** top over bottom, an upper and a target; nothing mounted yet. */
function fixture(): Fx {
  const root = tempDir();
  const at = (n: string) => join(root, n);
  writeTree(at('top'), { 'shared.txt': 'top', 'etc/top.conf': 'top' });
  writeTree(at('bottom'), { 'shared.txt': 'bottom', 'low.txt': 'low', 'doomed.txt': 'doomed', 'etc/os-release': 'ID=x\n', 'var/cache/a': 'a' });
  writeTree(root, { 'upper/': null, 'm/': null });
  return { root, top: at('top'), bottom: at('bottom'), upper: at('upper'), work: at('work'), target: at('m') };
}

/** Mounts the fixture with `ovl mount` (mount(8) syntax). */
function mountFx(x: Fx, extra: string[] = []): void {
  ovlOk(['mount', '-o', `lowerdir=${x.top}:${x.bottom},upperdir=${x.upper},workdir=${x.work}`, ...extra, x.target]);
  expect(rawMountAt(x.target)?.fsType).toBe('overlay');
}

function unmount(target: string): void {
  for (const m of mountsUnder(target).reverse()) sys.umount2Sync(m);
  expectUnmounted(target);
}

/** This process's cwd-relative path to `p`, as a mount(2) caller with relative paths gives it. */
const rel = (p: string) => relative(process.cwd(), p);

/** mount(2) with relative paths: mountinfo shows them as given, so nobody else knows where the layers are. */
function mountRelative(x: Fx): void {
  expect(rel(x.work).startsWith('/')).toBe(false);
  mkdirSync(x.work, { recursive: true });
  sys.mountSync('overlay', x.target, 'overlay', { data: `lowerdir=${rel(x.top)}:${rel(x.bottom)},upperdir=${rel(x.upper)},workdir=${rel(x.work)}` });
}

/** Changes through the mount: one added, one changed (a copy-up), one deleted (a whiteout). */
function change(x: Fx): void {
  writeFileSync(join(x.target, 'new.txt'), 'new');
  writeFileSync(join(x.target, 'low.txt'), 'changed');
  rmSync(join(x.target, 'doomed.txt'));
}

const CHANGES = ['A /new.txt', 'C /low.txt', 'D /doomed.txt'];

describePrivileged('ovl umount', () => {
  it('unmounts; the work dir keeps the kernel\'s work/ until --clean-workdir', () => {
    const x = fixture();
    mountFx(x);
    expect(ovlOk(['umount', x.target])).toBe('');
    expectUnmounted(x.target);
    expect(readdirSync(x.work)).toContain('work');

    mountFx(x);
    const r = ovl(['umount', x.target, '--clean-workdir']);
    expect(r.status).toBe(0);
    expect(r.stdout).toBe('');
    expect(r.stderr).toContain(`ovl: removed ${join(x.work, 'work')}`);
    expectUnmounted(x.target);
    expect(readdirSync(x.work)).toEqual([]);
  });

  it('a busy mount: EBUSY (exit 32) without --lazy; --lazy detaches it at once and open files keep working', () => {
    const x = fixture();
    mountFx(x);
    const fd = openSync(join(x.target, 'shared.txt'), 'r');
    try {
      const r = ovl(['umount', x.target]);
      expect(r.status).toBe(32);
      // umount(8)'s first line, then ours: the error and who holds it.
      expect(r.stderr).toMatch(new RegExp(`^ovl: ${x.target}: target is busy\\.\n {7}EBUSY`));
      expect(rawMountAt(x.target)?.fsType).toBe('overlay');

      const lazy = ovl(['umount', '--lazy', x.target]);
      expect(lazy.status).toBe(0);
      // The truth about the detach: this process's open file still holds the overlay (its path
      // now from the detached overlay's own root, as the kernel shows it).
      expect(lazy.stderr).toBe(`ovl: warning: '${x.target}' is detached but still in use (pid ${process.pid} (node): fd ${fd} /shared.txt): the overlay lives on until its last user is gone\n`);
      expectUnmounted(x.target);
      const buf = Buffer.alloc(16);
      expect(buf.toString('utf8', 0, readSync(fd, buf, 0, 16, 0))).toBe('top');
    } finally {
      closeSync(fd);
    }
  });

  it('--lazy --clean-workdir on a busy overlay: detached, but its work dir is left to the overlay that still runs on it', () => {
    const x = fixture();
    mountFx(x);
    // An open directory keeps the overlay alive after the detach; paths through it still work.
    const dir = openSync(x.target, 'r');
    try {
      const r = ovl(['umount', '--lazy', '--clean-workdir', x.target]);
      expect(r.status).toBe(0);
      expect(r.stderr).toMatch(/^ovl: warning: '.*' is detached but still in use \(pid \d+ \(node\): fd \d+ .*\): the overlay lives on until its last user is gone, so its work dir '.*' was not cleaned\n$/);
      expectUnmounted(x.target);
      expect(readdirSync(x.work)).toEqual(['work']);
      // A copy-up still works: the kernel's work dir is still there.
      writeFileSync(`/proc/self/fd/${dir}/low.txt`, 'changed after the detach');
      expect(readFileSync(join(x.upper, 'low.txt'), 'utf8')).toBe('changed after the detach');
    } finally {
      closeSync(dir);
    }
    // Not busy: --lazy --clean-workdir unmounts and cleans.
    mountFx(x);
    const r = ovl(['umount', '--lazy', '--clean-workdir', x.target]);
    expect(r).toEqual({ status: 0, stdout: '', stderr: `ovl: removed ${join(x.work, 'work')}\n` });
    expectUnmounted(x.target);
  });

  it('--clean-workdir refuses, before unmounting, where the kernel shows relative layer paths (they name other dirs from here)', () => {
    const x = fixture();
    mountRelative(x);
    try {
      // From another cwd, the same relative work path names a decoy holding a work/ dir.
      const cwd = writeTree(join(x.root, 'elsewhere', ...process.cwd().split('/').filter(Boolean)), {});
      const decoy = writeTree(resolve(cwd, rel(x.work)), { 'work/keep': 'keep' });
      expect(decoy.startsWith(x.root + '/')).toBe(true);
      const r = ovl(['umount', '--clean-workdir', x.target], { cwd });
      expect(r.status).toBe(32);
      expect(r.stderr).toBe(`ovl: cannot clean the work dir of '${x.target}': the kernel shows it as '${rel(x.work)}', not where it is; nothing was unmounted\n`);
      expect(rawMountAt(x.target)?.fsType).toBe('overlay');
      expect(readFileSync(join(decoy, 'work', 'keep'), 'utf8')).toBe('keep');
      expect(readdirSync(x.work)).toEqual(['work']);
    } finally {
      unmount(x.target);
    }
  });

  it('errors: nothing mounted there (32), --clean-workdir where no overlay is (32), no TARGET (1)', () => {
    const x = fixture();
    const r = ovl(['umount', x.target]);
    expect(r.status).toBe(32);
    // umount(8)'s words.
    expect(r.stderr).toBe(`ovl: ${x.target}: not mounted.\n`);
    const c = ovl(['umount', '--clean-workdir', x.target]);
    expect(c.status).toBe(32);
    expect(c.stderr).toBe(`ovl: ${x.target}: not mounted.\n`);
    // ovl umount takes overlays only (umount(8) is there for the rest).
    sys.mountSync('tmpfs', x.target, 'tmpfs', { data: 'size=1m' });
    try {
      const t = ovl(['umount', x.target]);
      expect(t.status).toBe(32);
      expect(t.stderr).toBe(`ovl: ${x.target}: not an overlay (ovl umount unmounts overlays only; use umount(8))\n`);
    } finally {
      sys.umount2Sync(x.target);
    }
    const u = ovl(['umount']);
    expect(u.status).toBe(1);
    expect(u.stderr).toContain('usage: ovl umount TARGET');
  });
});

describePrivileged('ovl ls', () => {
  // The automatic strategy is 'lowerdir+' where the kernel has it: the FORM column says so.
  itWithKernel('lowerdirPlus', 'a table of the overlays, and --json with every field', () => {
    const x = fixture();
    const ro = writeTree(join(x.root, 'ro'), {});
    mountFx(x, ['-o', 'redirect_dir=on']);
    ovlOk(['mount', '--strategy', 'legacy', '-o', `lowerdir=${x.top}:${x.bottom}`, ro]);
    try {
      const lines = ovlOk(['ls']).trimEnd().split('\n');
      expect(lines[0]).toMatch(/^TARGET +LAYERS +UPPER +MOUNT +FORM +OPTIONS$/);
      const row = (target: string) => lines.find((l) => l.startsWith(`${target} `))?.split(/ {2,}/);
      expect(row(x.target)).toEqual([x.target, '2', x.upper, 'rw', 'lowerdir+', expect.stringContaining('redirectDir=on')]);
      expect(row(ro)).toEqual([ro, '2', '(read-only)', 'rw', 'legacy', expect.any(String)]);
      // Columns line up: every row has TARGET padded to the same width.
      const width = lines[0]!.indexOf('LAYERS');
      for (const l of lines.slice(1)) expect(l[width - 1]).toBe(' ');

      const all = JSON.parse(ovlOk(['ls', '--json'])) as Array<Record<string, unknown>>;
      const mine = all.filter((o) => typeof o.target === 'string' && o.target.startsWith(x.root + '/'));
      expect(mine).toEqual([
        expect.objectContaining({
          target: x.target,
          mountId: rawMountAt(x.target)!.mountId,
          source: 'overlay',
          lower: [x.top, x.bottom],
          data: [],
          upper: x.upper,
          work: x.work,
          readOnly: false,
          options: expect.objectContaining({ redirectDir: 'on' }),
          form: 'lowerdir+',
          pathsKnown: true,
        }),
        expect.objectContaining({ target: ro, lower: [x.top, x.bottom], readOnly: true, form: 'legacy' }),
      ]);
      expect(mine[1]).not.toHaveProperty('upper');
    } finally {
      unmount(ro);
      unmount(x.target);
    }
  });
});

describePrivileged('ovl inspect', () => {
  it("prints docker's GraphDriver.Data exactly: the four keys, sorted, layers joined with ':' top first", () => {
    const x = fixture();
    mountFx(x);
    try {
      const want = { LowerDir: `${x.top}:${x.bottom}`, MergedDir: x.target, UpperDir: x.upper, WorkDir: x.work };
      expect(ovlOk(['inspect', x.target])).toBe(`${JSON.stringify(want, null, 2)}\n`);
      // A relative TARGET names the same mount.
      expect(ovlOk(['inspect', 'm'], { cwd: x.root })).toBe(`${JSON.stringify(want, null, 2)}\n`);
    } finally {
      unmount(x.target);
    }
  });

  itWithKernel('lowerdirPlus', '--typed: every option, as findOverlay reads it in this process', () => {
    const x = fixture();
    mountFx(x, ['-o', 'redirect_dir=on,index=on,nosuid']);
    try {
      const typed = JSON.parse(ovlOk(['inspect', '--typed', x.target])) as Record<string, unknown>;
      expect(typed).toMatchObject({
        mountId: rawMountAt(x.target)!.mountId,
        target: x.target,
        lower: [x.top, x.bottom],
        upper: x.upper,
        work: x.work,
        readOnly: false,
        options: { redirectDir: 'on', index: 'on' },
        form: 'lowerdir+',
      });
      const here = findOverlaySync(x.target)!;
      expect(typed.rawOptions).toEqual(here.rawOptions);
      expect(typed.options).toEqual(here.options);
    } finally {
      unmount(x.target);
    }
  });

  it('where no overlay is mounted: exit 32 and says so; no TARGET: exit 1', () => {
    const x = fixture();
    for (const args of [['inspect', x.target], ['inspect', '--typed', x.target]]) {
      const r = ovl(args);
      expect(r.status).toBe(32);
      expect(r.stdout).toBe('');
      expect(r.stderr).toContain(`no overlay is mounted at '${x.target}'`);
    }
    expect(ovl(['inspect']).status).toBe(1);
  });
});

describePrivileged('ovl which', () => {
  it('names the layer serving each path: upper, lower[i]; a whiteout or nothing there is not found (exit 1)', () => {
    const x = fixture();
    mountFx(x);
    try {
      change(x);
      expect(ovlOk(['which', x.target, '/shared.txt'])).toBe(`/shared.txt: lower[0] ${join(x.top, 'shared.txt')}\n`);
      expect(ovlOk(['which', x.target, '/etc/os-release'])).toBe(`/etc/os-release: lower[1] ${join(x.bottom, 'etc/os-release')}\n`);
      expect(ovlOk(['which', x.target, '/low.txt'])).toBe(`/low.txt: upper ${join(x.upper, 'low.txt')}\n`);
      expect(ovl(['which', x.target, '/doomed.txt'])).toEqual({ status: 1, stdout: `/doomed.txt: whited out in upper (${join(x.upper, 'doomed.txt')})\n`, stderr: '' });
      const missing = ovl(['which', x.target, '/nope']);
      expect(missing).toEqual({ status: 1, stdout: '/nope: not found\n', stderr: '' });

      const j = JSON.parse(ovlOk(['which', '--json', x.target, '/etc/os-release'])) as Record<string, unknown>;
      expect(j).toMatchObject({ found: true, layer: 2, layerName: 'lower[1]', realPath: join(x.bottom, 'etc/os-release') });
      // --json exits as the text form does.
      const wr = ovl(['which', '--json', x.target, '/doomed.txt']);
      expect(wr.status).toBe(1);
      const w = JSON.parse(wr.stdout) as Record<string, unknown>;
      expect(w).toMatchObject({ found: false, whiteout: true, layer: 0, layerName: 'upper' });
      // Trouble is 2 whatever it is (which(1)): an option it does not know, too few operands.
      expect(ovl(['which', '--nope', x.target, '/x']).status).toBe(2);
      expect(ovl(['which', x.target]).status).toBe(2);
    } finally {
      unmount(x.target);
    }
  });

  it('refuses (2, trouble) an overlay mounted with relative paths: from here they name other directories', () => {
    const x = fixture();
    mountRelative(x);
    try {
      const r = ovl(['which', x.target, '/shared.txt']);
      expect(r.status).toBe(2);
      expect(r.stdout).toBe('');
      expect(r.stderr).toContain(`ovl: the kernel does not show where the layers of '${x.target}' are (relative paths or fds: ${JSON.stringify([rel(x.top), rel(x.bottom)])})`);
    } finally {
      unmount(x.target);
    }
  });

  it('errors are exit 2, which(1)\'s "trouble", never 1 ("not found"): not an overlay, a missing PATH', () => {
    const x = fixture();
    expect(ovl(['which', x.target, '/x']).status).toBe(2);
    const r = ovl(['which', x.target]);
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('which needs TARGET and PATH');
  });
});

describePrivileged('ovl diff', () => {
  it('A/C/D lines of a mounted overlay, the same from its upper dir with --lower, and --json', () => {
    const x = fixture();
    mountFx(x);
    let fromMount: string;
    let json: unknown;
    try {
      change(x);
      fromMount = ovlOk(['diff', x.target]);
      json = JSON.parse(ovlOk(['diff', '--json', x.target]));
    } finally {
      unmount(x.target);
    }
    expect(fromMount.trimEnd().split('\n').sort()).toEqual([...CHANGES].sort());
    // Path order, as docker diff prints them.
    expect(fromMount).toBe('D /doomed.txt\nC /low.txt\nA /new.txt\n');
    expect(json).toEqual([
      { kind: 'D', path: '/doomed.txt', cause: 'whiteout' },
      { kind: 'C', path: '/low.txt' },
      { kind: 'A', path: '/new.txt' },
    ]);
    // Unmounted: the upper dir and its lowers give the same answer.
    expect(ovlOk(['diff', x.upper, '--lower', x.top, '--lower', x.bottom])).toBe(fromMount);
    expect(JSON.parse(ovlOk(['diff', x.upper, '--lower', x.top, '--lower', x.bottom, '--json']))).toEqual(json);
    // Relative paths are the current directory's.
    expect(ovlOk(['diff', 'upper', '--lower', 'top', '--lower', 'bottom'], { cwd: x.root })).toBe(fromMount);
  });

  it('refuses (32) an overlay mounted with relative paths, and says to give the layers; given, they work', () => {
    const x = fixture();
    mountRelative(x);
    try {
      change(x);
      const r = ovl(['diff', x.target]);
      expect(r.status).toBe(32);
      expect(r.stdout).toBe('');
      expect(r.stderr).toMatch(/^ovl: the kernel does not show where the layers of .* are .*give them: `ovl diff UPPER --lower L1 \.\.\.`\n$/);
      expect(ovlOk(['diff', x.upper, '--lower', x.top, '--lower', x.bottom])).toBe('D /doomed.txt\nC /low.txt\nA /new.txt\n');
    } finally {
      unmount(x.target);
    }
  });

  it('an empty upper: no lines', () => {
    const x = fixture();
    expect(ovlOk(['diff', x.upper, '--lower', x.top, '--lower', x.bottom])).toBe('');
    expect(ovlOk(['diff', '--json', x.upper, '--lower', x.top])).toBe('[]\n');
  });

  it('errors (exit 1): not an overlay and no --lower, an overlay without upper, no argument', () => {
    const x = fixture();
    const r = ovl(['diff', x.target]);
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('is not an overlay mount point: give its lower layers with --lower');
    ovlOk(['mount', '-o', `lowerdir=${x.top}:${x.bottom}`, x.target]);
    try {
      const ro = ovl(['diff', x.target]);
      expect(ro.status).toBe(1);
      expect(ro.stderr).toContain('has no upper layer');
    } finally {
      unmount(x.target);
    }
    expect(ovl(['diff']).status).toBe(1);
    expect(ovl(['diff', join(x.root, 'nope'), '--lower', x.top]).status).toBe(1);
  });
});

describePrivileged('ovl probe', () => {
  it('--json is the capability report this process computes (nothing unknown as root); the text form has one line per capability', () => {
    const caps = probeSync();
    const json = JSON.parse(ovlOk(['probe', '--json'])) as Record<string, unknown>;
    expect(json).toEqual(caps);
    expect(json).toMatchObject({ root: true, canMount: true, overlay: true, userNamespace: false });
    for (const key of ['lowerdirPlus', 'datadirPlus', 'layersByFd', 'createExcl', 'newMountApi', 'statmount']) expect(typeof json[key]).toBe('boolean');

    expect(json.unknown).toEqual({});

    // One line per capability; the map of untested features shows on their own lines instead.
    const lines = ovlOk(['probe']).trimEnd().split('\n');
    expect(lines.map((l) => l.split(/\s+/)[0])).toEqual(Object.keys(caps).filter((k) => k !== 'unknown'));
    expect(lines).toContain(`${'lowerdirPlus'.padEnd(22)} ${String(caps.lowerdirPlus)}`);
    expect(lines).toContain(`${'kernel'.padEnd(22)} ${caps.kernel}`);
    expect(lines).toContain(`${'fsyncModes'.padEnd(22)} ${JSON.stringify(caps.fsyncModes)}`);
  });
});

describePrivileged('ovl whiteout', () => {
  it('makes 0/0 character devices that hide the layers below', () => {
    const x = fixture();
    ovlOk(['whiteout', join(x.top, 'low.txt'), join(x.top, 'etc', 'os-release')]);
    for (const p of [join(x.top, 'low.txt'), join(x.top, 'etc', 'os-release')]) {
      const st = lstatSync(p);
      expect(st.isCharacterDevice()).toBe(true);
      expect(st.rdev).toBe(0);
    }
    ovlOk(['mount', '-o', `lowerdir=${x.top}:${x.bottom}`, x.target]);
    try {
      expect(existsSync(join(x.target, 'low.txt'))).toBe(false);
      expect(readdirSync(join(x.target, 'etc'))).toEqual(['top.conf']);
      expect(readdirSync(x.target).sort()).toEqual(['doomed.txt', 'etc', 'shared.txt', 'var']);
    } finally {
      unmount(x.target);
    }
  });

  it('--xattr: a zero-size file with trusted.overlay.whiteout in a middle layer, its dir marked opaque=x, hides what is below', () => {
    const x = fixture();
    const middle = writeTree(join(x.root, 'middle'), { 'etc/': null });
    ovlOk(['whiteout', '--xattr', join(middle, 'etc', 'os-release')]);
    const p = join(middle, 'etc', 'os-release');
    expect(lstatSync(p).isFile()).toBe(true);
    expect(lstatSync(p).size).toBe(0);
    expect(sys.getxattrSync(p, 'trusted.overlay.whiteout').length).toBe(0);
    expect(sys.getxattrSync(join(middle, 'etc'), 'trusted.overlay.opaque').toString()).toBe('x');
    ovlOk(['mount', '-o', `lowerdir=${x.top}:${middle}:${x.bottom}`, x.target]);
    try {
      expect(existsSync(join(x.target, 'etc', 'os-release'))).toBe(false);
      expect(readdirSync(join(x.target, 'etc'))).toEqual(['top.conf']);
    } finally {
      unmount(x.target);
    }
    // --namespace user writes user.overlay.*.
    ovlOk(['whiteout', '--xattr', '--namespace', 'user', join(middle, 'u-gone')]);
    expect(sys.getxattrSync(join(middle, 'u-gone'), 'user.overlay.whiteout').length).toBe(0);
  });

  it('errors: an existing path (32, EEXIST), no PATH (1), a bad --namespace (1)', () => {
    const x = fixture();
    const r = ovl(['whiteout', join(x.top, 'shared.txt')]);
    expect(r.status).toBe(32);
    expect(r.stderr).toContain('EEXIST');
    expect(readFileSync(join(x.top, 'shared.txt'), 'utf8')).toBe('top');
    expect(ovl(['whiteout']).status).toBe(1);
    const ns = ovl(['whiteout', '--namespace', 'security', join(x.top, 'z')]);
    expect(ns.status).toBe(1);
    expect(ns.stderr).toContain("--namespace must be 'trusted' or 'user'");
    expect(existsSync(join(x.top, 'z'))).toBe(false);
  });
});

describePrivileged('ovl opaque', () => {
  it('marks a directory opaque (it hides the same directory below), and --clear removes the mark', () => {
    const x = fixture();
    const dir = writeTree(join(x.top, 'var', 'cache'), { b: 'b' });
    const seen = () => {
      ovlOk(['mount', '-o', `lowerdir=${x.top}:${x.bottom}`, x.target]);
      try {
        return readdirSync(join(x.target, 'var', 'cache')).sort();
      } finally {
        unmount(x.target);
      }
    };
    expect(seen()).toEqual(['a', 'b']);
    expect(ovlOk(['opaque', dir])).toBe('');
    expect(sys.getxattrSync(dir, 'trusted.overlay.opaque').toString()).toBe('y');
    expect(seen()).toEqual(['b']);
    ovlOk(['opaque', '--clear', dir]);
    expect(() => sys.getxattrSync(dir, 'trusted.overlay.opaque')).toThrow(expect.objectContaining({ code: 'ENODATA' }));
    expect(seen()).toEqual(['a', 'b']);
    // Clearing an unmarked directory is not an error.
    ovlOk(['opaque', '--clear', dir]);
  });

  it('--value x, several DIRs, --namespace user', () => {
    const x = fixture();
    const a = writeTree(join(x.root, 'a'), {});
    const b = writeTree(join(x.root, 'b'), {});
    ovlOk(['opaque', '--value', 'x', a, b]);
    expect(sys.getxattrSync(a, 'trusted.overlay.opaque').toString()).toBe('x');
    expect(sys.getxattrSync(b, 'trusted.overlay.opaque').toString()).toBe('x');
    ovlOk(['opaque', '--namespace', 'user', a]);
    expect(sys.getxattrSync(a, 'user.overlay.opaque').toString()).toBe('y');
  });

  it('errors: a file (32), a bad --value (1), no DIR (1)', () => {
    const x = fixture();
    const f = ovl(['opaque', join(x.top, 'shared.txt')]);
    expect(f.status).toBe(32);
    expect(f.stderr).toContain('is not a directory');
    const v = ovl(['opaque', '--value', 'z', x.top]);
    expect(v.status).toBe(1);
    expect(v.stderr).toContain("--value must be 'y' or 'x'");
    expect(() => sys.getxattrSync(x.top, 'trusted.overlay.opaque')).toThrow(expect.objectContaining({ code: 'ENODATA' }));
    expect(ovl(['opaque']).status).toBe(1);
  });
});

const COMMANDS = ['demo', 'mount', 'umount', 'ls', 'inspect', 'which', 'diff', 'probe', 'whiteout', 'opaque'];

describePrivileged('ovl: help and usage', () => {
  for (const cmd of COMMANDS) {
    it(`ovl ${cmd} --help: exit 0, its summary and usage`, () => {
      const out = ovlOk([cmd, '--help']);
      expect(out).toMatch(new RegExp(`^\\S.*\n\nusage: ovl ${cmd}`));
    });
  }

  it('ovl with no arguments, --help and help: every command with its summary, exit 0', () => {
    for (const args of [[], ['--help'], ['-h'], ['help']]) {
      const out = ovlOk(args);
      expect(out).toContain('Run `ovl COMMAND --help`');
      for (const cmd of COMMANDS) expect(out).toMatch(new RegExp(`^ {2}${cmd} +\\S`, 'm'));
    }
  });

  it('-h is --help, also after other arguments (nothing is done)', () => {
    const x = fixture();
    expect(ovlOk(['mount', '-o', `lowerdir=${x.top}:${x.bottom}`, x.target, '-h'])).toContain('usage: ovl mount');
    expect(mountsUnder(x.root)).toEqual([]);
    expect(ovlOk(['whiteout', join(x.top, 'w'), '-h'])).toContain('usage: ovl whiteout');
    expect(existsSync(join(x.top, 'w'))).toBe(false);
  });

  it('an unknown command: exit 1, named on stderr', () => {
    const r = ovl(['frobnicate']);
    expect(r.status).toBe(1);
    expect(r.stderr).toBe("ovl: unknown command 'frobnicate'\n");
    expect(r.stdout).toContain('Run `ovl COMMAND --help`');
  });

  it('an unknown flag on any command: exit 1 (ovl which: 2, which(1)\'s trouble) with that command\'s usage', () => {
    for (const cmd of COMMANDS) {
      const r = ovl([cmd, '--frobnicate']);
      expect(r.status).toBe(cmd === 'which' ? 2 : 1);
      expect(r.stderr).toContain(`ovl ${cmd}: Unknown option '--frobnicate'`);
      expect(r.stderr).toContain(`usage: ovl ${cmd}`);
    }
  });
});

describePrivileged('ovl: colours', () => {
  it('only on a TTY: `ovl diff` and a failure are coloured under script(1), not with NO_COLOR or CI=true, never through a pipe', () => {
    expect(SCRIPT, 'script(1) (util-linux/bsdutils) runs a command on a pseudo-terminal').not.toBeNull();
    const x = fixture();
    mountFx(x);
    try {
      change(x);
    } finally {
      unmount(x.target);
    }
    const onTty = (cmd: string, env: Record<string, string> = {}) => {
      // Node gives a terminal under an unknown CI two colours, i.e. none: the CI run's own CI=true
      // would hide them, so only `env` decides.
      const e: Record<string, string | undefined> = { ...process.env };
      delete e.NO_COLOR;
      delete e.FORCE_COLOR;
      delete e.CI;
      Object.assign(e, env);
      e.TERM = 'xterm-256color';
      const r = spawnSync(SCRIPT!, ['-qec', cmd, '/dev/null'], { encoding: 'utf8', env: e, timeout: 60_000 });
      expect(r.error).toBeUndefined();
      return r.stdout;
    };
    const diff = `${JSON.stringify(process.execPath)} ${JSON.stringify(CLI)} diff ${x.upper} --lower ${x.top} --lower ${x.bottom}`;
    const tty = onTty(diff);
    expect(tty).toContain('\x1b[32mA /new.txt\x1b[39m');
    expect(tty).toContain('\x1b[31mD /doomed.txt\x1b[39m');
    expect(tty).toContain('\x1b[33mC /low.txt\x1b[39m');
    expect(onTty(diff, { NO_COLOR: '1' })).not.toContain('\x1b');
    expect(onTty(diff, { CI: 'true' })).not.toContain('\x1b');
    // stderr on a TTY too (script(1) merges it into its output): the failure's first line is red.
    expect(onTty(`${JSON.stringify(process.execPath)} ${JSON.stringify(CLI)} mount -o lowerdir=rel:/x ${x.target}`)).toContain(`\x1b[31movl: ${x.target}: special device overlay does not exist.`);
    // Through a pipe (ovl() checks every run for ESC): no colours.
    expect(ovlOk(['diff', x.upper, '--lower', x.top, '--lower', x.bottom])).toBe('D /doomed.txt\nC /low.txt\nA /new.txt\n');
  });
});
