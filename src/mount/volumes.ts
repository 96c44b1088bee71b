/**
 * Mounts beside the rootfs: bind mounts for volumes and tmpfs for scratch space. Both go
 * through the new mount API where the kernel has it, in one native call, and run as overlays
 * do (attach.ts): a failure after the attach takes the mount down again.
 */
import { AT, MOUNT_ATTR, MOVE_MOUNT, MS, OPEN_TREE } from '../sys/constants.js';
import { isAbsolute, relative } from 'node:path';
import { OverlayError } from '../spec/errors.js';
import { bool, cString, invalidArgValue } from '../sys/args.js';
import { runAsync, runSync, type Task } from '../sys/io.js';
import { attachTask } from './attach.js';
import { descendantMountIds, MAKE_HANDLE, MountHandle } from './handle.js';
import { capabilitiesTask } from './probe.js';
import { configString, mountIdSteps, moveMountStep, newApiMount, openBeneath, type PlannedStep } from './sequences.js';

export interface BeneathOption {
  /**
   * `target` must lie inside this directory and is reached with no symlink on the way
   * (openat2 RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS), and the mount is attached onto the
   * directory so opened (move_mount to an fd): a component swapped for a symlink, by whatever
   * else writes there (a container's root, a shared volume), cannot send the mount outside.
   * Needs the new mount API (Linux 5.2).
   */
  beneath?: string;
}

export interface BindOptions extends BeneathOption {
  /** Read-only: set on the detached copy before it is attached, so it is never writable there. */
  readOnly?: boolean;
  /** Include the mounts below `source` (MS_REC / AT_RECURSIVE). */
  recursive?: boolean;
}

export interface TmpfsOptions extends BeneathOption {
  /** Size limit: bytes, or a string tmpfs accepts ('64m', '10%'). */
  size?: number | string;
  /** Mode of the root directory (default 0o1777 as tmpfs has). */
  mode?: number;
}

/** Checks `beneath` and that `target` is inside it; the refusal before any syscall. */
function checkBeneath(target: string, beneath: string | undefined, newApi: boolean): void {
  if (beneath === undefined) return;
  cString('beneath', beneath);
  const rel = relative(beneath, target);
  if (!isAbsolute(beneath) || !isAbsolute(target) || rel === '' || rel === '..' || rel.startsWith('../') || isAbsolute(rel)) {
    throw invalidArgValue('beneath', `must be an absolute directory that '${target}' lies inside`, beneath);
  }
  if (!newApi) throw new OverlayError('ERR_UNSUPPORTED', `mounting beneath '${beneath}' needs the new mount API (Linux 5.2): this kernel lacks it`);
}

function* bindTask(source: string, target: string, options: BindOptions): Task<MountHandle> {
  cString('source', source);
  cString('target', target);
  const recursive = bool('recursive', options.recursive);
  const readOnly = bool('readOnly', options.readOnly);
  const caps = yield* capabilitiesTask();
  checkBeneath(target, options.beneath, caps.newMountApi);
  const steps: PlannedStep[] = [];
  if (!caps.newMountApi) {
    // mount(2) cannot make a bind read-only in one call: bind, then remount read-only.
    steps.push({ stage: 'mount', step: { op: 'mount', source, target, fstype: null, flags: MS.BIND | (recursive ? MS.REC : 0) } });
    if (readOnly) steps.push({ stage: 'remount', step: { op: 'mount', source: null, target, fstype: null, flags: MS.BIND | MS.REMOUNT | MS.RDONLY } });
  } else {
    steps.push({ stage: 'open_tree', step: { op: 'openTree', path: source, flags: OPEN_TREE.CLONE | (recursive ? AT.RECURSIVE : 0) } });
    if (readOnly) {
      steps.push({
        stage: 'mount_setattr',
        step: { op: 'mountSetattr', dirfd: 0, path: '', flags: AT.EMPTY_PATH | (recursive ? AT.RECURSIVE : 0), attrSet: MOUNT_ATTR.RDONLY },
      });
    }
    const toFd = options.beneath !== undefined ? openBeneath(steps, options.beneath, target, false) : undefined;
    steps.push({ stage: 'move_mount', step: moveMountStep(0, target, toFd) });
    steps.push({ stage: 'close', step: { op: 'close', fd: 0 } });
    if (toFd !== undefined) steps.push({ stage: 'close', step: { op: 'close', fd: toFd } });
  }
  steps.push(...mountIdSteps(target, caps.mountIdUnique));
  const { mountId, uniqueMountId } = yield* attachTask({ steps, openPhase: 0, target });
  const submounts = recursive ? yield* descendantMountIds(mountId) : [];
  return new MountHandle(MAKE_HANDLE, target, mountId, uniqueMountId, submounts);
}

/**
 * A bind mount of `source` at `target`. Read-only is applied to the detached copy, never racily.
 * A recursive bind's handle also unmounts the copies of the submounts it brought along.
 */
export function bindMount(source: string, target: string, options: BindOptions = {}): Promise<MountHandle> {
  return runAsync(bindTask(source, target, options));
}

export function bindMountSync(source: string, target: string, options: BindOptions = {}): MountHandle {
  return runSync(bindTask(source, target, options));
}

function* tmpfsTask(target: string, options: TmpfsOptions): Task<MountHandle> {
  cString('target', target);
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
  const caps = yield* capabilitiesTask();
  checkBeneath(target, options.beneath, caps.newMountApi);
  const steps: PlannedStep[] = [];
  if (!caps.newMountApi) {
    const data = params.map(([k, v]) => `${k}=${v}`).join(',');
    steps.push({ stage: 'mount', step: { op: 'mount', source: 'tmpfs', target, fstype: 'tmpfs', data } });
  } else {
    const config = [...params.map(([k, v]) => configString(k, v)), configString('source', 'tmpfs')];
    const toFd = options.beneath !== undefined ? openBeneath(steps, options.beneath, target, true) : undefined;
    newApiMount(steps, 'tmpfs', config, { attrs: 0, target, exclusive: false, ...(toFd !== undefined ? { toFd } : {}) });
    if (toFd !== undefined) steps.push({ stage: 'close', step: { op: 'close', fd: toFd } });
  }
  steps.push(...mountIdSteps(target, caps.mountIdUnique));
  const { mountId, uniqueMountId } = yield* attachTask({ steps, openPhase: 0, target });
  return new MountHandle(MAKE_HANDLE, target, mountId, uniqueMountId);
}

/** A tmpfs at `target`, for scratch space (or an upper and work that live only as long as the mount). */
export function tmpfsMount(target: string, options: TmpfsOptions = {}): Promise<MountHandle> {
  return runAsync(tmpfsTask(target, options));
}

export function tmpfsMountSync(target: string, options: TmpfsOptions = {}): MountHandle {
  return runSync(tmpfsTask(target, options));
}
