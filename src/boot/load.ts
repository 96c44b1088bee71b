/**
 * Loads the package's bundles (dist/lib/core.cjs, dist/lib/images.cjs, dist/cli/main.cjs) with
 * V8's code cache, the way Node's CommonJS loader would load them otherwise, but without
 * compiling them again on every start.
 *
 * Why: an `ovl` command or an import of the library spent most of its start compiling the package's
 * JavaScript (V8 parses a 250 KB bundle in ~12 ms on a small VM) and making ES module facades of
 * Node's built-ins (`node:fs`'s loads its streams). Node >= 22.1 has a compile cache of its own
 * (module.enableCompileCache); Node 20 has none for ES modules, but `vm.Script` takes and makes
 * code caches on every Node. So the bundles are CommonJS, compiled here through `vm.Script` with
 * the cache the previous run left, and the first run of each kind leaves one at exit.
 *
 * Where the cache lives: dist/.cache/ of this package (the same trust as the code beside it:
 * whoever can write there can change the code too). Where the running user cannot write there
 * (a package installed by root, run by another user), nothing is cached and the bundle is
 * compiled as Node would. `NODE_DISABLE_COMPILE_CACHE=1` (Node's own switch) turns it off.
 *
 * Which cache: one per bundle and "profile" (the library, or the `ovl` command that runs), so the
 * cache of `ovl mount` holds the functions a mount compiled. A cache is for one source file: its
 * first line is the file's inode, size, mtime and ctime, and V8 itself refuses a cache of another
 * version or flags (then a new one is written at exit).
 *
 * One loaded copy of a bundle per process: the library's entry (dist/index.js), the `ovl`
 * executable and the bundles that load one another each have this code inlined (a shared
 * CommonJS loader file cost ~2.5 ms to require), and they keep what they load in one record on
 * globalThis, keyed by the bundle's absolute path, as Node's require.cache is. Two installed
 * copies of the package have different paths and share nothing.
 */
import type { Stats } from 'node:fs';
import type { Script as VmScript } from 'node:vm';

// Node's built-ins as they are: an ES module import of node:fs builds a module facade of all
// of its exports, which loads its streams (~3 ms) — the entry is an ES module.
const { closeSync, fstatSync, mkdirSync, openSync, readFileSync, renameSync, writeFileSync } = process.getBuiltinModule('node:fs');
const { createRequire } = process.getBuiltinModule('node:module');
const { basename, dirname, join } = process.getBuiltinModule('node:path');
const { Script } = process.getBuiltinModule('node:vm');

interface Loaded {
  exports: unknown;
  /** What the code cache did: compiled from it, none there (or another source's), refused by V8, not used. */
  cache: 'hit' | 'miss' | 'rejected' | 'off';
}

interface Bundles {
  /** Bundles by absolute path. */
  loaded: Map<string, Loaded>;
  /** Caches to write when the process exits: those missing or refused this time. */
  toWrite: Array<{ path: string; key: string; script: VmScript }>;
  profile: string;
}

const BUNDLES = Symbol.for('overlayfs.bundles');
const state: Bundles = ((globalThis as Record<symbol, Bundles | undefined>)[BUNDLES] ??= { loaded: new Map(), toWrite: [], profile: 'lib' });

const disabled = (): boolean => {
  const v = process.env.NODE_DISABLE_COMPILE_CACHE;
  return v !== undefined && v !== '' && v !== '0';
};

/**
 * Names the kind of run whose caches this process reads and leaves ('lib' unless the `ovl`
 * executable names its command). Called before the first load.
 */
export function setProfile(name: string): void {
  state.profile = name.replace(/[^A-Za-z0-9-]/g, '').slice(0, 40) || 'other';
}

/**
 * The inode, size, modification and change time: a file written again is another source, even
 * in place with its mtime put back (ctime cannot be set). V8 checks only the source's length.
 */
const sourceKey = (st: Stats): string => `${st.ino}:${st.size}:${st.mtimeMs}:${st.ctimeMs}`;

/** dist/lib/core.cjs → dist/.cache/lib-core.PROFILE.NODE-VERSION.ARCH.v8 */
function cachePath(file: string): string {
  const dir = dirname(file);
  return join(dir, '..', '.cache', `${basename(dir)}-${basename(file, '.cjs')}.${state.profile}.${process.version}.${process.arch}.v8`);
}

/** The cache for `key`, or undefined: none, another source's, or unreadable. */
function readCache(path: string, key: string): Buffer | undefined {
  let buf: Buffer;
  try {
    buf = readFileSync(path);
  } catch {
    return undefined;
  }
  const nl = buf.indexOf(10);
  if (nl < 0 || buf.toString('latin1', 0, nl) !== key) return undefined;
  return buf.subarray(nl + 1);
}

function writeCaches(): void {
  for (const { path, key, script } of state.toWrite) {
    // Best effort: a read-only package, a full disk or a racing writer only cost the next start.
    try {
      mkdirSync(dirname(path), { recursive: true, mode: 0o755 });
      const tmp = `${path}.${process.pid}.tmp`;
      writeFileSync(tmp, Buffer.concat([Buffer.from(`${key}\n`, 'latin1'), script.createCachedData()]), { mode: 0o644 });
      renameSync(tmp, path);
    } catch {
      /* not cached */
    }
  }
  state.toWrite.length = 0;
}

/**
 * The exports of the CommonJS bundle `file` (an absolute path), evaluated once per process as
 * Node's require() would: the same wrapper function and arguments, its own require().
 */
export function load(file: string): unknown {
  const known = state.loaded.get(file);
  if (known) return known.exports;
  const fd = openSync(file, 'r');
  let source: string;
  let st: Stats;
  try {
    st = fstatSync(fd);
    source = readFileSync(fd, 'utf8');
  } finally {
    closeSync(fd);
  }
  const useCache = !disabled();
  const key = sourceKey(st);
  const path = cachePath(file);
  const cachedData = useCache ? readCache(path, key) : undefined;
  // Node's own CommonJS wrapper, on the source's first line as Node puts it.
  const script = new Script(`(function (exports, require, module, __filename, __dirname) { ${source}\n});`, {
    filename: file,
    ...(cachedData ? { cachedData } : {}),
  });
  if (useCache && (cachedData === undefined || script.cachedDataRejected === true)) {
    if (state.toWrite.length === 0) process.once('exit', writeCaches);
    state.toWrite.push({ path, key, script });
  }
  const mod: Loaded = { exports: {}, cache: !useCache ? 'off' : cachedData === undefined ? 'miss' : script.cachedDataRejected === true ? 'rejected' : 'hit' };
  state.loaded.set(file, mod);
  const wrapper = script.runInThisContext() as (...args: unknown[]) => void;
  try {
    wrapper.call(mod.exports, mod.exports, createRequire(file), mod, file, dirname(file));
  } catch (e) {
    state.loaded.delete(file);
    throw e;
  }
  return mod.exports;
}
