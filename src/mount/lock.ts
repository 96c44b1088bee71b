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

/** How long a lock is waited for before the call fails (a lock held that long is not a mount's). */
export const LOCK_WAIT_MS = 60_000;

/** The dirs to lock, in the one order every process takes them. */
export function lockOrder(paths: readonly string[]): string[] {
  return [...new Set(paths)].sort();
}

/**
 * Steps that open each dir and try its lock (at `at` in their batch): per dir, an open and a
 * flock(LOCK_EX | LOCK_NB). By default the fds are kept (the locks outlive the batch) and
 * failures are recorded; `guard`: the fds close with the batch (releasing the locks after the
 * steps that follow), and a busy lock ends the batch there, before those steps run.
 */
export function lockSteps(paths: readonly string[], at: number, guard = false): Step[] {
  return paths.flatMap((path, i): Step[] => [
    guard ? { op: 'open', path, flags: O.RDONLY | O.DIRECTORY } : { op: 'open', path, flags: O.RDONLY | O.DIRECTORY, keep: true, recordError: true },
    { op: 'flock', fd: at + 2 * i, operation: LOCK.EX | LOCK.NB, recordError: !guard },
  ]);
}

/** Closes the lock fds: the kernel releases the locks. */
export function releaseLocks(locks: DirLocks | undefined): void {
  for (const h of locks ?? []) h.close();
}

/**
 * The locks, from lockSteps' results (at `at`; undefined: not tried yet, so tried now in one
 * batch), taking the ones not yet held in order, polling (1 ms, doubling to 50 ms) while
 * another process holds one. `late`: some were not taken at once, so what a batch read under
 * them is stale. A dir that cannot be locked (not readable, or a filesystem without flock:
 * ENOLCK, EOPNOTSUPP on some network and FUSE filesystems) is used unlocked, as every mount tool
 * uses it.
 */
export function* acquireLocks(
  paths: readonly string[],
  tried: readonly unknown[] | undefined,
  at: number,
): Task<{ locks: DirLocks; late: boolean; byPath: Map<string, FdHandle> }> {
  const results = tried ?? (yield* steps(lockSteps(paths, 0))).results;
  const base = tried === undefined ? 0 : at;
  const handles = paths.map((_, i) => (isHandle(results[base + 2 * i]) ? (results[base + 2 * i] as FdHandle) : undefined));
  // Unlockable dirs count as held.
  const held = paths.map((_, i) => handles[i] === undefined || !busy(results[base + 2 * i + 1]));
  try {
    const first = held.indexOf(false);
    const late = first >= 0;
    // A lock held after one this process still waits for would break the order: give it back.
    for (let i = first + 1; late && i < paths.length; i++) {
      if (held[i] && handles[i] !== undefined) {
        yield* steps([{ op: 'flock', fd: handles[i]!, operation: LOCK.UN }]);
        held[i] = false;
      }
    }
    for (let i = 0; i < paths.length; i++) {
      if (held[i]) continue;
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
