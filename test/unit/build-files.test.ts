import { readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

const gypSources = (): string[] => {
  // binding.gyp is Python-literal JSON with # comments.
  const text = readFileSync('binding.gyp', 'utf8').replace(/^\s*#.*$/gm, '');
  const gyp = JSON.parse(text) as { targets: Array<{ sources: string[]; defines: string[] }> };
  return gyp.targets[0]!.sources.map((s) => s.replace(/^native\//, '')).sort();
};

const cmakeSources = (): string[] => {
  const text = readFileSync('native/CMakeLists.txt', 'utf8');
  const block = /set\(OVERLAYFS_SOURCES([^)]*)\)/.exec(text);
  if (!block) throw new Error('native/CMakeLists.txt has no set(OVERLAYFS_SOURCES ...)');
  return block[1]!.split(/\s+/).filter(Boolean).sort();
};

describe('build files', () => {
  it('binding.gyp and native/CMakeLists.txt list the same sources', () => {
    expect(cmakeSources()).toEqual(gypSources());
  });

  it('every native/*.cc is built', () => {
    const onDisk = readdirSync('native').filter((f) => f.endsWith('.cc')).sort();
    expect(gypSources()).toEqual(onDisk);
  });

  it('both builds make the same definitions', () => {
    const gyp = readFileSync('binding.gyp', 'utf8');
    const cmake = readFileSync('native/CMakeLists.txt', 'utf8');
    // Without the last one, a worker ended during an async call aborts the process.
    for (const define of ['NAPI_VERSION=9', 'NODE_ADDON_API_DISABLE_DEPRECATED', 'NODE_ADDON_API_DISABLE_CPP_EXCEPTIONS', 'NODE_API_SWALLOW_UNTHROWABLE_EXCEPTIONS']) {
      expect(gyp).toContain(define);
      expect(cmake).toContain(define);
    }
  });

  it('the package ships what a build from source reads, and not CMakeLists.txt', () => {
    const files = (JSON.parse(readFileSync('package.json', 'utf8')) as { files: string[] }).files;
    expect(files).toEqual(expect.arrayContaining(['binding.gyp', 'native/*.cc', 'native/*.h', 'scripts/install.mjs', 'prebuilds']));
    expect(files).not.toContain('native');
    // Everything else in native/ is the cmake-js file the globs leave out.
    expect(readdirSync('native').filter((f) => !f.endsWith('.cc') && !f.endsWith('.h'))).toEqual(['CMakeLists.txt']);
  });
});
