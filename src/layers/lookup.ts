/**
 * The kernel's lookup rules, applied to layer directories on disk without mounting them
 * (fs/overlayfs/namei.c): top-down, a whiteout ends the lookup, an opaque directory stops the
 * merge with lower layers, a redirect xattr sends the lookup in lower layers elsewhere, and a
 * non-directory below a directory ends the merge.
 */
import { lstatSync, readdirSync, type Dirent } from 'node:fs';
import { join, posix } from 'node:path';
import { isSystemError } from './errors.js';
import { findOverlay } from './inspect.js';
import { native } from './binding.js';
import { listxattrSync } from './sys/xattr.js';
import { cString } from './validate.js';

/** Which xattr namespace the layers use: trusted.overlay.* (default) or user.overlay.* (userxattr). */
export type XattrNamespace = 'trusted' | 'user';

/** For readers: one namespace, or 'auto' to accept either (trusted first). */
export type ReadNamespace = XattrNamespace | 'auto';

export function xattrName(ns: XattrNamespace, name: string): string {
  return `${ns}.overlay.${name}`;
}

/** An overlay xattr (e.g. 'opaque') in the namespace(s) asked for. */
export function readOverlayXattr(path: string, name: string, ns: ReadNamespace): Buffer | undefined {
  if (ns !== 'auto') return readXattr(path, xattrName(ns, name));
  return readXattr(path, xattrName('trusted', name)) ?? readXattr(path, xattrName('user', name));
}

/**
 * The overlay xattrs of one path, read as readOverlayXattr() reads them, after one llistxattr
 * says which are there: a directory is asked for opaque and redirect, in two namespaces with
 * 'auto', and nearly always has none. Where the names cannot be listed, each is read.
 */
export function overlayXattrs(path: string, ns: ReadNamespace): (name: string) => Buffer | undefined {
  let names: readonly string[] | undefined;
  try {
    names = listxattrSync(path);
  } catch {
    return (name) => readOverlayXattr(path, name, ns);
  }
  const read = (full: string) => (names!.includes(full) ? readXattr(path, full) : undefined);
  return (name) => (ns !== 'auto' ? read(xattrName(ns, name)) : read(xattrName('trusted', name)) ?? read(xattrName('user', name)));
}

/**
 * An xattr's value as text, or undefined when absent (ENODATA) or unsupported: lgetxattr, the
 * arguments checked as getxattrSync() checks them, without making an error for the absent case.
 */
export function readXattr(path: string, name: string): Buffer | undefined {
  return native.getxattrIfAnySync(cString('path', path), cString('name', name), false);
}

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

function isDeviceWhiteout(path: string): boolean {
  try {
    const st = lstatSync(path);
    return st.isCharacterDevice() && st.rdev === 0;
  } catch {
    return false;
  }
}

/** Reads one layer's entry at `path` (absolute, inside a layer), or undefined when absent. */
export function layerEntry(path: string, ns: ReadNamespace): LayerEntry | undefined {
  let st;
  try {
    // Most lookups in lower layers miss: no error is made for ENOENT.
    st = lstatSync(path, { throwIfNoEntry: false });
  } catch (e) {
    if (isSystemError(e) && (e.code === 'ENOENT' || e.code === 'ENOTDIR')) return undefined;
    throw e;
  }
  if (st === undefined) return undefined;
  if (st.isCharacterDevice() && st.rdev === 0) return { kind: 'whiteout' };
  if (st.isDirectory()) {
    const entry: LayerEntry = { kind: 'dir' };
    const xattr = overlayXattrs(path, ns);
    const opaque = xattr('opaque')?.toString();
    if (opaque === 'y' || opaque === 'x') entry.opaque = opaque;
    const redirect = xattr('redirect');
    if (redirect !== undefined) entry.redirect = redirect.toString();
    return entry;
  }
  if (st.isFile()) {
    const xattr = overlayXattrs(path, ns);
    // An xattr whiteout is a zero-size file carrying overlay.whiteout (Linux 6.7).
    if (st.size === 0 && xattr('whiteout') !== undefined) return { kind: 'whiteout' };
    const entry: LayerEntry = { kind: 'file' };
    if (xattr('metacopy') !== undefined) {
      entry.metacopy = true;
      const redirect = xattr('redirect');
      if (redirect !== undefined) entry.redirect = redirect.toString();
    }
    return entry;
  }
  return { kind: st.isSymbolicLink() ? 'symlink' : 'other' };
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
 */
export class LayerStack {
  readonly layers: readonly string[];
  readonly namespace: ReadNamespace;
  readonly followRedirects: boolean;
  readonly #dirs = new Map<string, LayerDir[] | Resolution>();
  readonly #below = new Map<number, LayerStack>();

  constructor(layers: readonly string[], options: ResolveOptions = {}) {
    this.layers = layers;
    this.namespace = options.namespace ?? 'auto';
    this.followRedirects = options.followRedirects ?? true;
  }

  /** The layer directories merged at the directory `path` of the merged view, or why there are none. */
  dirsAt(path: string): LayerDir[] | Resolution {
    const norm = posix.normalize('/' + path);
    const key = norm === '/' ? '/' : norm.replace(/\/$/, '');
    const hit = this.#dirs.get(key);
    if (hit) return hit;
    let result: LayerDir[] | Resolution;
    if (key === '/') result = this.layers.map((root, layer) => (layerEntry(root, this.namespace)?.opaque === 'x' ? { layer, path: '/', xwhiteouts: true } : { layer, path: '/' }));
    else {
      const parent = this.dirsAt(posix.dirname(key));
      if (!Array.isArray(parent)) result = parent.found ? { found: false, whiteout: false } : parent;
      else {
        const r = this.lookupIn(parent, posix.basename(key));
        result = r.found && r.kind === 'dir' ? r.mergedFrom! : r;
      }
    }
    this.#dirs.set(key, result);
    return result;
  }

  /** Looks up `name` in the merged directory made of `parents` (top first). */
  lookupIn(parents: readonly LayerDir[], name: string): Resolution {
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
      const layerPath = posix.join(parent.path, lookName);
      const real = join(this.layers[parent.layer]!, layerPath);
      const entry = layerEntry(real, this.namespace);
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
          const below = this.below(parent.layer).dirsAt(posix.dirname(entry.redirect));
          queue = Array.isArray(below) ? below.map((d) => ({ ...d, layer: d.layer + parent.layer + 1 })) : [];
          lookName = posix.basename(entry.redirect);
          i = -1;
        } else lookName = entry.redirect;
      }
    }
    if (!first) return { found: false, whiteout: false };
    return first.kind === 'dir' ? { ...first, mergedFrom: merged } : first;
  }

  /** The stack of the layers below `layer` (indices from 0 again), for absolute redirects. */
  private below(layer: number): LayerStack {
    let stack = this.#below.get(layer);
    if (!stack) {
      stack = new LayerStack(this.layers.slice(layer + 1), { namespace: this.namespace, followRedirects: this.followRedirects });
      this.#below.set(layer, stack);
    }
    return stack;
  }

  /** Which layer serves `path` of the merged view: its layer and real path, a whiteout, or nothing. */
  resolve(path: string): Resolution {
    const norm = posix.normalize('/' + path).replace(/\/$/, '') || '/';
    if (norm === '/') return { found: true, layer: 0, realPath: this.layers[0]!, kind: 'dir', mergedFrom: this.dirsAt('/') as LayerDir[] };
    const parent = this.dirsAt(posix.dirname(norm));
    if (!Array.isArray(parent)) return parent.found ? { found: false, whiteout: false } : parent;
    return this.lookupIn(parent, posix.basename(norm));
  }

  /**
   * The names of the merged directory `path`, each with the layer that serves it, as readdir of
   * the mount would list them (whiteouts and entries below an opaque directory left out).
   */
  list(path: string): Map<string, Listed> {
    const dirs = this.dirsAt(path);
    return Array.isArray(dirs) ? this.listDirs(dirs) : new Map();
  }

  /** list() for a merged directory given as its layer directories (top first). */
  listDirs(dirs: readonly LayerDir[]): Map<string, Listed> {
    const out = new Map<string, Listed>();
    const hidden = new Set<string>();
    for (const dir of dirs) {
      const real = join(this.layers[dir.layer]!, dir.path);
      let entries: Dirent[];
      try {
        entries = readdirSync(real, { withFileTypes: true });
      } catch {
        continue;
      }
      for (const d of entries) {
        if (out.has(d.name) || hidden.has(d.name)) continue;
        const child = join(real, d.name);
        if (d.isCharacterDevice() && isDeviceWhiteout(child)) {
          hidden.add(d.name);
          continue;
        }
        const kind: Exclude<EntryKind, 'whiteout'> = d.isDirectory() ? 'dir' : d.isFile() ? 'file' : d.isSymbolicLink() ? 'symlink' : 'other';
        // readdir hides xattr whiteouts only in a lower dir marked opaque=x (kernel: ovl_iterate).
        if (kind === 'file' && dir.xwhiteouts && lstatSync(child).size === 0 && readOverlayXattr(child, 'whiteout', this.namespace) !== undefined) {
          hidden.add(d.name);
          continue;
        }
        out.set(d.name, { layer: dir.layer, kind });
      }
    }
    // A name that is a directory above and something else below: the directory wins (kept first).
    return out;
  }
}

/** Which layer serves `path`, for layers given top first (put an upper first if there is one). */
/** Layers to look in: paths top first, an overlay's layers, a mount handle, or a mount point. */
export type LayerSource =
  | readonly string[]
  | string
  | { upper?: string | undefined; lower: readonly string[]; options?: { userxattr?: boolean | undefined } | undefined }
  | { spec: { upper?: string | undefined; lower: readonly string[]; options?: { userxattr?: boolean | undefined } | undefined } };

// Array.isArray does not narrow a readonly array type.
const isLayerList = (x: unknown): x is readonly string[] => Array.isArray(x);

/** The layers (upper first) and xattr namespace of a LayerSource. */
export function layersOf(source: LayerSource): { layers: string[]; namespace?: XattrNamespace } {
  if (isLayerList(source)) return { layers: [...source] };
  if (typeof source === 'string') {
    const info = findOverlay(source);
    if (!info) {
      const err = new Error(`no overlay is mounted at '${source}'`) as Error & { code: string; path: string };
      err.code = 'ERR_NOT_OVERLAY';
      err.path = source;
      throw err;
    }
    return layersOf(info);
  }
  const o = 'spec' in source ? source.spec : source;
  const out: { layers: string[]; namespace?: XattrNamespace } = { layers: [...(o.upper !== undefined ? [o.upper] : []), ...o.lower] };
  if (o.options?.userxattr) out.namespace = 'user';
  return out;
}

/**
 * Which layer serves `path` of the merged view. `source`: layer paths top first (an upper
 * first if there is one), an OverlayMount, an OverlayInfo, or the mount point of an overlay.
 * Layer indexes in the answer count from the top of that list (the upper, when there is one, is 0).
 */
export function resolvePath(source: LayerSource, path: string, options: ResolveOptions = {}): Resolution {
  const { layers, namespace } = layersOf(source);
  return new LayerStack(layers, namespace !== undefined && options.namespace === undefined ? { ...options, namespace } : options).resolve(path);
}
