/**
 * The overlays this process mounted, with the paths it gave the kernel. For layers passed by
 * fd, mountinfo shows no usable path, so this is the only record of them; it also lets the
 * in-use check see upper and work dirs of such mounts.
 */
import type { OverlaySpec, Strategy } from './spec.js';

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

const records = new Map<number, MountRecord>();

export function remember(record: MountRecord): void {
  records.set(record.mountId, record);
}

export function forget(mountId: number): void {
  records.delete(mountId);
}

/** The records whose mount ids are still in `liveIds`; the rest are dropped (unmounted elsewhere). */
export function liveRecords(liveIds: ReadonlySet<number>): MountRecord[] {
  for (const id of records.keys()) if (!liveIds.has(id)) records.delete(id);
  return [...records.values()];
}
