import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { bindMount, bindMountSync, mountOverlaySync, sys, tmpfsMount, tmpfsMountSync } from '../../src/index.js';
import { readMountInfoSync } from '../../src/read/mountinfo.js';
import { makeExample } from '../helpers/example.js';
import { caught, caughtSync, expectUnmounted } from '../helpers/overlay.js';
import { describePrivileged } from '../helpers/privileged.js';
import { mountsUnder, tempDir, writeTree } from '../helpers/tmp.js';

function entryOf(mountId: number) {
  const e = readMountInfoSync().find((m) => m.mountId === mountId);
  expect(e).toBeDefined();
  return e!;
}

/** src/ with a file and a tmpfs submount at src/sub holding inner.txt. */
function sourceWithSubmount() {
  const root = tempDir();
  writeTree(root, { 'src/file.txt': 'file', 'src/sub/': null, 't/': null });
  const src = join(root, 'src');
  sys.mountSync('tmpfs', join(src, 'sub'), 'tmpfs', { data: 'size=1m' });
  writeFileSync(join(src, 'sub', 'inner.txt'), 'inner');
  return { root, src, target: join(root, 't') };
}

describePrivileged('bindMount', () => {
  it('readOnly: the target shows the source, writes fail EROFS there, the source stays writable (sync)', () => {
    const root = tempDir();
    writeTree(root, { 'src/file.txt': 'file', 't/': null });
    const src = join(root, 'src');
    const target = join(root, 't');
    const m = bindMountSync(src, target, { readOnly: true });
    try {
      expect(entryOf(m.mountId).mountPoint).toBe(target);
      expect(entryOf(m.mountId).mountOptions).toContain('ro');
      expect(readFileSync(join(target, 'file.txt'), 'utf8')).toBe('file');
      expect(caughtSync(() => writeFileSync(join(target, 'file.txt'), 'x')).code).toBe('EROFS');
      expect(caughtSync(() => writeFileSync(join(target, 'new.txt'), 'x')).code).toBe('EROFS');
      writeFileSync(join(src, 'file.txt'), 'changed at the source');
      expect(readFileSync(join(target, 'file.txt'), 'utf8')).toBe('changed at the source');
    } finally {
      m.unmountSync();
    }
    expectUnmounted(target);
  });

  it('a writable bind writes through to the source (Promise)', async () => {
    const root = tempDir();
    writeTree(root, { 'src/': null, 't/': null });
    const m = await bindMount(join(root, 'src'), join(root, 't'));
    try {
      expect(entryOf(m.mountId).mountOptions).toContain('rw');
      writeFileSync(join(root, 't', 'new.txt'), 'through');
      expect(readFileSync(join(root, 'src', 'new.txt'), 'utf8')).toBe('through');
    } finally {
      await m.unmount();
    }
    expectUnmounted(join(root, 't'));
  });

  it('recursive brings the submounts along (read-only too), non-recursive does not; both unmount completely', async () => {
    const { root, src, target } = sourceWithSubmount();
    try {
      const flat = await bindMount(src, target);
      try {
        expect(readdirSync(join(target, 'sub'))).toEqual([]);
      } finally {
        await flat.unmount();
      }
      expect(mountsUnder(target)).toEqual([]);

      const deep = await bindMount(src, target, { recursive: true, readOnly: true });
      try {
        expect(mountsUnder(target)).toEqual([target, join(target, 'sub')]);
        expect(readFileSync(join(target, 'sub', 'inner.txt'), 'utf8')).toBe('inner');
        expect(caughtSync(() => writeFileSync(join(target, 'sub', 'x'), 'x')).code).toBe('EROFS');
        expect(caughtSync(() => writeFileSync(join(target, 'x'), 'x')).code).toBe('EROFS');
        // The source's submount itself stays writable.
        writeFileSync(join(src, 'sub', 'x'), 'x');
      } finally {
        await deep.unmount();
      }
      expect(mountsUnder(target)).toEqual([]);

      const sync = bindMountSync(src, target, { recursive: true });
      expect(mountsUnder(target)).toEqual([target, join(target, 'sub')]);
      sync.unmountSync();
      expect(mountsUnder(target)).toEqual([]);
    } finally {
      sys.umount2Sync(join(src, 'sub'));
    }
    expect(mountsUnder(root)).toEqual([]);
  });

  it('a recursive bind does not unmount a mount someone else put inside it later', async () => {
    const { src, target } = sourceWithSubmount();
    try {
      const deep = await bindMount(src, target, { recursive: true });
      sys.mountSync('tmpfs', join(target, 'sub'), 'tmpfs', { data: 'size=1m' }); // stacked on the copied submount
      const err = await caught(() => deep.unmount());
      expect(err.code).toBe('EBUSY');
      expect(deep.mounted).toBe(true);
      expect(mountsUnder(target).length).toBe(3);
      sys.umount2Sync(join(target, 'sub'));
      await deep.unmount();
      expect(mountsUnder(target)).toEqual([]);
    } finally {
      sys.umount2Sync(join(src, 'sub'));
    }
  });
});

describePrivileged('tmpfsMount', () => {
  it('size and mode: the root has the mode, mountinfo has both, writing past the size fails ENOSPC (sync)', () => {
    const root = tempDir();
    const target = writeTree(join(root, 't'), {});
    const m = tmpfsMountSync(target, { size: '1m', mode: 0o710 });
    try {
      const e = entryOf(m.mountId);
      expect(e.fsType).toBe('tmpfs');
      expect(e.superOptions).toContain('size=1024k');
      expect(e.superOptions).toContain('mode=710');
      expect(statSync(target).mode & 0o7777).toBe(0o710);
      writeFileSync(join(target, 'small'), 'fits');
      expect(caughtSync(() => writeFileSync(join(target, 'big'), Buffer.alloc(2 * 1024 * 1024))).code).toBe('ENOSPC');
    } finally {
      m.unmountSync();
    }
    expectUnmounted(target);
  });

  it('a byte size (Promise); without a mode the root is 1777', async () => {
    const root = tempDir();
    const target = writeTree(join(root, 't'), {});
    const m = await tmpfsMount(target, { size: 4 * 1024 * 1024 });
    try {
      expect(entryOf(m.mountId).superOptions).toContain('size=4096k');
      expect(statSync(target).mode & 0o7777).toBe(0o1777);
    } finally {
      await m.unmount();
    }
    expectUnmounted(target);
  });

  it('a tmpfs can hold the upper and work of an overlay', () => {
    const root = tempDir();
    const x = makeExample(root);
    const scratch = writeTree(join(root, 'scratch'), {});
    const t = tmpfsMountSync(scratch, { size: '8m', mode: 0o700 });
    try {
      writeTree(scratch, { 'upper/': null });
      const m = mountOverlaySync({ lower: x.lower, upper: join(scratch, 'upper'), work: join(scratch, 'work'), target: x.target });
      try {
        writeFileSync(join(x.target, 'etc/os-release'), 'ID=tmp\n');
        expect(readFileSync(join(scratch, 'upper/etc/os-release'), 'utf8')).toBe('ID=tmp\n');
      } finally {
        m.unmountSync();
      }
    } finally {
      t.unmountSync();
    }
    expect(mountsUnder(root)).toEqual([]);
  });
});

describePrivileged('MountHandle.unmount', () => {
  it('is idempotent: a second unmount and a dispose do nothing, also after an unmount from elsewhere', async () => {
    const root = tempDir();
    const target = writeTree(join(root, 't'), {});
    const m = await tmpfsMount(target);
    expect(m.mounted).toBe(true);
    await m.unmount();
    expect(m.mounted).toBe(false);
    await m.unmount();
    m.unmountSync();
    await m[Symbol.asyncDispose]();
    expectUnmounted(target);

    const other = tmpfsMountSync(target);
    sys.umount2Sync(target); // gone behind the handle's back
    other.unmountSync();
    expect(other.mounted).toBe(false);
    expectUnmounted(target);
  });

  it('refuses while something else is mounted over the target, and unmounts once it is gone', async () => {
    const root = tempDir();
    const target = writeTree(join(root, 't'), {});
    const ours = await tmpfsMount(target, { mode: 0o700 });
    sys.mountSync('tmpfs', target, 'tmpfs', { data: 'size=1m' }); // stacked on ours
    try {
      for (const err of [await caught(() => ours.unmount()), caughtSync(() => ours.unmountSync()), await caught(() => ours[Symbol.asyncDispose]())]) {
        expect(err.code).toBe('ERR_MOUNT_COVERED');
        expect(err.message).toContain(`mount ${ours.mountId} is no longer the top mount at '${target}'`);
      }
      expect(ours.mounted).toBe(true);
      expect(mountsUnder(target)).toEqual([target, target]);
    } finally {
      sys.umount2Sync(target);
    }
    // Ours is on top again.
    expect(statSync(target).mode & 0o7777).toBe(0o700);
    await ours.unmount();
    expectUnmounted(target);
  });
});

describePrivileged('bindMount and tmpfsMount beneath a root', () => {
  it('attach onto the mount point opened beneath the root: works through directories, refuses a symlink on the way or a target outside, before anything is mounted', async () => {
    const root = tempDir();
    writeTree(root, { 'src/file.txt': 'file', 'c/a/b/': null, 'outside/': null });
    const c = join(root, 'c');
    const m = await bindMount(join(root, 'src'), join(c, 'a/b'), { beneath: c, readOnly: true });
    expect(readFileSync(join(c, 'a/b/file.txt'), 'utf8')).toBe('file');
    await m.unmount();
    const t = await tmpfsMount(join(c, 'a'), { beneath: c, size: '1m' });
    expect(readdirSync(join(c, 'a'))).toEqual([]);
    await t.unmount();

    // A component that is a symlink (here one out of the root): ELOOP from openat2, nothing mounted.
    const { symlinkSync } = await import('node:fs');
    symlinkSync(join(root, 'outside'), join(c, 'link'));
    const viaLink = await caught(() => bindMount(join(root, 'src'), join(c, 'link'), { beneath: c }));
    expect(viaLink).toMatchObject({ code: 'ELOOP', syscall: 'openat2' });
    const viaLinkTmpfs = await caught(() => tmpfsMount(join(c, 'link'), { beneath: c }));
    expect(viaLinkTmpfs).toMatchObject({ code: 'ELOOP', syscall: 'openat2' });
    expect(mountsUnder(root)).toEqual([]);
    expect(readdirSync(join(root, 'outside'))).toEqual([]);
    // Not inside the root at all: refused before any syscall.
    await expect(bindMount(join(root, 'src'), join(root, 'outside'), { beneath: c })).rejects.toMatchObject({ code: 'ERR_INVALID_ARG_VALUE' });
    await expect(tmpfsMount(c, { beneath: c })).rejects.toMatchObject({ code: 'ERR_INVALID_ARG_VALUE' });
  });
});
