/**
 * The checks of an OverlaySpec that need no filesystem: types, absolute paths, NUL bytes,
 * counts, option values and the kernel's documented option conflicts. Pure.
 */
import { isAbsolute, sep } from 'node:path';
import { MAX_LAYERS, OPTION_KEYS } from './options.js';
import type { SpecProblem } from './errors.js';
import type { IdRange, MountAttributes, OverlayOptions, OverlaySpec } from './types.js';

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

const SPEC_KEYS = new Set(['lower', 'data', 'upper', 'work', 'target', 'options', 'attributes', 'source', 'strategy', 'allowShared', 'clearVolatile', 'idmap']);

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

/** No lone surrogate: a string that becomes a path converts to UTF-8 exactly (String#isWellFormed). */
export function isWellFormed(s: string): boolean {
  return (s as unknown as { isWellFormed(): boolean }).isWellFormed();
}

export function isInside(child: string, parent: string): boolean {
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

  // The field's name is made only for a problem: a 500-layer spec is checked on every mount.
  const pathField = (name: string, index: number | undefined, value: unknown) => {
    if (typeof value === 'string' && value.length > 0 && value.charCodeAt(0) === 47 && !value.includes('\0') && isWellFormed(value)) return;
    const field = index === undefined ? name : `${name}[${index}]`;
    if (typeof value !== 'string') return add(field, `must be a string path, got ${typeof value}`);
    if (value.length === 0) return add(field, 'must not be empty');
    if (value.includes('\0')) return add(field, 'contains a NUL byte');
    if (!isWellFormed(value)) return add(field, 'is not well-formed Unicode (a lone surrogate): it would name a file with U+FFFD in its place');
    if (!isAbsolute(value)) add(field, `must be an absolute path, got '${value}'`);
  };

  if (!Array.isArray(spec.lower)) add('lower', 'must be an array of layer paths, top first');
  else {
    if (spec.lower.length === 0) add('lower', 'needs at least one layer');
    spec.lower.forEach((p, i) => pathField('lower', i, p));
  }
  if (spec.data !== undefined) {
    if (!Array.isArray(spec.data)) add('data', 'must be an array of data-only layer paths');
    else spec.data.forEach((p, i) => pathField('data', i, p));
  }
  const layers = (Array.isArray(spec.lower) ? spec.lower.length : 0) + (Array.isArray(spec.data) ? spec.data.length : 0);
  if (layers > MAX_LAYERS) add('lower', `has ${layers} layers (lower + data); the kernel's limit is ${MAX_LAYERS}`);

  if (spec.upper !== undefined) pathField('upper', undefined, spec.upper);
  if (spec.work !== undefined) pathField('work', undefined, spec.work);
  if (spec.upper !== undefined && spec.work === undefined) add('work', 'is required with upper');
  if (spec.work !== undefined && spec.upper === undefined) add('upper', 'is required with work (work is only used with an upper layer)');
  if (spec.upper === undefined && layers < 2 && layers > 0) {
    add('lower', 'a read-only overlay (no upper) needs at least 2 layers');
  }
  pathField('target', undefined, spec.target);

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

  problems.push(...checkAttributes(spec.attributes ?? {}));
  if (spec.idmap !== undefined) {
    problems.push(...checkIdMap(spec.idmap));
    if (spec.strategy === 'legacy' || spec.strategy === 'lowerdir+') {
      add('strategy', `'${spec.strategy}' cannot mount idmapped layers: they go to the kernel as idmapped clones by fd ('fd', the default where the kernel has it)`);
    }
  }
  return problems;
}

/** The kernel's limit on the lines of a uid_map or gid_map (Linux 4.15+). */
export const MAX_ID_RANGES = 340;
const ID_LIMIT = 2 ** 32 - 1;

/**
 * An idmap's problems: ranges of whole ids in the 32-bit id space, not overlapping inside or
 * outside (the kernel refuses such a map with EINVAL), at most 340 of them; or a user
 * namespace given by an open fd or a pid.
 */
export function checkIdMap(idmap: unknown): SpecProblem[] {
  const problems: SpecProblem[] = [];
  const add = (field: string, problem: string) => problems.push({ field, problem });
  if (typeof idmap !== 'object' || idmap === null) return [{ field: 'idmap', problem: 'must be an object: { uid, gid } ranges, { userns } or { pid }' }];
  const m = idmap as Record<string, unknown>;
  const keys = Object.keys(m);
  const kinds = ['uid', 'userns', 'pid'].filter((k) => k in m);
  if (kinds.length !== 1) return [{ field: 'idmap', problem: `must have exactly one of uid (with gid), userns or pid; got ${keys.length === 0 ? 'none' : keys.join(', ')}` }];
  const allowed = kinds[0] === 'uid' ? ['uid', 'gid'] : kinds;
  for (const k of keys) if (!allowed.includes(k)) add(`idmap.${k}`, kinds[0] === 'uid' ? 'is not an idmap field (uid, gid)' : `does not go with idmap.${kinds[0]}`);
  if (kinds[0] === 'userns') {
    const ns = m.userns;
    const open = typeof ns === 'object' && ns !== null && typeof (ns as { fd?: unknown }).fd === 'number' && (ns as { closed?: unknown }).closed === false;
    if (!open && !(Number.isInteger(ns) && (ns as number) >= 0)) add('idmap.userns', 'must be an open fd handle of a user namespace, or an fd number');
    return problems;
  }
  if (kinds[0] === 'pid') {
    if (!(Number.isInteger(m.pid) && (m.pid as number) > 0)) add('idmap.pid', `must be a process id (a positive integer), got ${show(m.pid)}`);
    return problems;
  }
  for (const which of ['uid', 'gid'] as const) {
    const ranges = m[which];
    if (ranges === undefined && which === 'gid') continue;
    const field = `idmap.${which}`;
    if (!Array.isArray(ranges) || ranges.length === 0) {
      add(field, 'must be a non-empty array of { inside, outside, count } ranges');
      continue;
    }
    if (ranges.length > MAX_ID_RANGES) add(field, `has ${ranges.length} ranges; the kernel takes at most ${MAX_ID_RANGES}`);
    const good: Array<{ inside: number; outside: number; count: number; i: number }> = [];
    ranges.forEach((r: unknown, i) => {
      const at = `${field}[${i}]`;
      if (typeof r !== 'object' || r === null) return add(at, 'must be { inside, outside, count }');
      const { inside, outside, count } = r as Record<string, unknown>;
      for (const k of Object.keys(r)) if (!['inside', 'outside', 'count'].includes(k)) add(`${at}.${k}`, 'is not a range field (inside, outside, count)');
      const whole = (v: unknown, min: number) => Number.isInteger(v) && (v as number) >= min && (v as number) <= ID_LIMIT;
      if (!whole(inside, 0)) return add(`${at}.inside`, `must be an id from 0 to ${ID_LIMIT}, got ${show(inside)}`);
      if (!whole(outside, 0)) return add(`${at}.outside`, `must be an id from 0 to ${ID_LIMIT}, got ${show(outside)}`);
      if (!whole(count, 1)) return add(`${at}.count`, `must be at least 1, got ${show(count)}`);
      const [a, b, c] = [inside as number, outside as number, count as number];
      // The kernel's bound: first + count may not pass 2^32 - 1 ((u32)-1 is no id).
      if (a + c > ID_LIMIT || b + c > ID_LIMIT) return add(`${at}.count`, `runs past the last id (${ID_LIMIT - 1})`);
      good.push({ inside: a, outside: b, count: c, i });
    });
    for (const side of ['inside', 'outside'] as const) {
      // By start; each range against the one reaching furthest so far, so a range inside an
      // earlier long one is named even when a shorter one lies between them.
      const sorted = [...good].sort((x, y) => x[side] - y[side]);
      let far = sorted[0];
      for (const cur of sorted.slice(1)) {
        const end = far![side] + far!.count;
        if (cur[side] < end) add(`${field}[${Math.max(far!.i, cur.i)}]`, `overlaps ${field}[${Math.min(far!.i, cur.i)}] ${side} (ids ${cur[side]}…${Math.min(end, cur[side] + cur.count) - 1})`);
        if (cur[side] + cur.count > end) far = cur;
      }
    }
  }
  return problems;
}

/** Whether a uid_map's text is the initial user namespace's: the identity map of every uid. */
export function isInitialUidMap(uidMap: string): boolean {
  const map = uidMap.trim().split(/\s+/);
  return map.length === 3 && map[0] === '0' && map[1] === '0' && map[2] === '4294967295';
}

/** An idmap's ranges as /proc/PID/uid_map text (the kernel's "inside outside count" lines). */
export function idMapText(ranges: readonly IdRange[]): string {
  return ranges.map((r) => `${r.inside} ${r.outside} ${r.count}\n`).join('');
}

/** The problems of a MountAttributes object (fields `attributes.*`). */
export function checkAttributes(attrs: MountAttributes): SpecProblem[] {
  const problems: SpecProblem[] = [];
  if (typeof attrs !== 'object' || attrs === null) return [{ field: 'attributes', problem: 'must be an object' }];
  for (const [key, value] of Object.entries(attrs)) {
    const allowed = Object.hasOwn(ATTRIBUTE_VALUES, key) ? ATTRIBUTE_VALUES[key as keyof MountAttributes] : undefined;
    if (!allowed) problems.push({ field: `attributes.${key}`, problem: 'is not a mount attribute' });
    else if (value !== undefined && !allowed.includes(value)) {
      problems.push({ field: `attributes.${key}`, problem: `must be one of ${allowed.map(show).join(', ')}; got ${show(value)}` });
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
