/**
 * Mounts beside the rootfs: bind mounts for volumes and tmpfs for scratch space. Both go
 * through the new mount API where the kernel has it, in one native call.
 */
import { resolve } from 'node:path';
import { AT, FSCONFIG, MNT, MOUNT_ATTR, MOVE_MOUNT, MS, OPEN_TREE, STATX } from './constants.js';
import { isSystemError } from './errors.js';
import { descendantMountIds, MountHandle } from './mount-handle.js';
import { readMountInfo } from './mountinfo.js';
import type { StatxResult, Step, StepsResult } from './native-types.js';
import { probe } from './probe.js';
import { umount2Sync } from './sys/mount-legacy.js';
import { runSteps, runStepsSync } from './sys/steps.js';
import { bool, cString, invalidArgValue, isHandle } from './validate.js';

export interface BindOptions {
  /** Read-only: set on the detached copy before it is attached, so it is never writable there. */
  readOnly?: boolean;
  /** Include the mounts below `source` (MS_REC / AT_RECURSIVE). */
  recursive?: boolean;
}

export interface TmpfsOptions {
  /** Size limit: bytes, or a string tmpfs accepts ('64m', '10%'). */
  size?: number | string;
  /** Mode of the root directory (default 0o1777 as tmpfs has). */
  mode?: number;
}

function mountIds(result: StepsResult, target: string): { mountId: number; unique: number | undefined } {
  const stats = result.results.filter((r): r is StatxResult => r !== undefined && !isHandle(r));
  const old = stats.find((s) => s.mountIdUnique === false);
  const unique = stats.find((s) => s.mountIdUnique === true);
  // Before Linux 5.8 statx has no mount id: the top mount at the target in mountinfo is ours.
  const mountId = old?.mountId ?? readMountInfo().filter((e) => e.mountPoint === resolve(target)).at(-1)?.mountId ?? -1;
  return { mountId, unique: unique?.mountId };
}

/**
 * Takes the mount down again when a step after the one that attached it failed (e.g. the
 * read-only remount of a legacy bind): a failed call leaves nothing, not a writable bind.
 */
function undoAttached(err: unknown, steps: readonly Step[], target: string): unknown {
  const attached = steps.findIndex((s) => s.op === 'move_mount' || s.op === 'mount');
  if (isSystemError(err) && err.step !== undefined && err.step > attached) {
    try {
      umount2Sync(target, MNT.UMOUNT_NOFOLLOW | MNT.DETACH);
    } catch {
      /* already gone */
    }
  }
  return err;
}

async function attach(steps: Step[], target: string): Promise<{ mountId: number; unique: number | undefined }> {
  try {
    return mountIds(await runSteps(steps), target);
  } catch (e) {
    throw undoAttached(e, steps, target);
  }
}

function attachSync(steps: Step[], target: string): { mountId: number; unique: number | undefined } {
  try {
    return mountIds(runStepsSync(steps), target);
  } catch (e) {
    throw undoAttached(e, steps, target);
  }
}

function idSteps(target: string): Step[] {
  const steps: Step[] = [{ op: 'statx', path: target, flags: AT.SYMLINK_NOFOLLOW, mask: STATX.MNT_ID }];
  if (probe().mountIdUnique) steps.push({ op: 'statx', path: target, flags: AT.SYMLINK_NOFOLLOW, mask: STATX.MNT_ID_UNIQUE });
  return steps;
}

function bindSteps(source: string, target: string, options: BindOptions): Step[] {
  const recursive = bool('recursive', options.recursive);
  const readOnly = bool('readOnly', options.readOnly);
  const caps = probe();
  if (!caps.newMountApi) {
    // mount(2) cannot make a bind read-only in one call: bind, then remount read-only.
    const steps: Step[] = [{ op: 'mount', source, target, flags: MS.BIND | (recursive ? MS.REC : 0) }];
    if (readOnly) steps.push({ op: 'mount', target, flags: MS.BIND | MS.REMOUNT | MS.RDONLY });
    return [...steps, ...idSteps(target)];
  }
  const steps: Step[] = [{ op: 'open_tree', path: source, flags: OPEN_TREE.CLONE | (recursive ? AT.RECURSIVE : 0) }];
  if (readOnly) {
    steps.push({ op: 'mount_setattr', dirfd: 0, path: '', flags: AT.EMPTY_PATH | (recursive ? AT.RECURSIVE : 0), attrSet: MOUNT_ATTR.RDONLY });
  }
  steps.push({ op: 'move_mount', from: 0, fromPath: '', toPath: target, flags: MOVE_MOUNT.F_EMPTY_PATH });
  steps.push({ op: 'close', fd: 0 });
  return [...steps, ...idSteps(target)];
}

/**
 * A bind mount of `source` at `target`. Read-only is applied to the detached copy, never racily.
 * A recursive bind's handle also unmounts the copies of the submounts it brought along.
 */
export async function bindMount(source: string, target: string, options: BindOptions = {}): Promise<MountHandle> {
  const steps = bindSteps(cString('source', source), cString('target', target), options);
  const { mountId, unique } = await attach(steps, target);
  return new MountHandle(target, mountId, unique, options.recursive ? descendantMountIds(mountId) : []);
}

export function bindMountSync(source: string, target: string, options: BindOptions = {}): MountHandle {
  const steps = bindSteps(cString('source', source), cString('target', target), options);
  const { mountId, unique } = attachSync(steps, target);
  return new MountHandle(target, mountId, unique, options.recursive ? descendantMountIds(mountId) : []);
}

function tmpfsSteps(target: string, options: TmpfsOptions): Step[] {
  const params: Array<[string, string]> = [];
  if (options.size !== undefined) {
    const ok = typeof options.size === 'number' ? Number.isSafeInteger(options.size) && options.size > 0 : /^\d+[kmgKMG%]?$/.test(options.size);
    if (!ok) throw invalidArgValue('size', "must be a positive byte count or a tmpfs size such as '64m' or '10%'", options.size);
    params.push(['size', String(options.size)]);
  }
  if (options.mode !== undefined) {
    if (!Number.isInteger(options.mode) || options.mode < 0 || options.mode > 0o7777) throw invalidArgValue('mode', 'must be a file mode from 0 to 0o7777', options.mode);
    params.push(['mode', options.mode.toString(8)]);
  }
  if (!probe().newMountApi) {
    return [{ op: 'mount', source: 'tmpfs', target, fstype: 'tmpfs', data: params.map(([k, v]) => `${k}=${v}`).join(',') }, ...idSteps(target)];
  }
  const steps: Step[] = [
    { op: 'fsopen', fsname: 'tmpfs' },
    ...params.map(([key, value]): Step => ({ op: 'fsconfig', fs: 0, cmd: FSCONFIG.SET_STRING, key, value })),
    { op: 'fsconfig', fs: 0, cmd: FSCONFIG.SET_STRING, key: 'source', value: 'tmpfs' },
    { op: 'fsconfig', fs: 0, cmd: FSCONFIG.CMD_CREATE },
  ];
  const mnt = steps.length;
  steps.push(
    { op: 'fsmount', fs: 0 },
    { op: 'move_mount', from: mnt, fromPath: '', toPath: target, flags: MOVE_MOUNT.F_EMPTY_PATH },
    { op: 'close', fd: mnt },
    ...idSteps(target),
  );
  return steps;
}

/** A tmpfs at `target`, for scratch space (or an upper and work that live only as long as the mount). */
export async function tmpfsMount(target: string, options: TmpfsOptions = {}): Promise<MountHandle> {
  const { mountId, unique } = await attach(tmpfsSteps(cString('target', target), options), target);
  return new MountHandle(target, mountId, unique);
}

export function tmpfsMountSync(target: string, options: TmpfsOptions = {}): MountHandle {
  const { mountId, unique } = attachSync(tmpfsSteps(cString('target', target), options), target);
  return new MountHandle(target, mountId, unique);
}
