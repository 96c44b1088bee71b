import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { native } from '../../src/sys/binding.js';

const require = createRequire(import.meta.url);
const root = fileURLToPath(new URL('../..', import.meta.url));

// A source build (build/Release/overlayfs.node, build-asan/...) or a prebuild (overlayfs.napi.glibc.node).
const ADDON = /\/overlayfs(\.napi\.(glibc|musl))?\.node$/;

/** Files mapped into this process whose path matches `re`. */
function mapped(re: RegExp): string[] {
  const paths = readFileSync('/proc/self/maps', 'utf8')
    .split('\n')
    .map((line) => line.split(/\s+/).slice(5).join(' '))
    .filter((p) => re.test(p));
  return [...new Set(paths)];
}

describe('the addon this run loaded', () => {
  it('is the one node-gyp-build resolves, and only one copy is mapped', () => {
    expect(typeof native().runStepsSync).toBe('function');
    const resolve = (require('node-gyp-build') as { resolve(dir: string): string }).resolve;
    expect(mapped(ADDON)).toEqual([resolve(root)]);
  });

  // scripts/test-asan.sh sets OVERLAYFS_EXPECT_ADDON; without this check a stale Release build
  // could silently run the sanitizer job uninstrumented (and a plain run must not be instrumented).
  it('is the sanitizer build exactly when npm run test:asan asked for it', () => {
    const expected = process.env.OVERLAYFS_EXPECT_ADDON;
    const asan = mapped(/\/libasan\.so[.\d]*$/);
    if (expected) {
      expect(mapped(ADDON)).toEqual([expected]);
      expect(asan).not.toEqual([]);
    } else {
      // The developer's own build when there is one, else the committed prebuild for this machine.
      expect(mapped(ADDON)[0]).toMatch(
        new RegExp(`(/build/(Release|Debug)/overlayfs\\.node|/prebuilds/linux-${process.arch}/overlayfs\\.napi\\.(glibc|musl)\\.node)$`),
      );
      expect(asan).toEqual([]);
    }
  });
});
