/**
 * The changes a writable layer makes to its lower layers, as `docker diff` reports them:
 * A (added), C (changed), D (deleted). Computed from the upper directory and the lower layers
 * on disk, with the kernel's rules: whiteouts delete, an opaque directory deletes the lower
 * content below it, a redirect (a directory renamed with redirect_dir=on) adds the moved
 * content at its new place, and a metacopy file is a metadata-only change. As docker does, a
 * deleted directory is one D (not one per file inside), an added one is an A for every entry,
 * and a directory holding changes is itself C.
 */
import { lstatSync, readdirSync, type Dirent } from 'node:fs';
import { join, posix } from 'node:path';
import { LayerStack, overlayXattrs, readOverlayXattr, type LayerDir, type Listed, type ReadNamespace } from './layers.js';

export type ChangeKind = 'A' | 'C' | 'D';

export interface Change {
  kind: ChangeKind;
  /** Path in the merged view, from its root ('/etc/os-release'). */
  path: string;
  /** Why, where the on-disk marker says more than the kind: */
  cause?: 'whiteout' | 'opaque' | 'redirect' | 'metacopy';
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
  whiteout: boolean;
  real: string;
}

function readUpperDir(real: string): UpperEntry[] {
  let dirents: Dirent[];
  try {
    dirents = readdirSync(real, { withFileTypes: true });
  } catch {
    return [];
  }
  return dirents.map((d) => {
    const path = join(real, d.name);
    // d_type says "character device"; only rdev 0/0 makes it a whiteout.
    const whiteout = d.isCharacterDevice() && lstatSync(path).rdev === 0;
    return { name: d.name, dir: d.isDirectory(), whiteout, real: path };
  });
}

function sameDirs(a: readonly LayerDir[], b: readonly LayerDir[]): boolean {
  return a.length === b.length && a.every((d, i) => d.layer === b[i]!.layer && d.path === b[i]!.path);
}

class Walker {
  readonly lowers: LayerStack;
  readonly ns: ReadNamespace;

  constructor(lowers: readonly string[], options: ChangesOptions) {
    this.ns = options.namespace ?? 'auto';
    this.lowers = new LayerStack(lowers, { namespace: this.ns, followRedirects: options.followRedirects ?? true });
  }

  /** The lower directories merged below an upper directory, given its opaque and redirect marks. */
  lowerBelow(upperDir: string, path: string, parentLower: readonly LayerDir[]): LayerDir[] {
    const xattr = overlayXattrs(upperDir, this.ns);
    if (xattr('opaque')?.toString() === 'y') return [];
    const redirect = this.lowers.followRedirects ? xattr('redirect')?.toString() : undefined;
    if (redirect !== undefined) {
      // Absolute: from the root of the lower layers. Relative: a sibling in the lower parent.
      const base = parentLower[0] ? posix.dirname(posix.join(parentLower[0].path, posix.basename(path))) : posix.dirname(path);
      const target = redirect.startsWith('/') ? redirect : posix.join(base, redirect);
      const dirs = this.lowers.dirsAt(target);
      return Array.isArray(dirs) ? dirs : [];
    }
    const r = this.lowers.lookupIn(parentLower, posix.basename(path));
    return r.found && r.kind === 'dir' ? r.mergedFrom ?? [] : [];
  }

  /**
   * Changes below the merged directory `path`. `upperDir`: its directory in upper (absent when
   * its content comes from lower layers only); `afterLower`: the lower dirs merged into it now;
   * `beforeDirs`: the lower dirs it had before (null when it did not exist).
   */
  *walk(path: string, upperDir: string | undefined, afterLower: readonly LayerDir[], beforeDirs: readonly LayerDir[] | null): Generator<Change> {
    const before: Map<string, Listed> = beforeDirs ? this.lowers.listDirs(beforeDirs) : new Map();
    const upper = upperDir !== undefined ? readUpperDir(upperDir) : [];
    const upperByName = new Map(upper.map((e) => [e.name, e]));
    // The lower dirs of before, still merged (no opaque, no redirect): listed once.
    const same = beforeDirs !== null && afterLower.length > 0 && sameDirs(afterLower, beforeDirs);
    const afterFromLower = same ? before : afterLower.length > 0 ? this.lowers.listDirs(afterLower) : new Map<string, Listed>();
    const names = [...new Set([...before.keys(), ...upperByName.keys(), ...afterFromLower.keys()])].sort();

    for (const name of names) {
      const child = path === '/' ? `/${name}` : `${path}/${name}`;
      const inBefore = before.get(name);
      const up = upperByName.get(name);
      if (up?.whiteout) {
        if (inBefore) yield { kind: 'D', path: child, cause: 'whiteout' };
        continue;
      }
      const low = up ? undefined : afterFromLower.get(name);
      if (!up && !low) {
        // Gone: the parent is opaque, or redirected elsewhere.
        if (inBefore) yield { kind: 'D', path: child, cause: afterLower.length === 0 ? 'opaque' : 'redirect' };
        continue;
      }
      if (!up) {
        // Served from a lower layer. Unchanged when it is the same lower entry as before.
        const sameAsBefore = inBefore !== undefined && beforeDirs !== null && sameDirs(afterLower, beforeDirs);
        if (sameAsBefore) continue;
        const lowerDirs = low!.kind === 'dir' ? this.childLower(afterLower, name) : [];
        yield { kind: inBefore ? 'C' : 'A', path: child, cause: 'redirect' };
        if (low!.kind === 'dir') yield* this.walk(child, undefined, lowerDirs, inBefore?.kind === 'dir' ? this.childLower(beforeDirs ?? [], name) : null);
        continue;
      }
      const childAfter = up.dir ? this.lowerBelow(up.real, child, afterLower) : [];
      const childBefore = inBefore?.kind === 'dir' && beforeDirs ? this.childLower(beforeDirs, name) : null;
      if (!inBefore) yield { kind: 'A', path: child };
      else {
        const change: Change = { kind: 'C', path: child };
        if (!up.dir && overlayXattrs(up.real, this.ns)('metacopy') !== undefined) change.cause = 'metacopy';
        yield change;
      }
      if (up.dir) yield* this.walk(child, up.real, childAfter, up.dir && inBefore?.kind === 'dir' ? childBefore : null);
    }
  }

  childLower(parent: readonly LayerDir[], name: string): LayerDir[] {
    const r = this.lowers.lookupIn(parent, name);
    return r.found && r.kind === 'dir' ? r.mergedFrom ?? [] : [];
  }

  *all(upper: string): Generator<Change> {
    const root = this.lowers.dirsAt('/');
    const rootDirs = Array.isArray(root) ? root : [];
    const after = readOverlayXattr(upper, 'opaque', this.ns)?.toString() === 'y' ? [] : rootDirs;
    yield* this.walk('/', upper, after, rootDirs);
  }
}

/**
 * The A/C/D changes of `upper` over `lowers` (top first), streamed in path order. The caller
 * may stop early; nothing is read ahead beyond the current directory.
 */
export async function* changes(upper: string, lowers: readonly string[], options: ChangesOptions = {}): AsyncGenerator<Change> {
  const walker = new Walker(lowers, options);
  let n = 0;
  for (const change of walker.all(upper)) {
    yield change;
    // Let other work run now and then on a large upper.
    if (++n % 1024 === 0) await new Promise<void>((resolve) => setImmediate(resolve));
  }
}

/** changes(), all at once. */
export function changesSync(upper: string, lowers: readonly string[], options: ChangesOptions = {}): Change[] {
  return [...new Walker(lowers, options).all(upper)];
}

/** One line per change, as `docker diff` prints them: `C /etc`. */
export function formatChange(change: Change): string {
  return `${change.kind} ${change.path}`;
}
