/**
 * plan(spec, capabilities): pure. Chooses the strategy and returns the exact syscall steps,
 * which execution runs in one native call (two when layers are opened as fds first) and which a
 * caller can print as a dry run with formatPlan().
 */
import { sep } from 'node:path';
import { AT, MOUNT_ATTR, MOVE_MOUNT, MS, O, OPEN_TREE, STATX } from '../sys/constants.js';
import { escapeBackslashes, escapeLegacyPath } from '../spec/escape.js';
import type { Capabilities, UntestedFeature } from './probe.js';
import { configString, idmappedClones, mountIdSteps, newApiMount, openAndCheck, usernsOf, type DataPiece, type PlannedStep } from './sequences.js';
import { checkSpecShape, specPaths } from '../spec/shape.js';
import { OPTION_KEYS } from '../spec/options.js';
import { OverlaySpecError } from '../spec/errors.js';
import { type MountAttributes, type OverlayOptions, type OverlaySpec, type Strategy } from '../spec/types.js';

/** fsconfig(FSCONFIG_SET_STRING) copies at most 255 bytes of a value (strndup_user(_, 256)). */
export const FSCONFIG_VALUE_MAX = 255;

export type { DataPiece, PlannedStep };

export interface MountPlan {
  strategy: Strategy;
  /** Why this strategy (and fallback) was chosen. */
  reason: string;
  steps: PlannedStep[];
  /**
   * Steps [0, openPhase) open the spec's directories and stat the fds; execution runs them
   * first, checks each fd is the directory that was validated, then runs the rest with them.
   */
  openPhase: number;
  /** Spec fields given to the kernel as fds: mountinfo cannot show their paths. */
  byFd: string[];
  /** Option data length for mount(2), in bytes (legacy only). */
  dataBytes?: number;
  /** Options the kernel will ignore or change, said up front. */
  warnings: string[];
  /** The spec the plan was made for (after automatic options such as userxattr). */
  spec: OverlaySpec;
}

interface OptionEntry {
  key: string;
  value: string | null;
}

/** Overlay options in the kernel's spelling, in the order mountinfo shows them. */
export function overlayOptionEntries(o: OverlayOptions): OptionEntry[] {
  const out: OptionEntry[] = [];
  for (const { field, key, flag } of OPTION_KEYS) {
    const value = o[field];
    // volatile is fsync=volatile: with an explicit fsync= only that is sent.
    if (field === 'volatile' && o.fsync !== undefined) continue;
    if (flag ? value === true : value !== undefined) out.push({ key, value: flag ? null : String(value) });
  }
  return out;
}

/** Each mount attribute as a MOUNT_ATTR_* bit (new API) and an MS_* flag (mount(2)). */
const ATTRIBUTE_BITS: ReadonlyArray<[(a: MountAttributes) => boolean, number, number]> = [
  [(a) => a.readOnly === true, MOUNT_ATTR.RDONLY, MS.RDONLY],
  [(a) => a.nosuid === true, MOUNT_ATTR.NOSUID, MS.NOSUID],
  [(a) => a.nodev === true, MOUNT_ATTR.NODEV, MS.NODEV],
  [(a) => a.noexec === true, MOUNT_ATTR.NOEXEC, MS.NOEXEC],
  [(a) => a.atime === 'noatime', MOUNT_ATTR.NOATIME, MS.NOATIME],
  [(a) => a.atime === 'strictatime', MOUNT_ATTR.STRICTATIME, MS.STRICTATIME],
  [(a) => a.nodiratime === true, MOUNT_ATTR.NODIRATIME, MS.NODIRATIME],
  [(a) => a.nosymfollow === true, MOUNT_ATTR.NOSYMFOLLOW, MS.NOSYMFOLLOW],
];

/** MOUNT_ATTR_* bits for fsmount(2). */
export function mountAttrs(spec: OverlaySpec): number {
  const a = spec.attributes ?? {};
  return ATTRIBUTE_BITS.reduce((bits, [set, attr]) => (set(a) ? bits | attr : bits), 0);
}

/** MS_* flags for mount(2). */
export function msFlags(spec: OverlaySpec): number {
  const a = spec.attributes ?? {};
  return ATTRIBUTE_BITS.reduce((bits, [set, , ms]) => (set(a) ? bits | ms : bits), 0);
}

const bytes = (s: string): number => Buffer.byteLength(s);

function fail(field: string, problem: string): never {
  throw new OverlaySpecError([{ field, problem }]);
}

/** Each feature the probe may leave untested, in words. */
const FEATURE_NAMES: Readonly<Record<UntestedFeature, string>> = {
  overlay: 'the overlay filesystem',
  fsContextParser: "overlay's fs_context parser",
  lowerdirPlus: 'lowerdir+',
  datadirPlus: 'datadir+',
  layersByFd: 'layers by fd (FSCONFIG_SET_FD)',
  createExcl: 'FSCONFIG_CMD_CREATE_EXCL',
  userxattr: 'userxattr',
  volatile: 'volatile',
  fsync: 'fsync=',
  uuidModes: 'uuid= values',
  verity: 'verity',
  overrideCreds: 'override_creds',
};

/** Every value of an option the kernel may take (from the option table). */
const valuesOf = (field: 'fsync' | 'uuid'): string[] => OPTION_KEYS.find((k) => k.field === field)!.values.map(String);

/**
 * The report with every feature the probe could not test taken as present: a plan must not
 * refuse or settle for less because of what was never asked (a probe without CAP_SYS_ADMIN
 * cannot ask anything). One warning per reason names what was assumed.
 */
function assumeUntested(caps: Capabilities, warnings: string[]): Capabilities {
  const entries = Object.entries(caps.unknown ?? {}) as Array<[UntestedFeature, string]>;
  if (entries.length === 0) return caps;
  const assumed: Capabilities = { ...caps };
  const byReason = new Map<string, string[]>();
  for (const [feature, reason] of entries) {
    if (feature === 'uuidModes') assumed.uuidModes = valuesOf('uuid');
    else if (feature === 'fsync') {
      assumed.fsync = true;
      assumed.fsyncModes = valuesOf('fsync');
    } else assumed[feature] = true;
    byReason.set(reason, [...(byReason.get(reason) ?? []), FEATURE_NAMES[feature]]);
  }
  for (const [reason, names] of byReason) warnings.push(`assumed this kernel has ${names.join(', ')}: the probe could not test them (${reason})`);
  return assumed;
}

/** Options the kernel changes or ignores, and what a user namespace forces. */
function adjustForKernel(spec: OverlaySpec, caps: Capabilities, warnings: string[]): OverlaySpec {
  const o: OverlayOptions = { ...(spec.options ?? {}) };
  if (caps.userNamespace && o.userxattr === undefined && caps.userxattr) {
    o.userxattr = true;
    warnings.push('added userxattr: in a user namespace the trusted.overlay.* xattrs are not available');
  }
  if (caps.userNamespace && o.userxattr === false) {
    const trusted: string[] = [];
    if (o.redirectDir !== undefined && o.redirectDir !== 'nofollow') trusted.push(`redirect_dir=${o.redirectDir}`);
    if (o.metacopy === 'on') trusted.push('metacopy=on');
    if (o.verity !== undefined && o.verity !== 'off') trusted.push(`verity=${o.verity}`);
    if ((spec.data ?? []).length > 0) trusted.push('data-only layers');
    if (trusted.length > 0) {
      fail('options.userxattr', `${trusted.join(', ')} need trusted.overlay.* xattrs, which a user namespace cannot use; drop them or set userxattr`);
    }
    // With an upper the kernel mounts, then cannot mark a directory opaque: removing a lower
    // directory fails EIO. Without an upper nothing is ever marked, so false is harmless.
    if (spec.upper !== undefined) {
      fail('options.userxattr', 'false in a user namespace with an upper layer: trusted.overlay.* xattrs are out of reach here, so the kernel mounts but cannot mark a directory opaque (removing a lower directory fails EIO); leave userxattr unset or true');
    }
  }
  const hasUpper = spec.upper !== undefined;
  if (!hasUpper) {
    if (o.index === 'on') warnings.push('index=on is ignored without an upper layer');
    if (o.volatile || o.fsync === 'volatile') warnings.push('volatile is ignored without an upper layer');
    if (o.uuid === 'on') warnings.push('uuid=on becomes uuid=null without an upper layer');
  }
  const checked = { ...spec, options: o };
  // Checked again only when an option was added here (it may conflict with the others).
  if (o.userxattr !== spec.options?.userxattr) {
    const problems = checkSpecShape(checked);
    if (problems.length > 0) throw new OverlaySpecError(problems);
  }
  return checked;
}

/** Which option keys this kernel lacks, as a spec problem. */
function checkKernelSupport(spec: OverlaySpec, caps: Capabilities): void {
  const o = spec.options ?? {};
  const missing: string[] = [];
  if (o.userxattr && !caps.userxattr) missing.push('userxattr (Linux 5.11)');
  if (o.volatile && !caps.volatile) missing.push('volatile (Linux 5.10)');
  if (o.fsync !== undefined && !caps.fsyncModes.includes(o.fsync)) missing.push(`fsync=${o.fsync}`);
  if (o.uuid !== undefined && caps.uuidModes.length > 0 && !caps.uuidModes.includes(o.uuid)) missing.push(`uuid=${o.uuid}`);
  if (o.verity !== undefined && !caps.verity) missing.push('verity (Linux 6.5)');
  if (o.overrideCreds && !caps.overrideCreds) missing.push('override_creds (Linux 6.15)');
  if (missing.length > 0) fail('options', `this kernel (${caps.kernel}) does not have ${missing.join(', ')}`);
}

function chooseStrategy(spec: OverlaySpec, caps: Capabilities): { strategy: Strategy; reason: string } {
  const forced = spec.strategy;
  const api = caps.newMountApi && caps.fsContextParser;
  if ((forced === 'lowerdir+' || forced === 'fd') && (spec.data ?? []).length > 0 && !caps.datadirPlus) {
    fail('strategy', `data-only layers need datadir+ with the '${forced}' strategy; this kernel (${caps.kernel}) has not: use 'legacy'`);
  }
  if (spec.idmap !== undefined) {
    // Idmapped clones go to the kernel by fd: nothing else can name a detached mount.
    if (!api || !caps.layersByFd) fail('idmap', `idmapped layers go to the kernel as clones by fd (FSCONFIG_SET_FD, Linux 6.13); this kernel (${caps.kernel}) has not`);
    return { strategy: 'fd', reason: 'every lower layer cloned (open_tree), idmapped (mount_setattr MOUNT_ATTR_IDMAP) and passed by fd; upper and work by fd as they are' };
  }
  if (forced === 'fd') {
    if (!api || !caps.layersByFd) fail('strategy', `'fd' needs FSCONFIG_SET_FD for overlay layers (Linux 6.13); this kernel (${caps.kernel}) has not`);
    return { strategy: 'fd', reason: 'forced: every layer, upper and work passed as an O_PATH fd' };
  }
  if (forced === 'lowerdir+') {
    if (!api || !caps.lowerdirPlus) fail('strategy', `'lowerdir+' needs the new mount API with lowerdir+ (Linux 6.7); this kernel (${caps.kernel}) has not`);
    return { strategy: 'lowerdir+', reason: 'forced: one fsconfig lowerdir+ per layer' };
  }
  if (forced === 'legacy') {
    if (!caps.overlay) fail('strategy', 'the overlay filesystem is not available');
    return { strategy: 'legacy', reason: 'forced: mount(2) with an option string' };
  }
  if ((spec.data ?? []).length > 0 && api && caps.lowerdirPlus && !caps.datadirPlus) {
    return { strategy: 'legacy', reason: "this kernel has lowerdir+ but not datadir+: data-only layers go as '::' in mount(2) data" };
  }
  if (api && caps.layersByFd && ((spec.data ?? []).length === 0 || caps.datadirPlus)) {
    return {
      strategy: 'fd',
      reason: 'each directory is opened, checked to be the one validated and passed by fd: a path swapped after the checks is refused, never mounted',
    };
  }
  if (api && caps.lowerdirPlus) {
    return { strategy: 'lowerdir+', reason: 'the kernel takes one layer per fsconfig call: no escaping, no page limit (no layers by fd: before 6.13)' };
  }
  return { strategy: 'legacy', reason: caps.newMountApi ? 'this kernel has no lowerdir+ (before 6.7)' : 'this kernel has no new mount API' };
}

/**
 * Plans a mount; throws OverlaySpecError when the spec or this kernel cannot do it. A feature
 * the report lists as `unknown` is planned as present, with a warning that says so.
 */
export function plan(input: OverlaySpec, caps: Capabilities): MountPlan {
  const problems = checkSpecShape(input);
  if (problems.length > 0) throw new OverlaySpecError(problems);
  return planShaped(input, caps);
}

/** plan() of a spec whose shape was checked already (mountOverlay validated it first). */
export function planShaped(input: OverlaySpec, caps: Capabilities): MountPlan {
  const warnings: string[] = [];
  caps = assumeUntested(caps, warnings);
  const spec = adjustForKernel(input, caps, warnings);
  checkKernelSupport(spec, caps);
  const { strategy, reason } = chooseStrategy(spec, caps);
  return strategy === 'legacy' ? planLegacy(spec, caps, reason, warnings) : planNewApi(spec, caps, strategy, reason, warnings);
}

function planNewApi(spec: OverlaySpec, caps: Capabilities, strategy: Strategy, reason: string, warnings: string[]): MountPlan {
  const steps: PlannedStep[] = [];
  const byFd: string[] = [];
  const paths = specPaths(spec).filter((p) => p.role !== 'target');
  const keyOf = { lower: 'lowerdir+', data: 'datadir+', upper: 'upperdir', work: 'workdir' } as const;
  // upperdir/workdir strings are unescaped by the kernel; lowerdir+/datadir+ are taken raw.
  const valueOf = (role: keyof typeof keyOf, path: string) => (role === 'upper' || role === 'work' ? escapeBackslashes(path) : path);

  const viaFd = new Set<string>();
  for (const p of paths) {
    const role = p.role as keyof typeof keyOf;
    if (strategy === 'fd' || bytes(valueOf(role, p.path)) > FSCONFIG_VALUE_MAX) viaFd.add(p.field);
  }
  if (strategy === 'lowerdir+' && viaFd.size > 0 && !caps.layersByFd) {
    const first = paths.find((p) => viaFd.has(p.field))!;
    const n = bytes(valueOf(first.role as keyof typeof keyOf, first.path));
    const how = n !== bytes(first.path) ? ' with its backslashes doubled' : '';
    fail(first.field, `is ${n} bytes${how}; fsconfig takes at most ${FSCONFIG_VALUE_MAX} and this kernel cannot take layers by fd (Linux 6.13)`);
  }
  const layers = (p: { role: string }) => p.role === 'lower' || p.role === 'data';
  const fdStep =
    spec.idmap !== undefined
      ? new Map([
          ...idmappedClones(steps, paths.filter(layers), usernsOf(steps, spec.idmap)),
          ...openAndCheck(
            steps,
            paths.filter((p) => !layers(p)),
            false,
          ),
        ])
      : openAndCheck(
          steps,
          paths.filter((p) => viaFd.has(p.field)),
          false,
        );
  byFd.push(...fdStep.keys());
  // One batch: the fds are checked (expectFile) by the same native call that mounts them.
  const openPhase = 0;

  const config = paths.map((p) => {
    const role = p.role as keyof typeof keyOf;
    const key = keyOf[role];
    const stage = `fsconfig ${key} '${p.path}'`;
    const fdIndex = fdStep.get(p.field);
    return (fs: number): PlannedStep =>
      fdIndex !== undefined
        ? { stage, field: p.field, step: { op: 'fsconfigSetFd', fs, key, fd: fdIndex } }
        : { stage, field: p.field, step: { op: 'fsconfigSetString', fs, key, value: valueOf(role, p.path) } };
  });
  for (const { key, value } of overlayOptionEntries(spec.options ?? {})) config.push(configString(key, value));
  // Read-only as mount(8) means it: the superblock too, not only this mount (a bind of it
  // remounted rw could write the upper otherwise). mount(2)'s MS_RDONLY does both.
  if (spec.attributes?.readOnly === true) config.push(configString('ro', null));
  // Without a source the new API shows 'none' in mountinfo; mount(8) users expect 'overlay'.
  config.push(configString('source', spec.source ?? 'overlay', 'fsconfig source'));
  newApiMount(steps, 'overlay', config, { attrs: mountAttrs(spec), target: spec.target, exclusive: caps.createExcl });
  steps.push(...mountIdSteps(spec.target, caps.mountIdUnique));
  const why = byFd.length > 0 && strategy === 'lowerdir+' ? `${reason}; ${byFd.join(', ')} by fd (over ${FSCONFIG_VALUE_MAX} bytes)` : reason;
  return { strategy, reason: why, steps, openPhase, byFd, warnings, spec };
}

/** The deepest directory containing every path (by path components, not string prefix). */
export function commonParent(paths: readonly string[]): string {
  const split = paths.map((p) => p.split(sep).filter(Boolean));
  const first = split[0] ?? [];
  let n = 0;
  while (split.every((parts) => parts.length > n + 1 && parts[n] === first[n])) n++;
  return sep + first.slice(0, n).join(sep);
}

/** `,upperdir=…,workdir=…` of mount(2) data: absolute and escaped, whatever names the layers. */
function legacyUpperWork(spec: OverlaySpec): string {
  return spec.upper === undefined ? '' : `,upperdir=${escapeLegacyPath(spec.upper)},workdir=${escapeLegacyPath(spec.work!)}`;
}

/**
 * The mount(2) data string. `name` turns each lower and data layer's path into what the data
 * should say. upperdir and workdir are always absolute: another process's in-use check reads
 * them from mountinfo, where a path relative to our thread's cwd or an fd number of ours names
 * nothing (and it would mount the same upper beside this overlay).
 */
function legacyData(spec: OverlaySpec, name: (field: string, path: string) => DataPiece): DataPiece[] {
  const out: DataPiece[] = [];
  const push = (...pieces: DataPiece[]) => {
    for (const p of pieces) {
      const last = out[out.length - 1];
      if (typeof p === 'string' && typeof last === 'string') out[out.length - 1] = last + p;
      else out.push(p);
    }
  };
  push('lowerdir=');
  spec.lower.forEach((p, i) => push(i > 0 ? ':' : '', name(`lower[${i}]`, p)));
  (spec.data ?? []).forEach((p, i) => push('::', name(`data[${i}]`, p)));
  push(legacyUpperWork(spec));
  for (const { key, value } of overlayOptionEntries(spec.options ?? {})) push(value === null ? `,${key}` : `,${key}=${value}`);
  return out;
}

/**
 * Bytes of data with fd numbers in it, estimated: the batch opens the lowest free fds, so with
 * fewer than 1024 fds already open each number has at most the digits of 1024 + the count.
 * Execution checks the real length once the numbers are known.
 */
function piecesLength(pieces: DataPiece[]): number {
  const fds = pieces.filter((p) => typeof p !== 'string').length;
  const digits = String(1024 + fds).length;
  return pieces.reduce((n, p) => n + (typeof p === 'string' ? bytes(p) : digits), 0);
}

function planLegacy(spec: OverlaySpec, caps: Capabilities, reason: string, warnings: string[]): MountPlan {
  // The kernel copies one page and forces its last byte to NUL: longer data is cut silently.
  const limit = caps.pageSize - 1;
  const source = spec.source ?? 'overlay';
  const flags = msFlags(spec);
  if (spec.options?.overrideCreds) fail('options.overrideCreds', 'override_creds needs the new mount API (the legacy strategy cannot pass it)');

  const absolute = legacyData(spec, (_f, p) => escapeLegacyPath(p));
  const absLen = piecesLength(absolute);
  if (absLen <= limit) {
    const data = absolute.join('');
    return {
      strategy: 'legacy',
      reason,
      steps: [{ stage: 'mount', step: { op: 'mount', source, target: spec.target, fstype: 'overlay', flags, data } }, ...mountIdSteps(spec.target, caps.mountIdUnique)],
      openPhase: 0,
      byFd: [],
      dataBytes: absLen,
      warnings,
      spec,
    };
  }

  // Relative to the layers' common parent, from a thread whose cwd is that directory.
  const layerPaths = [...spec.lower, ...(spec.data ?? [])];
  const base = commonParent(layerPaths);
  // By path components, as commonParent() found base: path.relative() collapses 'link/..'
  // lexically, which names another directory when link is a symlink.
  const baseParts = base.split(sep).filter(Boolean);
  const rel = (p: string) => {
    const parts = p.split(sep).filter(Boolean);
    if (!baseParts.every((c, i) => parts[i] === c)) return p;
    return parts.length === baseParts.length ? '.' : parts.slice(baseParts.length).join(sep);
  };
  const relPieces = legacyData(spec, (_f, p) => escapeLegacyPath(rel(p)));
  const relLen = piecesLength(relPieces);
  // The reasons below say that upper and work were left absolute, and why.
  const upperWork = legacyUpperWork(spec);
  const absoluteRw = upperWork === '' ? '' : ' (upper and work stay absolute, for other processes\' in-use checks)';
  if (relLen <= limit) {
    const data = relPieces.join('');
    return {
      strategy: 'legacy',
      reason: `${reason}; ${absLen} bytes of absolute paths exceed one page, so layers are given relative to ${base}${absoluteRw}`,
      steps: [
        { stage: `open '${base}'`, step: { op: 'open', path: base, flags: O.PATH | O.DIRECTORY } },
        { stage: 'mount', step: { op: 'mount', source, target: spec.target, fstype: 'overlay', flags, data, cwd: 0 } },
        { stage: 'close', step: { op: 'close', fd: 0 } },
        ...mountIdSteps(spec.target, caps.mountIdUnique),
      ],
      openPhase: 0,
      byFd: [],
      dataBytes: relLen,
      warnings,
      spec,
    };
  }

  // Every lower and data layer opened as an fd and named by its number, from a cwd of
  // /proc/self/fd; upper and work as absolute paths (legacyData).
  const steps: PlannedStep[] = [];
  const fdStep = openAndCheck(
    steps,
    specPaths(spec).filter((p) => p.role === 'lower' || p.role === 'data'),
    true,
  );
  const openPhase = steps.length;
  const procFd = steps.length;
  steps.push({ stage: "open '/proc/self/fd'", step: { op: 'open', path: '/proc/self/fd', flags: O.PATH | O.DIRECTORY } });
  const pieces = legacyData(spec, (field) => ({ fdOf: fdStep.get(field)! }));
  const fdLen = piecesLength(pieces);
  if (fdLen > limit) {
    const rw =
      upperWork === ''
        ? ''
        : ` (${bytes(upperWork)} of them upperdir= and workdir=, which stay absolute paths: another process's in-use check reads them from mountinfo)`;
    fail(
      'lower',
      `even with every layer named by fd number the mount(2) data would be about ${fdLen} bytes${rw}, over one page (${caps.pageSize}); ` +
        (caps.lowerdirPlus ? "use the 'lowerdir+' or 'fd' strategy" : 'this kernel has no lowerdir+ (6.7) to take layers one by one'),
    );
  }
  steps.push({
    stage: 'mount',
    dataPieces: pieces,
    step: { op: 'mount', source, target: spec.target, fstype: 'overlay', flags, data: '', cwd: procFd },
  });
  steps.push({ stage: 'close', step: { op: 'close', fd: procFd } });
  steps.push(...mountIdSteps(spec.target, caps.mountIdUnique));
  return {
    strategy: 'legacy',
    reason: `${reason}; even relative paths (${relLen} bytes) exceed one page, so every layer is opened and named by fd number from /proc/self/fd${absoluteRw}`,
    steps,
    openPhase,
    byFd: [...fdStep.keys()],
    dataBytes: fdLen,
    warnings,
    spec,
  };
}

function names(table: Record<string, number>, prefix: string, value: number): string {
  if (value === 0) return '0';
  const out: string[] = [];
  let rest = value;
  for (const [name, bit] of Object.entries(table)) {
    if (bit !== 0 && !name.startsWith('_') && (rest & bit) === bit) {
      out.push(prefix + name);
      rest &= ~bit;
    }
  }
  if (rest !== 0) out.push(`0x${rest.toString(16)}`);
  return out.join('|');
}

// A Buffer (a name that is not UTF-8) shows as its bytes decoded, U+FFFD where they are not UTF-8.
const q = (s: string | Buffer) => JSON.stringify(typeof s === 'string' ? s : s.toString('utf8'));

/** One step as C, with fds named by the step that opened them (fd#N). */
export function formatStep(step: PlannedStep, index: number): string {
  const s = step.step;
  const fd = (v: unknown) => (typeof v === 'number' ? `fd#${v}` : v === undefined || v === null ? 'AT_FDCWD' : 'fd');
  const made = ` = fd#${index}`;
  switch (s.op) {
    case 'fsopen':
      return `fsopen(${q(s.fsname)}, FSOPEN_CLOEXEC)${made}`;
    case 'open':
      return `open(${q(s.path)}, ${names(O, 'O_', (s.flags ?? 0) | O.CLOEXEC)})${made}`;
    case 'expectFile':
      return `statx(${fd(s.fd)}, "", AT_EMPTY_PATH, STATX_INO)  # ESTALE unless it is the validated ${step.field}`;
    case 'statx':
      return s.path === ''
        ? `statx(${fd(s.dirfd)}, "", AT_EMPTY_PATH, ${names(STATX, 'STATX_', s.mask ?? 0)})  # ${step.field} (made just now: nothing to compare)`
        : `statx(AT_FDCWD, ${q(s.path)}, ${names(AT, 'AT_', s.flags ?? 0)}, ${names(STATX, 'STATX_', s.mask ?? 0)})  # mount id`;
    case 'fsconfigSetString':
      return `fsconfig(${fd(s.fs)}, FSCONFIG_SET_STRING, ${q(s.key)}, ${q(s.value)}, 0)`;
    case 'fsconfigSetFd':
      return `fsconfig(${fd(s.fs)}, FSCONFIG_SET_FD, ${q(s.key)}, NULL, ${fd(s.fd)})`;
    case 'fsconfigSetFlag':
      return `fsconfig(${fd(s.fs)}, FSCONFIG_SET_FLAG, ${q(s.key)}, NULL, 0)`;
    case 'fsconfigCreate':
      return `fsconfig(${fd(s.fs)}, FSCONFIG_CMD_CREATE, NULL, NULL, 0)`;
    case 'fsconfigCreateExcl':
      return `fsconfig(${fd(s.fs)}, FSCONFIG_CMD_CREATE_EXCL, NULL, NULL, 0)`;
    case 'fsmount':
      return `fsmount(${fd(s.fs)}, FSMOUNT_CLOEXEC, ${names(MOUNT_ATTR, 'MOUNT_ATTR_', s.attrs ?? 0)})${made}`;
    case 'moveMount':
      return `move_mount(${fd(s.from)}, ${q(s.fromPath)}, AT_FDCWD, ${q(s.toPath ?? '')}, ${names(MOVE_MOUNT, 'MOVE_MOUNT_', s.flags ?? 0)})`;
    case 'close':
      return `close(fd#${s.fd})`;
    case 'userns': {
      const lines = (m: string | Buffer) => q(m).slice(1, -1).replace(/\\n$/, '').replace(/\\n/g, ', ');
      return `clone(CLONE_NEWUSER) child, uid_map "${lines(s.uidMap)}", gid_map "${lines(s.gidMap)}", open /proc/PID/ns/user, reap the child${made}`;
    }
    case 'openTree':
      return `open_tree(${fd(s.dirfd)}, ${q(s.path)}, ${names(OPEN_TREE, 'OPEN_TREE_', (s.flags ?? 0) | OPEN_TREE.CLOEXEC)})${made}`;
    case 'mountSetattr':
      return `mount_setattr(${fd(s.dirfd)}, ${q(s.path)}, ${names(AT, 'AT_', s.flags ?? 0)}, {attr_set: ${names(MOUNT_ATTR, 'MOUNT_ATTR_', s.attrSet ?? 0)}, userns_fd: ${fd(s.userns)}})`;
    case 'mount': {
      const data = step.dataPieces
        ? step.dataPieces.map((p) => (typeof p === 'string' ? p : `<fd#${p.fdOf}>`)).join('')
        : (s.data ?? '');
      const where = s.cwd !== undefined ? `  # on a thread with cwd = ${fd(s.cwd)}` : '';
      return `mount(${q(s.source ?? '')}, ${q(s.target)}, ${q(s.fstype ?? '')}, ${names(MS, 'MS_', s.flags ?? 0)}, ${q(data)})${where}`;
    }
    default:
      return JSON.stringify(s);
  }
}

/** The plan as a readable dry run: strategy, reason, warnings, then one numbered line per syscall. */
export function formatPlan(p: MountPlan): string {
  const lines = [`strategy: ${p.strategy} (${p.reason})`];
  if (p.dataBytes !== undefined) {
    const estimated = p.steps.some((s) => s.dataPieces !== undefined);
    lines.push(`mount(2) data: ${estimated ? `about ${p.dataBytes} bytes (fd numbers are known once opened)` : `${p.dataBytes} bytes`}`);
  }
  // mount(2) data names the fds by number, and mountinfo shows those; fsconfig SET_FD shows paths.
  if (p.byFd.length > 0) lines.push(`by fd${p.strategy === 'legacy' ? ' (mountinfo shows the fd numbers, not these paths)' : ''}: ${p.byFd.join(', ')}`);
  for (const w of p.warnings) lines.push(`warning: ${w}`);
  p.steps.forEach((step, i) => {
    if (p.openPhase > 0 && i === p.openPhase) lines.push('-- the numbers of the fds above go into the mount data --');
    lines.push(`${String(i).padStart(3)}  ${formatStep(step, i)}`);
  });
  return lines.join('\n');
}
