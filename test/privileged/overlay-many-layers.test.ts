import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { mountOverlay, mountOverlaySync, OverlaySpecError, plan, probeSync, type OverlaySpec, type Strategy } from '../../src/index.js';
import { parseOverlayOptions, readMountInfoSync } from '../../src/read/mountinfo.js';
import { caught, caughtSync, expectUnmounted } from '../helpers/overlay.js';
import { describePrivileged, itWithKernel, strategyNeeds } from '../helpers/privileged.js';
import { mountsUnder, openFdCount, tempDir } from '../helpers/tmp.js';

const PATH_BYTES = 100;

/**
 * `count` layers of exactly PATH_BYTES-byte absolute paths. Each holds its own marker-<i> and a
 * shared file saying which layer it is (the top one must win). `together`: all in one
 * long-named parent (relative names are short); otherwise each in its own long-named parent, so
 * relative paths from their common parent stay long.
 */
function makeLayers(count: number, together: boolean): { root: string; layers: string[]; target: string } {
  const root = tempDir();
  const layers: string[] = [];
  for (let i = 0; i < count; i++) {
    const name = String(i).padStart(3, '0');
    let dir: string;
    if (together) {
      dir = join(root, 'p'.repeat(PATH_BYTES - root.length - 2 - name.length), name);
    } else {
      const parent = join(root, `s${name}`);
      dir = join(parent, 'l'.repeat(PATH_BYTES - parent.length - 1));
    }
    expect(Buffer.byteLength(dir)).toBe(PATH_BYTES);
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, `marker-${i}`), `layer ${i}`);
    writeFileSync(join(dir, 'shared'), `layer ${i}`);
    layers.push(dir);
  }
  const target = join(root, 'm');
  mkdirSync(target);
  return { root, layers, target };
}

function expectLayersMounted(target: string, count: number): void {
  expect(readFileSync(join(target, 'marker-0'), 'utf8')).toBe('layer 0');
  expect(readFileSync(join(target, `marker-${count - 1}`), 'utf8')).toBe(`layer ${count - 1}`);
  expect(readFileSync(join(target, 'shared'), 'utf8')).toBe('layer 0');
  expect(readdirSync(target).length).toBe(count + 1);
}

describePrivileged('500 lower layers', () => {
  for (const strategy of ['lowerdir+', 'fd'] as const) {
    itWithKernel(strategyNeeds(strategy), `strategy '${strategy}': 500 layers of ${PATH_BYTES}-byte paths mount, first and last layer visible`, async () => {
      const { layers, target } = makeLayers(500, false);
      const spec: OverlaySpec = { lower: layers, target, strategy };
      const p = plan(spec, probeSync());
      expect(p.strategy).toBe(strategy);
      expect(p.byFd.length).toBe(strategy === 'fd' ? 500 : 0);
      const m = await mountOverlay(spec);
      try {
        expect(m.strategy).toBe(strategy);
        expectLayersMounted(target, 500);
        const seen = parseOverlayOptions(readMountInfoSync().find((e) => e.mountId === m.mountId)!.superOptions);
        expect(seen.lower.length).toBe(500);
        if (strategy === 'lowerdir+') expect(seen.lower).toEqual(layers);
      } finally {
        await m.unmount();
      }
      expectUnmounted(target);
    });
  }

  it('legacy: 500 layers of 100-byte paths (50 KB of data) mount relative to their common parent', () => {
    const { layers, target } = makeLayers(500, true);
    const spec: OverlaySpec = { lower: layers, target, strategy: 'legacy' };
    const p = plan(spec, probeSync());
    expect(p.reason).toMatch(/50\d\d\d bytes of absolute paths exceed one page, so layers are given relative to /);
    const parent = join(layers[0]!, '..');
    expect(p.reason).toContain(`relative to ${parent}`);
    expect(p.dataBytes).toBeLessThan(4096);
    expect(p.byFd).toEqual([]);

    const m = mountOverlaySync(spec);
    try {
      expect(m.strategy).toBe('legacy');
      expectLayersMounted(target, 500);
      // mountinfo keeps the relative names the data held: every layer, in order.
      const seen = parseOverlayOptions(readMountInfoSync().find((e) => e.mountId === m.mountId)!.superOptions);
      expect(seen.form).toBe('legacy');
      expect(seen.lower).toEqual(layers.map((_, i) => String(i).padStart(3, '0')));
    } finally {
      m.unmountSync();
    }
    expectUnmounted(target);
  });

  it('legacy: 300 layers whose relative paths still exceed a page are named by /proc/self/fd numbers', async () => {
    const { layers, target } = makeLayers(300, false);
    const spec: OverlaySpec = { lower: layers, target, strategy: 'legacy' };
    const p = plan(spec, probeSync());
    expect(p.reason).toMatch(/even relative paths \(\d+ bytes\) exceed one page, so every layer is opened and named by fd number from \/proc\/self\/fd/);
    expect(p.dataBytes).toBeLessThan(4096);
    expect(p.byFd.length).toBe(300);

    const fds = openFdCount();
    const m = await mountOverlay(spec);
    try {
      expectLayersMounted(target, 300);
      // The data named fd numbers; they were closed after the mount.
      const seen = parseOverlayOptions(readMountInfoSync().find((e) => e.mountId === m.mountId)!.superOptions);
      expect(seen.lower.length).toBe(300);
      for (const l of seen.lower) expect(l).toMatch(/^\d+$/);
      expect(openFdCount()).toBe(fds);
    } finally {
      await m.unmount();
    }
    expectUnmounted(target);
  });

  it('501 layers are refused before any syscall by every strategy: OverlaySpecError, no mount, no fd, no work dir', async () => {
    const { root, layers, target } = makeLayers(501, true);
    const work = join(root, 'new', 'work');
    const upper = join(root, 'upper');
    mkdirSync(upper);
    for (const strategy of [undefined, 'lowerdir+', 'fd', 'legacy'] as Array<Strategy | undefined>) {
      const spec: OverlaySpec = { lower: layers, upper, work, target, ...(strategy ? { strategy } : {}) };
      const fds = openFdCount();
      for (const err of [caughtSync(() => plan(spec, probeSync())), caughtSync(() => mountOverlaySync(spec)), await caught(() => mountOverlay(spec))]) {
        expect(err).toBeInstanceOf(OverlaySpecError);
        expect(err.code).toBe('ERR_OVERLAY_SPEC');
        const problems = (err as unknown as OverlaySpecError).problems;
        expect(problems).toEqual([{ field: 'lower', problem: "has 501 layers (lower + data); the kernel's limit is 500" }]);
      }
      expect(openFdCount()).toBe(fds);
      expect(mountsUnder(root)).toEqual([]);
      expect(existsSync(join(root, 'new'))).toBe(false);
    }
    expectUnmounted(target);
  });
});
