/**
 * `ovl mount` and `ovl umount` speaking mount(8)'s language: for the same failing arguments the
 * first line of stderr and the exit code are the ones mount(8)/umount(8) on this machine give,
 * once util-linux's wording is normalised as follows (README, "Differences from mount(8)"):
 * - the program name: `mount: ` / `umount: ` and `ovl: ` both read `PROG: `;
 * - the syscall named in "... system call failed": util-linux 2.38 (this machine's) mounts with
 *   mount(2) and says `mount(2)`, 2.39+ mounts with fsconfig() and says `fsconfig`, as ovl does
 *   with its default strategy; with LIBMOUNT_FORCE_MOUNT2=always ovl uses mount(2) too, and the
 *   line is compared without this step.
 * Also: success is silent (-v says what was done), `ovl mount -t overlay` lists as `mount -t
 * overlay` does, -f mounts nothing, --options-mode is accepted, umount -R and -v.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { sys } from '../../src/index.js';
import { ovl, ovlOk, rawMountAt } from '../helpers/cli.js';
import { expectUnmounted } from '../helpers/overlay.js';
import { describePrivileged } from '../helpers/privileged.js';
import { mountsUnder, tempDir, writeTree } from '../helpers/tmp.js';

interface Ran {
  status: number | null;
  stderr: string;
}

function util(cmd: 'mount' | 'umount', args: string[]): Ran {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  expect(r.error).toBeUndefined();
  return { status: r.status, stderr: r.stderr };
}

const first = (stderr: string) => stderr.split('\n')[0]!;
const prog = (line: string) => line.replace(/^(mount|umount|ovl): /, 'PROG: ');
const normalise = (stderr: string) => prog(first(stderr)).replace(/\b(mount\(2\)|fsconfig|fsmount|move_mount) system call failed/, 'SYSCALL system call failed');

/** The same arguments to mount(8), to `ovl mount` and to `ovl mount` with LIBMOUNT_FORCE_MOUNT2=always. */
function compareMount(args: string[], ovlExtra: string[] = []): { mount8: Ran; ovl: Ran; legacy: Ran } {
  const mount8 = util('mount', args);
  const o = ovl(['mount', ...ovlExtra, ...args]);
  const legacy = ovl(['mount', ...ovlExtra, ...args], { env: { LIBMOUNT_FORCE_MOUNT2: 'always' } });
  expect(mount8.status).toBe(32);
  expect({ status: o.status, first: normalise(o.stderr) }).toEqual({ status: 32, first: normalise(mount8.stderr) });
  expect({ status: legacy.status, first: prog(first(legacy.stderr)) }).toEqual({ status: 32, first: prog(first(mount8.stderr)) });
  return { mount8, ovl: o, legacy };
}

function fixture() {
  const root = tempDir();
  writeTree(root, { 'a/a.txt': 'a', 'a/d/x': 'x', 'b/b.txt': 'b', 'u/': null, 'm/': null, 'm2/': null });
  const at = (n: string) => join(root, n);
  return { root, at, a: at('a'), b: at('b'), u: at('u'), w: at('w'), m: at('m'), m2: at('m2') };
}

function cleanup(root: string): void {
  for (const m of mountsUnder(root).reverse()) sys.umount2Sync(m);
}

describePrivileged('ovl mount: the first line of a failure is mount(8)\'s', () => {
  it('a missing mount point: "mount point does not exist", exit 32', () => {
    const x = fixture();
    const r = compareMount(['-t', 'overlay', 'overlay', '-o', `lowerdir=${x.a}:${x.b}`, x.at('nope')]);
    expect(first(r.ovl.stderr)).toBe(`ovl: ${x.at('nope')}: mount point does not exist.`);
    // What follows is ours: the problem as the spec checks found it.
    expect(r.ovl.stderr.split('\n')[1]).toMatch(/^ {7}target: '.*\/nope' cannot be used: ENOENT/);
  });

  it('a missing lower layer: "special device overlay does not exist", exit 32', () => {
    const x = fixture();
    const r = compareMount(['-t', 'overlay', 'overlay', '-o', `lowerdir=${x.at('gone')}:${x.a}`, x.m]);
    expect(first(r.ovl.stderr)).toBe(`ovl: ${x.m}: special device overlay does not exist.`);
    expect(r.ovl.stderr).toMatch(/\n {7}lower\[0\]: '.*\/gone' cannot be used: ENOENT/);
    expect(mountsUnder(x.root)).toEqual([]);
  });

  it('an upper in use by another overlay with index=on (busy): the kernel\'s EBUSY in mount(8)\'s words, with --allow-shared', () => {
    const x = fixture();
    const opts = `lowerdir=${x.a}:${x.b},upperdir=${x.u},workdir=${x.w},index=on`;
    ovlOk(['mount', '-o', opts, x.m]);
    try {
      const r = compareMount(['-t', 'overlay', 'overlay', '-o', opts, x.m2], ['--allow-shared']);
      expect(first(r.ovl.stderr)).toMatch(/^ovl: .*: overlay already mounted (on .*|or mount point busy)\.$/);
      expect(rawMountAt(x.m2)).toBeUndefined();
      // Without --allow-shared ovl refuses before the kernel, in its own words (a documented difference).
      const refused = ovl(['mount', '-o', opts, x.m2]);
      expect(refused.status).toBe(32);
      expect(first(refused.stderr)).toMatch(new RegExp(`^ovl: ${x.m2}: (upper|work): is already the (upper|work) dir of the overlay mounted at '${x.m}'.*--allow-shared`));
    } finally {
      cleanup(x.root);
    }
  });

  it('index=on with a reused upper whose lowers changed (ESTALE): "... system call failed: Stale file handle", exit 32; -v adds the stage and hint', () => {
    const x = fixture();
    ovlOk(['mount', '-o', `lowerdir=${x.a},upperdir=${x.u},workdir=${x.w},index=on`, x.m]);
    ovlOk(['umount', x.m]);
    const args = ['-t', 'overlay', 'overlay', '-o', `lowerdir=${x.b},upperdir=${x.u},workdir=${x.w},index=on`, x.m];
    const r = compareMount(args);
    expect(first(r.legacy.stderr)).toBe(`ovl: ${x.m}: mount(2) system call failed: Stale file handle.`);
    expect(first(r.mount8.stderr)).toBe(`mount: ${x.m}: mount(2) system call failed: Stale file handle.`);
    // Without -v: no stage, strategy or hint.
    expect(r.ovl.stderr).not.toMatch(/stage:|hint:/);
    const v = ovl(['mount', '-v', ...args]);
    expect(v.status).toBe(32);
    expect(v.stderr).toMatch(/\n {7}stage: (create|mount) \(strategy \S+\)\n/);
    expect(v.stderr).toMatch(/\n {7}hint: index=on recorded other lower layers/);
    expectUnmounted(x.m);
  });

  it('--json: the failure as data on stdout (stage, strategy, hint), the first line on stderr', () => {
    const x = fixture();
    ovlOk(['mount', '-o', `lowerdir=${x.a},upperdir=${x.u},workdir=${x.w},index=on`, x.m]);
    ovlOk(['umount', x.m]);
    const r = ovl(['mount', '--json', '-o', `lowerdir=${x.b},upperdir=${x.u},workdir=${x.w},index=on`, x.m]);
    expect(r.status).toBe(32);
    const out = JSON.parse(r.stdout) as { error: Record<string, unknown> };
    expect(out.error).toMatchObject({ code: 'ESTALE', stage: expect.any(String), strategy: expect.any(String), hint: expect.stringContaining('index=on') });
    expect(first(r.stderr)).toMatch(/system call failed: Stale file handle\.$/);
  });
});

describePrivileged('ovl mount in mount(8)\'s syntax: the rest of mount(8)\'s behaviour', () => {
  it('success is silent; -v says "overlay mounted on TARGET."; LIBMOUNT_FORCE_MOUNT2=always mounts with mount(2)', () => {
    const x = fixture();
    try {
      expect(ovl(['mount', '-o', `lowerdir=${x.a}:${x.b}`, x.m])).toEqual({ status: 0, stdout: '', stderr: '' });
      expect(ovl(['mount', '-v', '-o', `lowerdir=${x.a}:${x.b}`, x.m2])).toEqual({ status: 0, stdout: '', stderr: `ovl: overlay mounted on ${x.m2}.\n` });
      cleanup(x.root);
      const j = JSON.parse(ovlOk(['mount', '--json', '-o', `lowerdir=${x.a}:${x.b}`, x.m], { env: { LIBMOUNT_FORCE_MOUNT2: 'always' } })) as { strategy: string };
      expect(j.strategy).toBe('legacy');
      expect(rawMountAt(x.m)!.superOptions.some((o) => o.startsWith('lowerdir='))).toBe(true);
    } finally {
      cleanup(x.root);
    }
  });

  it('`ovl mount -t overlay` lists the overlay mounts as `mount -t overlay` does', () => {
    const x = fixture();
    try {
      ovlOk(['mount', '-o', `lowerdir=${x.a}:${x.b},upperdir=${x.u},workdir=${x.w},nosuid,noatime`, x.m]);
      ovlOk(['mount', '-r', '-o', `lowerdir=${x.a}:${x.b}`, 'my-label', x.m2], { env: { LIBMOUNT_FORCE_MOUNT2: 'always' } });
      const mine = (text: string) => text.split('\n').filter((l) => l.includes(` on ${x.root}/`));
      const want = mine(spawnSync('mount', ['-t', 'overlay'], { encoding: 'utf8' }).stdout);
      expect(want).toHaveLength(2);
      expect(mine(ovlOk(['mount', '-t', 'overlay']))).toEqual(want);
      expect(mine(ovlOk(['mount']))).toEqual(want);
    } finally {
      cleanup(x.root);
    }
  });

  it('-f mounts nothing and says nothing (-fv prints the plan); --options-mode is accepted; a bad one is a usage error', () => {
    const x = fixture();
    try {
      expect(ovl(['mount', '-f', '-o', `lowerdir=${x.a}:${x.b}`, x.m])).toEqual({ status: 0, stdout: '', stderr: '' });
      expect(ovlOk(['mount', '--fake', '-v', '-o', `lowerdir=${x.a}:${x.b}`, x.m])).toMatch(/^strategy: /);
      expect(mountsUnder(x.root)).toEqual([]);
      // -f still validates: a missing layer fails as a mount would.
      expect(ovl(['mount', '-f', '-o', `lowerdir=${x.a}:${x.at('gone')}`, x.m]).status).toBe(32);
      ovlOk(['mount', '--options-mode', 'replace', '-o', `lowerdir=${x.a}:${x.b}`, x.m]);
      expect(rawMountAt(x.m)?.fsType).toBe('overlay');
      const bad = ovl(['mount', '--options-mode', 'sideways', '-o', `lowerdir=${x.a}:${x.b}`, x.m2]);
      expect(bad.status).toBe(1);
      expect(bad.stderr).toContain('--options-mode must be one of ignore, append, prepend, replace');
    } finally {
      cleanup(x.root);
    }
  });
});

describePrivileged('ovl umount speaks umount(8)\'s language', () => {
  it('not mounted, no such path, busy with a mount beneath: umount(8)\'s first line and exit code; -R unmounts beneath first; -v says so', () => {
    const x = fixture();
    const compare = (args: string[]) => {
      const u = util('umount', args);
      const o = ovl(['umount', ...args]);
      expect({ status: o.status, first: prog(first(o.stderr)) }).toEqual({ status: u.status, first: prog(first(u.stderr)) });
      return o;
    };
    try {
      compare([x.m]);
      compare([x.at('nope')]);
      ovlOk(['mount', '-o', `lowerdir=${x.a}:${x.b},upperdir=${x.u},workdir=${x.w}`, x.m]);
      sys.mountSync('tmpfs', join(x.m, 'd'), 'tmpfs', { data: 'size=1m' });
      mkdirSync(join(x.m, 'd', 'deeper'));
      sys.mountSync('tmpfs', join(x.m, 'd', 'deeper'), 'tmpfs', { data: 'size=1m' });
      const busy = compare([x.m]);
      expect(first(busy.stderr)).toBe(`ovl: ${x.m}: target is busy.`);
      expect(rawMountAt(x.m)?.fsType).toBe('overlay');
      const r = ovl(['umount', '-R', '-v', x.m]);
      expect(r).toEqual({
        status: 0,
        stdout: '',
        stderr: `ovl: ${join(x.m, 'd', 'deeper')} unmounted\novl: ${join(x.m, 'd')} unmounted\novl: ${x.m} unmounted\n`,
      });
      expect(mountsUnder(x.root)).toEqual([]);
    } finally {
      cleanup(x.root);
    }
  });
});
