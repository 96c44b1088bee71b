/**
 * The overlays mounted in this mount namespace, for the in-use check every mount makes. Reading
 * /proc/self/mountinfo costs ~40 µs for twenty mounts (the kernel prints every line) and more
 * on a host with hundreds; listmount(2) (Linux 6.8) gives the ids of the mounts attached now in
 * a few µs. So the table is kept between calls, keyed by the 64-bit mount id (never reused), and
 * brought up to date with one listmount: a mount not seen before gets one statmount(2), a mount
 * no longer listed is dropped. Exact: listmount lists every mount attached at the time of the
 * call, whenever its id was allocated (an fsmount() attached late included). Where listmount is
 * missing, mountinfo is read as before.
 */
import { STATMOUNT } from '../sys/constants.js';
import { readText, steps, type Task } from '../sys/io.js';
import type { StatmountResult } from '../sys/native-types.js';
import type { Step } from '../sys/steps.js';
import { parseOverlayMountInfo, type MountInfoEntry } from './mountinfo.js';

const MASK = STATMOUNT.MNT_BASIC | STATMOUNT.SB_BASIC | STATMOUNT.FS_TYPE | STATMOUNT.MNT_ROOT | STATMOUNT.MNT_POINT | STATMOUNT.SB_SOURCE | STATMOUNT.OPT_ARRAY;

/** By 64-bit mount id: the overlay's entry, or null for a mount of another filesystem. */
const known = new Map<number, MountInfoEntry | null>();
/** The 64-bit id of each entry made from a statmount (to read its mount point again). */
const uniqueOf = new WeakMap<MountInfoEntry, number>();
/** Whether listmount and statmount's option array work here (undefined: not tried yet). */
let listmountWorks: boolean | undefined;

/**
 * The step that reads the mount table, to run in a batch after the locks it must follow:
 * listmount where it works, else the whole of mountinfo.
 */
export function overlayTableStep(): Step {
  return listmountWorks === false ? { op: 'readFile', path: '/proc/self/mountinfo' } : { op: 'listmount', recordError: true };
}

/** An overlay's statmount as the mountinfo entry the in-use check reads. */
function entryOf(sm: StatmountResult): MountInfoEntry {
  return {
    mountId: sm.mountIdOld ?? 0,
    parentId: sm.parentIdOld ?? 0,
    major: sm.sbDevMajor ?? 0,
    minor: sm.sbDevMinor ?? 0,
    root: sm.mountRoot ?? '/',
    mountPoint: sm.mountPoint ?? '',
    mountOptions: [],
    optionalFields: [],
    fsType: 'overlay',
    source: sm.source ?? 'none',
    superOptions: sm.optionArray ?? [],
  };
}

/**
 * The overlays of the mount table, from the answer of overlayTableStep(): the parsed overlay
 * lines of mountinfo, or the table kept here brought up to date from listmount's ids.
 */
export function* overlayTableTask(answer: unknown): Task<MountInfoEntry[]> {
  if (Buffer.isBuffer(answer)) return parseOverlayMountInfo(answer.toString('utf8')).overlays;
  if (!(answer instanceof Float64Array)) {
    // ENOSYS (before 6.8), or a seccomp filter that refuses it: mountinfo from now on.
    listmountWorks = false;
    known.clear();
    return parseOverlayMountInfo(yield* readText('/proc/self/mountinfo')).overlays;
  }
  const ids = answer;
  const fresh: number[] = [];
  for (const id of ids) if (!known.has(id)) fresh.push(id);
  if (fresh.length > 0) {
    const sm = yield* steps(fresh.map((mountId) => ({ op: 'statmount' as const, mountId, mask: MASK, recordError: true })));
    for (const [i, id] of fresh.entries()) {
      const r = sm.results[i];
      if (r instanceof Error) {
        // Unmounted since it was listed: not in the table. Anything else: this kernel's
        // statmount cannot tell what the in-use check needs.
        if ((r as NodeJS.ErrnoException).code === 'ENOENT') continue;
        listmountWorks = false;
        known.clear();
        return parseOverlayMountInfo(yield* readText('/proc/self/mountinfo')).overlays;
      }
      const s = r as StatmountResult;
      if (s.fsType !== 'overlay') {
        known.set(id, null);
        continue;
      }
      // Without the option array (before 6.10) upper and work cannot be read unescaped.
      if (s.optionArray === undefined) {
        listmountWorks = false;
        known.clear();
        return parseOverlayMountInfo(yield* readText('/proc/self/mountinfo')).overlays;
      }
      const entry = entryOf(s);
      uniqueOf.set(entry, id);
      known.set(id, entry);
    }
  }
  listmountWorks = true;
  // Forget what is no longer mounted (every id listed is known now: the same count, the same set).
  if (known.size !== ids.length) {
    const now = new Set(ids);
    for (const id of known.keys()) if (!now.has(id)) known.delete(id);
  }
  const overlays: MountInfoEntry[] = [];
  for (const id of ids) {
    const e = known.get(id);
    if (e) overlays.push(e);
  }
  return overlays;
}

/** The overlays of this mount namespace now (a table read of its own). */
export function* currentOverlaysTask(): Task<MountInfoEntry[]> {
  const step = overlayTableStep();
  const answer = (yield* steps([step])).results[0];
  return yield* overlayTableTask(answer);
}

/**
 * The kept entries among `entries` with their mount point read again: a mount moved (mount
 * --move) keeps its id, so the table would still name where it was. Asked only for the entries
 * an answer names (an in-use refusal), not on every mount.
 */
export function* refreshMountPoints(entries: readonly MountInfoEntry[]): Task<void> {
  const kept = entries.filter((e) => uniqueOf.has(e));
  if (kept.length === 0) return;
  const sm = yield* steps(kept.map((e) => ({ op: 'statmount' as const, mountId: uniqueOf.get(e)!, mask: STATMOUNT.MNT_BASIC | STATMOUNT.MNT_POINT, recordError: true })));
  kept.forEach((e, i) => {
    const r = sm.results[i];
    if (r instanceof Error) return; // gone meanwhile: the next listmount drops it
    const s = r as StatmountResult;
    if (s.mountPoint !== undefined) e.mountPoint = s.mountPoint;
    if (s.parentIdOld !== undefined) e.parentId = s.parentIdOld;
  });
}
