/**
 * A failed mount, told as Node's fs tells a failed syscall, plus where it failed (`stage`), with
 * which strategy, what the kernel said (its fs-context log and its kernel log) and, when the
 * cause is known, a hint. The kernel's words go in the message once, when the error is made.
 */
import { createSystemError, isSystemError, rawErrorOf, type SystemError } from '../sys/errors.js';
import type { Task } from '../sys/io.js';
import type { Strategy } from '../spec/types.js';
import { readKernelLog, type KernelLogCursor } from './kmsg.js';

/** A failed mount: Node's fs error shape plus where and why. */
export interface OverlayMountError extends SystemError {
  /** The step that failed: `fsconfig lowerdir+ '/x'`, `create`, `fsmount`, `move_mount`, `mount`. */
  stage: string;
  strategy: Strategy;
  /** `overlayfs:` lines the kernel logged during the call (where /dev/kmsg is readable). */
  kernelLog: string[];
  /** What usually causes this, when known. */
  hint?: string;
}

/** True for a failed syscall of a mount (a SystemError with `stage` and `strategy`). */
export function isMountError(value: unknown): value is OverlayMountError {
  return isSystemError(value) && typeof (value as Partial<OverlayMountError>).stage === 'string' && typeof (value as Partial<OverlayMountError>).strategy === 'string';
}

const HINTS: Array<[RegExp, string]> = [
  [/must reside under the same mount/, 'work must be on the same mount as upper (a bind mount of the same filesystem is a different mount)'],
  [/must be separate subtrees/, 'work must not be inside upper, nor upper inside work'],
  [/not supported as upperdir|not supported over overlayfs/, 'the upper is on an overlay (or a filesystem overlay cannot write to): use a real filesystem such as ext4, xfs or tmpfs for upper and work'],
  [/incompat feature 'volatile'/, 'an earlier volatile mount left work/work/incompat/volatile: if it ended without a crash, mount again with clearVolatile: true'],
  [/needs to support d_type/, 'the upper filesystem has no d_type (xfs made with ftype=0?): whiteouts would show as files'],
  [/requires permission to access trusted xattrs/, 'in a user namespace trusted.overlay.* xattrs are not available: use the userxattr option'],
  [/failed to verify upper root origin/, "index=on recorded other lower layers for this upper: mount with options.index 'off', or remove the work dir's index/"],
  // The kernel refuses a shared upper/work when the new mount has index=on (with index=off it only warns).
  [/in-use as upperdir\/workdir/, "another overlay uses this upper or work dir, which index=on refuses to share: unmount that overlay first (or mount with options.index 'off', accepting undefined behaviour)"],
  [/filesystem on .* is read-only/, 'upper and work must be on a writable filesystem, on a mount that is not read-only'],
  [/too many lower directories/, 'the kernel takes at most 500 lower layers'],
  [/conflicting (lowerdir|upperdir) path|overlapping/, 'a layer is given twice, or one layer is inside another'],
];

function hintFor(err: SystemError, stage: string, words: string): string | undefined {
  for (const [re, hint] of HINTS) if (re.test(words)) return hint;
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
  return undefined;
}

/** Strips the level of fs-context messages ("e overlay: x"). */
function kernelWords(fsMessages: readonly string[], kmsg: readonly string[]): string {
  const fromFs = fsMessages.filter((m) => m.startsWith('e ')).map((m) => m.slice(2));
  return [...fromFs, ...kmsg].join('; ');
}

export interface FailureContext {
  stage: string | undefined;
  strategy: Strategy;
  /** The spec's paths: with other mounts of this process under way, only log lines naming one may speak for this failure. */
  paths: readonly string[];
  /** No other mount of this process overlapped this one. */
  alone: boolean;
  cursor: KernelLogCursor | null;
}

/**
 * The error to throw for a failed syscall of a mount: made again with the kernel's words in
 * its message, and `stage`, `strategy`, `kernelLog` and `hint`. Other errors pass unchanged.
 */
export function* mountFailure(err: unknown, ctx: FailureContext): Task<unknown> {
  const kernelLog = yield* readKernelLog(ctx.cursor);
  if (!isSystemError(err)) return err;
  // Every overlay line logged meanwhile is kept in kernelLog; with other mounts of ours under
  // way, only lines naming one of this spec's paths may speak for this failure.
  const ours = ctx.alone ? kernelLog : kernelLog.filter((line) => ctx.paths.some((path) => line.includes(path)));
  const words = kernelWords(err.kernelMessages ?? [], ours);
  const e = createSystemError(rawErrorOf(err), words) as OverlayMountError;
  Error.captureStackTrace(e, mountFailure);
  const stage = ctx.stage ?? err.syscall;
  e.stage = stage;
  e.strategy = ctx.strategy;
  e.kernelLog = kernelLog;
  const hint = hintFor(e, stage, words);
  if (hint !== undefined) e.hint = hint;
  return e;
}
