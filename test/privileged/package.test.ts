/**
 * The npm package as a user gets it: `npm pack` of this repository, installed into an empty
 * project by npm with no compiler, make or python3 on PATH and no network (--offline), then
 * imported by a child `node` that mounts a two-layer overlay through it.
 */
import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, realpathSync, symlinkSync, writeFileSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect, it } from 'vitest';
import { describePrivileged } from '../helpers/privileged.js';
import { mountsUnder, tempDir, writeTree } from '../helpers/tmp.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
const readJson = (p: string) => JSON.parse(readFileSync(p, 'utf8')) as Record<string, unknown>;

// What npm install must not find: anything a build from source would use.
const BUILD_TOOLS = ['cc', 'c++', 'gcc', 'g++', 'clang', 'clang++', 'make', 'python3', 'python'];

/** npm's entry script: the one running this test (npm test), else the `npm` on PATH. */
function npmCli(): string {
  const fromNpm = process.env.npm_execpath;
  if (fromNpm && /npm-cli\.js$/.test(fromNpm) && existsSync(fromNpm)) return fromNpm;
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    const p = join(dir, 'npm');
    if (dir && existsSync(p)) {
      const real = realpathSync(p);
      if (real.endsWith('.js')) return real;
    }
  }
  throw new Error('npm-cli.js not found (npm_execpath unset and no npm on PATH that links to it)');
}

/** Files under `dir`, relative, recursively. */
function walk(dir: string, prefix = ''): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((d) =>
    d.isDirectory() ? walk(join(dir, d.name), `${prefix}${d.name}/`) : [`${prefix}${d.name}`],
  );
}

function ok(r: SpawnSyncReturns<string>, what: string): string {
  if (r.error) throw new Error(`${what}: ${r.error.message}`);
  if (r.status !== 0) throw new Error(`${what} exited with ${r.status ?? r.signal}:\n${r.stdout}\n${r.stderr}`);
  return r.stdout;
}

describePrivileged('the npm package', () => {
  it('installs from its tarball with no compiler, make, python3 or network, and mounts', () => {
    expect(existsSync(join(root, 'dist', 'index.js')), 'dist/ is built by npm test (scripts/run-tests.mjs) before vitest').toBe(true);
    const work = tempDir('ovl-package-');
    const npm = npmCli();

    // A PATH with node, npm's shell and nothing else. npm itself runs as `node npm-cli.js`.
    const bin = join(work, 'bin');
    mkdirSync(bin);
    symlinkSync(process.execPath, join(bin, 'node'));
    symlinkSync('/bin/sh', join(bin, 'sh'));
    for (const tool of BUILD_TOOLS) expect(existsSync(join(bin, tool)), tool).toBe(false);
    const env = {
      PATH: bin,
      HOME: process.env.HOME ?? work,
      npm_config_cache: join(work, 'npm-cache'),
      npm_config_update_notifier: 'false',
    };

    // The tarball, as `npm publish` would make it (dist/ is already built; no prepare run here,
    // it would rebuild dist/ under the other tests that use it).
    const packed = JSON.parse(
      ok(spawnSync(process.execPath, [npm, 'pack', '--ignore-scripts', '--json', '--pack-destination', work], { cwd: root, encoding: 'utf8' }), 'npm pack'),
    ) as Array<{ filename: string; files: Array<{ path: string }> }>;
    const shipped = packed[0]!.files.map((f) => f.path);
    expect(shipped).toEqual(expect.arrayContaining(['LICENSE', 'README.md', 'package.json', 'binding.gyp', 'scripts/install.mjs', 'dist/index.js', 'native/addon.cc', 'native/sys.h']));
    for (const p of ['linux-x64/overlayfs.napi.glibc.node', 'linux-x64/overlayfs.napi.musl.node', 'linux-arm64/overlayfs.napi.glibc.node', 'linux-arm64/overlayfs.napi.musl.node']) {
      expect(shipped).toContain(`prebuilds/${p}`);
    }
    expect(shipped.filter((p) => /CMakeLists\.txt$|\.map$|^src\/|^build\/|^test\//.test(p))).toEqual([]);

    // Its dependencies and theirs (every package the lock file installs for production: gRPC
    // brings protobufjs and proto-loader's own), as tarballs from this checkout's node_modules,
    // packed in one call: the install then needs neither the registry nor a warm npm cache.
    const lock = readJson(join(root, 'package-lock.json')) as { packages: Record<string, { dev?: boolean; devOptional?: boolean; optional?: boolean }> };
    const runtime = Object.entries(lock.packages)
      .filter(([path, p]) => path.startsWith('node_modules/') && !p.dev && !p.devOptional && !p.optional)
      .map(([path]) => join(root, path));
    expect(runtime.length).toBeGreaterThanOrEqual(Object.keys(readJson(join(root, 'package.json')).dependencies as Record<string, string>).length);
    const packedDeps = ok(spawnSync(process.execPath, [npm, 'pack', '--ignore-scripts', '--json', '--pack-destination', work, ...runtime], { cwd: work, encoding: 'utf8' }), 'npm pack (dependencies)');
    const deps = (JSON.parse(packedDeps) as Array<{ filename: string }>).map((d) => join(work, d.filename));

    const app = join(work, 'app');
    writeTree(app, { 'package.json': JSON.stringify({ name: 'app', private: true, type: 'module' }) });
    const install = spawnSync(
      process.execPath,
      [npm, 'install', '--offline', '--no-audit', '--no-fund', '--foreground-scripts', join(work, packed[0]!.filename), ...deps],
      { cwd: app, env, encoding: 'utf8' },
    );
    const installOutput = ok(install, 'npm install') + install.stderr;
    // The install hook ran, and printed nothing of a build.
    expect(installOutput).toContain('node scripts/install.mjs');
    expect(installOutput).not.toMatch(/gyp (info|ERR)|CXX\(target\)|make(\[\d+\])?: |building from source|not found on PATH/);

    // The installed package: exactly what was shipped, nothing written by a build.
    const pkgDir = join(app, 'node_modules', 'overlayfs');
    expect(readdirSync(pkgDir).sort()).toEqual(['LICENSE', 'README.md', 'binding.gyp', 'dist', 'native', 'package.json', 'prebuilds', 'scripts']);
    const installed = walk(pkgDir);
    expect(installed.filter((p) => /CMakeLists\.txt$|\.map$/.test(p))).toEqual([]);
    for (const p of installed.filter((f) => /\.(js|d\.ts)$/.test(f))) {
      expect(readFileSync(join(pkgDir, p), 'utf8'), p).not.toContain('sourceMappingURL');
    }
    const manifest = readJson(join(pkgDir, 'package.json'));
    expect(manifest.license).toBe('Apache-2.0');
    expect(manifest.repository).toEqual({ type: 'git', url: 'git+https://github.com/overlayfs-node/overlayfs.git' });
    expect(manifest.homepage).toBe('https://github.com/overlayfs-node/overlayfs#readme');
    const bugs = manifest.bugs as string | { url: string };
    expect(typeof bugs === 'string' ? bugs : bugs.url).toBe('https://github.com/overlayfs-node/overlayfs/issues');
    expect(readFileSync(join(pkgDir, 'LICENSE'), 'utf8')).toMatch(/^\s*Apache License\s+Version 2\.0, January 2004/);

    // A program in that project, on the same PATH, mounts through it.
    const layers = join(work, 'layers');
    writeTree(layers, { 'top/a.txt': 'top a\n', 'bottom/a.txt': 'bottom a\n', 'bottom/b.txt': 'bottom b\n', 'merged/': null });
    writeFileSync(
      join(app, 'check.mjs'),
      `import { readFileSync } from 'node:fs';
import { mountOverlaySync } from 'overlayfs';
const [top, bottom, target] = process.argv.slice(2);
const m = mountOverlaySync({ lower: [top, bottom], target });
const seen = { a: readFileSync(target + '/a.txt', 'utf8'), b: readFileSync(target + '/b.txt', 'utf8'), strategy: m.strategy };
seen.addon = readFileSync('/proc/self/maps', 'utf8').split('\\n').map((l) => l.split(/\\s+/).slice(5).join(' ')).find((p) => p.endsWith('.node'));
m.unmountSync();
seen.mountedAfter = readFileSync('/proc/self/mountinfo', 'utf8').includes(' ' + target + ' ');
console.log(JSON.stringify(seen));
`,
    );
    const merged = join(layers, 'merged');
    const run = spawnSync(process.execPath, ['check.mjs', join(layers, 'top'), join(layers, 'bottom'), merged], { cwd: app, env, encoding: 'utf8' });
    const seen = JSON.parse(ok(run, 'node check.mjs')) as Record<string, unknown>;
    const libc = existsSync('/etc/alpine-release') ? 'musl' : 'glibc';
    expect(seen).toMatchObject({
      a: 'top a\n',
      b: 'bottom b\n',
      addon: realpathSync(join(pkgDir, 'prebuilds', `linux-${process.arch}`, `overlayfs.napi.${libc}.node`)),
      mountedAfter: false,
    });
    expect(mountsUnder(work)).toEqual([]);
    expect(existsSync(join(pkgDir, 'build'))).toBe(false);

    // The `ovl` executable npm linked (package.json "bin": a CommonJS file run by its #! line).
    const ovl = spawnSync(join(app, 'node_modules', '.bin', 'ovl'), ['--version'], { cwd: app, env, encoding: 'utf8' });
    expect(ok(ovl, 'node_modules/.bin/ovl --version')).toBe(`ovl ${String(manifest.version)}\n`);

    // Where no addon loads, the error says what exists and what a build from source lacks.
    const empty = join(work, 'no-addon');
    mkdirSync(empty);
    const failed = spawnSync(
      process.execPath,
      ['--input-type=module', '-e', "import('overlayfs').then((o) => o.sys.umount2Sync('/nonexistent')).catch((e) => { console.log(e.message); })"],
      { cwd: app, env: { ...env, OVERLAYFS_PREBUILD: empty }, encoding: 'utf8' },
    );
    const message = ok(failed, 'node (no addon)');
    expect(message).toContain(`the native addon could not be loaded from ${empty}`);
    expect(message).toContain(`linux-${process.arch} ${libc}; prebuilds there: none`);
    expect(message).toContain('not found on PATH: python3, make, g++ or clang++');
    expect(message).toContain('npm rebuild overlayfs');
  }, 60_000);
});
