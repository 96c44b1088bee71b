import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { native } from '../../src/binding.js';

const require = createRequire(import.meta.url);
const root = fileURLToPath(new URL('../..', import.meta.url));

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
    expect(typeof native.statxSync).toBe('function');
    const resolve = (require('node-gyp-build') as { resolve(dir: string): string }).resolve;
    expect(mapped(/\/overlayfs\.node$/)).toEqual([resolve(root)]);
  });

  // scripts/test-asan.sh sets OVERLAYFS_EXPECT_ADDON; without this check a stale Release build
  // could silently run the sanitizer job uninstrumented.
  it.runIf(process.env.OVERLAYFS_EXPECT_ADDON)('is the sanitizer build (only under npm run test:asan)', () => {
    expect(mapped(/\/overlayfs\.node$/)).toEqual([process.env.OVERLAYFS_EXPECT_ADDON]);
    expect(mapped(/\/libasan\.so[.\d]*$/)).not.toEqual([]);
  });
});
