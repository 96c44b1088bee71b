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
const { closeSync, fstatSync, fsyncSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, statSync, unlinkSync, writeSync } = process.getBuiltinModule('node:fs');
const { createRequire } = process.getBuiltinModule('node:module');
const { basename, dirname, join } = process.getBuiltinModule('node:path');
const { Script } = process.getBuiltinModule('node:vm');

interface Loaded {
  exports: unknown;
  /** What the code cache did: compiled from it, none there (or another source's or damaged), refused by V8, not used. */
  cache: 'hit' | 'miss' | 'rejected' | 'off';
}

interface CacheWrite {
  path: string;
  key: string;
  script: VmScript;
  /** How many runs had used the cache: it is written again (with what this run compiled too) while this is below SETTLE. */
  generation: number;
  /** The cache this run used, if any: it is kept (its generation counted) when this run's is not larger. */
  used: Buffer | undefined;
}

interface Bundles {
  /** Bundles by absolute path. */
  loaded: Map<string, Loaded>;
  /** Caches to write when the process exits. */
  toWrite: CacheWrite[];
  profile: string;
}

// Versioned: another copy of this code with another record layout must not share it.
const BUNDLES = Symbol.for('overlayfs.bundles.v1');
const state: Bundles = ((globalThis as Record<symbol, Bundles | undefined>)[BUNDLES] ??= { loaded: new Map(), toWrite: [], profile: 'lib' });

/**
 * The first runs of a kind (an `ovl mount --help` can be the first `ovl mount`) each leave a cache
 * with what they compiled added, the larger one kept; from the SETTLE-th run on, the cache is only read.
 */
const SETTLE = 3;

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

/** Whether the bundle `file` has been loaded in this process (by any copy of this code). */
export function isLoaded(file: string): boolean {
  return state.loaded.has(file);
}

/** A short hash of a string (FNV-1a): names the V8 flags a cache was made under. */
function fnv(text: string): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 16777619);
  return (h >>> 0).toString(36);
}

/**
 * The inode, size, modification and change time: a file written again is another source, even
 * in place with its mtime put back (ctime cannot be set). V8 checks only the source's length.
 */
const sourceKey = (st: Stats): string => `${st.ino}:${st.size}:${st.mtimeMs}:${st.ctimeMs}`;

/**
 * Whether a node option may be one of V8's (they change what V8 accepts): `--name[=value]`, but
 * not node's own that name code to run (`-e SCRIPT` would give every script its own cache).
 */
const v8Option = (arg: string): boolean => arg.startsWith('--') && !/^--(eval|print|input-type|require|import|loader|experimental-loader)\b/.test(arg);

/**
 * dist/lib/core.cjs → dist/.cache/lib-core.PROFILE.NODE-VERSION.ARCH.FLAGS.v8, FLAGS a hash of
 * node's options (V8 refuses a cache made under other flags: two sets of options alternating
 * would otherwise each throw away the other's).
 */
function cachePath(file: string): string {
  const dir = dirname(file);
  const flags = fnv(`${process.execArgv.filter(v8Option).join(' ')}|${process.env.NODE_OPTIONS ?? ''}`);
  return join(dir, '..', '.cache', `${basename(dir)}-${basename(file, '.cjs')}.${state.profile}.${process.version}.${process.arch}.${flags}.v8`);
}

/**
 * A check of the cache's bytes: every 16th 32-bit word (a full sum costs ~2 ms before anything is
 * compiled; this ~0.1 ms). V8 (20, 22) does not check a code cache's checksum, and damaged bytes
 * crash its deserializer: a write cut short, a page of zeros, a stray writer are all caught here.
 */
function sample(buf: Buffer, from: number): number {
  let h = 0x811c9dc5 ^ (buf.length - from);
  if ((buf.byteOffset + from) % 4 === 0) {
    const words = new Int32Array(buf.buffer, buf.byteOffset + from, (buf.length - from) >>> 2);
    for (let i = 0; i < words.length; i += 16) h = Math.imul(h ^ words[i]!, 16777619);
  } else {
    for (let i = from; i < buf.length; i += 64) h = Math.imul(h ^ buf[i]!, 16777619);
  }
  for (let i = from + ((buf.length - from) & ~3); i < buf.length; i++) h = Math.imul(h ^ buf[i]!, 16777619);
  return h >>> 0;
}

/**
 * The cache file: a header line `KEY SAMPLE GENERATION`, padded with spaces to 128 bytes so the
 * data after it is 4-byte aligned, then V8's data.
 */
const HEADER = 128;

/** The cache for `key` and its generation, or undefined: none, another source's, damaged or unreadable. */
function readCache(path: string, key: string): { data: Buffer; generation: number } | undefined {
  let buf: Buffer;
  try {
    buf = readFileSync(path);
  } catch {
    return undefined;
  }
  if (buf.length <= HEADER || buf[HEADER - 1] !== 10) return undefined;
  const [k, sum, generation] = buf.toString('latin1', 0, HEADER - 1).trimEnd().split(' ');
  if (k !== key || sum !== String(sample(buf, HEADER))) return undefined;
  return { data: buf.subarray(HEADER), generation: Number(generation) || 0 };
}

function writeCaches(): void {
  for (const w of state.toWrite) {
    // Best effort: a read-only package, a full disk or a racing writer only cost the next start.
    let tmp: string | undefined;
    try {
      mkdirSync(dirname(w.path), { recursive: true, mode: 0o755 });
      // A name of its own (pid and thread are not unique across PID namespaces sharing a package).
      tmp = `${w.path}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`;
      const fd = openSync(tmp, 'wx', 0o644);
      try {
        const made = w.script.createCachedData();
        const data = w.used !== undefined && w.used.length > made.length ? w.used : made;
        const body = Buffer.alloc(HEADER + data.length, 0x20);
        data.copy(body, HEADER);
        const header = `${w.key} ${sample(body, HEADER)} ${w.generation}`;
        if (header.length >= HEADER) throw new Error('cache header too long');
        body.write(header, 0, 'latin1');
        body[HEADER - 1] = 10;
        for (let done = 0; done < body.length; ) done += writeSync(fd, body, done);
        // On disk before it has the name: a crash leaves the old cache or the whole new one.
        fsyncSync(fd);
      } finally {
        closeSync(fd);
      }
      renameSync(tmp, w.path);
      tmp = undefined;
    } catch {
      /* not cached */
    } finally {
      if (tmp !== undefined) {
        try {
          unlinkSync(tmp);
        } catch {
          /* never made */
        }
      }
    }
  }
  if (state.toWrite.length > 0) removeStaleTemps(dirname(state.toWrite[0]!.path));
  state.toWrite.length = 0;
}

/**
 * Temp files of writers that were killed between creating and renaming them (a SIGKILLed
 * process runs no exit hook), removed by the next writer once they are a minute old.
 */
function removeStaleTemps(dir: string): void {
  try {
    const now = Date.now();
    for (const name of readdirSync(dir)) {
      if (!name.endsWith('.tmp')) continue;
      try {
        if (now - statSync(join(dir, name)).mtimeMs > 60_000) unlinkSync(join(dir, name));
      } catch {
        /* gone already */
      }
    }
  } catch {
    /* no directory */
  }
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
  const cached = useCache ? readCache(path, key) : undefined;
  // Node's own CommonJS wrapper, on the source's first line as Node puts it.
  const script = new Script(`(function (exports, require, module, __filename, __dirname) { ${source}\n});`, {
    filename: file,
    ...(cached ? { cachedData: cached.data } : {}),
  });
  const rejected = script.cachedDataRejected === true;
  if (useCache && (cached === undefined || rejected || cached.generation < SETTLE)) {
    if (state.toWrite.length === 0) process.once('exit', writeCaches);
    const used = cached !== undefined && !rejected ? cached : undefined;
    state.toWrite.push({ path, key, script, generation: used ? used.generation + 1 : 0, used: used?.data });
  }
  const mod: Loaded = { exports: {}, cache: !useCache ? 'off' : cached === undefined ? 'miss' : rejected ? 'rejected' : 'hit' };
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
