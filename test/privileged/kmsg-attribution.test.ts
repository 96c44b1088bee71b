/**
 * The kernel log is shared: a line another process's overlay logs while our mount fails must not
 * be taken for our kernel's words, nor pick our hint. Here the other process is this test, which
 * as root writes lines into /dev/kmsg after the mount failed and before the library reads the log
 * back (readKernelLog is wrapped to do so), so they are in the error's kernelLog for certain.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect, it, vi } from 'vitest';
import { MS, mountOverlay, mountOverlaySync, sys, type OverlaySpec, type Strategy } from '../../src/index.js';
import { openKernelLog } from '../../src/mount/kmsg.js';
import { runSync } from '../../src/sys/io.js';
import { caught, expectUnmounted } from '../helpers/overlay.js';
import { describePrivileged } from '../helpers/privileged.js';
import { tempDir, writeTree } from '../helpers/tmp.js';

const foreign = vi.hoisted(() => ({ lines: [] as string[] }));

vi.mock('../../src/mount/kmsg.js', async (importOriginal) => {
  const real = await importOriginal<typeof import('../../src/mount/kmsg.js')>();
  return {
    ...real,
    readKernelLog: function* (...args: Parameters<typeof real.readKernelLog>) {
      // One write per record, as another process's printk would make them.
      for (const line of foreign.lines.splice(0)) writeFileSync('/dev/kmsg', `${line}\n`);
      return yield* real.readKernelLog(...args);
    },
  };
});

const kmsgReadable = runSync(openKernelLog()) !== null;

/** Lines another overlay could log at the same time: each matches a hint of its own. */
function foreignLines(root: string): string[] {
  return [
    'overlayfs: upper fs needs to support d_type.',
    "overlayfs: upperdir is in-use as upperdir/workdir of another mount, mount with '-o index=off' to override exclusive upperdir protection.",
    `overlay: filesystem on ${join(root, 'elsewhere', 'u')} is read-only`,
    `overlayfs: failed to resolve '${join(root, 'u')}2': -2`,
  ];
}

describePrivileged('kernel log lines of another overlay, logged while ours fails', () => {
  for (const strategy of ['lowerdir+', 'legacy'] as Strategy[]) {
    it(`'${strategy}' ESTALE with index=on: the foreign lines are in kernelLog only; the hint is index's, from errno and stage`, async (ctx) => {
      if (!kmsgReadable) ctx.skip('/dev/kmsg cannot be read here');
      const root = tempDir();
      writeTree(root, { 'a/from-a': 'a', 'b/from-b': 'b', 'u/': null, 'w/': null, 'm/': null });
      const first = mountOverlaySync({ lower: [join(root, 'a')], upper: join(root, 'u'), work: join(root, 'w'), target: join(root, 'm'), options: { index: 'on' } });
      first.unmountSync();
      const spec: OverlaySpec = { lower: [join(root, 'b')], upper: join(root, 'u'), work: join(root, 'w'), target: join(root, 'm'), options: { index: 'on' }, strategy };
      const lines = foreignLines(root);
      foreign.lines = [...lines];
      const err = await caught(() => mountOverlay(spec));
      expect(err).toMatchObject({ code: 'ESTALE', strategy, stage: strategy === 'legacy' ? 'mount' : 'create' });
      const kernelLog = err.kernelLog as string[];
      // Seen, and kept as seen: ours (it names no path) and the foreign ones.
      expect(kernelLog).toEqual(expect.arrayContaining([...lines, 'overlayfs: failed to verify upper root origin']));
      for (const line of kernelLog) expect(err.message).not.toContain(line);
      expect(err.message).toBe(strategy === 'legacy' ? `ESTALE: stale file handle, mount 'overlay' -> '${spec.target}'` : 'ESTALE: stale file handle, fsconfig');
      expect(err.hint).toMatch(/index=on.*other lower layers/);
      expectUnmounted(join(root, 'm'));
    });
  }

  it("'legacy' upper on a read-only mount: the kernel's line naming our upper is in the message and picks the hint; the foreign ones are not", async (ctx) => {
    if (!kmsgReadable) ctx.skip('/dev/kmsg cannot be read here');
    const root = tempDir();
    writeTree(root, { 'a/x': 'a', 'b/y': 'b', 'ro/': null, 'm/': null });
    const ro = join(root, 'ro');
    sys.mountSync('tmpfs', ro, 'tmpfs', { data: 'size=1m' });
    try {
      writeTree(ro, { 'u/': null, 'w/': null });
      sys.mountSync(null, ro, null, { flags: MS.REMOUNT | MS.RDONLY });
      const upper = join(ro, 'u');
      const lines = [...foreignLines(root), `overlay: filesystem on ${upper}2 is read-only`];
      foreign.lines = [...lines];
      const spec: OverlaySpec = { lower: [join(root, 'a'), join(root, 'b')], upper, work: join(ro, 'w'), target: join(root, 'm'), strategy: 'legacy' };
      const err = await caught(() => mountOverlay(spec));
      const ours = `overlay: filesystem on ${upper} is read-only`;
      expect(err.kernelLog).toEqual(expect.arrayContaining([ours, ...lines]));
      expect(err.message).toBe(`EINVAL: invalid argument, mount 'overlay' -> '${spec.target}' (${ours})`);
      expect(err.hint).toMatch(/writable filesystem/);
    } finally {
      sys.umount2Sync(ro);
    }
    expectUnmounted(join(root, 'm'));
  });
});
