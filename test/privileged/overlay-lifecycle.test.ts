/**
 * The mount handle's promises: it never takes down a mount that is not its own, cleans a work
 * dir only once no overlay runs on it, refuses a target the strategies would treat differently,
 * and two concurrent mounts of one process cannot share an upper.
 */
import { closeSync, existsSync, mkdirSync, openSync, readdirSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { applyMarkersSync, OverlayError, mountOverlay, mountOverlaySync, OverlaySpecError, sys, type OverlaySpec } from '../../src/index.js';
import { readMountInfoSync } from '../../src/read/mountinfo.js';
import { describePrivileged } from '../helpers/privileged.js';
import { tempDir, writeTree } from '../helpers/tmp.js';

function layers(): { root: string; spec: OverlaySpec } {
  const root = tempDir();
  writeTree(root, { 'a/f': 'a', 'b/g': 'b', 'u/': null, 'm/': null });
  return { root, spec: { lower: [join(root, 'a'), join(root, 'b')], upper: join(root, 'u'), work: join(root, 'w'), target: join(root, 'm') } };
}

const topAt = (path: string) => readMountInfoSync().filter((e) => e.mountPoint === path).at(-1);

describePrivileged('overlay mount lifecycle', () => {
  it('unmount() of a mount already gone leaves whatever is mounted at the target now', () => {
    const { spec } = layers();
    const m = mountOverlaySync(spec);
    sys.umount2Sync(spec.target);
    // Whatever id the kernel gives it (often the one just freed), it is not ours.
    sys.mountSync('tmpfs', spec.target, 'tmpfs', { data: 'size=1m' });
    try {
      m.unmountSync();
      expect(topAt(spec.target)?.fsType).toBe('tmpfs');
      expect(m.mounted).toBe(false);
    } finally {
      sys.umount2Sync(spec.target);
    }
  });

  it('unmount({detach, cleanWorkdir}) of a busy overlay detaches it but leaves its work dir alone', async () => {
    const { spec } = layers();
    const m = await mountOverlay(spec);
    const fd = openSync(join(spec.target, 'f'), 'r');
    try {
      const r = await m.unmount({ detach: true, cleanWorkdir: true });
      expect(r).toEqual({ stillInUse: true, holders: [expect.objectContaining({ pid: process.pid })], cleaned: [] });
      expect(topAt(spec.target)).toBeUndefined();
      // The detached overlay still runs on work/work.
      expect(existsSync(join(spec.work!, 'work'))).toBe(true);
    } finally {
      closeSync(fd);
    }
    const idle = await mountOverlay(spec);
    expect(await idle.unmount({ detach: true, cleanWorkdir: true })).toEqual({ stillInUse: false, holders: [], cleaned: [join(spec.work!, 'work')] });
  });

  it('a symlink as target is refused before any syscall, with the directory it points to', () => {
    const { root, spec } = layers();
    symlinkSync(join(root, 'm'), join(root, 'link'));
    let err: unknown;
    try {
      mountOverlaySync({ ...spec, target: join(root, 'link') });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(OverlaySpecError);
    expect((err as OverlaySpecError).problems).toEqual([{ field: 'target', problem: expect.stringContaining(`is a symbolic link; give the directory it points to ('${join(root, 'm')}')`) }]);
    expect(topAt(join(root, 'm'))).toBeUndefined();
    expect(existsSync(spec.work!)).toBe(false);
  });

  it('two concurrent mounts of this process cannot both take one upper and work', async () => {
    const { root, spec } = layers();
    mkdirSync(join(root, 'm2'));
    const results = await Promise.allSettled([mountOverlay(spec), mountOverlay({ ...spec, target: join(root, 'm2') })]);
    const ok = results.filter((r) => r.status === 'fulfilled');
    const refused = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
    expect(ok).toHaveLength(1);
    expect(refused).toHaveLength(1);
    expect(refused[0]!.reason).toBeInstanceOf(OverlaySpecError);
    // Either may claim the dirs first (on a busy machine the second often does): the refusal
    // names the target of the one that did.
    const winner = results[0]!.status === 'fulfilled' ? join(root, 'm') : join(root, 'm2');
    expect(String((refused[0]!.reason as Error).message)).toContain(`is being mounted as an upper or work dir at '${winner}' by this process right now`);
    await (ok[0] as PromiseFulfilledResult<Awaited<ReturnType<typeof mountOverlay>>>).value.unmount();
    // Released: the same dirs mount again.
    const again = await mountOverlay({ ...spec, target: join(root, 'm2') });
    await again.unmount();
  });

  it('applyMarkers checks every op before making any', () => {
    const root = tempDir();
    writeTree(root, { 'd/': null });
    expect(() =>
      applyMarkersSync([
        { op: 'whiteout', path: join(root, 'd/w') },
        { op: 'redirect', path: join(root, 'd'), target: 'not/a/name' },
      ]),
    ).toThrow(OverlayError);
    expect(readdirSync(join(root, 'd'))).toEqual([]);
    expect(() => applyMarkersSync([{ op: 'opaque', path: join(root, 'd'), value: 'z' as 'y' }])).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_VALUE' }));
    expect(() => applyMarkersSync([], { namespace: 'bogus' as 'user' })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_VALUE' }));
  });
});
