/**
 * unmountOverlay(): unmount the overlay at a path when there is no handle for it (another process
 * mounted it: `ovl umount`, the store's containers). The same rule as a handle's unmount (under
 * the upper/work locks, busy explained, a detached overlay remembered), found by mountinfo.
 * Its own module, so an unmount loads none of the mount path (validation, planning, probing).
 */
import { isAbsolute, resolve } from 'node:path';
import { OverlayError } from '../spec/errors.js';
import { MNT } from '../sys/constants.js';
import { runAsync, runSync, steps, type Task } from '../sys/io.js';
import { findOverlayTask } from '../read/inspect.js';
import { mountInfoTask } from '../read/mountinfo.js';
import { descendantMountIds, lockedUmount, unmountAndCleanTask, type OverlayUnmountOptions, type OverlayUnmountResult } from './handle.js';
import { lockOrder } from './lock.js';

export interface UnmountOverlayOptions extends OverlayUnmountOptions {
  /** First unmount what is mounted beneath the overlay, innermost first (umount -R). */
  recursive?: boolean;
  /** Called with each mount point unmounted beneath the overlay (for umount -v's lines). */
  onUnmounted?: (mountPoint: string) => void;
}

export interface UnmountOverlayResult extends OverlayUnmountResult {
  /** The mount point. */
  target: string;
  /** What was unmounted beneath it first (with `recursive`), in that order. */
  beneath: string[];
  /** The work dir as the kernel showed it (what cleanWorkdir cleans). */
  work?: string;
}

/**
 * Unmounts the overlay mounted at `target`. ERR_NOT_OVERLAY when none is (the message says
 * whether something else is mounted there); with `cleanWorkdir`, ERR_OVERLAY_SPEC before
 * anything is unmounted when the kernel does not show the work dir's path (a relative or fd
 * mount: cleaning would hit some other directory).
 */
export function unmountOverlay(target: string, options: UnmountOverlayOptions = {}): Promise<UnmountOverlayResult> {
  return runAsync(unmountOverlayTask(target, options));
}

export function unmountOverlaySync(target: string, options: UnmountOverlayOptions = {}): UnmountOverlayResult {
  return runSync(unmountOverlayTask(target, options));
}

export function* unmountOverlayTask(target: string, options: UnmountOverlayOptions): Task<UnmountOverlayResult> {
  const abs = resolve(target);
  const info = yield* findOverlayTask(abs);
  if (!info) {
    const table = yield* mountInfoTask();
    const what = table.some((m) => m.mountPoint === abs) ? 'is not an overlay' : 'is not mounted';
    throw new OverlayError('ERR_NOT_OVERLAY', `'${abs}' ${what}`, { path: abs });
  }
  const clean = options.cleanWorkdir === true;
  if (clean && info.work !== undefined && (!info.pathsKnown || !isAbsolute(info.work))) {
    throw new OverlayError('ERR_OVERLAY_SPEC', `cannot clean the work dir of '${abs}': the kernel shows it as '${info.work}', not where it is; nothing was unmounted`, { path: abs });
  }
  const beneath = options.recursive ? yield* unmountBeneath(info.mountId, options.detach === true, options.onUnmounted) : [];
  const r = yield* unmountAndCleanTask(
    // Under the locks a mount of the same upper and work takes (the kernel's paths are real ones).
    (detach) => lockedUmount(abs, info.pathsKnown ? lockOrder([info.upper, info.work].filter((p): p is string => p !== undefined && isAbsolute(p))) : [], detach),
    { target: abs, mountId: info.mountId, upper: info.upper, work: clean ? info.work : undefined },
    { detach: options.detach === true, cleanWorkdir: clean },
  );
  return { target: abs, beneath, ...(info.work !== undefined ? { work: info.work } : {}), ...r };
}

/**
 * What is mounted beneath the overlay, innermost first (deepest in the mount tree, and of
 * mounts stacked on one path the top one first), then nothing else: the overlay is next.
 */
function* unmountBeneath(mountId: number, detach: boolean, onUnmounted?: (mountPoint: string) => void): Task<string[]> {
  const below = new Set(yield* descendantMountIds(mountId));
  if (below.size === 0) return [];
  const table = yield* mountInfoTask();
  const byId = new Map(table.map((m, i) => [m.mountId, { ...m, index: i }]));
  const depth = (id: number): number => {
    let d = 0;
    for (let m = byId.get(id); m && below.has(m.mountId); m = byId.get(m.parentId)) d++;
    return d;
  };
  const order = [...below].map((id) => byId.get(id)!).filter(Boolean).sort((a, b) => depth(b.mountId) - depth(a.mountId) || b.index - a.index);
  const done: string[] = [];
  for (const m of order) {
    yield* steps([{ op: 'umount2', target: m.mountPoint, flags: MNT.UMOUNT_NOFOLLOW | (detach ? MNT.DETACH : 0) }]);
    done.push(m.mountPoint);
    onUnmounted?.(m.mountPoint);
  }
  return done;
}
