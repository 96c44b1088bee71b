import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { MOUNT_ATTR, MS, mountOverlay, mountOverlaySync, sys, type OverlayMount, type OverlaySpec, type Strategy } from '../../src/index.js';
import { parseOverlayOptions, readMountInfoSync } from '../../src/read/mountinfo.js';
import { makeExample, MERGED, snapshot } from '../helpers/example.js';
import { expectUnmounted } from '../helpers/overlay.js';
import { describePrivileged, itWithKernel, strategyNeeds } from '../helpers/privileged.js';
import { tempDir } from '../helpers/tmp.js';

const STRATEGIES: Strategy[] = ['lowerdir+', 'fd', 'legacy'];
const CALLS = [
  ['mountOverlaySync', (spec: OverlaySpec) => Promise.resolve(mountOverlaySync(spec))],
  ['mountOverlay', (spec: OverlaySpec) => mountOverlay(spec)],
] as const;

describePrivileged('mountOverlay: the three-layer example under every strategy', () => {
  for (const strategy of STRATEGIES) {
    for (const [name, mount] of CALLS) {
      itWithKernel(strategyNeeds(strategy), `${name} with strategy '${strategy}': merged view, copy-up, untouched layers, cleanWorkdir`, async () => {
        const x = makeExample(tempDir());
        const layersBefore = x.lower.map(snapshot);
        const spec: OverlaySpec = { lower: x.lower, upper: x.upper, work: x.work, target: x.target, strategy };

        const m: OverlayMount = await mount(spec);
        try {
          expect(m.strategy).toBe(strategy);
          expect(m.target).toBe(x.target);
          expect(m.mounted).toBe(true);
          const entry = readMountInfoSync().find((e) => e.mountId === m.mountId);
          expect(entry?.mountPoint).toBe(x.target);
          expect(entry?.fsType).toBe('overlay');
          // The top mount at the target is ours.
          expect(readMountInfoSync().filter((e) => e.mountPoint === x.target).at(-1)?.mountId).toBe(m.mountId);
          if (strategy === 'fd') expect([...m.byFd].sort()).toEqual(['lower[0]', 'lower[1]', 'lower[2]', 'upper', 'work']);
          else {
            expect(m.byFd).toEqual([]);
            const seen = parseOverlayOptions(entry!.superOptions);
            expect(seen.form).toBe(strategy === 'legacy' ? 'legacy' : 'lowerdir+');
            expect(seen.lower).toEqual(x.lower);
            expect(seen.upper).toBe(x.upper);
            expect(seen.work).toBe(x.work);
          }

          // The same merged view whatever the strategy; reads come from the topmost layer.
          expect(snapshot(x.target)).toEqual(MERGED);
          expect(readFileSync(join(x.target, 'etc/app/config.json'), 'utf8')).toBe('{"from":"config"}\n');

          // A write copies the file up: upper gets it, the base layer keeps its own.
          expect(existsSync(join(x.upper, 'etc/os-release'))).toBe(false);
          writeFileSync(join(x.target, 'etc/os-release'), 'ID=changed\n');
          expect(readFileSync(join(x.target, 'etc/os-release'), 'utf8')).toBe('ID=changed\n');
          expect(readFileSync(join(x.upper, 'etc/os-release'), 'utf8')).toBe('ID=changed\n');
          writeFileSync(join(x.target, 'app/new.txt'), 'new');
          expect(snapshot(x.upper)).toEqual({ 'app/new.txt': 'new', 'etc/os-release': 'ID=changed\n' });
          expect(x.lower.map(snapshot)).toEqual(layersBefore);

          // The kernel's scratch dir, mode 000, exists while mounted.
          expect(statSync(join(x.work, 'work')).mode & 0o777).toBe(0);
        } finally {
          await m.unmount({ cleanWorkdir: true });
        }
        expect(m.mounted).toBe(false);
        expectUnmounted(x.target);
        expect(existsSync(join(x.work, 'work'))).toBe(false);
        expect(existsSync(x.work)).toBe(true);
        expect(x.lower.map(snapshot)).toEqual(layersBefore);
        expect(readFileSync(join(x.upper, 'etc/os-release'), 'utf8')).toBe('ID=changed\n');
      });
    }
  }

  for (const strategy of STRATEGIES) {
    itWithKernel(strategyNeeds(strategy), `without upper and work the overlay is read-only ('${strategy}'), same view`, () => {
      const x = makeExample(tempDir());
      const m = mountOverlaySync({ lower: x.lower, target: x.target, strategy });
      try {
        expect(snapshot(x.target)).toEqual(MERGED);
        let code: string | undefined;
        try {
          writeFileSync(join(x.target, 'etc/os-release'), 'no');
        } catch (e) {
          code = (e as NodeJS.ErrnoException).code;
        }
        expect(code).toBe('EROFS');
      } finally {
        m.unmountSync();
      }
      expectUnmounted(x.target);
    });
  }

  for (const strategy of STRATEGIES) {
    itWithKernel(strategyNeeds(strategy), `readOnly is the superblock too ('${strategy}'): a bind of the overlay made read-write still cannot write the upper`, () => {
      const x = makeExample(tempDir());
      const bind = join(tempDir(), 'bind');
      mkdirSync(bind);
      const m = mountOverlaySync({ lower: x.lower, upper: x.upper, work: x.work, target: x.target, strategy, attributes: { readOnly: true } });
      try {
        expect(readMountInfoSync().find((e) => e.mountId === m.mountId)?.superOptions[0]).toBe('ro');
        sys.mountSync(x.target, bind, null, { flags: MS.BIND });
        try {
          // mount -o remount,rw,bind: only the bind's own flag; the superblock stays ro.
          sys.mountSetattrSync(bind, { attrClr: MOUNT_ATTR.RDONLY });
          expect(readMountInfoSync().findLast((e) => e.mountPoint === bind)?.mountOptions[0]).toBe('rw');
          expect(() => writeFileSync(join(bind, 'etc/os-release'), 'no')).toThrow(expect.objectContaining({ code: 'EROFS' }));
        } finally {
          sys.umount2Sync(bind);
        }
      } finally {
        m.unmountSync();
      }
      expect(snapshot(x.upper)).toEqual({});
      expectUnmounted(x.target);
    });
  }
});
