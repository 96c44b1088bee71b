/**
 * The kernel's lookup rules, applied to layer directories on disk without mounting them
 * (fs/overlayfs/namei.c): top-down, a whiteout ends the lookup, an opaque directory stops the
 * merge with lower layers, a redirect xattr sends the lookup in lower layers elsewhere, and a
 * non-directory below a directory ends the merge.
 *
 * The lookups are tasks (sys/io.ts): resolvePath() runs them off the main thread,
 * resolvePathSync() on it, and changes() shares them.
 */
import { join, posix } from 'node:path';
import { cString } from '../sys/args.js';
import { isSystemError } from '../sys/errors.js';
import { isDirReadError, runAsync, runSync, SCAN, scannedDir, steps, type Task } from '../sys/io.js';
import type { Step } from '../sys/steps.js';
import { OverlayError } from '../spec/errors.js';
import { findOverlayTask } from '../read/inspect.js';
import { statPaths, type PathInfo, type ReadNamespace, type XattrNamespace } from './paths.js';

export type { ReadNamespace, XattrNamespace };

export type EntryKind = 'file' | 'dir' | 'symlink' | 'whiteout' | 'other';

/** What one layer holds at one path. */
export interface LayerEntry {
  kind: EntryKind;
  /** For a directory: opaque ('y': hides lower dirs; 'x': merge dir holding xattr whiteouts). */
  opaque?: 'y' | 'x';
  /** For a directory or metacopy file: the redirect xattr. */
  redirect?: string;
  /** A regular file whose data lives in a lower layer (metacopy xattr). */
  metacopy?: boolean;
}

/** A single name in a directory (no slash, not . or ..): a path made with it needs no normalizing. */
function plainName(name: string): boolean {
  return name !== '' && name !== '.' && name !== '..' && !name.includes('/');
}

/** posix.join(dir, name) for a normalized absolute `dir` and a plainName() `name`. */
function childPath(dir: string, name: string): string {
  return dir === '/' ? `/${name}` : `${dir}/${name}`;
}

/** The overlay xattrs an entry is read for. */
const ENTRY_XATTRS = ['opaque', 'redirect', 'whiteout', 'metacopy'] as const;

/** An entry from what statPaths() found at its path. */
export function entryOf(info: PathInfo | undefined): LayerEntry | undefined {
  if (info === undefined) return undefined;
  if (info.whiteoutDevice) return { kind: 'whiteout' };
  if (info.type === 'dir') {
    const entry: LayerEntry = { kind: 'dir' };
    const opaque = info.xattr('opaque')?.toString();
    if (opaque === 'y' || opaque === 'x') entry.opaque = opaque;
    const redirect = info.xattr('redirect');
    if (redirect !== undefined) entry.redirect = redirect.toString();
    return entry;
  }
  if (info.type === 'file') {
    // An xattr whiteout is a zero-size file carrying overlay.whiteout (Linux 6.7).
    if (info.size === 0 && info.xattr('whiteout') !== undefined) return { kind: 'whiteout' };
    const entry: LayerEntry = { kind: 'file' };
    if (info.xattr('metacopy') !== undefined) {
      entry.metacopy = true;
      const redirect = info.xattr('redirect');
      if (redirect !== undefined) entry.redirect = redirect.toString();
    }
    return entry;
  }
  return { kind: info.type === 'symlink' ? 'symlink' : 'other' };
}

/** Reads one layer's entry at `path` (absolute, inside a layer), or undefined when absent. */
export function* layerEntry(path: string, ns: ReadNamespace): Task<LayerEntry | undefined> {
  return entryOf((yield* statPaths([path], ENTRY_XATTRS, ns))[0]);
}

export interface ResolveOptions {
  /** 'trusted', 'user' (layers of a userxattr mount), or 'auto' (either; the default). */
  namespace?: ReadNamespace;
  /**
   * Follow redirect xattrs of directories (redirect_dir=on/follow). Default true. False ignores
   * them (a redirected dir holds only its own layers); a redirect_dir=nofollow kernel instead
   * refuses the lookup of a redirected dir with EPERM.
   */
  followRedirects?: boolean;
}

/** A directory of the merged view in one layer. */
export interface LayerDir {
  layer: number;
  /** Path inside the layer ('/' for its root). */
  path: string;
  /** Marked opaque=x: its xattr whiteouts hide names in readdir too. */
  xwhiteouts?: boolean;
}

type Found = Extract<Resolution, { found: true }>;

/** A name in a merged directory listing: the layer serving it and its type there. */
export interface Listed {
  layer: number;
  kind: Exclude<EntryKind, 'whiteout'>;
}

export type Resolution =
  | {
      found: true;
      /** Index into the layers given (0 = top). */
      layer: number;
      /** The real path on disk that serves it. */
      realPath: string;
      kind: Exclude<EntryKind, 'whiteout'>;
      /** For a directory: every layer directory merged into it, top first. */
      mergedFrom?: LayerDir[];
      /** For a metacopy file: the layer and path its data comes from. */
      dataFrom?: LayerDir;
    }
  | { found: false; whiteout: true; layer: number; realPath: string }
  | { found: false; whiteout: false };

/**
 * The layers of a stack, top first (an upper, if any, is simply the first), and lookups in them.
 * Directory results are cached per instance: create a new one after changing the layers.
 * Every method is a task: run it with runSync()/runAsync(), or use resolvePath()/resolvePathSync().
 */
export class LayerStack {
  readonly layers: readonly string[];
  readonly namespace: ReadNamespace;
  readonly followRedirects: boolean;
  readonly #dirs = new Map<string, LayerDir[] | Resolution>();
  readonly #below = new Map<number, LayerStack>();
  /** Entries read ahead (prefetch()), by real path: a lookup takes them without I/O. */
  readonly #ahead = new Map<string, LayerEntry | undefined>();
  /** Layer directories read ahead (listStep() results, or their errors), by real path: listDirs() takes them without I/O. */
  readonly #listings = new Map<string, unknown>();
  /** Listings of listDirs() that read every directory asked for: a name not in one is in none of them. */
  readonly #complete = new WeakSet<ReadonlyMap<string, Listed>>();

  constructor(layers: readonly string[], options: ResolveOptions = {}) {
    this.layers = layers;
    this.namespace = options.namespace ?? 'auto';
    this.followRedirects = options.followRedirects ?? true;
    this.#roots = layers.map((l) => (l.startsWith('/') ? posix.join(l, '/').slice(0, -1) : null));
  }

  /** The layer directories merged at the directory `path` of the merged view, or why there are none. */
  *dirsAt(path: string): Task<LayerDir[] | Resolution> {
    const norm = posix.normalize('/' + path);
    const key = norm === '/' ? '/' : norm.replace(/\/$/, '');
    const hit = this.#dirs.get(key);
    if (hit) return hit;
    let result: LayerDir[] | Resolution;
    if (key === '/') {
      const roots = yield* statPaths(this.layers, ENTRY_XATTRS, this.namespace);
      result = this.layers.map((_, layer) => (entryOf(roots[layer])?.opaque === 'x' ? { layer, path: '/', xwhiteouts: true } : { layer, path: '/' }));
    } else {
      const parent = yield* this.dirsAt(posix.dirname(key));
      if (!Array.isArray(parent)) result = parent.found ? { found: false, whiteout: false } : parent;
      else {
        const r = yield* this.lookupIn(parent, posix.basename(key));
        result = r.found && r.kind === 'dir' ? r.mergedFrom! : r;
      }
    }
    this.#dirs.set(key, result);
    return result;
  }

  /** Looks up `name` in the merged directory made of `parents` (top first). */
  *lookupIn(parents: readonly LayerDir[], name: string): Task<Resolution> {
    let first: Found | undefined;
    const merged: LayerDir[] = [];
    // Where lower layers look (fs/overlayfs/namei.c ovl_lookup): a relative redirect renames the
    // entry within each lower parent dir; an absolute one starts again from the root of every
    // layer below, whether or not the parent dir exists there. The data of a metacopy file is
    // looked up the same way, below it.
    let queue = parents;
    let lookName = name;
    for (let i = 0; i < queue.length; i++) {
      const parent = queue[i]!;
      const layerPath = plainName(lookName) ? childPath(parent.path, lookName) : posix.join(parent.path, lookName);
      const real = this.#real(parent.layer, layerPath);
      const entry = this.#ahead.has(real) ? this.#ahead.get(real) : yield* layerEntry(real, this.namespace);
      if (!entry) continue;
      if (entry.kind === 'whiteout') {
        if (!first) return { found: false, whiteout: true, layer: parent.layer, realPath: real };
        break;
      }
      if (!first) {
        first = { found: true, layer: parent.layer, realPath: real, kind: entry.kind };
        if (entry.kind !== 'dir' && !entry.metacopy) return first;
      } else if (first.kind !== 'dir') {
        // Below a metacopy file: the first file that is not one holds the data.
        if (entry.kind !== 'file') break;
        if (!entry.metacopy) {
          first.dataFrom = { layer: parent.layer, path: layerPath };
          break;
        }
      } else if (entry.kind !== 'dir') break; // a non-directory below a directory ends the merge
      if (first.kind === 'dir') {
        merged.push(entry.opaque === 'x' ? { layer: parent.layer, path: layerPath, xwhiteouts: true } : { layer: parent.layer, path: layerPath });
        if (entry.opaque === 'y') break;
      }
      if (entry.redirect !== undefined && (this.followRedirects || entry.kind === 'file')) {
        if (entry.redirect.startsWith('/')) {
          const below = yield* this.#belowStack(parent.layer).dirsAt(posix.dirname(entry.redirect));
          queue = Array.isArray(below) ? below.map((d) => ({ ...d, layer: d.layer + parent.layer + 1 })) : [];
          lookName = posix.basename(entry.redirect);
          i = -1;
        } else lookName = entry.redirect;
      }
    }
    if (!first) return { found: false, whiteout: false };
    return first.kind === 'dir' ? { ...first, mergedFrom: merged } : first;
  }

  /** The real paths a lookup of `name` in the merged directory `parents` looks at first (no redirects). */
  lookupPaths(parents: readonly LayerDir[], name: string): string[] {
    if (!plainName(name)) return parents.map((p) => join(this.layers[p.layer]!, p.path, name));
    return parents.map((p) => this.#real(p.layer, childPath(p.path, name)));
  }

  /** The entry questions for `paths`, to ask in one batch with others; then keep() the answers. */
  static readonly ENTRY_XATTRS = ENTRY_XATTRS;

  /** Keeps entries read ahead (by real path) for the lookups that come next. */
  keep(paths: readonly string[], infos: ReadonlyArray<PathInfo | undefined>): void {
    paths.forEach((p, i) => this.#ahead.set(p, entryOf(infos[i])));
  }

  /**
   * Whether `listed`, a listDirs() result, read every one of its directories (none failed): then
   * a name it lacks is absent from each of them, or hidden there by a whiteout above it.
   */
  listedAll(listed: ReadonlyMap<string, Listed>): boolean {
    return this.#complete.has(listed);
  }

  /**
   * The step listDirs() reads a layer directory with (its whiteout devices marked), to run in a
   * batch with others; keepListing() its result, and the listDirs() that wants it reads none.
   */
  static listStep(path: string): Step {
    return { op: 'scanDir', path, flags: SCAN.WHITEOUTS, recordError: true };
  }

  /** Keeps the result of a listStep() of `path` read ahead, for the listDirs() that comes next. */
  keepListing(path: string, result: unknown): void {
    this.#listings.set(path, result);
  }

  /** Drops entries and listings read ahead (their directory is done). */
  drop(paths: readonly string[]): void {
    for (const p of paths) {
      this.#ahead.delete(p);
      this.#listings.delete(p);
    }
  }

  /**
   * Each layer's root as join() would start a path in it: absolute and normalized, without the
   * trailing slash ('' for '/'); null for a relative root, which join() also normalizes.
   */
  readonly #roots: ReadonlyArray<string | null>;

  /**
   * join(layer root, layerPath) for a normalized layerPath ('/' or '/a/b'), without join()'s
   * normalizing of the whole string for every entry of a walk.
   */
  #real(layer: number, layerPath: string): string {
    const root = this.#roots[layer];
    return root === null || root === undefined ? join(this.layers[layer]!, layerPath) : root + layerPath;
  }

  /** The stack of the layers below `layer` (indices from 0 again), for absolute redirects. */
  #belowStack(layer: number): LayerStack {
    let stack = this.#below.get(layer);
    if (!stack) {
      stack = new LayerStack(this.layers.slice(layer + 1), { namespace: this.namespace, followRedirects: this.followRedirects });
      this.#below.set(layer, stack);
    }
    return stack;
  }

  /** Which layer serves `path` of the merged view: its layer and real path, a whiteout, or nothing. */
  *resolve(path: string): Task<Resolution> {
    const norm = posix.normalize('/' + path).replace(/\/$/, '') || '/';
    if (norm === '/') return { found: true, layer: 0, realPath: this.layers[0]!, kind: 'dir', mergedFrom: (yield* this.dirsAt('/')) as LayerDir[] };
    const parent = yield* this.dirsAt(posix.dirname(norm));
    if (!Array.isArray(parent)) return parent.found ? { found: false, whiteout: false } : parent;
    return yield* this.lookupIn(parent, posix.basename(norm));
  }

  /**
   * The names of the merged directory `path`, each with the layer that serves it, as readdir of
   * the mount would list them (whiteouts and entries below an opaque directory left out).
   */
  *list(path: string): Task<Map<string, Listed>> {
    const dirs = yield* this.dirsAt(path);
    return Array.isArray(dirs) ? yield* this.listDirs(dirs) : new Map();
  }

  /** list() for a merged directory given as its layer directories (top first). */
  *listDirs(dirs: readonly LayerDir[]): Task<Map<string, Listed>> {
    const out = new Map<string, Listed>();
    const hidden = new Set<string>();
    let complete = true;
    for (const dir of dirs) {
      const real = this.#real(dir.layer, dir.path);
      let listed = this.#listings.get(real);
      if (listed !== undefined) this.#listings.delete(real);
      else {
        try {
          listed = (yield* steps([{ op: 'scanDir', path: real, flags: SCAN.WHITEOUTS }])).results[0];
        } catch (e) {
          listed = e;
        }
      }
      if (listed instanceof Error) {
        // A directory that cannot be read lists nothing; failing to look at an entry is thrown.
        if (isSystemError(listed) && !isDirReadError(listed, real)) throw listed;
        complete = false;
        continue;
      }
      const entries = scannedDir(listed).entries;
      // The scan marked the whiteout devices (0/0); in an opaque=x dir zero-size files may be
      // xattr whiteouts: those are looked at closely, all of a directory's at once.
      const suspects = dir.xwhiteouts === true ? entries.filter((d) => d.isFile()) : [];
      const infos = suspects.length > 0 ? yield* statPaths(suspects.map((d) => join(real, d.name)), ['whiteout'], this.namespace, ['file']) : [];
      const whiteouts = new Set(entries.filter((d) => d.isWhiteout()).map((d) => d.name));
      suspects.forEach((d, i) => {
        const info = infos[i];
        // readdir hides xattr whiteouts only in a lower dir marked opaque=x (kernel: ovl_iterate).
        if (info !== undefined && info.type === 'file' && info.size === 0 && info.xattr('whiteout') !== undefined) whiteouts.add(d.name);
      });
      for (const d of entries) {
        if (out.has(d.name) || hidden.has(d.name)) continue;
        if (whiteouts.has(d.name)) {
          hidden.add(d.name);
          continue;
        }
        const kind: Exclude<EntryKind, 'whiteout'> = d.isDirectory() ? 'dir' : d.isFile() ? 'file' : d.isSymbolicLink() ? 'symlink' : 'other';
        out.set(d.name, { layer: dir.layer, kind });
      }
    }
    // A name that is a directory above and something else below: the directory wins (kept first).
    if (complete) this.#complete.add(out);
    return out;
  }
}

/** Layers to look in: paths top first, an overlay's layers, a mount handle, or a mount point. */
export type LayerSource =
  | readonly string[]
  | string
  | { upper?: string | undefined; lower: readonly string[]; options?: { userxattr?: boolean | undefined } | undefined }
  | { spec: { upper?: string | undefined; lower: readonly string[]; options?: { userxattr?: boolean | undefined } | undefined } };

// Array.isArray does not narrow a readonly array type.
const isLayerList = (x: unknown): x is readonly string[] => Array.isArray(x);

/** The layers (upper first) and xattr namespace of a LayerSource. */
export function* layersOfTask(source: LayerSource): Task<{ layers: string[]; namespace?: XattrNamespace }> {
  if (isLayerList(source)) return { layers: source.map((p, i) => cString(`layers[${i}]`, p)) };
  if (typeof source === 'string') {
    const info = yield* findOverlayTask(source);
    if (!info) throw new OverlayError('ERR_NOT_OVERLAY', `no overlay is mounted at '${source}'`, { path: source });
    return yield* layersOfTask(info);
  }
  const o = 'spec' in source ? source.spec : source;
  const out: { layers: string[]; namespace?: XattrNamespace } = { layers: [...(o.upper !== undefined ? [o.upper] : []), ...o.lower] };
  if (o.options?.userxattr) out.namespace = 'user';
  return out;
}

function* resolveTask(source: LayerSource, path: string, options: ResolveOptions): Task<Resolution> {
  const { layers, namespace } = yield* layersOfTask(source);
  const stack = new LayerStack(layers, namespace !== undefined && options.namespace === undefined ? { ...options, namespace } : options);
  return yield* stack.resolve(path);
}

/**
 * Which layer serves `path` of the merged view. `source`: layer paths top first (an upper
 * first if there is one), an OverlayMount, an OverlayInfo, or the mount point of an overlay.
 * Layer indexes in the answer count from the top of that list (the upper, when there is one, is 0).
 */
export function resolvePath(source: LayerSource, path: string, options: ResolveOptions = {}): Promise<Resolution> {
  return runAsync(resolveTask(source, path, options));
}

/** resolvePath() on the calling thread. */
export function resolvePathSync(source: LayerSource, path: string, options: ResolveOptions = {}): Resolution {
  return runSync(resolveTask(source, path, options));
}

function* listTask(source: LayerSource, path: string, options: ResolveOptions): Task<Map<string, Listed>> {
  const { layers, namespace } = yield* layersOfTask(source);
  const stack = new LayerStack(layers, namespace !== undefined && options.namespace === undefined ? { ...options, namespace } : options);
  return yield* stack.list(path);
}

/**
 * The names of the merged directory `path`, as readdir of the mount would list them, each with
 * the layer that serves it (whiteouts and what an opaque directory hides left out). `source`
 * as for resolvePath(). Empty when `path` is not a directory of the merged view.
 */
export function listMergedDir(source: LayerSource, path: string, options: ResolveOptions = {}): Promise<Map<string, Listed>> {
  return runAsync(listTask(source, path, options));
}

/** listMergedDir() on the calling thread. */
export function listMergedDirSync(source: LayerSource, path: string, options: ResolveOptions = {}): Map<string, Listed> {
  return runSync(listTask(source, path, options));
}
