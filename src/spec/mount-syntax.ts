/**
 * mount(8)'s overlay syntax as an OverlaySpec: `-o lowerdir=A:B,upperdir=U,workdir=W,ro,...`.
 * The option string is split the way the kernel splits mount(2) data (a backslash hides the
 * next character from the comma splitter), and layer values are unescaped the way overlayfs
 * unescapes them (`\:` is a colon inside a layer path, `\\` a backslash, `::` starts data layers).
 */
import { splitLegacyLowerdir, unescapeBackslashes } from './escape.js';
import type { MountAttributes, OverlayOptions, OverlaySpec } from './types.js';
import { OPTION_KEYS } from './options.js';
import { OverlaySpecError, type SpecProblem } from './errors.js';

/** Splits on commas not escaped by a backslash; escapes are kept for the per-option parsers. */
export function splitMountOptions(data: string): string[] {
  const out: string[] = [];
  let current = '';
  for (let i = 0; i < data.length; i++) {
    const c = data[i]!;
    if (c === '\\' && i + 1 < data.length) {
      current += c + data[++i];
    } else if (c === ',') {
      out.push(current);
      current = '';
    } else current += c;
  }
  out.push(current);
  return out.filter((o) => o.length > 0);
}

// The overlay options, by kernel key, from the one table in spec.ts.
const VALUED: Record<string, { field: keyof OverlayOptions; values: ReadonlySet<string> }> = Object.fromEntries(
  OPTION_KEYS.filter((k) => !k.flag).map((k) => [k.key, { field: k.field, values: new Set(k.values.map(String)) }]),
);
const FLAGS: Record<string, keyof OverlayOptions> = Object.fromEntries(OPTION_KEYS.filter((k) => k.flag).map((k) => [k.key, k.field]));
const ATTR_FLAGS: Record<string, [keyof MountAttributes, boolean]> = {
  ro: ['readOnly', true],
  rw: ['readOnly', false],
  nosuid: ['nosuid', true],
  suid: ['nosuid', false],
  nodev: ['nodev', true],
  dev: ['nodev', false],
  noexec: ['noexec', true],
  exec: ['noexec', false],
  nodiratime: ['nodiratime', true],
  diratime: ['nodiratime', false],
  nosymfollow: ['nosymfollow', true],
  symfollow: ['nosymfollow', false],
};
const ATIME = new Set(['noatime', 'relatime', 'strictatime']);
// mount(8) options that change nothing for an overlay mount.
const IGNORED = new Set(['defaults', 'async', 'auto', 'noauto', 'user', 'nouser', 'nofail', '_netdev']);
const LAYER_KEYS = new Set(['lowerdir', 'lowerdir+', 'datadir+', 'upperdir', 'workdir']);

/** table[key] for the table's own keys only: 'toString', '__proto__' and the like are no options. */
function own<T>(table: Record<string, T>, key: string): T | undefined {
  return Object.hasOwn(table, key) ? table[key] : undefined;
}

/** What mount(8)-style options say: every part of an OverlaySpec but the target. */
export type ParsedMountOptions = Omit<OverlaySpec, 'target' | 'lower'> & { lower?: string[] };

/**
 * An OverlaySpec from mount(8)-style options (several `-o` are joined with ','), a target and
 * an optional source label. Unknown options are refused rather than passed to the kernel.
 */
export function specFromMountOptions(options: readonly string[], target: string, source?: string): OverlaySpec {
  const parsed = parseMountOptions(options);
  if (parsed.lower === undefined) throw new OverlaySpecError([{ field: '-o lowerdir', problem: 'is required (lowerdir=A:B, top layer first)' }]);
  const spec: OverlaySpec = { ...parsed, lower: parsed.lower, target };
  if (source !== undefined && source !== 'overlay') spec.source = source;
  return spec;
}

/** Parses mount(8)-style options; layers are optional here (the CLI's --lower form adds them). */
export function parseMountOptions(options: readonly string[]): ParsedMountOptions {
  const problems: SpecProblem[] = [];
  let lower: string[] | undefined;
  let data: string[] = [];
  const plusLower: string[] = [];
  const plusData: string[] = [];
  let upper: string | undefined;
  let work: string | undefined;
  const o: OverlayOptions = {};
  const a: MountAttributes = {};
  for (const opt of options.flatMap(splitMountOptions)) {
    const eq = opt.indexOf('=');
    const key = eq < 0 ? opt : opt.slice(0, eq);
    const value = eq < 0 ? undefined : opt.slice(eq + 1);
    const valued = own(VALUED, key);
    const flag = own(FLAGS, key);
    const attr = own(ATTR_FLAGS, key);
    if (key === 'lowerdir' && value !== undefined) {
      // As the kernel: lowerdir= replaces every layer given before it.
      ({ lower, data } = splitLegacyLowerdir(value));
      // An empty entry (`/a:`, `:/a`, `/a:::/b`) would be the current directory to a path
      // resolver; the kernel refuses each of these forms. Name it rather than mount $PWD.
      const empty = [...lower.map((p, i) => [p, `lower[${i}]`] as const), ...data.map((p, i) => [p, `data[${i}]`] as const)].filter(([p]) => p === '');
      for (const [, which] of empty) problems.push({ field: '-o lowerdir', problem: `has an empty layer path (${which}) in '${value}'` });
      plusLower.length = 0;
      plusData.length = 0;
    } else if ((key === 'lowerdir+' || key === 'datadir+') && value !== undefined) {
      if (lower !== undefined) problems.push({ field: `-o ${key}`, problem: 'cannot follow lowerdir= (the kernel refuses that order)' });
      else if (key === 'lowerdir+' && plusData.length > 0) {
        problems.push({ field: '-o lowerdir+', problem: 'cannot follow datadir+ (data-only layers are the lowest; the kernel refuses that order)' });
      } else if (value === '') problems.push({ field: `-o ${key}`, problem: 'must not be empty' });
      else (key === 'lowerdir+' ? plusLower : plusData).push(value);
    }
    else if ((key === 'upperdir' || key === 'workdir') && value === '') problems.push({ field: `-o ${key}`, problem: 'must not be empty' });
    else if (key === 'upperdir' && value !== undefined) upper = unescapeBackslashes(value);
    else if (key === 'workdir' && value !== undefined) work = unescapeBackslashes(value);
    else if (valued && value !== undefined) {
      const { field, values } = valued;
      if (!values.has(value)) problems.push({ field: `-o ${key}`, problem: `must be one of ${[...values].join(', ')}; got '${value}'` });
      else (o as Record<string, unknown>)[field] = value;
    } else if (flag && value === undefined) (o as Record<string, unknown>)[flag] = true;
    else if (attr && value === undefined) {
      const [field, v] = attr;
      (a as Record<string, unknown>)[field] = v;
    } else if (ATIME.has(key) && value === undefined) a.atime = key as NonNullable<MountAttributes['atime']>;
    // mount(8)'s atime clears MS_NOATIME only: back to the kernel's default (relatime).
    else if (key === 'atime' && value === undefined) {
      if (a.atime === 'noatime') delete a.atime;
    } else if (IGNORED.has(key)) continue;
    else if (value === undefined && (valued || LAYER_KEYS.has(key))) {
      problems.push({ field: `-o ${key}`, problem: valued ? `needs a value: one of ${[...valued.values].join(', ')}` : 'needs a value (a path)' });
    } else if (value !== undefined && (flag || attr || ATIME.has(key) || key === 'atime')) {
      problems.push({ field: `-o ${opt}`, problem: 'takes no value' });
    } else problems.push({ field: `-o ${opt}`, problem: 'is not an overlay or mount option' });
  }
  if (problems.length > 0) throw new OverlaySpecError(problems);
  const parsed: ParsedMountOptions = {};
  const layers = lower ?? (plusLower.length > 0 ? plusLower : undefined);
  if (lower === undefined) data = plusData;
  if (layers !== undefined) parsed.lower = layers;
  if (data.length > 0) parsed.data = data;
  if (upper !== undefined) parsed.upper = upper;
  if (work !== undefined) parsed.work = work;
  if (Object.keys(o).length > 0) parsed.options = o;
  if (Object.keys(a).length > 0) parsed.attributes = a;
  return parsed;
}
