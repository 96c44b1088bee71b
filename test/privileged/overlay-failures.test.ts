import { existsSync, mkdirSync, readdirSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import {
  MS,
  mountOverlay,
  OverlaySpecError,
  mountOverlaySync,
  plan,
  probeSync,
  sys,
  type MountOverlayOptions,
  type OverlaySpec,
  type Strategy,
} from '../../src/index.js';
import { snapshot } from '../helpers/example.js';
import { caught, expectUnmounted } from '../helpers/overlay.js';
import { describePrivileged, itWithKernel, itWithKernelLog, strategyNeeds } from '../helpers/privileged.js';
import { mountsUnder, openFdCount, tempDir, writeTree } from '../helpers/tmp.js';

const STRATEGIES: Strategy[] = ['lowerdir+', 'fd', 'legacy'];
const CALLS = [
  ['mountOverlaySync', (spec: OverlaySpec, o?: MountOverlayOptions) => Promise.resolve().then(() => mountOverlaySync(spec, o))],
  ['mountOverlay', (spec: OverlaySpec, o?: MountOverlayOptions) => mountOverlay(spec, o)],
] as const;

/**
 * Runs a failing mount and checks that it left nothing: no mount under `root`, no new fd, and
 * root's entries unchanged (a work dir mountOverlay created is removed again).
 */
async function failsCleanly(root: string, attempt: () => Promise<unknown>): Promise<NodeJS.ErrnoException & Record<string, unknown>> {
  const mounts = mountsUnder(root);
  const entries = snapshotNames(root);
  const fds = openFdCount();
  const err = await caught(attempt);
  expect(mountsUnder(root)).toEqual(mounts);
  expect(openFdCount()).toBe(fds);
  expect(snapshotNames(root)).toEqual(entries);
  return err;
}

/** Every path under `dir` (directories included), skipping mode-000 kernel dirs we cannot list. */
function snapshotNames(dir: string): string[] {
  const out: string[] = [];
  const walk = (rel: string) => {
    let names: string[];
    try {
      names = readdirSync(join(dir, rel));
    } catch {
      return;
    }
    for (const n of names.sort()) {
      const r = rel ? `${rel}/${n}` : n;
      out.push(r);
      walk(r);
    }
  };
  walk('');
  return out;
}

function expectShape(err: Record<string, unknown>, want: { code: string; errno: number; syscall: string; stage: string; strategy: Strategy }): void {
  expect(err).toBeInstanceOf(Error);
  expect(err.code).toBe(want.code);
  expect(err.errno).toBe(want.errno);
  expect(err.syscall).toBe(want.syscall);
  expect(err.stage).toBe(want.stage);
  expect(err.strategy).toBe(want.strategy);
  expect(Array.isArray(err.kernelLog)).toBe(true);
}

/** index=on with an upper that recorded other lowers: the mount fails ESTALE, and leaves nothing. */
async function staleOrigin(strategy: Strategy, mount: (typeof CALLS)[number][1]): Promise<NodeJS.ErrnoException & Record<string, unknown>> {
  const root = tempDir();
  writeTree(root, { 'a/from-a': 'a', 'b/from-b': 'b', 'u/': null, 'w/': null, 'm/': null });
  const first = mountOverlaySync({ lower: [join(root, 'a')], upper: join(root, 'u'), work: join(root, 'w'), target: join(root, 'm'), options: { index: 'on' } });
  first.unmountSync();

  // Other lowers, the same upper: the upper root's origin does not match. The work dir is
  // new (two levels), so mountOverlay creates it, and must remove it again.
  const spec: OverlaySpec = {
    lower: [join(root, 'b')],
    upper: join(root, 'u'),
    work: join(root, 'fresh', 'w'),
    target: join(root, 'm'),
    options: { index: 'on' },
    strategy,
  };
  const err = await failsCleanly(root, () => mount(spec));
  expect(existsSync(join(root, 'fresh'))).toBe(false);
  expectUnmounted(join(root, 'm'));
  return err;
}

/** Upper and work on a read-only tmpfs: the mount fails, and leaves nothing. */
async function readOnlyUpper(strategy: Strategy): Promise<{ err: NodeJS.ErrnoException & Record<string, unknown>; upper: string; words: string }> {
  const root = tempDir();
  writeTree(root, { 'a/x': 'a', 'b/y': 'b', 'ro/': null, 'm/': null });
  const ro = join(root, 'ro');
  const upper = join(ro, 'u');
  sys.mountSync('tmpfs', ro, 'tmpfs', { data: 'size=1m' });
  let err;
  try {
    mkdirSync(upper);
    mkdirSync(join(ro, 'w'));
    sys.mountSync(null, ro, null, { flags: MS.REMOUNT | MS.RDONLY });
    const spec: OverlaySpec = { lower: [join(root, 'a'), join(root, 'b')], upper, work: join(ro, 'w'), target: join(root, 'm'), strategy };
    err = await failsCleanly(root, () => mountOverlay(spec));
  } finally {
    sys.umount2Sync(ro);
  }
  expectUnmounted(join(root, 'm'));
  return { err, upper, words: `filesystem on ${upper} is read-only` };
}

/** allowShared with index=on on an upper another overlay uses: the kernel refuses it at create. */
async function sharedIndexedUpper(): Promise<NodeJS.ErrnoException & Record<string, unknown>> {
  const root = tempDir();
  writeTree(root, { 'a/x': 'a', 'b/y': 'b', 'u/': null, 'm1/': null, 'm2/': null });
  const first = await mountOverlay({ lower: [join(root, 'a')], upper: join(root, 'u'), work: join(root, 'w1'), target: join(root, 'm1') });
  let err;
  try {
    const spec: OverlaySpec = {
      lower: [join(root, 'b')],
      upper: join(root, 'u'),
      work: join(root, 'w2'),
      target: join(root, 'm2'),
      options: { index: 'on' },
      allowShared: true,
    };
    err = await failsCleanly(root, () => mountOverlay(spec));
    expect(existsSync(join(root, 'w2'))).toBe(false);
  } finally {
    await first.unmount({ cleanWorkdir: true });
  }
  expectUnmounted(join(root, 'm1'));
  return err;
}

describePrivileged('a failing mount leaves nothing and says why', () => {
  for (const strategy of STRATEGIES) {
    for (const [name, mount] of CALLS) {
      const at = strategy === 'legacy' ? 'mount' : 'create';
      itWithKernel(strategyNeeds(strategy), `${name} '${strategy}': index=on with an upper that recorded other lowers fails ESTALE at ${at}, with the index hint (from errno and stage)`, async () => {
        const err = await staleOrigin(strategy, mount);
        expectShape(err, { code: 'ESTALE', errno: -116, syscall: strategy === 'legacy' ? 'mount' : 'fsconfig', stage: at, strategy });
        expect(err.hint).toMatch(/index=on recorded other lower layers/);
      });
      // The kernel says why only in its log, in a line that names no path: it cannot be told from
      // another overlay's, so it is kept in kernelLog, not put in the message.
      itWithKernelLog(strategyNeeds(strategy), `${name} '${strategy}': that ESTALE keeps the kernel log's line in kernelLog, not in the message`, async () => {
        const err = await staleOrigin(strategy, mount);
        expect(err.kernelLog).toContain('overlayfs: failed to verify upper root origin');
        expect(err.message).not.toContain('failed to verify upper root origin');
      });
    }
  }

  for (const strategy of STRATEGIES) {
    itWithKernel(strategyNeeds(strategy), `'${strategy}': upper and work on a read-only mount fail at ${strategy === 'legacy' ? 'mount' : 'fsconfig upperdir'}`, async () => {
      const { err, upper, words } = await readOnlyUpper(strategy);
      if (strategy === 'legacy') {
        expectShape(err, { code: 'EINVAL', errno: -22, syscall: 'mount', stage: 'mount', strategy });
      } else {
        // The new mount API returns the kernel's words in the fs-context log.
        expectShape(err, { code: 'EINVAL', errno: -22, syscall: 'fsconfig', stage: `fsconfig upperdir '${upper}'`, strategy });
        expect(err.kernelMessages).toEqual([`e overlay: ${words}`]);
        expect(err.message).toContain(words);
        expect(err.hint).toMatch(/writable/);
      }
    });
  }

  // mount(2) has no fs-context log: the kernel prints the parser's error as "overlay: ...".
  itWithKernelLog([], "'legacy': upper and work on a read-only mount: the kernel log's words in the error, its message and hint", async () => {
    const { err, words } = await readOnlyUpper('legacy');
    expect(err.kernelLog).toContain(`overlay: ${words}`);
    expect(err.message).toContain(words);
    expect(err.hint).toMatch(/writable/);
  });

  for (const strategy of STRATEGIES) {
    it(`'${strategy}': one directory twice through a bind mount is refused by validation (same inode), before the kernel's ELOOP`, async () => {
      const root = tempDir();
      writeTree(root, { 'a/x': 'a', 'alias/': null, 'm/': null });
      sys.mountSync(join(root, 'a'), join(root, 'alias'), null, { flags: MS.BIND });
      try {
        const spec: OverlaySpec = { lower: [join(root, 'a'), join(root, 'alias')], target: join(root, 'm'), strategy };
        const err = await failsCleanly(root, () => mountOverlay(spec));
        expect(err).toBeInstanceOf(OverlaySpecError);
        expect((err as unknown as OverlaySpecError).problems).toEqual([
          { field: 'lower[1]', problem: expect.stringMatching(/^is the same directory as lower\[0\]/) },
        ]);
      } finally {
        sys.umount2Sync(join(root, 'alias'));
      }
      expectUnmounted(join(root, 'm'));
    });
  }

  // The automatic strategy is 'fd' where the kernel takes layers by fd.
  itWithKernel('layersByFd', 'allowShared with index=on: the kernel refuses the shared upper (EBUSY at create), and the hint says why', async () => {
    const err = await sharedIndexedUpper();
    expectShape(err, { code: 'EBUSY', errno: -16, syscall: 'fsconfig', stage: 'create', strategy: 'fd' });
    // From EBUSY at create with index=on, whether or not the log could be read.
    expect(err.hint).toMatch(/index=on refuses to share/);
  });

  itWithKernelLog('layersByFd', "allowShared with index=on: that EBUSY keeps the kernel log's words", async () => {
    const err = await sharedIndexedUpper();
    expect((err.kernelLog as string[]).some((l) => l.startsWith('overlayfs: upperdir is in-use as upperdir/workdir of another mount'))).toBe(true);
  });

  // options.capabilities is read after validation and before any syscall of the mount: a getter
  // there removes a path in exactly that window.
  const removing = (path: string): MountOverlayOptions =>
    ({
      get capabilities() {
        rmSync(path, { recursive: true });
        return probeSync();
      },
    }) as MountOverlayOptions;

  for (const strategy of STRATEGIES) {
    for (const [name, mount] of CALLS) {
      const stage = strategy === 'legacy' ? 'mount' : 'move_mount';
      itWithKernel(strategyNeeds(strategy), `${name} '${strategy}': the target removed after validation fails at ${stage}, after the overlay was made; nothing left`, async () => {
        const root = tempDir();
        writeTree(root, { 'a/x': 'a', 'b/y': 'b', 'u/': null, 'm/': null });
        const spec: OverlaySpec = { lower: [join(root, 'a'), join(root, 'b')], upper: join(root, 'u'), work: join(root, 'new', 'w'), target: join(root, 'm'), strategy };
        const fds = openFdCount();
        const err = await caught(() => mount(spec, removing(join(root, 'm'))));
        expect(openFdCount()).toBe(fds);
        expect(mountsUnder(root)).toEqual([]);
        expect(snapshotNames(root)).toEqual(['a', 'a/x', 'b', 'b/y', 'u']);
        expectShape(err, { code: 'ENOENT', errno: -2, syscall: stage, stage, strategy });
        expect(err.hint).toMatch(/the target does not exist any more/);
      });
    }
  }

  for (const strategy of ['fd', 'legacy'] as const) {
    itWithKernel(strategyNeeds(strategy), `'${strategy}': a layer removed after validation fails at its open, before fsopen or mount; nothing left`, async () => {
      const root = tempDir();
      writeTree(root, { 'a/x': 'a', 'b/y': 'b', 'u/': null, 'm/': null });
      // Legacy opens layers only when it names them by fd: make the data too long for a page.
      const long = join(root, 'long', ...Array<string>(19).fill('d'.repeat(200)));
      const long2 = join(root, 'long2', ...Array<string>(5).fill('d'.repeat(200)));
      writeTree(long, { z: 'z' });
      writeTree(long2, { z2: 'z2' });
      const b = join(root, 'b');
      const spec: OverlaySpec = { lower: [join(root, 'a'), b, long, long2], upper: join(root, 'u'), work: join(root, 'new', 'w'), target: join(root, 'm'), strategy };
      const fds = openFdCount();
      const err = await caught(() => mountOverlay(spec, removing(b)));
      expect(openFdCount()).toBe(fds);
      expect(mountsUnder(root)).toEqual([]);
      expect(existsSync(join(root, 'new'))).toBe(false);
      expectShape(err, { code: 'ENOENT', errno: -2, syscall: 'open', stage: `open lower[1] '${b}'`, strategy });
      expect(err.path).toBe(b);
      expect(err.hint).toMatch(/does not exist any more/);
    });
  }

  // The 'fd' strategy opens each path and checks the fd is the directory validated before. To
  // replace a layer exactly between validation and the open, the swap runs in the getter of
  // options.capabilities, which mountOverlay reads after validation and before any open.
  const swapCases: Array<[Strategy, string]> = [
    ['fd', 'fd'],
    ['legacy', 'legacy named by /proc/self/fd'],
  ];
  for (const [strategy, label] of swapCases) {
    for (const [name, mount] of CALLS) {
      itWithKernel(strategyNeeds(strategy), `${name} '${label}': a layer replaced after validation is refused (ERR_LAYER_CHANGED), nothing left`, async () => {
        const root = tempDir();
        writeTree(root, { 'a/from-a': 'a', 'b/from-b': 'b', 'u/': null, 'm/': null });
        // Long enough that legacy has to name the layers by fd.
        const long = join(root, 'long', ...Array<string>(19).fill('d'.repeat(200)));
        const long2 = join(root, 'long2', ...Array<string>(5).fill('d'.repeat(200)));
        writeTree(long, { 'from-long': 'long' });
        writeTree(long2, { 'from-long2': 'long2' });
        const b = join(root, 'b');
        const spec: OverlaySpec = {
          lower: [join(root, 'a'), b, long, long2],
          upper: join(root, 'u'),
          work: join(root, 'new', 'w'),
          target: join(root, 'm'),
          strategy,
        };
        const p = plan(spec, probeSync());
        // fd: checked in the batch that mounts; legacy: in a first one (the data needs the fd numbers).
        expect(p.openPhase > 0).toBe(strategy === 'legacy');
        if (strategy === 'legacy') expect(p.reason).toContain('/proc/self/fd');
        let swapped = false;
        const options = {
          get capabilities() {
            renameSync(b, join(root, 'b-validated'));
            writeTree(b, { 'from-impostor': 'x' });
            swapped = true;
            return probeSync();
          },
        } as MountOverlayOptions;
        const fds = openFdCount();
        const err = await caught(() => mount(spec, options));
        expect(swapped).toBe(true);
        expect(err.code).toBe('ERR_LAYER_CHANGED');
        expect(err.field).toBe('lower[1]');
        expect(err.message).toBe('lower[1] is not the directory that was validated: its path was replaced before it was opened');
        expect(openFdCount()).toBe(fds);
        expect(mountsUnder(root)).toEqual([]);
        expect(existsSync(join(root, 'new'))).toBe(false);
        expect(snapshot(join(root, 'u'))).toEqual({});
      });
    }
  }
});
