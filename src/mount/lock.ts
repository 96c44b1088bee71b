/**
 * The in-use check and the mount as one critical section across processes: before it reads
 * the mount table, a mount takes flock(LOCK_EX) on its upper and work dirs and holds it until the
 * mount is attached (or has failed). Two processes mounting the same upper at once then run one
 * after the other, and the second sees the first's mount instead of both passing the check.
 *
 * The lock is advisory: mount(8), docker and containerd do not take it, so it orders mounts made
 * by this library (in any process), not theirs. The kernel drops it when the fd closes, so a
 * process killed mid-mount leaves nothing to recover.
 *
 * Locks are taken in one order (sorted real paths), without blocking (LOCK_NB), and waited for
 * by polling: a blocking flock would hold a thread-pool thread, and the holder may need those.
 */
import { constants } from 'node:os';
import { LOCK, O } from '../sys/constants.js';
import { isHandle } from '../sys/args.js';
import { isSystemError } from '../sys/errors.js';
import { sleep, steps, type Task } from '../sys/io.js';
import type { FdHandle } from '../sys/native-types.js';
import type { Step } from '../sys/steps.js';

const { EAGAIN } = constants.errno;

/** Open fds holding the locks, in lock order; closing them releases the locks. */
export type DirLocks = FdHandle[];

/**
 * Dirs whose locks a mount of this process holds or is about to take (marked before its first
 * batch is sent): an unmount of this process does not wait for those (the holder is ours, and
 * a Sync wait would block the thread it needs); it runs, and that mount's table check, made
 * under the lock, comes after it.
 */
const heldHere = new Map<string, number>();

export function markHeldHere(paths: readonly string[]): void {
  for (const p of paths) heldHere.set(p, (heldHere.get(p) ?? 0) + 1);
}

export function unmarkHeldHere(paths: readonly string[]): void {
  for (const p of paths) {
    const n = (heldHere.get(p) ?? 1) - 1;
    if (n <= 0) heldHere.delete(p);
    else heldHere.set(p, n);
  }
}

/** `paths` without those a mount of this process holds. */
export function notHeldHere(paths: readonly string[]): string[] {
  return paths.filter((p) => !heldHere.has(p));
}

/** How long a lock is waited for before the call fails (a lock held that long is not a mount's). */
export const LOCK_WAIT_MS = 60_000;

/** The dirs to lock, in the one order every process takes them. */
export function lockOrder(paths: readonly string[]): string[] {
  return [...new Set(paths)].sort();
}

/**
 * Steps that open each dir and try its lock (at `at` in their batch): per dir, an open (kept)
 * and a flock(LOCK_EX | LOCK_NB), their failures recorded, not thrown.
 */
export function lockSteps(paths: readonly string[], at: number): Step[] {
  return paths.flatMap((path, i): Step[] => [
    { op: 'open', path, flags: O.RDONLY | O.DIRECTORY, keep: true, recordError: true },
    { op: 'flock', fd: at + 2 * i, operation: LOCK.EX | LOCK.NB, recordError: true },
  ]);
}

/** Closes the lock fds: the kernel releases the locks. */
export function releaseLocks(locks: DirLocks | undefined): void {
  for (const h of locks ?? []) h.close();
}

/**
 * The locks from lockSteps' results (at `at`; undefined: none tried yet), taking the ones not
 * yet held (`late`: some were, so what the first batch read under them is stale): in order, polling (1 ms, doubling to 50 ms) while another process holds one. A dir
 * that cannot be locked (not readable, or a filesystem without flock: ENOLCK, EOPNOTSUPP on some
 * network and FUSE filesystems) is used unlocked, as every mount tool uses it.
 */
export function* acquireLocks(
  paths: readonly string[],
  results: readonly unknown[] | undefined,
  at: number,
): Task<{ locks: DirLocks; late: boolean; byPath: Map<string, FdHandle> }> {
  type State = 'held' | 'busy' | 'untried' | 'unlockable';
  const handles: Array<FdHandle | undefined> = [];
  const state: State[] = paths.map((_, i) => {
    if (results === undefined) return 'untried';
    const h = results[at + 2 * i];
    if (!isHandle(h)) return 'unlockable';
    handles[i] = h;
    return busy(results[at + 2 * i + 1]) ? 'busy' : 'held';
  });
  try {
    // A lock held after one this process still waits for would break the order: give it back.
    const first = state.findIndex((s) => s === 'busy' || s === 'untried');
    const late = first >= 0;
    if (first >= 0) {
      for (let i = first + 1; i < paths.length; i++) {
        if (state[i] === 'held') {
          yield* steps([{ op: 'flock', fd: handles[i]!, operation: LOCK.UN }]);
          state[i] = 'busy';
        }
      }
    }
    for (let i = 0; i < paths.length; i++) {
      if (state[i] === 'untried') {
        const opened = (yield* steps([{ op: 'open', path: paths[i]!, flags: O.RDONLY | O.DIRECTORY, keep: true, recordError: true }])).results[0];
        if (!isHandle(opened)) state[i] = 'unlockable';
        else handles[i] = opened;
      }
      if (state[i] === 'held' || state[i] === 'unlockable') continue;
      const since = Date.now();
      for (let wait = 1; ; wait = Math.min(wait * 2, 50)) {
        const r = (yield* steps([{ op: 'flock', fd: handles[i]!, operation: LOCK.EX | LOCK.NB, recordError: true }])).results[0];
        if (!busy(r)) break;
        if (Date.now() - since > LOCK_WAIT_MS) {
          throw Object.assign(r as Error, {
            path: paths[i],
            stage: 'lock',
            hint: `something has held flock(LOCK_EX) on '${paths[i]}' for over ${LOCK_WAIT_MS / 1000} s: a mount or unmount of it never ends, or a program holds the lock (see /proc/locks)`,
          });
        }
        yield* sleep(wait);
      }
      state[i] = 'held';
    }
    const byPath = new Map<string, FdHandle>();
    paths.forEach((p, i) => {
      if (handles[i] !== undefined) byPath.set(p, handles[i]!);
    });
    return { locks: handles.filter((h): h is FdHandle => h !== undefined), late, byPath };
  } catch (e) {
    for (const h of handles) h?.close();
    throw e;
  }
}

/** A flock result: held by another (EAGAIN); any other failure means this dir cannot be locked. */
function busy(r: unknown): boolean {
  return isSystemError(r) && r.errno === -EAGAIN;
}
