/**
 * The overlays this process mounted, with the paths it gave the kernel. For layers passed by
 * fd, mountinfo shows no usable path, so this is the only record of them; it also lets the
 * in-use check see upper and work dirs of such mounts. The short mount id is reused as soon as
 * a mount is gone, so a record is trusted only while the kernel says it is the same mount: by
 * the 64-bit unique id where the kernel has one, else while its mountinfo line still matches.
 */
import { STATMOUNT } from '../sys/constants.js';
import { steps, type Task } from '../sys/io.js';
import type { OverlaySpec, Strategy } from '../spec/types.js';
import type { MountInfoEntry } from './mountinfo.js';

export interface MountRecord {
  /** The mount id mountinfo shows (statx STATX_MNT_ID). */
  mountId: number;
  /** The 64-bit id (statx STATX_MNT_ID_UNIQUE) where the kernel has it. */
  uniqueMountId?: number;
  target: string;
  spec: OverlaySpec;
  strategy: Strategy;
  /** Spec fields given as fds. */
  byFd: string[];
}

const records = new Set<MountRecord>();

export function remember(record: MountRecord): void {
  records.add(record);
}

/** Forgets the record of the mount with this id (unmounted by us). */
export function forget(mountId: number, uniqueMountId?: number): void {
  for (const r of records) {
    if (r.mountId === mountId && (uniqueMountId === undefined || r.uniqueMountId === uniqueMountId)) records.delete(r);
  }
}

/**
 * The records of mounts that still exist, by the mount table `entries`; the rest are dropped
 * (unmounted behind our back, their ids free for other mounts).
 */
export function* liveRecordsTask(entries: readonly MountInfoEntry[]): Task<MountRecord[]> {
  if (records.size === 0) return [];
  const byId = new Map(entries.map((e) => [e.mountId, e]));
  const withUnique = [...records].filter((r) => r.uniqueMountId !== undefined);
  const alive = new Set<MountRecord>();
  if (withUnique.length > 0) {
    const { results } = yield* steps(withUnique.map((r) => ({ op: 'statmount' as const, mountId: r.uniqueMountId!, mask: STATMOUNT.MNT_BASIC, recordError: true })));
    withUnique.forEach((r, i) => {
      const sm = results[i];
      if (!(sm instanceof Error) && (sm as { mountIdOld?: number }).mountIdOld === r.mountId) alive.add(r);
    });
  }
  for (const r of records) {
    if (r.uniqueMountId !== undefined) continue;
    const e = byId.get(r.mountId);
    if (e !== undefined && e.fsType === 'overlay' && e.source === (r.spec.source ?? 'overlay')) alive.add(r);
  }
  for (const r of records) if (!alive.has(r)) records.delete(r);
  return [...alive];
}

/**
 * An overlay this process detached while it was busy: gone from the mount table, it runs on
 * (on its upper and work) until its last user is gone. Only this process knows of it; another
 * process's detached overlays cannot be seen from here.
 */
export interface DetachedRecord {
  target: string;
  mountId: number;
  uniqueMountId?: number | undefined;
  /** The superblock's device, "major:minor". */
  dev: string;
  /** Real paths of its upper and work. */
  upper: string;
  work: string;
}

const detached = new Set<DetachedRecord>();

export function rememberDetached(record: DetachedRecord): void {
  detached.add(record);
}

/** The detached overlays whose upper or work is one of `dirs` (real paths). */
export function detachedUsing(dirs: readonly string[]): DetachedRecord[] {
  return [...detached].filter((r) => dirs.includes(r.upper) || dirs.includes(r.work));
}

/** Forgets a detached overlay nothing holds any more (it is gone). */
export function forgetDetached(record: DetachedRecord): void {
  detached.delete(record);
}
