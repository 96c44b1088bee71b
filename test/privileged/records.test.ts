/**
 * What this process remembers about its mounts stays true: a record is never taken for another
 * mount that got the same (reused) 32-bit mount id, and a failed preparation leaves no
 * reservation behind.
 */
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { findOverlaySync, inspectSync, MS, mountOverlaySync, OverlaySpecError, overlaysUsingSync, sys, type OverlaySpec } from '../../src/index.js';
import { readMountInfoSync } from '../../src/read/mountinfo.js';
import { caughtSync } from '../helpers/overlay.js';
import { describePrivileged, itWithKernel } from '../helpers/privileged.js';
import { mountsUnder, tempDir, writeTree } from '../helpers/tmp.js';

describePrivileged('mount records', () => {
  it('a mount that reuses the id of ours, unmounted behind our back, is not taken for ours', () => {
    const root = tempDir();
    writeTree(root, { 'a/a': 'a', 'b/b': 'b', 'x/x': 'x', 'y/y': 'y', 'u/': null, 'm/': null, 'filler/': null });
    const at = (n: string) => join(root, n);
    const spec: OverlaySpec = { lower: [at('a'), at('b')], upper: at('u'), work: at('w'), target: at('m') };
    // Mount ids are global and the kernel hands out the lowest free one; other mounts on the
    // machine may take it first, so try a few times for a reuse.
    let reused = false;
    for (let attempt = 0; attempt < 60 && !reused; attempt++) {
      const m = mountOverlaySync(spec);
      sys.umount2Sync(spec.target); // behind the handle's back
      // The kernel frees the id after an RCU grace period: give it one. The new API's mount
      // also freed a lower id on the way (fsmount's anonymous namespace): a tmpfs takes that.
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 20 + attempt);
      sys.mountSync('tmpfs', at('filler'), 'tmpfs');
      sys.mountSync('overlay', spec.target, 'overlay', { data: `lowerdir=${at('x')}:${at('y')}` });
      const other = readMountInfoSync().findLast((e) => e.mountPoint === spec.target)!;
      reused = other.mountId === m.mountId;
      if (reused) {
        // The record of ours (fd strategy: its paths are only in the record) must not speak for it.
        expect(inspectSync(spec.target).LowerDir).toBe(`${at('x')}:${at('y')}`);
        const info = findOverlaySync(spec.target)!;
        expect(info.upper).toBeUndefined();
        expect(info.strategy).toBeUndefined();
        // Nor does the in-use check think our upper is still taken by it.
        expect(overlaysUsingSync(spec.upper!)).toEqual([]);
      }
      sys.umount2Sync(spec.target);
      sys.umount2Sync(at('filler'));
    }
    expect(reused, 'no mount id was reused in 60 attempts (other mounts on the machine took each freed id first)').toBe(true);
    expect(mountsUnder(root)).toEqual([]);
  });

  itWithKernel('layersByFd', 'a work dir that cannot be made (read-only filesystem) leaves no reservation: the next mount works', () => {
    const fsroot = tempDir();
    sys.mountSync('tmpfs', fsroot, 'tmpfs', { data: 'size=4m' });
    try {
      writeTree(fsroot, { 'l/f': 'f', 'u/': null, 'm/': null });
      const spec: OverlaySpec = { lower: [join(fsroot, 'l')], upper: join(fsroot, 'u'), work: join(fsroot, 'w'), target: join(fsroot, 'm') };
      sys.mountSync(null, fsroot, null, { flags: MS.REMOUNT | MS.RDONLY });
      const err = caughtSync(() => mountOverlaySync(spec));
      expect(err).not.toBeInstanceOf(OverlaySpecError);
      expect(err.code).toBe('EROFS');
      expect(err.stage).toBe('mkdir work');
      expect(err.strategy).toBe('fd');
      sys.mountSync(null, fsroot, null, { flags: MS.REMOUNT });
      const m = mountOverlaySync(spec);
      m.unmountSync();
    } finally {
      sys.umount2Sync(fsroot);
    }
  });
});
