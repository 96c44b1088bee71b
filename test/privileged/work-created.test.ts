/**
 * A work dir the mount itself creates: it has no validated identity, so the one made and locked
 * is the one that must be mounted; and when the call fails, what it made is removed only if no
 * other mount has taken it meanwhile.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import { expect, vi } from 'vitest';
import { isOverlayError, mountOverlay, mountOverlaySync, OverlaySpecError, type OverlaySpec } from '../../src/index.js';
import { caught, caughtSync } from '../helpers/overlay.js';
import { describePrivileged, itWithKernel } from '../helpers/privileged.js';
import { mountsUnder, tempDir, writeTree } from '../helpers/tmp.js';

// Hooks: after the locks are taken (to swap the new work dir for a decoy right there), and
// after the first batch that tries them returns (the earliest a lock can be held).
const hook = vi.hoisted(() => ({ afterLocks: undefined as undefined | (() => void), afterLockBatch: undefined as undefined | (() => void) }));
vi.mock('../../src/mount/lock.js', async (importOriginal) => {
  const mod = await importOriginal<typeof import('../../src/mount/lock.js')>();
  return {
    ...mod,
    acquireLocks: function* (...args: Parameters<typeof mod.acquireLocks>) {
      const r = yield* mod.acquireLocks(...args);
      hook.afterLocks?.();
      return r;
    },
  };
});
vi.mock('../../src/sys/io.js', async (importOriginal) => {
  const mod = await importOriginal<typeof import('../../src/sys/io.js')>();
  return {
    ...mod,
    steps: function* (list: Parameters<typeof mod.steps>[0]) {
      const r = yield* mod.steps(list);
      if (list.some((s) => s.op === 'flock')) hook.afterLockBatch?.();
      return r;
    },
  };
});

function dirs() {
  const root = tempDir();
  writeTree(root, { 'l/f': 'f', 'u/': null, 'm/': null, 'm2/': null, 'decoy/': null });
  const at = (n: string) => join(root, n);
  return { root, at, spec: { lower: [at('l')], upper: at('u'), work: at('w/sub'), target: at('m') } satisfies OverlaySpec };
}

describePrivileged('a work dir made by the mount', () => {
  itWithKernel('layersByFd', 'swapped for another dir after it was made and locked: refused (ERR_LAYER_CHANGED), the decoy untouched', async () => {
    const d = dirs();
    hook.afterLocks = () => {
      renameSync(d.spec.work, d.at('made'));
      renameSync(d.at('decoy'), d.spec.work);
    };
    try {
      const err = await caught(() => mountOverlay(d.spec));
      expect(isOverlayError(err, 'ERR_LAYER_CHANGED')).toBe(true);
      expect(err.field).toBe('work');
      expect(readdirSync(d.spec.work)).toEqual([]);
      expect(mountsUnder(d.root)).toEqual([]);
    } finally {
      hook.afterLocks = undefined;
    }
  });

  itWithKernel('layersByFd', "a Sync mount while this process's own Promise mount of the same dirs holds their locks: refused at once, never a wait", async () => {
    const d = dirs();
    mkdirSync(d.spec.work, { recursive: true }); // so the first batch takes the locks
    let second: unknown;
    hook.afterLockBatch = () => {
      hook.afterLockBatch = undefined;
      second = caughtSync(() => mountOverlaySync({ ...d.spec, target: d.at('m2') }));
    };
    const m = await mountOverlay(d.spec);
    await m.unmount();
    expect(second).toBeInstanceOf(OverlaySpecError);
    expect((second as OverlaySpecError).problems[0]!.problem).toMatch(/being mounted .* by this process right now/);
  });

  itWithKernel('layersByFd', 'made by a call that then lost the race to another process: left to the winner, whose overlay keeps working', async () => {
    const d = dirs();
    // Another process holds the upper's lock, as a mount in progress would; meanwhile this call
    // makes the work dir and waits. The other mounts on that dir, then lets go.
    const script = `sleep 0.6; mount -t overlay overlay -o lowerdir=${d.at('l')},upperdir=${d.spec.upper},workdir=${d.spec.work} ${d.at('m2')}`;
    const other = spawn('flock', [d.spec.upper, 'sh', '-c', `echo locked; ${script}`], { stdio: ['ignore', 'pipe', 'inherit'] });
    await new Promise((resolve) => other.stdout.once('data', resolve));
    const pending = caught(() => mountOverlay(d.spec));
    await new Promise((resolve) => other.once('exit', resolve));
    try {
      const err = await pending;
      expect(err).toBeInstanceOf(OverlaySpecError);
      // The work dir this call made is the other overlay's now: it is still there, kernel's work/ and all.
      expect(existsSync(join(d.spec.work, 'work'))).toBe(true);
      mkdirSync(join(d.at('m2'), 'still-writable'));
    } finally {
      const { sys } = await import('../../src/index.js');
      sys.umount2Sync(d.at('m2'));
    }
  });
});
