/**
 * The changes a writable layer makes to its lower layers, as `docker diff` reports them:
 * A (added), C (changed), D (deleted). Computed from the upper directory and the lower layers
 * on disk, with the kernel's rules: whiteouts delete, an opaque directory deletes the lower
 * content below it, a redirect (a directory renamed with redirect_dir=on) adds the moved
 * content at its new place, and a metacopy file is a metadata-only change. As docker does, a
 * deleted directory is one D (not one per file inside), an added one is an A for every entry,
 * and a directory holding changes is itself C.
 *
 * The walk is one generator that yields the I/O it needs (one batch per directory, the next
 * one started before the current one is walked) and puts the changes on a list; changes() does
 * that I/O off the main thread, changesSync() on it.
 */
import { posix } from 'node:path';
import { isDirReadError, perform, performAsync, SCAN, scannedDir, steps, type Request, type ScannedDir } from '../sys/io.js';
import type { Step } from '../sys/steps.js';
import { LayerStack, type LayerDir, type Listed } from './lookup.js';
import { askPaths, statPaths, xattrNames, type PathInfo, type ReadNamespace } from './paths.js';

export type ChangeKind = 'A' | 'C' | 'D';

export interface Change {
  kind: ChangeKind;
  /** Path in the merged view, from its root ('/etc/os-release'). */
  path: string;
  /** Why, where the on-disk marker says more than the kind: */
  cause?: 'whiteout' | 'opaque' | 'redirect' | 'metacopy' | undefined;
}

/**
 * A change with what a layer exporter needs besides (oci/export.ts): where the entry is now and
 * which markers the layer must carry. Given by changeRecords().
 */
export interface ChangeRecord extends Change {
  /**
   * Where the entry of an A or C is now: `layer` 0 is the upper, 1... the lowers (top first);
   * `path` inside that layer, relative (no leading '/'). Absent for the root.
   */
  source?: { layer: number; path: string } | undefined;
  /** An A or C entry's type, as readdir gave it. */
  type?: 'dir' | 'file' | 'symlink' | 'other' | undefined;
  /**
   * A directory whose lower content is hidden (opaque, or its lower dirs went elsewhere) while a
   * lower layer has it: a layer says so with an opaque marker, first in the directory. The root
   * comes as a C of '/' only when it is one.
   */
  opaque?: boolean | undefined;
  /** A D below a directory whose lower content is already hidden by such a marker: nothing to write for it. */
  hidden?: boolean | undefined;
}

/** A ChangeRecord with every field set, in one order (one object shape: the exporter reads thousands). */
function record(kind: ChangeKind, path: string, cause: Change['cause'], source: ChangeRecord['source'], type: ChangeRecord['type'], opaque: boolean, hidden: boolean): ChangeRecord {
  return { kind, path, cause, source, type, opaque, hidden };
}

export interface ChangesOptions {
  /** 'trusted', 'user' or 'auto' (either; default). */
  namespace?: ReadNamespace;
  /** Follow directory redirects (redirect_dir=on/follow). Default true. */
  followRedirects?: boolean;
}

interface UpperEntry {
  name: string;
  dir: boolean;
  type: 'dir' | 'file' | 'symlink' | 'other';
  whiteout: boolean;
  real: string;
  /** Overlay xattrs, for directories and files that were there before (once readAhead() read them). */
  info: PathInfo | undefined;
  /** A file that was there before: readAhead() reads its xattrs (metacopy). */
  check: boolean;
}

/** A read started and not waited for: answered at once with a token for the Wait that takes its result. */
interface Start {
  io: 'start';
  request: Request;
}
interface Wait {
  io: 'wait';
  pending: unknown;
}

/**
 * The walk yields only its reads (and Start/Wait: a read let run while it goes on); the
 * changes it finds go to the Walker's list (see Walker.take()).
 */
type Walk<T = void> = Generator<Request | Start | Wait, T, unknown>;

/** A task whose first read is started (startTask()), to be finished with finishTask(). */
interface Started<T> {
  task: Walk<T>;
  first: IteratorResult<Request | Start | Wait, T>;
  pending?: unknown;
}

/** Runs `task` up to its first read and starts that read, without waiting for it. */
function* startTask<T>(task: Walk<T>): Walk<Started<T>> {
  const first = task.next();
  if (first.done || first.value.io === 'start' || first.value.io === 'wait') return { task, first };
  return { task, first, pending: yield { io: 'start', request: first.value } };
}

/** Waits for a started task's first read and runs the task to its end. */
function* finishTask<T>(s: Started<T>): Walk<T> {
  let next = s.first;
  if (next.done) return next.value;
  if (s.pending !== undefined) {
    try {
      next = s.task.next(yield { io: 'wait', pending: s.pending });
    } catch (e) {
      next = s.task.throw(e);
    }
  }
  while (!next.done) {
    let answer: unknown;
    try {
      answer = yield next.value;
    } catch (e) {
      next = s.task.throw(e);
      continue;
    }
    next = s.task.next(answer);
  }
  return next.value;
}

interface Prepared {
  before: Map<string, Listed>;
  upperByName: Map<string, UpperEntry>;
  afterFromLower: Map<string, Listed>;
  names: string[];
  ahead: Started<{ listings: Map<string, ScannedDir | Error>; looked: string[] }>;
}

/** An upper directory of the loop, ready to walk (or why not: thrown when the walk gets to it). */
interface UpperChild {
  childAfter?: LayerDir[];
  childBefore?: LayerDir[] | null;
  prepared?: Prepared;
  failed?: boolean;
  error?: unknown;
}

/**
 * Names in UTF-8 byte order (a layer's order): UTF-16 order but for the code units of
 * U+E000..U+FFFF, which come before surrogate pairs in UTF-8 and after them in UTF-16.
 */
export function compareNames(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    let x = a.charCodeAt(i);
    let y = b.charCodeAt(i);
    if (x === y) continue;
    if (x >= 0xd800) x = x >= 0xe000 ? x - 0x800 : x + 0x2000;
    if (y >= 0xd800) y = y >= 0xe000 ? y - 0x800 : y + 0x2000;
    return x - y;
  }
  return a.length - b.length;
}

const UPPER_XATTRS = ['opaque', 'redirect', 'metacopy'] as const;

/** `name` in the directory `dir` (a name from a listing: no slash, not . or ..). */
function inDir(dir: string, name: string): string {
  return dir.endsWith('/') ? dir + name : `${dir}/${name}`;
}

const NO_XATTR = (): undefined => undefined;

/** An upper directory's PathInfo from the xattrs its scan read (full names), as askPaths gives it. */
function dirInfo(xattrs: ReadonlyMap<string, Buffer> | undefined, ns: ReadNamespace): PathInfo {
  if (xattrs === undefined) return { size: 0, whiteoutDevice: false, xattr: NO_XATTR };
  return {
    size: 0,
    whiteoutDevice: false,
    xattr: (name) => {
      for (const n of xattrNames(ns, name)) {
        const v = xattrs.get(n);
        if (v !== undefined) return v;
      }
      return undefined;
    },
  };
}

/**
 * The names of a directory's walk, in order: those it had before, has in upper, and has from
 * lower layers now. Without a lower side (most directories of a new tree) only the upper's.
 */
export function mergedNames(before: ReadonlyMap<string, unknown>, upper: ReadonlyMap<string, unknown>, fromLower: ReadonlyMap<string, unknown>): string[] {
  if (before.size === 0 && fromLower.size === 0) {
    const names = [...upper.keys()];
    return names.length > 1 ? names.sort(compareNames) : names;
  }
  const all = new Set(before.keys());
  for (const n of upper.keys()) all.add(n);
  if (fromLower !== before) for (const n of fromLower.keys()) all.add(n);
  return [...all].sort(compareNames);
}

function sameDirs(a: readonly LayerDir[], b: readonly LayerDir[]): boolean {
  return a.length === b.length && a.every((d, i) => d.layer === b[i]!.layer && d.path === b[i]!.path);
}

class Walker {
  readonly lowers: LayerStack;
  readonly ns: ReadNamespace;
  /** Yield ChangeRecords (source, type, opaque, hidden), for changeRecords(). */
  readonly detail: boolean;
  /**
   * The changes found since the last take(), in path order. The walk pushes them here instead
   * of yielding each: a change from a directory N deep would pass through N+1 generators.
   */
  #found: ChangeRecord[] = [];

  /** The changes found since the last call. */
  take(): ChangeRecord[] {
    const out = this.#found;
    if (out.length > 0) this.#found = [];
    return out;
  }

  readonly upper: string;

  constructor(lowers: readonly string[], options: ChangesOptions, detail: boolean, upper: string) {
    this.upper = upper;
    this.ns = options.namespace ?? 'auto';
    this.detail = detail;
    this.lowers = new LayerStack(lowers, { namespace: this.ns, followRedirects: options.followRedirects ?? true });
    this.#dirXattrs = UPPER_XATTRS.flatMap((n) => xattrNames(this.ns, n)).join(',');
  }

  /** The xattrs a scanDir step reads of an upper subdirectory (UPPER_XATTRS in this namespace). */
  readonly #dirXattrs: string;

  /** The step reading an upper directory: entries, whiteouts, and the markers of subdirectories. */
  scanStep(path: string, recordError: boolean): Step {
    return { op: 'scanDir', path, flags: SCAN.WHITEOUTS | SCAN.DIR_XATTRS, xattrs: this.#dirXattrs, recordError };
  }

  /**
   * An upper directory's entries. Only what can be more than its dirent type is looked at: the
   * scan (readAhead()'s, or one here) gave the whiteouts (character devices 0/0) and the
   * directories' markers (opaque, redirect); files that were there before are marked `check`,
   * for readAhead() to read their metacopy xattr in its batch.
   */
  *readUpperDir(real: string, before: ReadonlyMap<string, Listed>, listed?: ScannedDir | Error): Walk<UpperEntry[]> {
    if (listed instanceof Error) throw listed;
    let scanned = listed;
    if (scanned === undefined) {
      try {
        scanned = scannedDir((yield* steps([this.scanStep(real, false)])).results[0]);
      } catch (e) {
        // An unreadable directory adds nothing; a failure to look at one of its entries is thrown.
        if (isDirReadError(e, real)) return [];
        throw e;
      }
    }
    const { entries, xattrs } = scanned;
    const ns = this.ns;
    return entries.map((d, i) => {
      const type = d.isDirectory() ? 'dir' : d.isFile() ? 'file' : d.isSymbolicLink() ? 'symlink' : 'other';
      const check = d.isFile() && before.has(d.name);
      const info = d.isDirectory() ? dirInfo(xattrs.get(i), ns) : undefined;
      return { name: d.name, dir: d.isDirectory(), type, whiteout: d.isWhiteout(), real: inDir(real, d.name), info, check };
    });
  }

  /** The lower directories merged below an upper directory, given its opaque and redirect marks. */
  *lowerBelow(info: PathInfo | undefined, path: string, parentLower: readonly LayerDir[]): Walk<LayerDir[]> {
    if (info?.xattr('opaque')?.toString() === 'y') return [];
    const redirect = this.lowers.followRedirects ? info?.xattr('redirect')?.toString() : undefined;
    if (redirect !== undefined) {
      // Absolute: from the root of the lower layers. Relative: a sibling in the lower parent.
      const base = parentLower[0] ? posix.dirname(posix.join(parentLower[0].path, posix.basename(path))) : posix.dirname(path);
      const target = redirect.startsWith('/') ? redirect : posix.join(base, redirect);
      const dirs = yield* this.lowers.dirsAt(target);
      return Array.isArray(dirs) ? dirs : [];
    }
    const r = yield* this.lowers.lookupIn(parentLower, posix.basename(path));
    return r.found && r.kind === 'dir' ? r.mergedFrom ?? [] : [];
  }

  /**
   * Reads ahead for the loop over a directory's names, in one batch: the listing of every upper
   * subdirectory, and what the lower layers hold at each subdirectory's name (the lookups the
   * loop makes next). One call per directory instead of one per subdirectory and lower layer.
   * A name missing from the listing of lower dirs (`afterListed`, `beforeListed`: listDirs() of
   * afterLower and beforeDirs) is not looked up: the lookup could only find nothing or a whiteout,
   * which are the same to the walk (no lower dirs below it). In the same batch: the xattrs of the
   * upper files that were there before (metacopy: `info` of the entries marked `check`), and the
   * lower dirs at each subdirectory's name that the listing says is a directory, read for the
   * listDirs() of the subdirectory's walk. So a directory costs one hop, not three.
   */
  *readAhead(
    upper: readonly UpperEntry[],
    afterLower: readonly LayerDir[],
    beforeDirs: readonly LayerDir[] | null,
    afterListed: ReadonlyMap<string, Listed>,
    beforeListed: ReadonlyMap<string, Listed>,
  ): Walk<{ listings: Map<string, ScannedDir | Error>; looked: string[] }> {
    const subdirs = upper.filter((e) => e.dir);
    // Most directories of a tree are leaves with nothing to ask: no batch to make.
    if (subdirs.length === 0 && !upper.some((e) => e.check)) return { listings: new Map(), looked: [] };
    const looked: string[] = [];
    const absent: string[] = [];
    const lowers = this.lowers;
    const afterKnown = lowers.listedAll(afterListed);
    const beforeKnown = lowers.listedAll(beforeListed);
    for (const e of subdirs) {
      // Opaque or redirected: lowerBelow() looks elsewhere or nowhere.
      if (e.info?.xattr('opaque') !== undefined || e.info?.xattr('redirect') !== undefined) continue;
      (afterKnown && !afterListed.has(e.name) ? absent : looked).push(...lowers.lookupPaths(afterLower, e.name));
      if (beforeDirs !== null && !sameDirs(afterLower, beforeDirs)) (beforeKnown && !beforeListed.has(e.name) ? absent : looked).push(...lowers.lookupPaths(beforeDirs, e.name));
    }
    lowers.keep(absent, []);
    // The lower dirs the subdirectories' walks will list: before (a dir there before), and now
    // (a dir still merged below it), when they differ.
    const differ = beforeDirs !== null && !sameDirs(afterLower, beforeDirs);
    const lists = new Set<string>();
    for (const e of subdirs) {
      if (beforeDirs !== null && beforeListed.get(e.name)?.kind === 'dir') for (const p of lowers.lookupPaths(beforeDirs, e.name)) lists.add(p);
      if ((beforeDirs === null || differ) && afterListed.get(e.name)?.kind === 'dir' && e.info?.xattr('opaque') === undefined && e.info?.xattr('redirect') === undefined) {
        for (const p of lowers.lookupPaths(afterLower, e.name)) lists.add(p);
      }
    }
    const listPaths = [...lists];
    const files = upper.filter((e) => e.check);
    const extra: { steps: Step[]; results?: unknown[] } = {
      steps: [...subdirs.map((e): Step => this.scanStep(e.real, true)), ...listPaths.map((p) => LayerStack.listStep(p))],
    };
    const infos = yield* askPaths(
      [...looked.map((path) => ({ path, stat: true, xattrs: true })), ...files.map((e) => ({ path: e.real, stat: false, xattrs: true }))],
      LayerStack.ENTRY_XATTRS,
      this.ns,
      extra,
    );
    lowers.keep(looked, infos);
    files.forEach((e, i) => (e.info = infos[looked.length + i]));
    listPaths.forEach((p, i) => lowers.keepListing(p, extra.results?.[subdirs.length + i]));
    looked.push(...absent, ...listPaths);
    const listings = new Map<string, ScannedDir | Error>();
    subdirs.forEach((e, i) => {
      const r = extra.results?.[i];
      // A directory that could not be read is read again when the walk gets to it (and adds
      // nothing then); the failure to look at an entry is thrown there.
      if (r instanceof Error) {
        if (!isDirReadError(r, e.real)) listings.set(e.name, r);
      } else if (r !== undefined) listings.set(e.name, scannedDir(r));
    });
    return { listings, looked };
  }

  /**
   * A directory's walk up to its loop: its listings, its names in order, and its readAhead()
   * started (startTask()), not waited for.
   */
  *prepare(upperDir: string | undefined, afterLower: readonly LayerDir[], beforeDirs: readonly LayerDir[] | null, upperListing: ScannedDir | Error | undefined): Walk<Prepared> {
    const before: Map<string, Listed> = beforeDirs ? yield* this.lowers.listDirs(beforeDirs) : new Map();
    const upper = upperDir !== undefined ? yield* this.readUpperDir(upperDir, before, upperListing) : [];
    const upperByName = new Map(upper.map((e) => [e.name, e]));
    // The lower dirs of before, still merged (no opaque, no redirect): listed once.
    const same = beforeDirs !== null && afterLower.length > 0 && sameDirs(afterLower, beforeDirs);
    const afterFromLower = same ? before : afterLower.length > 0 ? yield* this.lowers.listDirs(afterLower) : new Map<string, Listed>();
    const names = mergedNames(before, upperByName, afterFromLower);
    const ahead = yield* startTask(this.readAhead(upper, afterLower, beforeDirs, afterFromLower, before));
    return { before, upperByName, afterFromLower, names, ahead };
  }

  /**
   * An upper directory's lower dirs (now and before) and its walk prepared; a failure is kept,
   * to be thrown where the walk gets to it. The walk does this for the next upper directory
   * before it goes down into the current one: in changes(), the next directory's batch is read
   * off the main thread while this one's changes are worked out on it.
   */
  *upperChild(up: UpperEntry, child: string, inBefore: Listed | undefined, afterLower: readonly LayerDir[], beforeDirs: readonly LayerDir[] | null, listing: ScannedDir | Error | undefined): Walk<UpperChild> {
    try {
      const childAfter = yield* this.lowerBelow(up.info, child, afterLower);
      const childBefore = inBefore?.kind === 'dir' && beforeDirs ? yield* this.childLower(beforeDirs, up.name) : null;
      const prepared = yield* this.prepare(up.real, childAfter, inBefore?.kind === 'dir' ? childBefore : null, listing);
      return { childAfter, childBefore, prepared };
    } catch (error) {
      return { failed: true, error };
    }
  }

  /**
   * Changes below the merged directory `path`, prepared (prepare()) from its directory in upper
   * (absent when its content comes from lower layers only). `afterLower`: the lower dirs merged
   * into it now; `beforeDirs`: the lower dirs it had before (null when it did not exist);
   * `hidden`: its lower content is hidden by an opaque marker (its own or an ancestor's).
   */
  *walk(path: string, afterLower: readonly LayerDir[], beforeDirs: readonly LayerDir[] | null, prepared: Prepared, hidden = false): Walk {
    const { before, upperByName, afterFromLower, names } = prepared;
    const detail = this.detail;
    const { listings, looked } = yield* finishTask(prepared.ahead);
    const childPath = (name: string) => (path === '/' ? `/${name}` : `${path}/${name}`);
    /** The next upper directory after the current name, prepared (upperChild()). */
    let next: { name: string; child: UpperChild } | undefined;
    let scanFrom = 0;

    for (let i = 0; i < names.length; i++) {
      const name = names[i]!;
      const child = childPath(name);
      const inBefore = before.get(name);
      const up = upperByName.get(name);
      if (up?.whiteout) {
        if (inBefore) this.#found.push(detail ? record('D', child, 'whiteout', undefined, undefined, false, hidden) : { kind: 'D', path: child, cause: 'whiteout' });
        continue;
      }
      const low = up ? undefined : afterFromLower.get(name);
      if (!up && !low) {
        // Gone: the parent is opaque, or redirected elsewhere.
        if (inBefore) {
          const cause = afterLower.length === 0 ? 'opaque' : 'redirect';
          this.#found.push(detail ? record('D', child, cause, undefined, undefined, false, hidden) : { kind: 'D', path: child, cause });
        }
        continue;
      }
      if (!up) {
        // Served from a lower layer. Unchanged when it is the same lower entry as before.
        const sameAsBefore = inBefore !== undefined && beforeDirs !== null && sameDirs(afterLower, beforeDirs);
        if (sameAsBefore) continue;
        const lowerDirs = low!.kind === 'dir' ? yield* this.childLower(afterLower, name) : [];
        if (detail) {
          const from = afterLower.find((d) => d.layer === low!.layer)!;
          this.#found.push(record(inBefore ? 'C' : 'A', child, 'redirect', { layer: low!.layer + 1, path: posix.join(from.path, name).slice(1) }, low!.kind, false, false));
        } else this.#found.push({ kind: inBefore ? 'C' : 'A', path: child, cause: 'redirect' });
        if (low!.kind === 'dir') {
          const lowerBefore = inBefore?.kind === 'dir' ? yield* this.childLower(beforeDirs ?? [], name) : null;
          yield* this.walk(child, lowerDirs, lowerBefore, yield* this.prepare(undefined, lowerDirs, lowerBefore, undefined), hidden);
        }
        continue;
      }
      let sub: UpperChild | undefined;
      if (up.dir) {
        if (next?.name === name) sub = next.child;
        else sub = yield* this.upperChild(up, child, inBefore, afterLower, beforeDirs, listings.get(name));
        next = undefined;
        if (sub.failed) throw sub.error;
      }
      const childAfter = sub?.childAfter ?? [];
      const childBefore = sub?.childBefore ?? null;
      const metacopy = inBefore !== undefined && !up.dir && up.info?.xattr('metacopy') !== undefined;
      // Its lower dirs are gone (opaque, or redirected to nothing) while a lower layer has it.
      const opaque = !hidden && up.dir && childAfter.length === 0 && (childBefore?.length ?? 0) > 0;
      if (detail) this.#found.push(record(inBefore ? 'C' : 'A', child, metacopy ? 'metacopy' : undefined, { layer: 0, path: child.slice(1) }, up.type, opaque, false));
      else {
        const change: Change = { kind: inBefore ? 'C' : 'A', path: child };
        if (metacopy) change.cause = 'metacopy';
        this.#found.push(change);
      }
      if (sub) {
        // The next upper directory, prepared before going down into this one.
        for (scanFrom = Math.max(scanFrom, i + 1); scanFrom < names.length; scanFrom++) {
          const n = names[scanFrom]!;
          const u = upperByName.get(n);
          if (u === undefined || !u.dir || u.whiteout) continue;
          next = { name: n, child: yield* this.upperChild(u, childPath(n), before.get(n), afterLower, beforeDirs, listings.get(n)) };
          break;
        }
        yield* this.walk(child, childAfter, inBefore?.kind === 'dir' ? childBefore : null, sub.prepared!, hidden || opaque);
      }
    }
    this.lowers.drop(looked);
  }

  *childLower(parent: readonly LayerDir[], name: string): Walk<LayerDir[]> {
    const r = yield* this.lowers.lookupIn(parent, name);
    return r.found && r.kind === 'dir' ? r.mergedFrom ?? [] : [];
  }

  *all(): Walk {
    const upper = this.upper;
    const root = yield* this.lowers.dirsAt('/');
    const rootDirs = Array.isArray(root) ? root : [];
    const [info] = yield* statPaths([upper], UPPER_XATTRS, this.ns, ['dir']);
    const after = info?.xattr('opaque')?.toString() === 'y' ? [] : rootDirs;
    const opaque = after.length === 0 && rootDirs.length > 0;
    if (opaque && this.detail) this.#found.push(record('C', '/', undefined, undefined, undefined, true, false));
    // Normalized once: paths below it are made by appending names.
    yield* this.walk('/', after, rootDirs, yield* this.prepare(posix.normalize(upper), after, rootDirs, undefined), opaque);
  }
}

/**
 * The A/C/D changes of `upper` over `lowers` (top first), streamed in path order, with every
 * read done off the main thread. The caller may stop early. Reads run ahead of the changes
 * given by little: the current directory's batch, and the next upper directory's at each level
 * the walk is in (its subdirectories' listings and what the lower layers hold at their names).
 */
export async function* changes(upper: string, lowers: readonly string[], options: ChangesOptions = {}): AsyncGenerator<Change> {
  for await (const found of batches(new Walker(lowers, options, false, upper))) {
    for (const c of found) yield c;
  }
}

/**
 * Runs a walk with its reads off the main thread: the changes found between two reads, given
 * while the next read runs (the thread pool does the kernel's part of the walk while the
 * caller takes the changes, on two cores at once).
 */
async function* batches(walker: Walker): AsyncGenerator<ChangeRecord[]> {
  const walk = walker.all();
  try {
    let next = walk.next();
    while (!next.done) {
      const v = next.value;
      if (v.io === 'start') {
        // Let run; its failure is thrown at its Wait.
        const started = performAsync(v.request);
        started.catch(() => {});
        next = walk.next(started);
        continue;
      }
      const pending = v.io === 'wait' ? (v.pending as Promise<unknown>) : performAsync(v);
      const found = walker.take();
      if (found.length > 0) {
        // Its failure is thrown into the walk below, after these; not unhandled meanwhile,
        // nor when the caller stops early.
        pending.catch(() => {});
        yield found;
      }
      let answer: unknown;
      try {
        answer = await pending;
      } catch (e) {
        next = walk.throw(e);
        continue;
      }
      next = walk.next(answer);
    }
    const found = walker.take();
    if (found.length > 0) yield found;
  } finally {
    walk.return(undefined);
  }
}

/**
 * changes() with what a layer exporter needs: each A and C with where its entry is now and its
 * type, the directories that need an opaque marker, and the D's such a marker already covers.
 * In path order, in arrays: the records found between two reads (one per hop off the main
 * thread, not one per record; each read is started before the records before it are given).
 */
export async function* changeRecords(upper: string, lowers: readonly string[], options: ChangesOptions = {}): AsyncGenerator<ChangeRecord[]> {
  yield* batches(new Walker(lowers, options, true, upper));
}

/** changes(), all at once, on the calling thread. */
export function changesSync(upper: string, lowers: readonly string[], options: ChangesOptions = {}): Change[] {
  const walker = new Walker(lowers, options, false, upper);
  const walk = walker.all();
  let next = walk.next();
  while (!next.done) {
    const v = next.value;
    let answer: unknown;
    try {
      if (v.io === 'start') {
        // Done now; its result (or failure) is given at its Wait.
        try {
          answer = { value: perform(v.request) };
        } catch (error) {
          answer = { failed: true, error };
        }
      } else if (v.io === 'wait') {
        const done = v.pending as { value?: unknown; failed?: boolean; error?: unknown };
        if (done.failed) throw done.error;
        answer = done.value;
      } else answer = perform(v);
    } catch (e) {
      next = walk.throw(e);
      continue;
    }
    next = walk.next(answer);
  }
  return walker.take();
}

/** One line per change, as `docker diff` prints them: `C /etc`. */
export function formatChange(change: Change): string {
  return `${change.kind} ${change.path}`;
}
