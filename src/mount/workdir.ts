/**
 * The workdir: created when missing, refused when another overlay uses the same upper or work
 * (the kernel only warns and mounts read-write when index=off), checked for a stale volatile
 * marker, and cleaned after unmount on request.
 */
import { dirname, join } from 'node:path';
import { constants } from 'node:os';
import { AT, STATX } from '../sys/constants.js';
import { chmod, lstat, mkdirs, removeTree, rmdir, runAsync, runSync, steps, type Task } from '../sys/io.js';
import type { StatxResult } from '../sys/native-types.js';
import type { Step } from '../sys/steps.js';
import { OverlaySpecError, type SpecProblem } from '../spec/errors.js';
import type { OverlaySpec } from '../spec/types.js';
import { parseOverlayOptions, type MountInfoEntry } from '../read/mountinfo.js';
import { currentOverlaysTask, overlayTableStep, overlayTableTask, refreshMountPoints } from '../read/overlay-table.js';
import { detachedUsing, forgetDetached, liveRecordsTask } from '../read/records.js';
import { describeHolders, mountHoldersTask } from '../read/holders.js';
import { acquireLocks, lockOrder, lockSteps, releaseLocks, type DirLocks } from './lock.js';
import type { DirIdentity } from './validate.js';

const ENOENT = constants.errno.ENOENT;

/** An overlay mount that already uses a directory as its upper or work. */
export interface DirUser {
  target: string;
  mountId: number;
  as: 'upper' | 'work';
}

/** The mounted overlays (in this mount namespace) whose upper or work is `dir`. */
export function overlaysUsing(dir: string): Promise<DirUser[]> {
  return runAsync(overlaysUsingTask([dir])).then((r) => r[0]!);
}

/** overlaysUsing() on the calling thread. */
export function overlaysUsingSync(dir: string): DirUser[] {
  return runSync(overlaysUsingTask([dir]))[0]!;
}

/**
 * overlaysUsing() for several dirs from one read of the mount table (`table`, the overlays
 * overlayTableTask() gave; else read now: read/overlay-table.ts). Two paths name the same
 * directory when their realpaths are equal; realpath costs an lstat per component, so it is
 * asked only for the paths whose device and inode match a dir's (one statx each, in one batch).
 * Nothing is resolved when no overlay is mounted and this process has no record of its own.
 */
export function* overlaysUsingTask(dirs: readonly string[], table?: readonly MountInfoEntry[]): Task<DirUser[][]> {
  const out = dirs.map((): DirUser[] => []);
  const overlays = table ?? (yield* currentOverlaysTask());
  const records = yield* liveRecordsTask(overlays);
  if (overlays.length === 0 && records.length === 0) return out;

  // Every upper/work another overlay uses: from the table (absolute paths only: relative or
  // fd-given ones mean nothing here; this library's legacy mounts always give them absolute)
  // and from this process's records (which know fd-given ones).
  const candidates: Array<DirUser & { path: string }> = [];
  overlays.forEach((e) => {
    const seen = parseOverlayOptions(e.superOptions);
    for (const as of ['upper', 'work'] as const) {
      const p = seen[as];
      if (p !== undefined && p.startsWith('/')) candidates.push({ target: e.mountPoint, mountId: e.mountId, as, path: p });
    }
  });
  for (const r of records) {
    for (const as of ['upper', 'work'] as const) {
      const p = r.spec[as];
      if (p !== undefined && !candidates.some((c) => c.mountId === r.mountId && c.as === as)) candidates.push({ target: r.target, mountId: r.mountId, as, path: p });
    }
  }
  if (candidates.length === 0) return out;

  const paths = [...new Set([...dirs, ...candidates.map((c) => c.path)])];
  const stat = yield* steps(paths.map((path) => ({ op: 'statx' as const, path, mask: STATX.BASIC_STATS, recordError: true })));
  const idOf = new Map<string, string | undefined>();
  paths.forEach((p, i) => {
    const st = stat.results[i];
    idOf.set(p, st instanceof Error || st === undefined ? undefined : `${(st as StatxResult).devMajor}:${(st as StatxResult).devMinor}:${(st as StatxResult).ino}`);
  });
  // Same file, or one of the two unknown: realpath decides.
  const maybe = (c: { path: string }, dir: string) => {
    const a = idOf.get(c.path);
    const b = idOf.get(dir);
    return !(a !== undefined && b !== undefined && a !== b);
  };
  const toResolve = new Set<string>();
  dirs.forEach((dir) => {
    for (const c of candidates) {
      if (maybe(c, dir)) {
        toResolve.add(c.path);
        toResolve.add(dir);
      }
    }
  });
  if (toResolve.size === 0) return out;
  const list = [...toResolve];
  const real = yield* steps(list.map((path) => ({ op: 'realpath' as const, path, recordError: true })));
  const realOf = new Map(list.map((p, i) => [p, real.results[i] instanceof Error ? undefined : (real.results[i] as string)]));
  dirs.forEach((dir, i) => {
    const want = realOf.get(dir);
    if (want === undefined) return;
    for (const c of candidates) {
      if (maybe(c, dir) && realOf.get(c.path) === want && !out[i]!.some((u) => u.mountId === c.mountId && u.as === c.as)) {
        out[i]!.push({ target: c.target, mountId: c.mountId, as: c.as });
      }
    }
  });
  // A kept table entry names where its mount was when first seen: say where it is now.
  const named = overlays.filter((e) => out.some((users) => users.some((u) => u.mountId === e.mountId)));
  if (named.length > 0) {
    yield* refreshMountPoints(named);
    for (const users of out) for (const u of users) u.target = named.find((e) => e.mountId === u.mountId)?.mountPoint ?? u.target;
  }
  return out;
}

/** The kernel's marker of a volatile mount; its presence refuses the next mount (EINVAL). */
export function volatileMarker(work: string): string {
  return join(work, 'work', 'incompat', 'volatile');
}

function* hasStaleVolatileTask(work: string): Task<boolean> {
  return (yield* lstat(volatileMarker(work))) !== undefined;
}

/** Whether `work` holds the marker an earlier volatile mount left (the kernel refuses to mount it). */
export function hasStaleVolatile(work: string): Promise<boolean> {
  return runAsync(hasStaleVolatileTask(work));
}

export function hasStaleVolatileSync(work: string): boolean {
  return runSync(hasStaleVolatileTask(work));
}

export interface PreparedWorkdir {
  /** The first directory this call created (to remove if the mount fails), if any. */
  created?: string;
  /** What was removed on the caller's request (clearVolatile). */
  cleared?: string;
  /** The upper and work realpaths held until the mount is recorded or has failed. */
  reserved?: string[];
  /** The cross-process locks on upper and work, held as long. */
  locks?: DirLocks;
  /** The identity of a work dir this call made (validation did not see it). */
  workIdentity?: DirIdentity;
  /** The in-use check passed under the locks: what this call made is its own to remove. */
  ours?: boolean;
}

/**
 * Upper and work dirs (by realpath) of mounts this process is making right now, and so whose
 * locks it holds or is about to take: between the in-use check and the mount's record there are
 * awaits, and two concurrent mountOverlay() calls must not both pass the check for the same dirs.
 * Taken before the first batch, without an await in between.
 */
const pending = new Map<string, string>();

/**
 * `paths` without the dirs a mount of this process is preparing: an unmount of this process
 * does not wait for their locks (the holder is ours, and a Sync wait would block the thread it
 * needs); it runs, and that mount's table check, made under the lock, comes after it.
 */
export function notBeingPrepared(paths: readonly string[]): string[] {
  return paths.filter((p) => !pending.has(p));
}

/** Upper's and work's real paths, by field (work's where it will be). */
function dirKeys(spec: OverlaySpec, facts: WorkdirFacts): Array<readonly ['upper' | 'work', string]> {
  return (['upper', 'work'] as const).map((f) => [f, facts.reals.get(f) ?? spec[f]!] as const);
}

/** What validation found that the work dir's preparation needs. */
export interface WorkdirFacts {
  /** upper's and work's real paths (work's where it will be, when it does not exist yet). */
  reals: ReadonlyMap<string, string>;
  /** Whether work existed when validated: then its lock can be taken before anything else. */
  workExisted: boolean;
}

/**
 * The dirs to lock (upper and work, by real path, in lock order; none when sharing is allowed,
 * as nothing is checked then), and whether the lock goes into the first batch (work exists
 * to be locked; otherwise after it is made).
 */
export function lockPlan(spec: OverlaySpec, facts: WorkdirFacts): { paths: string[]; early: boolean } {
  if (spec.upper === undefined || spec.work === undefined || spec.allowShared) return { paths: [], early: false };
  return { paths: lockOrder(dirKeys(spec, facts).map(([, key]) => key)), early: facts.workExisted };
}

/**
 * What prepareWorkdir() needs to know, as steps to run in a batch with others (at `at`, their
 * index there): the upper and work locks where they can be taken now, then the mount table, and
 * whether the volatile marker and the work dir exist.
 */
export function workdirQuestions(spec: OverlaySpec, facts: WorkdirFacts, at: number): Step[] {
  if (spec.upper === undefined || spec.work === undefined) return [];
  const lock = lockPlan(spec, facts);
  return [
    ...(lock.early ? lockSteps(lock.paths, at) : []),
    overlayTableStep(),
    { op: 'statx', path: volatileMarker(spec.work), flags: AT.SYMLINK_NOFOLLOW, mask: STATX.TYPE, okErrno: ENOENT, recordError: true },
    { op: 'statx', path: spec.work, flags: AT.SYMLINK_NOFOLLOW, mask: STATX.TYPE, okErrno: ENOENT, recordError: true },
  ];
}

/**
 * The in-process reservation of upper and work (by real path) for a mount about to prepare
 * them, and of their locks: taken before the first batch is sent, so a concurrent call of this
 * process meets it (refused at once) rather than the locks (which a Sync call would wait for on
 * the very thread the holder needs). Throws OverlaySpecError when another mount of this process
 * is preparing the same dirs; `allowShared` reserves nothing.
 */
export function reserveWorkdir(spec: OverlaySpec, facts: WorkdirFacts): PreparedWorkdir {
  if (spec.upper === undefined || spec.work === undefined || spec.allowShared) return {};
  const keys = dirKeys(spec, facts);
  const problems: SpecProblem[] = [];
  for (const [field, key] of keys) {
    const other = pending.get(key);
    if (other !== undefined) problems.push({ field, problem: `is being mounted as an upper or work dir at '${other}' by this process right now; pass allowShared: true to share it` });
  }
  if (problems.length > 0) throw new OverlaySpecError(problems);
  const reserved = keys.map(([, key]) => key);
  for (const key of reserved) pending.set(key, spec.target);
  return { reserved };
}

/**
 * Before a mount, with `out` from reserveWorkdir(): create work if missing, lock upper and work
 * against other processes (held until the mount is recorded or has failed: see lock.ts),
 * refuse an upper/work in use (unless allowShared), refuse or clear a stale volatile marker.
 * `answers` are the results of workdirQuestions() from index `at`. Throws OverlaySpecError; on
 * any failure, everything done so far is undone before the error is thrown.
 */
export function* prepareWorkdir(spec: OverlaySpec, facts: WorkdirFacts, answers: readonly unknown[], at: number, out: PreparedWorkdir): Task<PreparedWorkdir> {
  if (spec.upper === undefined || spec.work === undefined) return out;
  try {
    const lock = lockPlan(spec, facts);
    const q = at + (lock.early ? 2 * lock.paths.length : 0);
    let [table, marker, work] = [answers[q], answers[q + 1], answers[q + 2]];
    if (work === undefined) {
      try {
        const created = yield* mkdirs(spec.work);
        if (created !== undefined) out.created = created;
      } catch (e) {
        throw Object.assign(e as Error, { stage: 'mkdir work' });
      }
    }
    if (lock.paths.length > 0) {
      const early = lock.early ? answers : undefined;
      const { locks, late, byPath } = yield* acquireLocks(lock.paths, early, at);
      out.locks = locks;
      // A work dir made by this call has no validated identity: the one locked (and checked for
      // use below) is the one the mount must get.
      const workLock = byPath.get(facts.reals.get('work') ?? spec.work);
      if (out.created !== undefined) {
        const st = (yield* steps([workLock ? { op: 'statx', dirfd: workLock, path: '', flags: AT.EMPTY_PATH, mask: STATX.BASIC_STATS } : { op: 'statx', path: spec.work, mask: STATX.BASIC_STATS }])).results[0] as StatxResult;
        out.workIdentity = { devMajor: st.devMajor, devMinor: st.devMinor, ino: st.ino };
      }
      // The table read with the first batch is current only if its locks were all taken there:
      // not when some had to be waited for, nor when they were not in that batch at all (work
      // did not exist yet), where the table was read before any lock was held.
      if (late || !lock.early) table = (yield* steps([overlayTableStep()])).results[0];
    }
    const problems: SpecProblem[] = [];
    if (!spec.allowShared) {
      const fields = ['upper', 'work'] as const;
      const using = yield* overlaysUsingTask(
        fields.map((f) => spec[f]!),
        yield* overlayTableTask(table),
      );
      for (const [i, field] of fields.entries()) {
        for (const u of using[i]!) {
          problems.push({
            field,
            problem: `is already the ${u.as} dir of the overlay mounted at '${u.target}' (mount ${u.mountId}); two mounts sharing it is undefined behaviour. Unmount it, or pass allowShared: true`,
          });
        }
      }
      problems.push(...(yield* detachedProblems(dirKeys(spec, facts))));
    }
    const stale = marker !== undefined && !(marker instanceof Error);
    if (stale && !spec.clearVolatile) {
      problems.push({
        field: 'work',
        problem: `holds '${volatileMarker(spec.work)}' from an earlier volatile mount, so the kernel refuses to mount it. If that mount ended without a crash, pass clearVolatile: true; after a crash the upper may be inconsistent: start from a fresh upper and work`,
      });
    }
    if (problems.length > 0) throw new OverlaySpecError(problems);
    out.ours = out.locks !== undefined;
    if (stale) {
      yield* removeTree(volatileMarker(spec.work));
      out.cleared = volatileMarker(spec.work);
    }
    return out;
  } catch (e) {
    yield* undoPrepare(out, spec.work);
    throw e;
  }
}

/**
 * The overlays this process detached while busy that still run on this upper or work: gone from
 * the mount table, so only this process's records and /proc's holders tell. A record nothing
 * holds any more is dropped (the overlay is gone).
 */
function* detachedProblems(keys: ReadonlyArray<readonly ['upper' | 'work', string]>): Task<SpecProblem[]> {
  const records = detachedUsing(keys.map(([, key]) => key));
  if (records.length === 0) return [];
  const holders = yield* mountHoldersTask(records.map((r) => ({ mountId: r.mountId, uniqueMountId: r.uniqueMountId, dev: r.dev, overlay: true })));
  const problems: SpecProblem[] = [];
  records.forEach((r, i) => {
    if (holders[i]!.length === 0) {
      forgetDetached(r);
      return;
    }
    for (const [field, key] of keys) {
      if (key !== r.upper && key !== r.work) continue;
      problems.push({
        field,
        problem: `is still the ${key === r.upper ? 'upper' : 'work'} dir of the overlay detached from '${r.target}' while busy, which runs on while ${describeHolders(holders[i]!)} hold it; two mounts sharing it is undefined behaviour. Close those, or pass allowShared: true`,
      });
    }
  });
  return problems;
}

/**
 * Undoes prepareWorkdir's mkdir after a failed mount, then ends its reservation and locks; the
 * removal runs while the locks are still held, and never recursively: only empty directories
 * go (rmdir, deepest first). Once the in-use check passed under the locks, what the kernel left
 * in the new work dir (work/, index/, empty after a failed mount) is this attempt's and goes
 * first; before that, the dir may be another process's work dir by now (it mounted there while
 * this one waited for the lock), and is left alone. A work dir that is no longer the one made
 * (swapped meanwhile) is left too.
 */
export function* undoPrepare(prepared: PreparedWorkdir, work: string | undefined): Task<void> {
  if (prepared.created !== undefined && work !== undefined && (yield* isMadeWork(prepared, work))) {
    const chain: string[] = prepared.ours === true ? [join(work, 'work'), join(work, 'index')] : [];
    for (let dir = work; ; dir = dirname(dir)) {
      chain.push(dir);
      if (dir === prepared.created || dirname(dir) === dir) break;
    }
    for (const [i, dir] of chain.entries()) {
      try {
        yield* rmdir(dir);
      } catch {
        if (i >= (prepared.ours === true ? 2 : 0)) break; // not empty, or gone: the rest is not ours
      }
    }
  }
  releaseWorkdir(prepared);
}

/** Whether `work` is still the directory this call made (by its identity, where it was taken). */
function* isMadeWork(prepared: PreparedWorkdir, work: string): Task<boolean> {
  const id = prepared.workIdentity;
  if (id === undefined) return true;
  const st = (yield* steps([{ op: 'statx', path: work, flags: AT.SYMLINK_NOFOLLOW, mask: STATX.BASIC_STATS, recordError: true }])).results[0];
  return !(st instanceof Error) && st !== undefined && (st as StatxResult).ino === id.ino && (st as StatxResult).devMinor === id.devMinor && (st as StatxResult).devMajor === id.devMajor;
}

/** Ends the reservation and releases the locks prepareWorkdir took (the mount is recorded now, or failed). */
export function releaseWorkdir(prepared: PreparedWorkdir): void {
  for (const key of prepared.reserved ?? []) pending.delete(key);
  delete prepared.reserved;
  releaseLocks(prepared.locks);
  delete prepared.locks;
}

/**
 * Removes what the kernel left in `work` (work/, mode 000, and index/) once no overlay uses it.
 * Returns the paths removed.
 */
export function* cleanWorkdirTask(work: string): Task<string[]> {
  const [users] = yield* overlaysUsingTask([work]);
  if (users!.length > 0) {
    throw new OverlaySpecError([{ field: 'work', problem: `is still the work dir of the overlay at '${users![0]!.target}'` }]);
  }
  const removed: string[] = [];
  for (const name of ['work', 'index']) {
    const p = join(work, name);
    const st = yield* lstat(p);
    if (!st?.isDirectory()) continue;
    // Mode 000: a non-root owner needs the permission back before it can empty it.
    yield* chmod(p, 0o700);
    yield* removeTree(p);
    removed.push(p);
  }
  return removed;
}

/** Removes the kernel's work/ and index/ from a work dir no overlay uses; the paths removed. */
export function cleanWorkdir(work: string): Promise<string[]> {
  return runAsync(cleanWorkdirTask(work));
}

export function cleanWorkdirSync(work: string): string[] {
  return runSync(cleanWorkdirTask(work));
}
