import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { sys, FSCONFIG, O, type Step } from '../../src/index.js';
import { describePrivileged, describeWithKernel, itWithKernel } from '../helpers/privileged.js';
import {
  caught,
  caughtSync,
  expectUnmounted,
  makeLayers,
  mountAt,
  newApiSteps,
  type Layers,
} from '../helpers/overlay.js';
import { mountsUnder, openFdCount } from '../helpers/tmp.js';

const UNKNOWN = "e overlay: Unknown parameter 'thekey'";

/** Layers whose workdir is a tmpfs mount, so upper and work are on different mounts. */
function workOnOtherMount(): Layers {
  const x = makeLayers();
  sys.mountSync('tmpfs', x.work, 'tmpfs', { data: 'size=1m' });
  return x;
}

describeWithKernel('fsContextParser', 'fsconfig errors', () => {
  it('an unknown key rejects with the fs-context log, the key, EINVAL and syscall fsconfig (Promise)', async () => {
    const fs = await sys.fsopen('overlay');
    const err = await caught(() => sys.fsconfigSetString(fs, 'thekey', 'v'));
    fs.close();
    expect(err.code).toBe('EINVAL');
    expect(err.errno).toBe(-22);
    expect(err.syscall).toBe('fsconfig');
    expect(err.key).toBe('thekey');
    expect(err.kernelMessages).toContain(UNKNOWN);
  });

  it('an unknown key throws the same error from the Sync forms, and the log is drained into it', () => {
    const fs = sys.fsopenSync('overlay');
    const calls = [() => sys.fsconfigSetStringSync(fs, 'thekey', 'v'), () => sys.fsconfigSetFlagSync(fs, 'thekey')];
    for (const set of calls) {
      const err = caughtSync(set);
      expect(err.code).toBe('EINVAL');
      expect(err.syscall).toBe('fsconfig');
      expect(err.key).toBe('thekey');
      expect(err.kernelMessages).toEqual([UNKNOWN]);
      // The message was moved into the error, so the context's log is empty now.
      expect(sys.fsReadLogSync(fs)).toEqual([]);
    }
    fs.close();
  });
});

describePrivileged('runSteps errors', () => {
  itWithKernel(['fsContextParser', 'lowerdirPlus'], 'a bad step names its index and closes every fd the batch opened (sync)', () => {
    const x = makeLayers();
    const steps: Step[] = [
      { op: 'fsopen', fsname: 'overlay' },
      { op: 'open', path: x.l1, flags: O.PATH | O.DIRECTORY, keep: true },
      { op: 'fsopen', fsname: 'overlay', keep: true },
      { op: 'fsconfigSetString', fs: 0, key: 'lowerdir+', value: x.l1 },
      { op: 'fsconfigSetString', fs: 0, key: 'thekey', value: 'v' },
      { op: 'fsconfigSetString', fs: 0, key: 'upperdir', value: x.upper },
    ];
    const fdsBefore = openFdCount();
    const err = caughtSync(() => sys.runStepsSync(steps));
    expect(err).not.toBeInstanceOf(TypeError);
    expect(openFdCount()).toBe(fdsBefore);
    expect(err.step).toBe(4);
    expect(err.code).toBe('EINVAL');
    expect(err.syscall).toBe('fsconfig');
    expect(err.key).toBe('thekey');
    expect(err.kernelMessages).toContain(UNKNOWN);
    expect(mountsUnder(x.root)).toEqual([]);
  });

  itWithKernel('lowerdirPlus', 'a bad step after fsmount (keep: true) closes the kept fd too (Promise)', async () => {
    const x = makeLayers();
    const steps = newApiSteps(x, { keep: true, attach: false });
    // move_mount to a target that does not exist
    steps.push({ op: 'moveMount', from: 6, fromPath: '', toPath: join(x.root, 'missing'), flags: 4 });
    const fdsBefore = openFdCount();
    const err = await caught(() => sys.runSteps(steps));
    expect(openFdCount()).toBe(fdsBefore);
    expect(err.step).toBe(7);
    expect(err.code).toBe('ENOENT');
    expect(err.syscall).toBe('move_mount');
    expect(err.dest).toBe(join(x.root, 'missing'));
    expect(mountsUnder(x.root)).toEqual([]);
  });

  itWithKernel('lowerdirPlus', 'a failed CMD_CREATE in a batch leaves no fd and nothing mounted', async () => {
    const x = workOnOtherMount();
    const fdsBefore = openFdCount();
    const err = await caught(() => sys.runSteps(newApiSteps(x)));
    expect(openFdCount()).toBe(fdsBefore);
    expect(err.step).toBe(5);
    expect(err.code).toBe('EINVAL');
    expect(err.syscall).toBe('fsconfig');
    // Superblock-creation errors go to the kernel log (dmesg), not the fs-context log.
    expect(err.kernelMessages).toEqual([]);
    expect(mountsUnder(x.root)).toEqual([x.work]);
    sys.umount2Sync(x.work);
    expect(mountsUnder(x.root)).toEqual([]);
  });
});

describeWithKernel('lowerdirPlus', 'a failed FSCONFIG_CMD_CREATE', () => {
  it('workdir on another mount than upperdir: EINVAL, nothing mounted, a second create gives EBUSY', () => {
    const x = workOnOtherMount();
    expect(mountAt(x.work)?.fstype).toBe('tmpfs');
    const fs = sys.fsopenSync('overlay');
    sys.fsconfigSetStringSync(fs, 'lowerdir+', x.l1);
    sys.fsconfigSetStringSync(fs, 'lowerdir+', x.l2);
    sys.fsconfigSetStringSync(fs, 'upperdir', x.upper);
    sys.fsconfigSetStringSync(fs, 'workdir', x.work);
    const err = caughtSync(() => sys.fsconfigCreateSync(fs));
    expect(err.code).toBe('EINVAL');
    expect(err.syscall).toBe('fsconfig');
    expect(err.key).toBeUndefined();
    expect(err.kernelMessages).toEqual([]);
    expect(mountsUnder(x.root)).toEqual([x.work]);
    expect(mountInfoOverlaysUsing(x.root)).toEqual([]);

    // The context is dead after a failed create: the kernel answers EBUSY from now on.
    const again = caughtSync(() => sys.fsconfigCreateSync(fs));
    expect(again.code).toBe('EBUSY');
    expect(again.syscall).toBe('fsconfig');
    const set = caughtSync(() => sys.fsconfigSetStringSync(fs, 'upperdir', x.upper));
    expect(set.code).toBe('EBUSY');
    fs.close();

    sys.umount2Sync(x.work);
    expectUnmounted(x.work);
  });

  itWithKernel('createExcl', 'the same through the Promise forms', async () => {
    const x = workOnOtherMount();
    const fs = await sys.fsopen('overlay');
    await sys.fsconfigSetString(fs, 'lowerdir+', x.l1);
    await sys.fsconfigSetString(fs, 'lowerdir+', x.l2);
    await sys.fsconfigSetString(fs, 'upperdir', x.upper);
    await sys.fsconfigSetString(fs, 'workdir', x.work);
    expect((await caught(() => sys.fsconfigCreateExcl(fs))).code).toBe('EINVAL');
    expect((await caught(() => sys.fsconfigCreateExcl(fs))).code).toBe('EBUSY');
    fs.close();
    expect(mountInfoOverlaysUsing(x.root)).toEqual([]);
    await sys.umount2(x.work);
    expectUnmounted(x.work);
  });
});

describePrivileged('error shape of a real failure', () => {
  it('umount2Sync of a non-mount-point dir: EINVAL, same keys and message form as a Node fs error', () => {
    const x = makeLayers();
    const nodeErr = caughtSync(() => readFileSync('/nonexistent/x'));
    const err = caughtSync(() => sys.umount2Sync(x.merged));
    expect(Object.keys(err)).toEqual(Object.keys(nodeErr));
    expect(Object.keys(err)).toEqual(['errno', 'code', 'syscall', 'path']);
    expect(err).toBeInstanceOf(Error);
    expect(err.name).toBe(nodeErr.name);
    expect(err.errno).toBe(-22);
    expect(err.code).toBe('EINVAL');
    expect(err.syscall).toBe('umount2');
    expect(err.path).toBe(x.merged);
    expect(err.message).toBe(`EINVAL: invalid argument, umount2 '${x.merged}'`);
  });

  it('the Promise form rejects with the same shape', async () => {
    const x = makeLayers();
    const nodeErr = await caught(() => import('node:fs/promises').then((f) => f.readFile('/nonexistent/x')));
    const err = await caught(() => sys.umount2(x.merged));
    expect(Object.keys(err)).toEqual(Object.keys(nodeErr));
    expect(err.message).toBe(`EINVAL: invalid argument, umount2 '${x.merged}'`);
  });
});

/** Overlay mounts whose options mention `dir` (any layer below it). */
function mountInfoOverlaysUsing(dir: string): string[] {
  return readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .filter((l) => l.includes(' - overlay ') && l.includes(dir));
}
