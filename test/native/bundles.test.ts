/**
 * The built package's bundles (scripts/build.mjs) and their loader (src/boot/load.ts), in child
 * processes on a copy of dist/ (each test its own, so the code caches it looks at are its own):
 * the library's entry loads the mount half only, the OCI half on first use and once; a code cache
 * is written by the first run, used by the next, and refused for a rewritten bundle, another's
 * cache or garbage; nothing breaks where it cannot be written.
 */
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { REPO } from '../helpers/cli.js';
import { tempDir } from '../helpers/tmp.js';

/** A copy of the built package: package.json, dist/'s runtime files; node_modules and prebuilds linked. */
function packageCopy(): string {
  const pkg = tempDir('ovl-bundles-');
  cpSync(join(REPO, 'package.json'), join(pkg, 'package.json'));
  for (const f of ['index.js', 'lib', 'cli/main.cjs', 'cli/ovl.cjs']) cpSync(join(REPO, 'dist', f), join(pkg, 'dist', f), { recursive: true });
  symlinkSync(join(REPO, 'node_modules'), join(pkg, 'node_modules'));
  symlinkSync(join(REPO, 'prebuilds'), join(pkg, 'prebuilds'));
  return pkg;
}

interface Seen {
  out: Record<string, unknown>;
  stderr: string;
}

/** Runs `body` (an ES module's text, with `lib` = the copy's library and `bundles` = what was loaded). */
function run(pkg: string, body: string, env: Record<string, string> = {}): Seen {
  const script = `const lib = await import(${JSON.stringify(join(pkg, 'dist', 'index.js'))});
const bundles = () => Object.fromEntries([...globalThis[Symbol.for('overlayfs.bundles.v1')].loaded].map(([f, m]) => [f.slice(${JSON.stringify(pkg.length + 1)}), m.cache]));
const out = {};
${body}
console.log(JSON.stringify(out));`;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', env: { ...process.env, NODE_DISABLE_COMPILE_CACHE: '', ...env } });
  expect(r.status, r.stderr).toBe(0);
  return { out: JSON.parse(r.stdout) as Record<string, unknown>, stderr: r.stderr };
}

const caches = (pkg: string): string[] => (existsSync(join(pkg, 'dist', '.cache')) ? readdirSync(join(pkg, 'dist', '.cache')).sort() : []);
/** The name of a cache: BUNDLE.PROFILE, then Node's version, the arch and a hash of node's options. */
const named = (prefix: string) => new RegExp(`^${prefix.replace(/[.+-]/g, '\\$&')}\\.${process.version.replace(/\./g, '\\.')}\\.${process.arch}\\.[0-9a-z]+\\.v8$`);
const cacheFile = (pkg: string, prefix: string): string => {
  const found = caches(pkg).filter((f) => named(prefix).test(f));
  expect(found, prefix).toHaveLength(1);
  return join(pkg, 'dist', '.cache', found[0]!);
};
/** A cache's header: the first 128 bytes, `KEY SAMPLE GENERATION` padded with spaces and a newline. */
const header = (file: string): string[] => {
  const head = readFileSync(file).subarray(0, 128);
  expect(head[127]).toBe(10);
  return head.toString('latin1', 0, 127).trimEnd().split(' ');
};

describe('the bundles and their code cache', () => {
  it('importing the library loads the mount half only, compiled from the cache the first import left', () => {
    const pkg = packageCopy();
    const first = run(pkg, 'out.bundles = bundles();');
    expect(first.out.bundles).toEqual({ 'dist/lib/core.cjs': 'miss' });
    expect(caches(pkg)).toEqual([expect.stringMatching(named('lib-core.lib'))]);
    // The cache names the source it is for (inode, size, mtime, ctime), a sample of its bytes and how many runs used it.
    const [key, sample, generation] = header(cacheFile(pkg, 'lib-core.lib'));
    expect(key).toMatch(/^\d+:\d+:[\d.]+:[\d.]+$/);
    expect(sample).toMatch(/^\d+$/);
    expect(generation).toBe('0');
    expect(run(pkg, 'out.bundles = bundles();').out.bundles).toEqual({ 'dist/lib/core.cjs': 'hit' });
  });

  it('the OCI half loads on the first call into it, once, and shares the mount half (one OverlayError)', () => {
    const pkg = packageCopy();
    const { out } = run(
      pkg,
      `out.before = bundles();
out.storeCheck = ({}) instanceof lib.Store;
out.stillBefore = Object.keys(bundles());
out.ref = lib.parseReference('alpine').repository;
out.after = Object.keys(bundles());
const e = new lib.RegistryError('ERR_REGISTRY', 'x', 500, []);
out.isOverlayError = e instanceof lib.OverlayError && lib.isOverlayError(e);
out.isRegistryError = e instanceof lib.RegistryError;
out.storeName = lib.Store.name;
out.storeCheckAfter = ({}) instanceof lib.Store;
out.subclass = Object.getPrototypeOf(lib.RegistryError.prototype) === lib.OverlayError.prototype;`,
    );
    expect(out).toEqual({
      before: { 'dist/lib/core.cjs': 'miss' },
      storeCheck: false,
      stillBefore: ['dist/lib/core.cjs'],
      ref: 'library/alpine',
      after: ['dist/lib/core.cjs', 'dist/lib/images.cjs'],
      isOverlayError: true,
      isRegistryError: true,
      storeName: 'Store',
      storeCheckAfter: false,
      subclass: true,
    });
  });

  it('a bundle written again is compiled afresh, and its new cache used after', () => {
    const pkg = packageCopy();
    run(pkg, '');
    const core = join(pkg, 'dist', 'lib', 'core.cjs');
    const text = readFileSync(core);
    rmSync(core);
    writeFileSync(core, text);
    expect(run(pkg, 'out.bundles = bundles();').out.bundles).toEqual({ 'dist/lib/core.cjs': 'miss' });
    expect(run(pkg, 'out.bundles = bundles();').out.bundles).toEqual({ 'dist/lib/core.cjs': 'hit' });
    // In place (same inode, same size), its mtime put back, as rsync --inplace -t would: still another source.
    const { mtime } = statSync(core);
    writeFileSync(core, text);
    utimesSync(core, mtime, mtime);
    expect(statSync(core).size).toBe(text.length);
    expect(run(pkg, 'out.bundles = bundles();').out.bundles).toEqual({ 'dist/lib/core.cjs': 'miss' });
  });

  it('a damaged cache (a page of zeros, a cut) is not handed to V8, whose deserializer would crash on it; it is replaced', () => {
    const pkg = packageCopy();
    run(pkg, '');
    const path = cacheFile(pkg, 'lib-core.lib');
    const good = readFileSync(path);
    const zeroed = Buffer.from(good);
    zeroed.fill(0, 8192, 12288);
    writeFileSync(path, zeroed);
    expect(run(pkg, 'out.bundles = bundles(); out.ok = typeof lib.mountOverlay;').out).toEqual({ bundles: { 'dist/lib/core.cjs': 'miss' }, ok: 'function' });
    expect(run(pkg, 'out.bundles = bundles();').out.bundles).toEqual({ 'dist/lib/core.cjs': 'hit' });
    writeFileSync(path, good.subarray(0, good.length - 100));
    expect(run(pkg, 'out.bundles = bundles();').out.bundles).toEqual({ 'dist/lib/core.cjs': 'miss' });
    expect(run(pkg, 'out.bundles = bundles();').out.bundles).toEqual({ 'dist/lib/core.cjs': 'hit' });
  });

  it('a cache V8 refuses (made under other V8 flags) is replaced', () => {
    const pkg = packageCopy();
    run(pkg, '');
    const flagged = `const v8 = await import('node:v8'); v8.setFlagsFromString('--no-flush-bytecode');`;
    // The flags were changed after start, so the cache's name (which hashes node's options) is the same one.
    const again = spawnSync(process.execPath, ['--input-type=module', '-e', `${flagged}\nawait import(${JSON.stringify(join(pkg, 'dist', 'index.js'))});\nconsole.log(JSON.stringify(Object.fromEntries([...globalThis[Symbol.for('overlayfs.bundles.v1')].loaded].map(([f, m]) => [f.slice(${pkg.length + 1}), m.cache]))));`], { encoding: 'utf8', env: { ...process.env, NODE_DISABLE_COMPILE_CACHE: '' } });
    expect(again.status, again.stderr).toBe(0);
    expect(JSON.parse(again.stdout)).toEqual({ 'dist/lib/core.cjs': 'rejected' });
    expect(run(pkg, 'out.bundles = bundles();').out.bundles).toEqual({ 'dist/lib/core.cjs': 'rejected' });
    expect(run(pkg, 'out.bundles = bundles();').out.bundles).toEqual({ 'dist/lib/core.cjs': 'hit' });
  });

  it('the first runs of a kind each add what they compiled; from the third on, the cache is only read', () => {
    const pkg = packageCopy();
    const generations: string[] = [];
    for (let i = 0; i < 5; i++) {
      run(pkg, i === 0 ? '' : 'lib.escapeLegacyPath("/a:b");');
      generations.push(header(cacheFile(pkg, 'lib-core.lib'))[2]!);
    }
    expect(generations).toEqual(['0', '1', '2', '3', '3']);
  });

  it("a killed writer's temp file is removed by the next writer once it is a minute old", () => {
    const pkg = packageCopy();
    run(pkg, '');
    const dir = join(pkg, 'dist', '.cache');
    const old = join(dir, 'lib-core.lib.x.v8.123.abc.tmp');
    const fresh = join(dir, 'lib-core.lib.x.v8.124.abd.tmp');
    writeFileSync(old, '');
    writeFileSync(fresh, '');
    const minutesAgo = new Date(Date.now() - 120_000);
    utimesSync(old, minutesAgo, minutesAgo);
    // A rewritten source makes the next run write.
    const core = join(pkg, 'dist', 'lib', 'core.cjs');
    const text = readFileSync(core);
    writeFileSync(core, text);
    run(pkg, '');
    expect(existsSync(old)).toBe(false);
    expect(existsSync(fresh)).toBe(true);
  });

  it("one addon instance per thread, whichever copy of the loader asks (the bundles, tsc's per-module files)", () => {
    // A second init of the addon in one thread would replace the first's instance data.
    const r = spawnSync(
      process.execPath,
      [
        '--input-type=module',
        '-e',
        `const lib = await import(${JSON.stringify(join(REPO, 'dist', 'index.js'))});
const { native } = await import(${JSON.stringify(join(REPO, 'dist', 'sys', 'binding.js'))});
const h = lib.sys.fsopenSync('overlay');
console.log(Object.getPrototypeOf(h).constructor === native().FdHandle);
h.close();`,
      ],
      { encoding: 'utf8' },
    );
    expect(r.stderr).toBe('');
    expect(r.stdout).toBe('true\n');
  });

  it('NODE_DISABLE_COMPILE_CACHE=1: compiled as Node would, nothing written', () => {
    const pkg = packageCopy();
    expect(run(pkg, 'out.bundles = bundles();', { NODE_DISABLE_COMPILE_CACHE: '1' }).out.bundles).toEqual({ 'dist/lib/core.cjs': 'off' });
    expect(caches(pkg)).toEqual([]);
  });

  it('where the cache cannot be written, the run goes on uncached and says nothing', () => {
    const pkg = packageCopy();
    // A file where the cache directory would be: every write fails (ENOTDIR), as in a read-only package.
    writeFileSync(join(pkg, 'dist', '.cache'), '');
    const first = run(pkg, 'out.bundles = bundles();');
    expect(first).toEqual({ out: { bundles: { 'dist/lib/core.cjs': 'miss' } }, stderr: '' });
    expect(run(pkg, 'out.bundles = bundles();').out.bundles).toEqual({ 'dist/lib/core.cjs': 'miss' });
  });

  it('ovl keeps one cache per command', () => {
    const pkg = packageCopy();
    const ovl = (...args: string[]) => spawnSync(process.execPath, [join(pkg, 'dist', 'cli', 'ovl.cjs'), ...args], { encoding: 'utf8', env: { ...process.env, NODE_DISABLE_COMPILE_CACHE: '' } });
    const version = ovl('--version');
    expect(version.status, version.stderr).toBe(0);
    expect(version.stdout).toMatch(/^ovl \d+\.\d+\.\d+/);
    const help = ovl('mount', '--help');
    expect(help.status, help.stderr).toBe(0);
    expect(ovl('/not/a/command').status).toBe(1);
    // --version and a path: no command's name, one profile 'ovl'; mount: its own.
    expect(caches(pkg).filter((f) => f.startsWith('cli-main.'))).toEqual([expect.stringMatching(named('cli-main.ovl-mount')), expect.stringMatching(named('cli-main.ovl'))]);
    expect(ovl('--version').stdout).toBe(version.stdout);
  });
});
