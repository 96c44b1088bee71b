import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { mountOverlay, mountOverlaySync, plan, probeSync, type OverlaySpec, type Strategy } from '../../src/index.js';
import { parseOverlayOptions, readMountInfoSync, type OverlayOptionsSeen } from '../../src/read/mountinfo.js';
import { snapshot } from '../helpers/example.js';
import { caughtSync, expectUnmounted } from '../helpers/overlay.js';
import { describePrivileged, itWithKernel, strategyNeeds, type KernelFeature } from '../helpers/privileged.js';
import { tempDir, writeTree } from '../helpers/tmp.js';

const STRATEGIES: Strategy[] = ['lowerdir+', 'fd', 'legacy'];

/** With layers over 255 bytes 'lowerdir+' passes those by fd too. */
const longPathNeeds = (strategy: Strategy): KernelFeature[] => (strategy === 'lowerdir+' ? ['lowerdirPlus', 'layersByFd'] : strategyNeeds(strategy));

/** Layer names each character of the syntax can break, and the directory a wrong parse would reach. */
const SPECIAL: Array<[name: string, decoy: string]> = [
  ['a:b', 'a'], // an unescaped ':' would end the layer at 'a'
  ['c,d', 'c'], // an unescaped ',' would end the option at 'c'
  ['e\\f', 'ef'], // an unescaped '\' is dropped by the kernel
  ['g=h', 'g'],
  ['i j', 'i'],
  ['k\nl', 'k'],
];
/** Names made to inject an option or a layer. */
const INJECTION: Array<[name: string, decoy: string]> = [
  ['x,upperdir=/etc', 'x'],
  ['y:z', 'y'],
  ['w\\', 'w'], // an unescaped trailing '\' would escape the ',' that follows it
];

interface Fixture {
  root: string;
  layers: string[];
  /** marker name -> the layer it must come from */
  markers: Record<string, string>;
  target: string;
}

/** Each layer holds marker-<i> = its path; each decoy holds decoy-<name>, which must never show. */
function layerSet(root: string, names: Array<[string, string]>, offset = 0): Pick<Fixture, 'layers' | 'markers'> {
  const layers: string[] = [];
  const markers: Record<string, string> = {};
  names.forEach(([name, decoy], i) => {
    const dir = join(root, name);
    writeTree(dir, { [`marker-${offset + i}`]: dir });
    writeTree(join(root, decoy), { [`decoy-${decoy}`]: 'wrong layer' });
    layers.push(dir);
    markers[`marker-${offset + i}`] = dir;
  });
  return { layers, markers };
}

/** A directory whose absolute path is exactly `bytes` long (components of at most 255 bytes). */
function pathOfLength(root: string, tag: string, bytes: number): string {
  let p = join(root, tag);
  while (bytes - p.length > 256) p = join(p, 'd'.repeat(200));
  p = join(p, 'e'.repeat(bytes - p.length - 1));
  expect(Buffer.byteLength(p)).toBe(bytes);
  mkdirSync(p, { recursive: true });
  return p;
}

function longLayers(root: string, offset: number): Pick<Fixture, 'layers' | 'markers'> {
  const layers: string[] = [];
  const markers: Record<string, string> = {};
  [255, 256, 4000].forEach((n, i) => {
    const dir = pathOfLength(root, `len${n}`, n);
    writeFileSync(join(dir, `marker-${offset + i}`), dir);
    layers.push(dir);
    markers[`marker-${offset + i}`] = dir;
  });
  return { layers, markers };
}

function seenOf(mountId: number): OverlayOptionsSeen {
  const entry = readMountInfoSync().find((e) => e.mountId === mountId);
  expect(entry?.fsType).toBe('overlay');
  return parseOverlayOptions(entry!.superOptions);
}

/** The option keys other than layers that our mounts may show (tunables the kernel prints). */
const ALLOWED_KEYS = new Set(['rw', 'ro', 'uuid', 'redirect_dir']);

describePrivileged('layer paths with the syntax characters : , \\ = space newline', () => {
  for (const strategy of STRATEGIES) {
    itWithKernel(strategyNeeds(strategy), `strategy '${strategy}': the named layers mount, no decoy, mountinfo shows exactly them`, async () => {
      const root = tempDir();
      const { layers, markers } = layerSet(root, [...SPECIAL, ...INJECTION]);
      // upper and work with the same characters
      const upper = writeTree(join(root, 'up,per:x\\y'), {});
      const work = join(root, 'wo rk,z:q\\');
      const target = writeTree(join(root, 'm'), {});
      const spec: OverlaySpec = { lower: layers, upper, work, target, strategy };

      const m = await mountOverlay(spec);
      try {
        expect(m.strategy).toBe(strategy);
        expect(snapshot(target)).toEqual(markers);
        const seen = seenOf(m.mountId);
        for (const [key] of seen.options) expect(ALLOWED_KEYS).toContain(key);
        if (strategy !== 'fd') {
          expect(seen.lower).toEqual(layers);
          expect(seen.data).toEqual([]);
          expect(seen.upper).toBe(upper);
          expect(seen.work).toBe(work);
        }
        // Writes land in our upper, nowhere else.
        writeFileSync(join(target, 'written'), 'w');
        expect(readFileSync(join(upper, 'written'), 'utf8')).toBe('w');
      } finally {
        await m.unmount({ cleanWorkdir: true });
      }
      expectUnmounted(target);
    });
  }

  for (const strategy of STRATEGIES) {
    itWithKernel(strategyNeeds(strategy), `strategy '${strategy}': 'x,upperdir=/etc', 'y:z' and 'w\\' in a read-only overlay add no upper, no option, no layer`, () => {
      const root = tempDir();
      const { layers, markers } = layerSet(root, INJECTION);
      const target = writeTree(join(root, 'm'), {});
      const m = mountOverlaySync({ lower: layers, target, strategy });
      try {
        expect(snapshot(target)).toEqual(markers);
        const seen = seenOf(m.mountId);
        expect(seen.upper).toBeUndefined();
        expect(seen.work).toBeUndefined();
        for (const [key] of seen.options) expect(ALLOWED_KEYS).toContain(key);
        if (strategy !== 'fd') expect(seen.lower).toEqual(layers);
        expect(caughtSync(() => writeFileSync(join(target, 'passwd'), 'x')).code).toBe('EROFS');
      } finally {
        m.unmountSync();
      }
      expectUnmounted(target);
    });
  }
});

describePrivileged('layer paths of 255, 256 and 4000 bytes', () => {
  itWithKernel(longPathNeeds('lowerdir+'), "'lowerdir+': 255 bytes go as a string, 256 and 4000 by fd; an upper of 256 bytes by fd too", async () => {
    const root = tempDir();
    const { layers, markers } = longLayers(root, 0);
    const upper = pathOfLength(root, 'upper', 256);
    const work = join(pathOfLength(root, 'work', 250), 'work'); // 255 bytes, created by mountOverlay
    const target = writeTree(join(root, 'm'), {});
    const spec: OverlaySpec = { lower: layers, upper, work, target, strategy: 'lowerdir+' };
    const p = plan(spec, probeSync());
    expect(p.byFd).toEqual(['lower[1]', 'lower[2]', 'upper']);
    expect(p.reason).toContain('lower[1], lower[2], upper by fd (over 255 bytes)');

    const m = await mountOverlay(spec);
    try {
      expect(m.byFd).toEqual(['lower[1]', 'lower[2]', 'upper']);
      expect(snapshot(target)).toEqual(markers);
      const seen = seenOf(m.mountId);
      expect(seen.lower[0]).toBe(layers[0]);
      expect(seen.work).toBe(work);
      writeFileSync(join(target, 'written'), 'w');
      expect(readFileSync(join(upper, 'written'), 'utf8')).toBe('w');
    } finally {
      await m.unmount({ cleanWorkdir: true });
    }
    expectUnmounted(target);
  });

  itWithKernel('layersByFd', "'fd': every long layer by fd", () => {
    const root = tempDir();
    const { layers, markers } = longLayers(root, 0);
    const target = writeTree(join(root, 'm'), {});
    const m = mountOverlaySync({ lower: layers, target, strategy: 'fd' });
    try {
      expect(m.byFd).toEqual(['lower[0]', 'lower[1]', 'lower[2]']);
      expect(snapshot(target)).toEqual(markers);
    } finally {
      m.unmountSync();
    }
    expectUnmounted(target);
  });

  it("'legacy': 255 and 256 bytes fit the data as absolute paths; with 4000 bytes the layers go by /proc/self/fd", () => {
    const root = tempDir();
    const { layers, markers } = longLayers(root, 0);
    const target = writeTree(join(root, 'm'), {});

    const short: OverlaySpec = { lower: layers.slice(0, 2), target, strategy: 'legacy' };
    const p1 = plan(short, probeSync());
    expect(p1.dataBytes).toBe('lowerdir='.length + 255 + 1 + 256);
    expect(p1.byFd).toEqual([]);
    const m1 = mountOverlaySync(short);
    try {
      expect(snapshot(target)).toEqual({ 'marker-0': layers[0], 'marker-1': layers[1] });
      expect(seenOf(m1.mountId).lower).toEqual(layers.slice(0, 2));
    } finally {
      m1.unmountSync();
    }
    expectUnmounted(target);

    const all: OverlaySpec = { lower: layers, target, strategy: 'legacy' };
    const p2 = plan(all, probeSync());
    expect(p2.reason).toContain('/proc/self/fd');
    expect(p2.byFd).toEqual(['lower[0]', 'lower[1]', 'lower[2]']);
    const m2 = mountOverlaySync(all);
    try {
      expect(snapshot(target)).toEqual(markers);
    } finally {
      m2.unmountSync();
    }
    expectUnmounted(target);
  });

  for (const strategy of STRATEGIES) {
    itWithKernel(longPathNeeds(strategy), `strategy '${strategy}': syntax characters and long paths in one overlay with an upper`, async () => {
      const root = tempDir();
      const a = layerSet(root, [...SPECIAL, ...INJECTION]);
      const b = longLayers(root, 100);
      const upper = writeTree(join(root, 'x,upperdir=', 'u'), {});
      const work = join(root, 'x,upperdir=', 'w');
      const target = writeTree(join(root, 'm'), {});
      const m = await mountOverlay({ lower: [...a.layers, ...b.layers], upper, work, target, strategy });
      try {
        expect(snapshot(target)).toEqual({ ...a.markers, ...b.markers });
        writeFileSync(join(target, 'etc-passwd'), 'w');
        expect(readFileSync(join(upper, 'etc-passwd'), 'utf8')).toBe('w');
      } finally {
        await m.unmount({ cleanWorkdir: true });
      }
      expectUnmounted(target);
    });
  }
});
