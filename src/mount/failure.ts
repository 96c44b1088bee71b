/**
 * A failed mount, told as Node's fs tells a failed syscall, plus where it failed (`stage`), with
 * which strategy, what the kernel said (its fs-context log and its kernel log) and, when the
 * cause is known, a hint. The kernel's words go in the message once, when the error is made.
 */
import { createSystemError, isSystemError, rawErrorOf, type SystemError } from '../sys/errors.js';
import type { Task } from '../sys/io.js';
import { escapeBackslashes, escapeLegacyPath } from '../spec/escape.js';
import { specPaths } from '../spec/shape.js';
import type { OverlaySpec, Strategy } from '../spec/types.js';
import { readKernelLog, type KernelLogCursor } from './kmsg.js';

/** A failed mount: Node's fs error shape plus where and why. */
export interface OverlayMountError extends SystemError {
  /** The step that failed: `fsconfig lowerdir+ '/x'`, `create`, `fsmount`, `move_mount`, `mount`. */
  stage: string;
  strategy: Strategy;
  /**
   * Every `overlayfs:`/`overlay:` line the kernel logged during the call (where /dev/kmsg is
   * readable), as seen: the log is shared, so some may be another overlay's. Only those naming
   * one of this mount's paths are in the message and may give the hint.
   */
  kernelLog: string[];
  /** What usually causes this, when known. */
  hint?: string;
}

/** True for a failed syscall of a mount (a SystemError with `stage` and `strategy`). */
export function isMountError(value: unknown): value is OverlayMountError {
  return isSystemError(value) && typeof (value as Partial<OverlayMountError>).stage === 'string' && typeof (value as Partial<OverlayMountError>).strategy === 'string';
}

// With index=on the kernel checks that upper (its origin xattr) and work/index were made with
// these lower layers (ESTALE otherwise), and refuses an upper or work another overlay uses
// (EBUSY; with index=off it only warns). Both say so in the kernel log only, naming no path.
const INDEX_OTHER_LOWERS =
  "index=on recorded other lower layers for this upper (it checks the upper's origin and the work dir's index/): mount with those lowers, or with options.index 'off'";
const INDEX_SHARED =
  "another overlay uses this upper or work dir, which index=on refuses to share: unmount that overlay first (or mount with options.index 'off', accepting undefined behaviour)";

/** Hints from the kernel's words: only for words of this mount (see mountError). */
const HINTS: Array<[RegExp, string]> = [
  [/must reside under the same mount/, 'work must be on the same mount as upper (a bind mount of the same filesystem is a different mount)'],
  [/must be separate subtrees/, 'work must not be inside upper, nor upper inside work'],
  [/not supported as upperdir|not supported over overlayfs/, 'the upper is on an overlay (or a filesystem overlay cannot write to): use a real filesystem such as ext4, xfs or tmpfs for upper and work'],
  [/incompat feature 'volatile'/, 'an earlier volatile mount left work/work/incompat/volatile: if it ended without a crash, mount again with clearVolatile: true'],
  [/needs to support d_type/, 'the upper filesystem has no d_type (xfs made with ftype=0?): whiteouts would show as files'],
  [/requires permission to access trusted xattrs/, 'in a user namespace trusted.overlay.* xattrs are not available: use the userxattr option'],
  [/failed to verify (upper root|index dir)/, INDEX_OTHER_LOWERS],
  [/in-use as upperdir\/workdir/, INDEX_SHARED],
  [/filesystem on .* is read-only/, 'upper and work must be on a writable filesystem, on a mount that is not read-only'],
  [/too many lower directories/, 'the kernel takes at most 500 lower layers'],
  [/conflicting (lowerdir|upperdir) path|overlapping/, 'a layer is given twice, or one layer is inside another'],
];

function hintFor(err: SystemError, stage: string, words: string, index: boolean): string | undefined {
  for (const [re, hint] of HINTS) if (re.test(words)) return hint;
  // What follows holds from errno and stage alone, whatever line (if any) said why.
  const atCreate = stage === 'create' || stage === 'mount';
  if (index && atCreate && err.code === 'ESTALE') return INDEX_OTHER_LOWERS;
  if (index && atCreate && err.code === 'EBUSY') return INDEX_SHARED;
  if (stage === 'fsopen' && err.code === 'EPERM') return 'mounting needs CAP_SYS_ADMIN: run as root, or inside a user namespace that owns the mount namespace (unshare -Urm)';
  if (stage === 'fsopen' && err.code === 'ENODEV') return 'the overlay filesystem is not available: modprobe overlay';
  if (err.code === 'EBUSY' && stage.startsWith('fsconfig')) return 'the fs context is dead after a failed create: start again with a new one';
  if (err.code === 'EPERM' && stage === 'mount') return 'mounting needs CAP_SYS_ADMIN over the mount namespace';
  if (err.code === 'ENOENT' && stage === 'move_mount') return 'the target does not exist any more (removed since validation?)';
  if (err.code === 'ENOENT' && stage === 'mount') return 'a layer, upper, work or the target does not exist any more (removed since validation?)';
  if (err.code === 'ENOENT' && (stage === 'create' || stage.startsWith('open'))) {
    return 'a layer, upper or work path does not exist any more (removed since validation?)';
  }
  if (err.code === 'ELOOP') return 'a layer is given twice, or one layer is inside another';
  if (stage.startsWith('idmap ') && err.code === 'EINVAL') {
    return `the filesystem of ${stage.slice('idmap '.length)} cannot be idmapped on this kernel (ext4, xfs and btrfs can since Linux 5.12-5.15, tmpfs since 6.3; overlay, NFS and FUSE cannot): put the layer on one that can, or mount without idmap`;
  }
  if (stage.startsWith('idmap ') && err.code === 'EPERM') {
    return 'the kernel idmaps only with a user namespace of its own map: not the initial user namespace (an identity map), nor one this process has no CAP_SYS_ADMIN over';
  }
  if (stage === 'userns' && (err.code === 'EPERM' || err.code === 'EINVAL')) {
    return err.code === 'EPERM'
      ? 'writing the id map needs CAP_SETUID/CAP_SETGID over the ids it maps (root, or newuidmap for the ranges /etc/subuid grants)'
      : 'the kernel refused the id map: ranges overlap, or more than 340 of them';
  }
  return undefined;
}

/** The fs-context messages' text, without their level ("e overlay: x" → "overlay: x"). */
function fsContextWords(fsMessages: readonly string[]): string[] {
  return fsMessages.filter((m) => m.startsWith('e ')).map((m) => m.slice(2));
}

// What may stand on each side of a path the kernel prints: quotes, spaces, separators; after
// it also a '/' (a path inside, such as work/work) or a final '.'.
const BEFORE = new Set([' ', '\t', "'", '"', '=', ':', ',', '(', '[', '<']);
const AFTER = new Set([' ', '\t', "'", '"', ':', ',', ';', ')', ']', '>', '/']);

/**
 * Whether a kernel log line names `path`, whole: '/x/upper' is named by "filesystem on /x/upper
 * is read-only" and by "/x/upper/work", not by "/x/upper2" or "/y/x/upper".
 */
export function namesPath(line: string, path: string): boolean {
  if (path === '') return false;
  for (let at = line.indexOf(path); at >= 0; at = line.indexOf(path, at + 1)) {
    const before = at === 0 ? undefined : line[at - 1]!;
    const after = line[at + path.length];
    const next = line[at + path.length + 1];
    const closes = after === undefined || AFTER.has(after) || (after === '.' && (next === undefined || next === ' '));
    if ((before === undefined || BEFORE.has(before)) && closes) return true;
  }
  return false;
}

/**
 * Every form in which the kernel may print a spec's paths: as given, as sent (backslashes
 * doubled in upperdir/workdir strings, `\`, `:` and `,` escaped in mount(2) data: the kernel
 * prints the value it got), and their real paths (what it prints for a layer given by fd).
 * Paths relative to a common parent or fd numbers (legacy data past one page) are too short to
 * tell apart from other mounts' and are left out.
 */
export function kernelPathForms(spec: OverlaySpec, reals: Iterable<string>): string[] {
  const forms = new Set<string>();
  for (const { path } of specPaths(spec)) {
    forms.add(path);
    forms.add(escapeBackslashes(path));
    forms.add(escapeLegacyPath(path));
  }
  for (const real of reals) forms.add(real);
  forms.delete('');
  return [...forms];
}

export interface FailureContext {
  stage: string | undefined;
  strategy: Strategy;
  /**
   * This mount's paths in every form the kernel may print them (kernelPathForms()): the kernel
   * log is shared by every process, so only a line naming one of them speaks for this failure.
   */
  paths: readonly string[];
  /** index=on applies (asked for, implied by nfs_export=on, or the module default) and there is an upper. */
  index: boolean;
  cursor: KernelLogCursor | null;
}

/**
 * The error for a failed syscall of a mount, given the kernel log lines seen meanwhile: made
 * again with the kernel's words in its message, and `stage`, `strategy`, `kernelLog` and
 * `hint`. The words are the fs-context log (per context, so always this mount's) and the log
 * lines that name one of this mount's paths; a line that names none (another overlay's, or one
 * the kernel logs without a path) is kept in `kernelLog` only. The hint comes from those words,
 * else from what errno and stage say whatever the log.
 */
export function mountError(err: SystemError, kernelLog: readonly string[], ctx: Omit<FailureContext, 'cursor'>): OverlayMountError {
  const ours = kernelLog.filter((line) => ctx.paths.some((path) => namesPath(line, path)));
  const words = [...fsContextWords(err.kernelMessages ?? []), ...ours].join('; ');
  const e = createSystemError(rawErrorOf(err), words) as OverlayMountError;
  Error.captureStackTrace(e, mountError);
  const stage = ctx.stage ?? err.syscall;
  e.stage = stage;
  e.strategy = ctx.strategy;
  e.kernelLog = [...kernelLog];
  const hint = hintFor(e, stage, words, ctx.index);
  if (hint !== undefined) e.hint = hint;
  return e;
}

/**
 * The error to throw for a failed syscall of a mount: the kernel log read back from the cursor,
 * then mountError(). Other errors pass unchanged.
 */
export function* mountFailure(err: unknown, ctx: FailureContext): Task<unknown> {
  const kernelLog = yield* readKernelLog(ctx.cursor);
  if (!isSystemError(err)) return err;
  return mountError(err, kernelLog, ctx);
}
