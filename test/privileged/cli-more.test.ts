/**
 * The `ovl` behaviours a script relies on beyond mounting: --version, several umount targets
 * with umount(8)'s exit codes, -o remount, bind and tmpfs, --json everywhere data is printed,
 * the mount attributes in ls, hints in the command line's own words, and a reader that goes
 * away (`| head -1`) without a stack trace.
 */
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { CLI, ovl, ovlOk, rawMountAt } from '../helpers/cli.js';
import { expectUnmounted } from '../helpers/overlay.js';
import { describePrivileged } from '../helpers/privileged.js';
import { mountsUnder, tempDir, writeTree } from '../helpers/tmp.js';
import { sys } from '../../src/index.js';

interface Fx {
  root: string;
  top: string;
  bottom: string;
  upper: string;
  work: string;
  target: string;
}

function fixture(name = 'm'): Fx {
  const root = tempDir();
  writeTree(root, { 'top/t.txt': 'top', 'bottom/b.txt': 'bottom', 'upper/': null, [`${name}/`]: null });
  const at = (n: string) => join(root, n);
  return { root, top: at('top'), bottom: at('bottom'), upper: at('upper'), work: at('work'), target: at(name) };
}

const lowerdir = (x: Fx) => `lowerdir=${x.top}:${x.bottom},upperdir=${x.upper},workdir=${x.work}`;

function cleanup(root: string): void {
  for (const m of mountsUnder(root).reverse()) sys.umount2Sync(m);
}

describePrivileged('ovl --version', () => {
  it("prints the package's version, exit 0", () => {
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
    expect(ovlOk(['--version'])).toBe(`ovl ${pkg.version}\n`);
    expect(ovlOk(['-V'])).toBe(`ovl ${pkg.version}\n`);
  });

  it('commands that need no addon never load it: --version, help and usage errors work where none loads', () => {
    // An empty prebuild directory: loading the addon would fail with "could not be loaded".
    const env = { OVERLAYFS_PREBUILD: tempDir('ovl-no-addon-') };
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
    expect(ovlOk(['--version'], { env })).toBe(`ovl ${pkg.version}\n`);
    expect(ovlOk(['--help'], { env })).toContain('Run `ovl COMMAND --help`');
    expect(ovlOk(['mount', '--help'], { env })).toContain('usage: ovl mount');
    const usage = ovl(['mount', '--frobnicate', '/x'], { env });
    expect(usage.status).toBe(1);
    expect(usage.stderr).not.toContain('could not be loaded');
    // And one that needs it says so.
    const ls = ovl(['ls'], { env });
    expect(ls.status).toBe(32);
    expect(ls.stderr).toContain('the native addon could not be loaded');
  });
});

describePrivileged('ovl umount with several targets', () => {
  it('unmounts each; the exit code is the sum of 32 per target that failed, as umount(8)', () => {
    const a = fixture();
    const b = fixture();
    try {
      ovlOk(['mount', '-o', lowerdir(a), a.target]);
      ovlOk(['mount', '-o', lowerdir(b), b.target]);
      expect(ovlOk(['umount', a.target, b.target])).toBe('');
      expectUnmounted(a.target);
      expectUnmounted(b.target);

      ovlOk(['mount', '-o', lowerdir(a), a.target]);
      const one = ovl(['umount', b.target, a.target]);
      expect(one.status).toBe(32);
      expect(one.stderr).toBe(`ovl: ${b.target}: not mounted.\n`);
      // The one that could be unmounted was, although the one before it failed.
      expectUnmounted(a.target);
      expect(ovl(['umount', a.target, b.target]).status).toBe(64);
    } finally {
      cleanup(a.root);
      cleanup(b.root);
    }
  });

  it('--json: what was done for each target', () => {
    const a = fixture();
    try {
      ovlOk(['mount', '-o', lowerdir(a), a.target]);
      const r = JSON.parse(ovlOk(['umount', '--json', '--clean-workdir', a.target])) as unknown;
      expect(r).toEqual([{ target: a.target, stillInUse: false, holders: [], cleaned: [join(a.work, 'work')] }]);
    } finally {
      cleanup(a.root);
    }
  });
});

describePrivileged('ovl mount -o remount', () => {
  it('ro makes the mount and the overlay read-only (a write fails EROFS), rw makes both writable again', () => {
    const x = fixture();
    try {
      ovlOk(['mount', '-o', lowerdir(x), x.target]);
      expect(ovlOk(['mount', '-o', 'remount,ro', x.target])).toBe('');
      const ro = rawMountAt(x.target)!;
      expect(ro.mountOptions).toContain('ro');
      expect(ro.superOptions).toContain('ro');
      expect(() => writeFileSync(join(x.target, 'new.txt'), 'x')).toThrow(expect.objectContaining({ code: 'EROFS' }));

      ovlOk(['mount', '-o', 'remount,rw,nosuid', x.target]);
      const rw = rawMountAt(x.target)!;
      expect(rw.mountOptions).toEqual(expect.arrayContaining(['rw', 'nosuid']));
      expect(rw.superOptions).toContain('rw');
      writeFileSync(join(x.target, 'new.txt'), 'x');
      expect(readFileSync(join(x.upper, 'new.txt'), 'utf8')).toBe('x');
    } finally {
      cleanup(x.root);
    }
  });

  it('refuses overlay options (the kernel cannot change them on a mounted overlay), and a target with no overlay', () => {
    const x = fixture();
    try {
      ovlOk(['mount', '-o', lowerdir(x), x.target]);
      const r = ovl(['mount', '-o', 'remount,index=on', x.target]);
      expect(r.status).toBe(1);
      expect(r.stderr).toContain('-o remount changes only mount attributes');
      expect(ovl(['mount', '-o', 'remount,ro', x.root]).status).toBe(32);
    } finally {
      cleanup(x.root);
    }
  });
});

describePrivileged('ovl bind and ovl tmpfs', () => {
  it('bind -r: a read-only bind mount from the start; tmpfs --size: a tmpfs; --json names each; umount(8)-style removal', () => {
    const root = tempDir();
    writeTree(root, { 'src/a.txt': 'a', 'b/': null, 't/': null });
    try {
      const bind = JSON.parse(ovlOk(['bind', '-r', '--json', join(root, 'src'), join(root, 'b')])) as { target: string; mountId: number };
      expect(bind.target).toBe(join(root, 'b'));
      expect(rawMountAt(join(root, 'b'))).toMatchObject({ mountId: bind.mountId });
      expect(rawMountAt(join(root, 'b'))!.mountOptions).toContain('ro');
      expect(readFileSync(join(root, 'b', 'a.txt'), 'utf8')).toBe('a');
      expect(() => writeFileSync(join(root, 'b', 'x'), 'x')).toThrow(expect.objectContaining({ code: 'EROFS' }));

      expect(ovlOk(['tmpfs', '--size', '1m', '--mode', '700', join(root, 't')])).toBe('');
      const t = rawMountAt(join(root, 't'))!;
      expect(t.fsType).toBe('tmpfs');
      expect(t.superOptions).toEqual(expect.arrayContaining(['size=1024k', 'mode=700']));
      const bad = ovl(['tmpfs', '--mode', 'x', join(root, 't')]);
      expect(bad.status).toBe(1);
    } finally {
      cleanup(root);
    }
  });
});

describePrivileged('ovl ls and inspect: the mount attributes, --json', () => {
  it('ls shows ro/rw, nosuid, nodev and noexec; inspect --json is accepted and --typed has them too', () => {
    const x = fixture();
    try {
      ovlOk(['mount', '-o', `${lowerdir(x)},nosuid,nodev,noexec`, x.target]);
      const row = ovlOk(['ls']).split('\n').find((l) => l.startsWith(`${x.target} `))!.split(/ {2,}/);
      expect(row[3]).toBe('rw,nosuid,nodev,noexec');
      expect(JSON.parse(ovlOk(['inspect', '--json', x.target]))).toEqual({ LowerDir: `${x.top}:${x.bottom}`, MergedDir: x.target, UpperDir: x.upper, WorkDir: x.work });
      const typed = JSON.parse(ovlOk(['inspect', '--typed', x.target])) as { mountOptions: string[] };
      expect(typed.mountOptions).toEqual(expect.arrayContaining(['rw', 'nosuid', 'nodev', 'noexec']));
    } finally {
      cleanup(x.root);
    }
  });
});

describePrivileged('ovl: hints in its own words', () => {
  it('a shared upper is refused with --allow-shared in the advice, not the library option', () => {
    const x = fixture();
    const y = fixture('m2');
    try {
      ovlOk(['mount', '-o', lowerdir(x), x.target]);
      const r = ovl(['mount', '-o', `lowerdir=${x.top}:${x.bottom},upperdir=${x.upper},workdir=${x.work}`, y.target]);
      expect(r.status).toBe(32);
      expect(r.stderr).toContain('--allow-shared');
      expect(r.stderr).not.toContain('allowShared');
    } finally {
      cleanup(x.root);
      cleanup(y.root);
    }
  });
});

describePrivileged('ovl mount: an empty path is refused by name, never taken as the current directory', () => {
  it.each([
    ['-o lowerdir=TOP:', (x: Fx) => ['mount', '-o', `lowerdir=${x.top}:,upperdir=${x.upper},workdir=${x.work}`, x.target], /-o lowerdir: has an empty layer path \(lower\[1\]\)/],
    ['-o upperdir=', (x: Fx) => ['mount', '-o', `lowerdir=${x.top},upperdir=,workdir=${x.work}`, x.target], /-o upperdir: must not be empty/],
    ['--upper ""', (x: Fx) => ['mount', '--lower', x.top, '--upper', '', '--work', x.work, x.target], /upper: must not be empty/],
    ['--lower ""', (x: Fx) => ['mount', '--lower', '', x.target], /lower\[0\]: must not be empty/],
  ])('%s: exit 32, nothing mounted, nothing written in the current directory', (_, args, re) => {
    const x = fixture();
    try {
      const r = ovl(args(x), { cwd: x.root });
      expect(r.stderr).toMatch(re);
      expect(r.status).toBe(32);
      expect(mountsUnder(x.root)).toEqual([]);
      expect(readdirSync(x.root).sort()).toEqual(['bottom', 'm', 'top', 'upper']);
    } finally {
      cleanup(x.root);
    }
  });
});

describePrivileged('ovl: a reader that goes away', () => {
  it('`ovl diff ... | head -1`: the first line, no EPIPE stack trace, exit 0', () => {
    const root = tempDir();
    const files: Record<string, string> = {};
    for (let i = 0; i < 5000; i++) files[`upper/d${i % 50}/f${i}`] = '';
    writeTree(root, { ...files, 'lower/': null });
    const r = spawnSync('bash', ['-c', `set -o pipefail; ${JSON.stringify(process.execPath)} ${JSON.stringify(CLI)} diff ${join(root, 'upper')} --lower ${join(root, 'lower')} | head -1`], {
      encoding: 'utf8',
      timeout: 60_000,
    });
    expect(r.stdout).toBe('A /d0\n');
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
  });

  it("an output whose reader went away does not change the command's exit code, nor cut it short", () => {
    // The reader (`true`) is gone before ovl writes: its writes fail with EPIPE.
    const closed = (command: string, redirect: string) =>
      spawnSync('bash', ['-c', `{ sleep 0.3; ${JSON.stringify(process.execPath)} ${JSON.stringify(CLI)} ${command} ${redirect}; echo "exit $?" >&3; } 3>&2 | true`], { encoding: 'utf8', timeout: 60_000 });
    // A usage error prints the usage on stdout: still exit 1.
    const usage = closed('nosuch', '');
    expect(usage.stderr).toBe("ovl: unknown command 'nosuch'\nexit 1\n");
    // A mount that fails, its words on a closed stderr: still 32, and it ran to its end (nothing mounted).
    const root = tempDir();
    const failed = closed(`mount -t overlay overlay -o lowerdir=${root}/missing1:${root}/missing2 ${root}`, '2>&1');
    expect(failed.stderr).toBe('exit 32\n');
    expect(mountsUnder(root)).toEqual([]);
  });

  it('a non-blocking stdout that fills (EAGAIN) loses nothing: the rest goes through the stream, in order', () => {
    const root = tempDir();
    const files: Record<string, string> = {};
    for (let i = 0; i < 12000; i++) files[`upper/d${i % 50}/f${i}`] = '';
    writeTree(root, { ...files, 'lower/': null });
    const args = `${JSON.stringify(process.execPath)} ${JSON.stringify(CLI)} diff ${join(root, 'upper')} --lower ${join(root, 'lower')}`;
    const plain = spawnSync('bash', ['-c', args], { encoding: 'utf8', maxBuffer: 1 << 24 });
    expect(plain.status).toBe(0);
    expect(plain.stdout.length).toBeGreaterThan(128 * 1024);
    // perl (in every Debian: perl-base) makes the pipe non-blocking; the reader starts 2 s late, so
    // the pipe's 64 KiB fill first and write(2) says EAGAIN (seen under strace).
    const nonBlocking = spawnSync(
      'bash',
      ['-c', `set -o pipefail; perl -e 'use Fcntl; fcntl(STDOUT, F_SETFL, O_WRONLY|O_NONBLOCK) or die; exec @ARGV' ${args} | (sleep 2; cat)`],
      { encoding: 'utf8', maxBuffer: 1 << 24, timeout: 60_000 },
    );
    expect(nonBlocking.stderr).toBe('');
    expect(nonBlocking.status).toBe(0);
    expect(nonBlocking.stdout).toBe(plain.stdout);
  });
});
