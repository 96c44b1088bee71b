import { lstatSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { sys, O, S } from '../../src/index.js';
import { describePrivileged } from '../helpers/privileged.js';
import { caughtSync, expectUnmounted, mountAt } from '../helpers/overlay.js';
import { tempDir, writeTree } from '../helpers/tmp.js';

function expectWhiteoutNode(path: string): void {
  const st = lstatSync(path);
  expect(st.isCharacterDevice()).toBe(true);
  expect(st.rdev).toBe(0);
}

function expectHidden(merged: string, name: string): void {
  expect(readdirSync(merged)).not.toContain(name);
  const err = caughtSync(() => statSync(join(merged, name)));
  expect(err.code).toBe('ENOENT');
}

describePrivileged('whiteouts made with sys.mknod(path, S.IFCHR)', () => {
  it('in the upper layer: hides the lower file in a fresh mount', () => {
    const root = tempDir();
    writeTree(root, {
      'lower/gone.txt': 'hidden',
      'lower/kept.txt': 'kept',
      'upper/': null,
      'work/': null,
      'm/': null,
    });
    sys.mknodSync(join(root, 'upper/gone.txt'), S.IFCHR);
    expectWhiteoutNode(join(root, 'upper/gone.txt'));

    const m = join(root, 'm');
    sys.mountSync('overlay', m, 'overlay', { data: `lowerdir=${root}/lower,upperdir=${root}/upper,workdir=${root}/work` });
    expectHidden(m, 'gone.txt');
    expect(readdirSync(m)).toEqual(['kept.txt']);
    expect(readFileSync(join(root, 'lower/gone.txt'), 'utf8')).toBe('hidden');
    sys.umount2Sync(m);
    expectUnmounted(m);
  });

  it('in a middle lower layer (Promise mknod): hides the file below it, not the one above it', async () => {
    const root = tempDir();
    writeTree(root, {
      'top/above.txt': 'top wins',
      'mid/': null,
      'bottom/gone.txt': 'hidden',
      'bottom/above.txt': 'bottom',
      'bottom/kept.txt': 'kept',
      'm/': null,
    });
    await sys.mknod(join(root, 'mid/gone.txt'), S.IFCHR);
    await sys.mknod(join(root, 'mid/above.txt'), S.IFCHR);
    expectWhiteoutNode(join(root, 'mid/gone.txt'));

    const m = join(root, 'm');
    // No upper: a read-only overlay of three lower layers, top first.
    await sys.mount('overlay', m, 'overlay', { data: `lowerdir=${root}/top:${root}/mid:${root}/bottom` });
    expect(mountAt(m)?.superOptions.split(',')).toContain('ro');
    expectHidden(m, 'gone.txt');
    expect(readdirSync(m).sort()).toEqual(['above.txt', 'kept.txt']);
    expect(readFileSync(join(m, 'above.txt'), 'utf8')).toBe('top wins');
    await sys.umount2(m);
    expectUnmounted(m);
  });

  it('the dirfd form resolves the name against the directory handle', () => {
    const root = tempDir();
    writeTree(root, { 'upper/': null });
    const dir = sys.openSync(join(root, 'upper'), O.DIRECTORY);
    try {
      sys.mknodSync('wh', S.IFCHR, { dirfd: dir });
    } finally {
      dir.close();
    }
    expectWhiteoutNode(join(root, 'upper/wh'));
  });
});

describePrivileged('opaque directories: trusted.overlay.opaque = "y"', () => {
  it('an opaque upper dir hides the lower dir’s contents; a plain one merges', () => {
    const root = tempDir();
    writeTree(root, {
      'lower/opaque/hidden.txt': 'hidden',
      'lower/opaque/sub/deep.txt': 'hidden',
      'lower/plain/from-lower.txt': 'lower',
      'upper/opaque/own.txt': 'own',
      'upper/plain/from-upper.txt': 'upper',
      'work/': null,
      'm/': null,
    });
    sys.setxattrSync(join(root, 'upper/opaque'), 'trusted.overlay.opaque', 'y');

    const m = join(root, 'm');
    sys.mountSync('overlay', m, 'overlay', { data: `lowerdir=${root}/lower,upperdir=${root}/upper,workdir=${root}/work` });
    expect(readdirSync(join(m, 'opaque'))).toEqual(['own.txt']);
    expectHidden(join(m, 'opaque'), 'hidden.txt');
    expect(readdirSync(join(m, 'plain')).sort()).toEqual(['from-lower.txt', 'from-upper.txt']);
    sys.umount2Sync(m);
    expectUnmounted(m);
  });

  it('an opaque dir in a middle lower layer (Promise setxattr) hides the layers below it', async () => {
    const root = tempDir();
    writeTree(root, {
      'top/d/top.txt': 'top',
      'mid/d/mid.txt': 'mid',
      'bottom/d/bottom.txt': 'hidden',
      'm/': null,
    });
    await sys.setxattr(join(root, 'mid/d'), 'trusted.overlay.opaque', 'y');
    const m = join(root, 'm');
    await sys.mount('overlay', m, 'overlay', { data: `lowerdir=${root}/top:${root}/mid:${root}/bottom` });
    expect(readdirSync(join(m, 'd')).sort()).toEqual(['mid.txt', 'top.txt']);
    await sys.umount2(m);
    expectUnmounted(m);
  });
});
