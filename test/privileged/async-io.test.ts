/**
 * The Promise API does its I/O off the main thread: while the Promise forms run (mount,
 * unmount with cleanWorkdir, probe, validation, read-back, lookups, changes, markers, volumes),
 * no blocking fs call (…Sync) and no synchronous addon call is made.
 */
import * as realFs from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, expect, it, vi } from 'vitest';

// Every …Sync of node:fs and the addon's runStepsSync, recorded while `recording` is on.
const rec = vi.hoisted(() => ({ recording: false, calls: [] as string[] }));

vi.mock('node:fs', async (importOriginal) => {
  const fs = await importOriginal<typeof import('node:fs')>();
  const wrapped: Record<string, unknown> = { ...fs };
  for (const [name, fn] of Object.entries(fs)) {
    if (!name.endsWith('Sync') || typeof fn !== 'function') continue;
    const f = fn as (...a: unknown[]) => unknown;
    const spy = (...args: unknown[]) => {
      if (rec.recording) rec.calls.push(`fs.${name}(${String(args[0])})`);
      return f(...args);
    };
    // realpathSync.native and the like hang off the function.
    Object.assign(spy, f);
    wrapped[name] = spy;
  }
  return { ...wrapped, default: wrapped };
});

vi.mock('../../src/sys/binding.js', async (importOriginal) => {
  const mod = await importOriginal<typeof import('../../src/sys/binding.js')>();
  const spied = new Proxy(mod.native(), {
    get(target, key, receiver) {
      const value: unknown = Reflect.get(target, key, receiver);
      if (key !== 'runStepsSync' || typeof value !== 'function') return value;
      return (...args: unknown[]) => {
        if (rec.recording) rec.calls.push('native.runStepsSync');
        return (value as (...a: unknown[]) => unknown).apply(target, args);
      };
    },
  });
  return { ...mod, native: () => spied };
});

const lib = await import('../../src/index.js');
const { describePrivileged, itWithKernel, strategyNeeds } = await import('../helpers/privileged.js');
const { tempDir, writeTree } = await import('../helpers/tmp.js');

beforeEach(() => {
  rec.calls.length = 0;
});
afterEach(() => {
  rec.recording = false;
});

/** Runs `fn` with recording on; returns the blocking calls it made. */
async function blockingCallsOf(fn: () => Promise<unknown>): Promise<string[]> {
  rec.calls.length = 0;
  rec.recording = true;
  try {
    await fn();
  } finally {
    rec.recording = false;
  }
  return [...rec.calls];
}

describePrivileged('the Promise API never blocks the event loop', () => {
  it('the recording sees blocking calls (the check can fail)', async () => {
    const dir = tempDir();
    expect(await blockingCallsOf(async () => realFs.readdirSync(dir))).toEqual([`fs.readdirSync(${dir})`]);
    expect(await blockingCallsOf(async () => realFs.promises.readdir(dir))).toEqual([]);
    expect(await blockingCallsOf(async () => lib.sys.statxSync(dir))).toEqual(['native.runStepsSync']);
  });

  for (const strategy of ['lowerdir+', 'fd', 'legacy'] as const) {
    itWithKernel(strategyNeeds(strategy), `probe, validate, mount (${strategy}), read back, look up, list changes, unmount and clean`, async () => {
      const root = tempDir();
      writeTree(root, { 'l1/a': 'a', 'l2/b': 'b', 'l2/d/x': 'x', 'u/': null, 'm/': null });
      const spec = { lower: [join(root, 'l1'), join(root, 'l2')], upper: join(root, 'u'), work: join(root, 'w', 'deeper'), target: join(root, 'm'), strategy };
      let m: Awaited<ReturnType<typeof lib.mountOverlay>> | undefined;
      const calls = await blockingCallsOf(async () => {
        await lib.probe({ refresh: true });
        await lib.validateSpec(spec);
        m = await lib.mountOverlay(spec);
        await realFs.promises.writeFile(join(root, 'm', 'c'), 'c');
        await realFs.promises.rm(join(root, 'm', 'b'));
        expect((await lib.inspect(spec.target)).UpperDir).toBe(spec.upper);
        expect((await lib.listOverlays()).some((o) => o.target === spec.target)).toBe(true);
        expect(await lib.resolvePath(spec.target, '/d/x')).toMatchObject({ found: true, layer: 2 });
        expect([...(await lib.listMergedDir(m, '/')).keys()].sort()).toEqual(['a', 'c', 'd']);
        const changes = [];
        for await (const c of lib.changes(spec.upper, spec.lower)) changes.push(lib.formatChange(c));
        expect(changes).toEqual(['D /b', 'A /c']);
        expect(await lib.overlaysUsing(spec.upper)).toHaveLength(1);
        const r = await m.unmount({ cleanWorkdir: true });
        expect(r.cleaned).toEqual([join(spec.work, 'work')]);
      });
      try {
        expect(calls).toEqual([]);
      } finally {
        if (m?.mounted) m.unmountSync({ detach: true });
      }
    });
  }

  for (const strategy of ['lowerdir+', 'legacy'] as const) {
    itWithKernel(strategyNeeds(strategy), `a mount the kernel refuses (${strategy}): the error, with its kernel log read back, and nothing left`, async () => {
      const root = tempDir();
      writeTree(root, { 'l1/a': 'a', 'l2/b': 'b', 'ro/': null, 'm/': null });
      const ro = lib.tmpfsMountSync(join(root, 'ro'), { size: '1m' });
      try {
        writeTree(join(root, 'ro'), { 'u/': null, 'w/': null });
        lib.remountSync(join(root, 'ro'), { readOnly: true });
        const spec = { lower: [join(root, 'l1'), join(root, 'l2')], upper: join(root, 'ro', 'u'), work: join(root, 'ro', 'w'), target: join(root, 'm'), strategy };
        let err: unknown;
        const calls = await blockingCallsOf(async () => {
          err = await lib.mountOverlay(spec).catch((e: unknown) => e);
        });
        expect(lib.isMountError(err)).toBe(true);
        expect(err).toMatchObject({ code: 'EINVAL', strategy });
        expect(calls).toEqual([]);
        expect(lib.findOverlaySync(spec.target)).toBeUndefined();
      } finally {
        ro.unmountSync();
      }
    });
  }

  it('markers, volumes and remount', async () => {
    const root = tempDir();
    writeTree(root, { 'layer/d/': null, 'layer/f': 'f', 'src/x': 'x', 'b/': null, 't/': null });
    const calls = await blockingCallsOf(async () => {
      await lib.createWhiteout(join(root, 'layer', 'gone'));
      expect(await lib.whiteoutKind(join(root, 'layer', 'gone'))).toBe('device');
      await lib.setOpaque(join(root, 'layer', 'd'));
      expect(await lib.getOpaque(join(root, 'layer', 'd'))).toBe('y');
      await lib.clearOpaque(join(root, 'layer', 'd'));
      await lib.applyMarkers([{ op: 'redirect', path: join(root, 'layer', 'd'), target: '/elsewhere' }]);
      expect(await lib.getRedirect(join(root, 'layer', 'd'))).toBe('/elsewhere');
      const b = await lib.bindMount(join(root, 'src'), join(root, 'b'), { readOnly: true });
      const t = await lib.tmpfsMount(join(root, 't'), { size: '1m' });
      await lib.remount(join(root, 't'), { nosuid: true });
      await t.unmount();
      await b.unmount();
    });
    expect(calls).toEqual([]);
  });
});
