/**
 * validateSpec(): everything the shape checks say, plus what needs the filesystem. Runs before
 * any syscall that changes anything, and names every problem at once. The filesystem is asked
 * in one batch (a statx of every path, with its mount id, and the realpath of every parent
 * directory; a second only for symlinks and a work dir still to be made), then judged here;
 * validateSpecSync() and validateSpec() share every line of it.
 */
import { basename, dirname, resolve, sep } from 'node:path';
import { AT, S, STATX } from '../sys/constants.js';
import { runAsync, runSync, steps, type Task } from '../sys/io.js';
import type { StatxResult } from '../sys/native-types.js';
import type { Step } from '../sys/steps.js';
import { OverlaySpecError, type SpecProblem } from '../spec/errors.js';
import { checkSpecShape, isInside, specPaths, type SpecPath } from '../spec/shape.js';
import type { OverlaySpec } from '../spec/types.js';
import { OVERLAYFS_SUPER_MAGIC } from '../spec/options.js';

const S_IFLNK = 0o120000;
const STAT_MASK = STATX.BASIC_STATS | STATX.MNT_ID;

interface Located extends SpecPath {
  real: string;
}

/** Which directory a spec path named at validation: checked again when it is opened as an fd. */
export interface DirIdentity {
  devMajor: number;
  devMinor: number;
  ino: number;
}

/** What validation found: each existing directory's identity and real path, by field. */
export interface Validated {
  identities: Map<string, DirIdentity>;
  /** realpath of each path, by field (for work not yet made: where it will be). */
  reals: Map<string, string>;
}

/**
 * Everything the shape checks check, plus what needs the filesystem: layers exist and are
 * directories, no layer twice, no layer inside another, upper and work on the same mount and
 * not inside each other or any lower, upper not on an overlay. Rejects with an OverlaySpecError
 * listing every problem; resolves to the spec unchanged otherwise.
 */
export async function validateSpec<T extends OverlaySpec>(spec: T): Promise<T> {
  await runAsync(validateTask(spec));
  return spec;
}

/** validateSpec() on the calling thread. */
export function validateSpecSync<T extends OverlaySpec>(spec: T): T {
  runSync(validateTask(spec));
  return spec;
}

/** A path whose realpath is not its parent's realpath plus its name, whatever it is. */
function needsOwnRealpath(path: string): boolean {
  // What normalize() would change (a '//', a '.' or '..' component) or a trailing '/', tested
  // without building the normalized string (500 layers are checked on every mount).
  return path.endsWith(sep) || path.includes('//') || path.includes('/./') || path.includes('/../') || path.endsWith('/.') || path.endsWith('/..');
}

/** Every proper ancestor of `path` (resolved), nearest first, '/' last. */
function ancestors(path: string): string[] {
  const out: string[] = [];
  for (let dir = resolve(path); ; ) {
    const up = resolve(dir, '..');
    if (up === dir) return out;
    out.push(up);
    dir = up;
  }
}

/** The statx and realpath requests of validation, and where each answer will be. */
class Questions {
  readonly list: Step[] = [];
  readonly #realpaths = new Map<string, number>();

  statx(path: string, follow: boolean): number {
    this.list.push({ op: 'statx', path, flags: follow ? 0 : AT.SYMLINK_NOFOLLOW, mask: STAT_MASK, recordError: true });
    return this.list.length - 1;
  }

  realpath(path: string): number {
    let i = this.#realpaths.get(path);
    if (i === undefined) {
      this.list.push({ op: 'realpath', path, recordError: true });
      i = this.list.length - 1;
      this.#realpaths.set(path, i);
    }
    return i;
  }
}

interface Asked {
  path: SpecPath;
  nofollow: number;
  /** realpath of the path itself (odd forms) or of its parent. */
  real: number;
  own: boolean;
}

/** validateSpec(), returning what it found (for the mount that follows it). */
export function* validateTask(spec: OverlaySpec): Task<Validated> {
  const shape = checkSpecShape(spec);
  if (shape.length > 0) throw new OverlaySpecError(shape);

  // One batch for what every spec needs: an lstat-like statx of each path (with its mount id)
  // and the realpath of each parent; a second only when some answer asks for more (a symlink,
  // a work dir still to be made).
  const q = new Questions();
  const asked: Asked[] = specPaths(spec).map((p) => {
    const own = needsOwnRealpath(p.path);
    return { path: p, nofollow: q.statx(p.path, false), real: q.realpath(own ? p.path : dirname(p.path)), own };
  });
  // Which filesystem upper is on: an overlay cannot be one.
  const upperFs = spec.upper !== undefined ? q.list.push({ op: 'statfs', path: spec.upper, recordError: true }) - 1 : -1;
  const { results } = yield* steps(q.list);
  const answer = (i: number): unknown => results[i];

  // Symlinks need what they point to (statx) and their own realpath; a work dir that does not
  // exist yet is judged by where it will be, from its ancestors.
  const links = asked.filter((a) => {
    const st = answer(a.nofollow);
    return !(st instanceof Error) && ((st as StatxResult).mode & S.IFMT) === S_IFLNK;
  });
  const workAsked = asked.find((a) => a.path.role === 'work');
  // Missing, a symlink (it may point to nothing yet), or failing otherwise: judged by where it
  // would be, from its ancestors (their mount too, for the upper-and-work-on-one-mount check).
  const workMissing = workAsked !== undefined && (answer(workAsked.nofollow) instanceof Error || links.includes(workAsked));
  const more = new Questions();
  const linkAt = links.map((a) => ({ follow: more.statx(a.path.path, true), real: more.realpath(a.path.path) }));
  const workAncestors = workMissing ? ancestors(spec.work!).map((a) => ({ dir: a, real: more.realpath(a), stat: more.statx(a, true) })) : [];
  const second = more.list.length > 0 ? (yield* steps(more.list)).results : [];
  const followOf = new Map<string, unknown>();
  const linkReal = new Map<string, string | Error>();
  links.forEach((a, i) => {
    followOf.set(a.path.field, second[linkAt[i]!.follow]);
    linkReal.set(a.path.field, second[linkAt[i]!.real] as string | Error);
  });
  const ancestorAnswer = (i: number): unknown => second[i];

  const problems: SpecProblem[] = [];
  const identities = new Map<string, DirIdentity>();
  const located: Located[] = [];
  const stats = new Map<string, StatxResult>();
  const realOf = (a: Asked): string => {
    const link = linkReal.get(a.path.field);
    if (link !== undefined) {
      if (link instanceof Error) throw link;
      return link;
    }
    const r = answer(a.real);
    if (r instanceof Error) throw r;
    if (a.own) return r as string;
    return r === sep ? sep + basename(a.path.path) : `${r as string}${sep}${basename(a.path.path)}`;
  };
  for (const a of asked) {
    const p = a.path;
    const first = answer(a.nofollow);
    const isLink = !(first instanceof Error) && ((first as StatxResult).mode & S.IFMT) === S_IFLNK;
    const st = isLink ? followOf.get(p.field) : first;
    if (st instanceof Error) {
      // A work dir still to be created is judged by where it will be.
      if (p.role === 'work' && (st as NodeJS.ErrnoException).code === 'ENOENT') {
        located.push({ ...p, real: futureReal(spec.work!, workAncestors.map((w) => ({ dir: w.dir, real: ancestorAnswer(w.real) }))) });
        continue;
      }
      problems.push({ field: p.field, problem: `'${p.path}' cannot be used: ${st.message}` });
      continue;
    }
    const s = st as StatxResult;
    stats.set(p.field, s);
    try {
      if (isLink && p.role === 'target') {
        // move_mount (new API) refuses a symlink target while mount(2) follows it: the strategies
        // would differ, and the mount would not be at the path given. Ask for the real one.
        problems.push({ field: 'target', problem: `'${p.path}' is a symbolic link; give the directory it points to ('${realOf(a)}')` });
      } else if ((s.mode & S.IFMT) !== S.IFDIR) problems.push({ field: p.field, problem: `'${p.path}' is not a directory` });
      else {
        located.push({ field: p.field, path: p.path, role: p.role, real: realOf(a) });
        identities.set(p.field, { devMajor: s.devMajor, devMinor: s.devMinor, ino: s.ino });
      }
    } catch (e) {
      problems.push({ field: p.field, problem: `'${p.path}' cannot be used: ${(e as Error).message}` });
    }
  }

  const layers = located.filter((l) => l.role === 'lower' || l.role === 'data');
  // Every pair, in order, only when some pair can be a problem: 500 layers are 125,000 pairs.
  const pairwise = mayOverlap(layers, identities);
  for (let i = 0; pairwise && i < layers.length; i++) {
    for (let j = 0; j < i; j++) {
      const a = layers[i]!;
      const b = layers[j]!;
      const ia = identities.get(a.field);
      const ib = identities.get(b.field);
      // By inode too: a bind mount shows the same directory under another path.
      const sameInode = ia !== undefined && ib !== undefined && ia.ino === ib.ino && ia.devMajor === ib.devMajor && ia.devMinor === ib.devMinor;
      if (a.real === b.real || sameInode) problems.push({ field: a.field, problem: `is the same directory as ${b.field} (${a.real})` });
      else if (isInside(a.real, b.real)) problems.push({ field: a.field, problem: `is inside ${b.field} ('${b.path}')` });
      else if (isInside(b.real, a.real)) problems.push({ field: a.field, problem: `contains ${b.field} ('${b.path}')` });
    }
  }

  const upper = located.find((l) => l.role === 'upper');
  const work = located.find((l) => l.role === 'work');
  for (const rw of [upper, work]) {
    if (!rw) continue;
    for (const l of layers) {
      if (rw.real === l.real) problems.push({ field: rw.field, problem: `is the same directory as ${l.field}` });
      else if (isInside(rw.real, l.real)) problems.push({ field: rw.field, problem: `is inside ${l.field} ('${l.path}')` });
      else if (isInside(l.real, rw.real)) problems.push({ field: l.field, problem: `is inside ${rw.field} ('${rw.path}')` });
    }
  }
  if (upper && work) {
    if (upper.real === work.real) problems.push({ field: 'work', problem: 'must not be the upper directory itself' });
    else if (isInside(work.real, upper.real)) problems.push({ field: 'work', problem: `is inside upper; the kernel needs separate subtrees` });
    else if (isInside(upper.real, work.real)) problems.push({ field: 'upper', problem: `is inside work; the kernel needs separate subtrees` });
    else {
      // The mount ids came with the stats above; a work dir still to be made is judged by the
      // nearest directory above it that exists.
      const um = stats.get('upper')?.mountId;
      const existing = workAncestors.find((w) => !(ancestorAnswer(w.stat) instanceof Error));
      const wm = stats.get('work')?.mountId ?? (existing ? (ancestorAnswer(existing.stat) as StatxResult).mountId : undefined);
      if (um !== undefined && wm !== undefined && um !== wm) {
        problems.push({
          field: 'work',
          problem: `is on a different mount than upper (mount ids ${wm} and ${um}); the kernel needs both under the same mount`,
        });
      }
    }
    // A failed statfs is reported above as the path's problem.
    if (answer(upperFs) === OVERLAYFS_SUPER_MAGIC) {
      problems.push({ field: 'upper', problem: 'is on an overlay filesystem, which the kernel does not support as upperdir' });
    }
  }
  if (problems.length > 0) throw new OverlaySpecError(problems);
  const reals = new Map<string, string>(located.map((l) => [l.field, l.real]));
  return { identities, reals };
}

/**
 * The real path `path` will have once created (mkdir -p): the realpath of its nearest existing
 * ancestor plus every missing name, not just the last one.
 */
function futureReal(path: string, ancestorReals: ReadonlyArray<{ dir: string; real: unknown }>): string {
  const abs = resolve(path);
  for (const { dir, real } of ancestorReals) {
    if (real instanceof Error || typeof real !== 'string') continue;
    const rest = abs.slice(dir === sep ? 1 : dir.length + 1);
    return resolve(real, rest);
  }
  return abs;
}

/**
 * Whether any two layers may be the same directory or one inside the other, in time linear in
 * the layers: a repeated real path or identity, or a real path one of whose ancestors is
 * another layer's. False means the pairwise check would find nothing.
 */
function mayOverlap(layers: readonly Located[], identities: ReadonlyMap<string, DirIdentity>): boolean {
  const reals = new Set<string>();
  const inodes = new Map<number, DirIdentity[]>();
  let shortest = Infinity;
  for (const l of layers) {
    if (reals.has(l.real)) return true;
    reals.add(l.real);
    shortest = Math.min(shortest, l.real.length);
    const id = identities.get(l.field);
    if (id === undefined) continue;
    const same = inodes.get(id.ino);
    if (same === undefined) inodes.set(id.ino, [id]);
    else if (same.some((o) => o.devMajor === id.devMajor && o.devMinor === id.devMinor)) return true;
    else same.push(id);
  }
  for (const real of reals) {
    // Not in realpath's canonical form: let the pairwise check judge it.
    if (!real.startsWith(sep) || real.includes(sep + sep) || (real !== sep && real.endsWith(sep))) return true;
    if (real !== sep && reals.has(sep)) return true;
    // Only an ancestor at least as long as the shortest layer's path can be a layer.
    for (let k = real.indexOf(sep, Math.max(1, shortest)); k > 0; k = real.indexOf(sep, k + 1)) if (reals.has(real.slice(0, k))) return true;
  }
  return false;
}

