/**
 * OverlaySpec: what to mount, in plain data. validateSpec() refuses bad input before any
 * syscall and names every problem at once (field + problem) in an OverlaySpecError.
 */
import { realpathSync, statfsSync } from 'node:fs';
import { basename, dirname, isAbsolute, normalize, resolve, sep } from 'node:path';
import { AT, S, STATX } from './constants.js';
import type { StatxResult } from './native-types.js';
import { statxSync } from './sys/node.js';

export type OnOff = 'on' | 'off';
export type Strategy = 'lowerdir+' | 'fd' | 'legacy';

/** Every overlay option the kernel has (Documentation/filesystems/overlayfs.rst, fs/overlayfs/params.c). */
export interface OverlayOptions {
  /** redirect_dir=: directory renames by redirect xattr. Default from Kconfig/module parameter. */
  redirectDir?: 'on' | 'follow' | 'nofollow' | 'off';
  /** index=: inode index (hard links across copy-up, nfs_export). Needs an upper. */
  index?: OnOff;
  /** xino=: unique st_ino across layers on different filesystems. */
  xino?: 'on' | 'off' | 'auto';
  /** metacopy=: metadata-only copy-up. Never with untrusted layers. */
  metacopy?: OnOff;
  /** nfs_export=: file handles for NFS export. Turns index on. */
  nfsExport?: OnOff;
  /** userxattr: user.overlay.* instead of trusted.overlay.* (added automatically in a user namespace). */
  userxattr?: boolean;
  /** uuid=: how the overlay's fsid is derived. */
  uuid?: 'off' | 'null' | 'auto' | 'on';
  /** verity=: fs-verity digests of metacopy files. */
  verity?: 'off' | 'on' | 'require';
  /** volatile: skip every sync on upper (alias of fsync=volatile). A crash makes the upper unusable. */
  volatile?: boolean;
  /** fsync=: 'strict' fsyncs on every copy-up, 'auto' on data copy-up, 'volatile' never. */
  fsync?: 'volatile' | 'auto' | 'strict';
  /** default_permissions: check permissions on the overlay inode as a normal fs would. */
  defaultPermissions?: boolean;
  /** override_creds (Linux 6.15): record the credentials at fsconfig time. New mount API only. */
  overrideCreds?: boolean;
}

/** Per-mount attributes (MOUNT_ATTR_* for the new API, MS_* for mount(2)). */
export interface MountAttributes {
  readOnly?: boolean;
  nosuid?: boolean;
  nodev?: boolean;
  noexec?: boolean;
  atime?: 'relatime' | 'noatime' | 'strictatime';
  nodiratime?: boolean;
  nosymfollow?: boolean;
}

export interface OverlaySpec {
  /** Lower layers, top first (as in `lowerdir=`). Absolute paths to directories. */
  lower: readonly string[];
  /** Data-only lower layers (below all of `lower`; reachable only through metacopy redirects). */
  data?: readonly string[];
  /** Writable layer. Without it the overlay is read-only and needs at least 2 layers. */
  upper?: string;
  /** The kernel's scratch dir: required with upper, on the same mount; created if missing. */
  work?: string;
  /** Mount point. */
  target: string;
  options?: OverlayOptions;
  attributes?: MountAttributes;
  /** The mount's source label in /proc/self/mountinfo (default 'overlay'). */
  source?: string;
  /** Force a strategy; by default plan() picks the best this kernel supports. */
  strategy?: Strategy;
  /** Mount even when upper or work is in use by another overlay (the kernel only warns). */
  allowShared?: boolean;
  /** Remove a stale work/incompat/volatile left by an earlier volatile mount (only if no crash happened). */
  clearVolatile?: boolean;
}

export interface SpecProblem {
  field: string;
  problem: string;
}

/** Bad input, found before any syscall. `problems` lists every one. */
export class OverlaySpecError extends Error {
  readonly code = 'ERR_OVERLAY_SPEC';
  readonly problems: readonly SpecProblem[];
  constructor(problems: readonly SpecProblem[]) {
    super(
      problems.length === 1
        ? `invalid overlay spec: ${problems[0]!.field}: ${problems[0]!.problem}`
        : `invalid overlay spec (${problems.length} problems):\n` +
            problems.map((p) => `  ${p.field}: ${p.problem}`).join('\n'),
    );
    this.name = 'OverlaySpecError';
    this.problems = problems;
  }
}

/** The kernel's OVL_MAX_STACK: lower plus data layers. */
export const MAX_LAYERS = 500;
const OVERLAYFS_SUPER_MAGIC = 0x794c7630;

/**
 * Every overlay option: its field, the kernel's key, and the values it takes (a flag takes
 * true/false and is written bare). In the order mountinfo shows them (ovl_show_options).
 */
export const OPTION_KEYS: ReadonlyArray<{ field: keyof OverlayOptions; key: string; values: readonly (string | boolean)[]; flag: boolean }> = [
  { field: 'defaultPermissions', key: 'default_permissions', values: [true, false], flag: true },
  { field: 'redirectDir', key: 'redirect_dir', values: ['on', 'follow', 'nofollow', 'off'], flag: false },
  { field: 'index', key: 'index', values: ['on', 'off'], flag: false },
  { field: 'uuid', key: 'uuid', values: ['off', 'null', 'auto', 'on'], flag: false },
  { field: 'nfsExport', key: 'nfs_export', values: ['on', 'off'], flag: false },
  { field: 'xino', key: 'xino', values: ['on', 'off', 'auto'], flag: false },
  { field: 'metacopy', key: 'metacopy', values: ['on', 'off'], flag: false },
  { field: 'fsync', key: 'fsync', values: ['volatile', 'auto', 'strict'], flag: false },
  { field: 'volatile', key: 'volatile', values: [true, false], flag: true },
  { field: 'userxattr', key: 'userxattr', values: [true, false], flag: true },
  { field: 'verity', key: 'verity', values: ['off', 'on', 'require'], flag: false },
  { field: 'overrideCreds', key: 'override_creds', values: [true, false], flag: true },
];

const OPTION_VALUES: Readonly<Record<string, readonly unknown[]>> = Object.fromEntries(OPTION_KEYS.map((o) => [o.field, o.values]));

const ATTRIBUTE_VALUES: { [K in keyof MountAttributes]-?: readonly unknown[] } = {
  readOnly: [true, false],
  nosuid: [true, false],
  nodev: [true, false],
  noexec: [true, false],
  atime: ['relatime', 'noatime', 'strictatime'],
  nodiratime: [true, false],
  nosymfollow: [true, false],
};

const SPEC_KEYS = new Set(['lower', 'data', 'upper', 'work', 'target', 'options', 'attributes', 'source', 'strategy', 'allowShared', 'clearVolatile']);

const show = (v: unknown): string => (typeof v === 'string' ? `'${v}'` : String(v));

/** A named path of the spec, for the checks that compare paths. */
export interface SpecPath {
  field: string;
  path: string;
  role: 'lower' | 'data' | 'upper' | 'work' | 'target';
}

/** Every path of the spec with the field that names it (lower[0], data[1], upper, ...). */
export function specPaths(spec: OverlaySpec): SpecPath[] {
  const out: SpecPath[] = [];
  spec.lower.forEach((path, i) => out.push({ field: `lower[${i}]`, path, role: 'lower' }));
  (spec.data ?? []).forEach((path, i) => out.push({ field: `data[${i}]`, path, role: 'data' }));
  if (spec.upper !== undefined) out.push({ field: 'upper', path: spec.upper, role: 'upper' });
  if (spec.work !== undefined) out.push({ field: 'work', path: spec.work, role: 'work' });
  out.push({ field: 'target', path: spec.target, role: 'target' });
  return out;
}

function isInside(child: string, parent: string): boolean {
  return child !== parent && (parent === sep ? child.startsWith(sep) : child.startsWith(parent + sep));
}

/**
 * The checks that need no filesystem: types, absolute paths, NUL bytes, counts, option values
 * and the kernel's documented option conflicts (fs/overlayfs/params.c ovl_fs_params_verify).
 */
export function checkSpecShape(spec: OverlaySpec): SpecProblem[] {
  const problems: SpecProblem[] = [];
  const add = (field: string, problem: string) => problems.push({ field, problem });
  if (typeof spec !== 'object' || spec === null) return [{ field: 'spec', problem: 'must be an object' }];

  for (const key of Object.keys(spec)) if (!SPEC_KEYS.has(key)) add(key, 'is not a spec field');

  const pathField = (field: string, value: unknown) => {
    if (typeof value !== 'string') return add(field, `must be a string path, got ${typeof value}`);
    if (value.length === 0) return add(field, 'must not be empty');
    if (value.includes('\0')) return add(field, 'contains a NUL byte');
    if (!isAbsolute(value)) add(field, `must be an absolute path, got '${value}'`);
  };

  if (!Array.isArray(spec.lower)) add('lower', 'must be an array of layer paths, top first');
  else {
    if (spec.lower.length === 0) add('lower', 'needs at least one layer');
    spec.lower.forEach((p, i) => pathField(`lower[${i}]`, p));
  }
  if (spec.data !== undefined) {
    if (!Array.isArray(spec.data)) add('data', 'must be an array of data-only layer paths');
    else spec.data.forEach((p, i) => pathField(`data[${i}]`, p));
  }
  const layers = (Array.isArray(spec.lower) ? spec.lower.length : 0) + (Array.isArray(spec.data) ? spec.data.length : 0);
  if (layers > MAX_LAYERS) add('lower', `has ${layers} layers (lower + data); the kernel's limit is ${MAX_LAYERS}`);

  if (spec.upper !== undefined) pathField('upper', spec.upper);
  if (spec.work !== undefined) pathField('work', spec.work);
  if (spec.upper !== undefined && spec.work === undefined) add('work', 'is required with upper');
  if (spec.work !== undefined && spec.upper === undefined) add('upper', 'is required with work (work is only used with an upper layer)');
  if (spec.upper === undefined && layers < 2 && layers > 0) {
    add('lower', 'a read-only overlay (no upper) needs at least 2 layers');
  }
  pathField('target', spec.target);

  if (spec.source !== undefined) {
    if (typeof spec.source !== 'string' || spec.source.length === 0) add('source', 'must be a non-empty string');
    else if (spec.source.includes('\0')) add('source', 'contains a NUL byte');
    else if (Buffer.byteLength(spec.source) > 255) add('source', 'is longer than 255 bytes (fsconfig value limit)');
  }
  if (spec.strategy !== undefined && !['lowerdir+', 'fd', 'legacy'].includes(spec.strategy)) {
    add('strategy', `must be 'lowerdir+', 'fd' or 'legacy', got ${show(spec.strategy)}`);
  }
  for (const flag of ['allowShared', 'clearVolatile'] as const) {
    if (spec[flag] !== undefined && typeof spec[flag] !== 'boolean') add(flag, 'must be a boolean');
  }

  const opts = spec.options ?? {};
  if (typeof opts !== 'object' || opts === null) add('options', 'must be an object');
  else {
    for (const [key, value] of Object.entries(opts)) {
      // Own keys only: 'toString' or 'constructor' must read as unknown, not as a table entry.
      const allowed = Object.hasOwn(OPTION_VALUES, key) ? OPTION_VALUES[key as keyof OverlayOptions] : undefined;
      if (!allowed) add(`options.${key}`, 'is not an overlay option');
      else if (value !== undefined && !allowed.includes(value)) {
        add(`options.${key}`, `must be one of ${allowed.map(show).join(', ')}; got ${show(value)}`);
      }
    }
    problems.push(...optionConflicts(opts, spec.upper !== undefined));
  }

  const attrs = spec.attributes ?? {};
  if (typeof attrs !== 'object' || attrs === null) add('attributes', 'must be an object');
  else {
    for (const [key, value] of Object.entries(attrs)) {
      const allowed = Object.hasOwn(ATTRIBUTE_VALUES, key) ? ATTRIBUTE_VALUES[key as keyof MountAttributes] : undefined;
      if (!allowed) add(`attributes.${key}`, 'is not a mount attribute');
      else if (value !== undefined && !allowed.includes(value)) {
        add(`attributes.${key}`, `must be one of ${allowed.map(show).join(', ')}; got ${show(value)}`);
      }
    }
  }
  return problems;
}

/**
 * The option combinations the kernel refuses with EINVAL ("conflicting options: ..."), as
 * ovl_fs_params_verify() decides them from what was set explicitly.
 */
export function optionConflicts(o: OverlayOptions, hasUpper: boolean): SpecProblem[] {
  const problems: SpecProblem[] = [];
  // Without an upper, follow is treated as on.
  const redirect = !hasUpper && o.redirectDir === 'follow' ? 'on' : o.redirectDir;
  if (o.metacopy === 'on' && redirect !== undefined && redirect !== 'on') {
    problems.push({
      field: 'options.metacopy',
      problem: `metacopy=on needs redirect_dir=on, but redirectDir is '${o.redirectDir}' (kernel: conflicting options)`,
    });
  }
  // Without an upper the kernel forces index off first, so an explicit index=on cannot keep nfs_export.
  const nfsDropped = !hasUpper && o.nfsExport === 'on' && redirect !== 'nofollow';
  if (o.nfsExport === 'on' && o.index === 'off' && !nfsDropped) {
    problems.push({ field: 'options.nfsExport', problem: 'nfs_export=on needs index=on, but index is \'off\' (kernel: conflicting options)' });
  }
  if (o.nfsExport === 'on' && o.metacopy === 'on' && !nfsDropped) {
    problems.push({ field: 'options.nfsExport', problem: 'nfs_export=on and metacopy=on exclude each other (kernel: conflicting options)' });
  }
  if (o.userxattr === true && o.redirectDir !== undefined && o.redirectDir !== 'nofollow') {
    problems.push({
      field: 'options.userxattr',
      problem: `userxattr allows only redirectDir 'nofollow', got '${o.redirectDir}' (kernel: conflicting options)`,
    });
  }
  if (o.userxattr === true && o.metacopy === 'on') {
    problems.push({ field: 'options.userxattr', problem: 'userxattr excludes metacopy=on (kernel: conflicting options)' });
  }
  if (o.volatile === true && o.fsync !== undefined && o.fsync !== 'volatile') {
    problems.push({ field: 'options.volatile', problem: `volatile is fsync=volatile, but fsync is '${o.fsync}'` });
  }
  return problems;
}

interface Located extends SpecPath {
  real: string;
}

/** Which directory a spec path named at validation: checked again when it is opened as an fd. */
export interface DirIdentity {
  devMajor: number;
  devMinor: number;
  ino: number;
}

/**
 * Everything checkSpecShape() checks, plus what needs the filesystem: layers exist and are
 * directories, no layer twice, no layer inside another, upper and work on the same mount and
 * not inside each other or any lower, upper not on an overlay. Throws OverlaySpecError listing
 * every problem; returns the spec unchanged otherwise.
 */
export function validateSpec<S extends OverlaySpec>(spec: S): S {
  validateSpecIdentities(spec);
  return spec;
}

/** validateSpec(), also returning the identity of each existing directory, by field. */
export function validateSpecIdentities(spec: OverlaySpec): Map<string, DirIdentity> {
  const problems = checkSpecShape(spec);
  if (problems.length > 0) throw new OverlaySpecError(problems);

  const identities = new Map<string, DirIdentity>();
  const located: Located[] = [];
  const parents = new Map<string, string>();
  const stats = new Map<string, StatxResult>();
  for (const p of specPaths(spec)) {
    if (p.role === 'work') continue; // may not exist yet: created by mountOverlay
    try {
      const { st, link } = statFollowing(p.path);
      stats.set(p.field, st);
      if (link && p.role === 'target') {
        // move_mount (new API) refuses a symlink target while mount(2) follows it: the strategies
        // would differ, and the mount would not be at the path given. Ask for the real one.
        problems.push({ field: 'target', problem: `'${p.path}' is a symbolic link; give the directory it points to ('${realpathSync.native(p.path)}')` });
      } else if ((st.mode & S.IFMT) !== S.IFDIR) problems.push({ field: p.field, problem: `'${p.path}' is not a directory` });
      else {
        located.push({ ...p, real: realDir(p.path, link, parents) });
        identities.set(p.field, { devMajor: st.devMajor, devMinor: st.devMinor, ino: st.ino });
      }
    } catch (e) {
      problems.push({ field: p.field, problem: `'${p.path}' cannot be used: ${(e as Error).message}` });
    }
  }
  if (spec.work !== undefined) {
    try {
      const { st, link } = statFollowing(spec.work);
      stats.set('work', st);
      if ((st.mode & S.IFMT) !== S.IFDIR) problems.push({ field: 'work', problem: `'${spec.work}' is not a directory` });
      else {
        located.push({ field: 'work', path: spec.work, role: 'work', real: realDir(spec.work, link, parents) });
        identities.set('work', { devMajor: st.devMajor, devMinor: st.devMinor, ino: st.ino });
      }
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') {
        problems.push({ field: 'work', problem: `'${spec.work}' cannot be used: ${(e as Error).message}` });
      } else {
        // Judge a work dir still to be created by where it will be.
        located.push({ field: 'work', path: spec.work, role: 'work', real: realFuture(spec.work) });
      }
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
      // The mount ids came with the stats above; a work dir still to be made is judged by its parent.
      const workStat = stats.get('work');
      const um = stats.get('upper')?.mountId;
      const wm = workStat ? workStat.mountId : mountIdOf(realParent(spec.work!));
      if (um !== undefined && wm !== undefined && um !== wm) {
        problems.push({
          field: 'work',
          problem: `is on a different mount than upper (mount ids ${wm} and ${um}); the kernel needs both under the same mount`,
        });
      }
    }
    try {
      if (statfsSync(spec.upper!).type === OVERLAYFS_SUPER_MAGIC) {
        problems.push({ field: 'upper', problem: 'is on an overlay filesystem, which the kernel does not support as upperdir' });
      }
    } catch {
      /* reported above if the path is unusable */
    }
  }
  if (problems.length > 0) throw new OverlaySpecError(problems);
  return identities;
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

/**
 * The real path `path` will have once created (mkdir -p): the realpath of its nearest existing
 * ancestor plus every missing name, not just the last one.
 */
function realFuture(path: string): string {
  const missing: string[] = [];
  let dir = resolve(path);
  for (;;) {
    try {
      return resolve(realpathSync.native(dir), ...missing);
    } catch {
      const up = resolve(dir, '..');
      if (up === dir) return resolve(path);
      missing.unshift(basename(dir));
      dir = up;
    }
  }
}

const S_IFLNK = 0o120000;

/**
 * statx(2) of a spec path following symlinks (with its mount id), as validation has always
 * judged them; a path that is not a symlink is stat'ed once, without following (the same
 * answer). `link`: the path itself is a symlink.
 */
function statFollowing(path: string): { st: StatxResult; link: boolean } {
  const mask = STATX.BASIC_STATS | STATX.MNT_ID;
  const st = statxSync(path, { flags: AT.SYMLINK_NOFOLLOW, mask });
  if ((st.mode & S.IFMT) !== S_IFLNK) return { st, link: false };
  return { st: statxSync(path, { mask }), link: true };
}

/**
 * realpath(3) of a directory. Node's realpathSync() collapses 'link/..' before resolving,
 * unlike the kernel. A normalized path that is not itself a symlink is its parent's realpath
 * plus its name: layers side by side share one resolution of their parent.
 */
function realDir(path: string, link: boolean, parents: Map<string, string>): string {
  const name = basename(path);
  if (link || path !== normalize(path) || path.endsWith(sep) || name === '' || name === '.' || name === '..') return realpathSync.native(path);
  const parent = dirname(path);
  let realParentDir = parents.get(parent);
  if (realParentDir === undefined) {
    realParentDir = realpathSync.native(parent);
    parents.set(parent, realParentDir);
  }
  return realParentDir === sep ? sep + name : realParentDir + sep + name;
}

/** realpath of the nearest existing ancestor of `path` (work may be created later). */
function realParent(path: string): string {
  let dir = resolve(path, '..');
  for (;;) {
    try {
      return realpathSync.native(dir);
    } catch {
      const up = resolve(dir, '..');
      if (up === dir) return dir;
      dir = up;
    }
  }
}

function mountIdOf(path: string): number | undefined {
  try {
    return statxSync(path, { mask: STATX.MNT_ID }).mountId;
  } catch {
    return undefined;
  }
}
