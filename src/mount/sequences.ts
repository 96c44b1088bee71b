/**
 * The syscall sequences every mount plan is made of, written once: the new mount API's
 * fsopen → fsconfig... → create → fsmount → move_mount → close, the open-and-check phase of
 * directories passed by fd, and the statx of the mount point that reads the new mount's ids.
 * Pure: steps as data, run later by attach.ts.
 */
import { relative } from 'node:path';
import { AT, MOUNT_ATTR, MOVE_MOUNT, O, OPEN_TREE, RESOLVE, STATX } from '../sys/constants.js';
import { idMapText } from '../spec/shape.js';
import type { OverlayIdMap } from '../spec/types.js';
import type { FdHandle } from '../sys/native-types.js';
import type { Step } from '../sys/steps.js';
import type { DirIdentity } from './validate.js';

export interface PlannedStep {
  /** What the step does, for errors and dry runs: `fsconfig lowerdir+ '/x'`, `create`, `mount`. */
  stage: string;
  step: Step;
  /** For a mount(2) whose data names fds opened earlier (the /proc/self/fd fallback). */
  dataPieces?: DataPiece[];
  /** For an open(2) of a spec path: the field it came from, checked after the open. */
  field?: string;
}

/** A piece of legacy mount data: literal text, or the number of the fd that step `fdOf` opened. */
export type DataPiece = string | { fdOf: number };

/** One fsconfig of a new-API mount, before the fs context's step index is known. */
export type ConfigStep = (fs: number) => PlannedStep;

/**
 * fsopen, the config steps, create, fsmount with `attrs`, move_mount to `target`, and the
 * closes: an open fsmount fd pins the mount (umount would give EBUSY while it lives), and the
 * fs context is closed once its log has been read. Appended to `steps`.
 */
export function newApiMount(
  steps: PlannedStep[],
  fsname: string,
  config: readonly ConfigStep[],
  options: { attrs: number; target: string; exclusive: boolean; toFd?: number },
): void {
  const fs = steps.length;
  steps.push({ stage: 'fsopen', step: { op: 'fsopen', fsname } });
  for (const c of config) steps.push(c(fs));
  steps.push({ stage: 'create', step: { op: options.exclusive ? 'fsconfigCreateExcl' : 'fsconfigCreate', fs } });
  const mnt = steps.length;
  steps.push({ stage: 'fsmount', step: { op: 'fsmount', fs, attrs: options.attrs } });
  steps.push({ stage: 'move_mount', step: moveMountStep(mnt, options.target, options.toFd) });
  steps.push({ stage: 'close', step: { op: 'close', fd: mnt } });
  steps.push({ stage: 'close', step: { op: 'close', fd: fs } });
}

/** move_mount of step `from`'s mount to `target`, or onto the directory opened by step `toFd`. */
export function moveMountStep(from: number, target: string, toFd?: number): Step {
  return toFd === undefined
    ? { op: 'moveMount', from, fromPath: '', toPath: target, flags: MOVE_MOUNT.F_EMPTY_PATH }
    : { op: 'moveMount', from, fromPath: '', to: toFd, toPath: '', flags: MOVE_MOUNT.F_EMPTY_PATH | MOVE_MOUNT.T_EMPTY_PATH };
}

/**
 * Opens `target` beneath `root` (O_PATH: no symlink on the way or at the end, never out of
 * `root`), for a mount attached onto the fd rather than by path: a path swapped for a symlink
 * after it was checked cannot send the mount elsewhere. The step index of the fd; its close
 * step is the caller's.
 */
export function openBeneath(steps: PlannedStep[], root: string, target: string, directory: boolean): number {
  const rel = relative(root, target);
  const rootFd = steps.length;
  steps.push({ stage: `open '${root}'`, step: { op: 'open', path: root, flags: O.PATH | O.DIRECTORY } });
  const fd = steps.length;
  steps.push({
    stage: `open '${target}' beneath '${root}'`,
    step: { op: 'openat2', dirfd: rootFd, path: rel, flags: O.PATH | (directory ? O.DIRECTORY : 0), resolve: RESOLVE.BENEATH | RESOLVE.NO_SYMLINKS | RESOLVE.NO_MAGICLINKS },
  });
  steps.push({ stage: 'close', step: { op: 'close', fd: rootFd } });
  return fd;
}

/** An fsconfig SET_STRING (value null: SET_FLAG) step for `key`. */
export function configString(key: string, value: string | null, stage = value === null ? `fsconfig ${key}` : `fsconfig ${key}=${value}`): ConfigStep {
  return (fs) =>
    value === null
      ? { stage, step: { op: 'fsconfigSetFlag', fs, key } }
      : { stage, step: { op: 'fsconfigSetString', fs, key, value } };
}

/**
 * Opens each directory O_PATH and checks the fd is the directory that was validated (an
 * expectFile step: ESTALE otherwise), in the same batch as everything that uses it, so a path
 * swapped after validation is refused rather than mounted. The identities are not known when
 * planning: the steps carry zeros and `field`; fillIdentities() puts in what validation found.
 * `keep`: the fds outlive the batch (for a second one). Appended to `steps`; returns the step
 * index of each field's fd.
 */
export function openAndCheck(steps: PlannedStep[], dirs: ReadonlyArray<{ field: string; path: string }>, keep: boolean): Map<string, number> {
  const fdStep = new Map<string, number>();
  for (const d of dirs) {
    fdStep.set(d.field, steps.length);
    const open = { op: 'open', path: d.path, flags: O.PATH | O.DIRECTORY } as const;
    steps.push({ stage: `open ${d.field} '${d.path}'`, field: d.field, step: keep ? { ...open, keep } : open });
  }
  for (const [field, index] of fdStep) {
    steps.push({ stage: `check ${field}`, field, step: { op: 'expectFile', fd: index, devMajor: 0, devMinor: 0, ino: 0 } });
  }
  return fdStep;
}

/**
 * The user namespace an idmap names, as a step (a new one carrying the ranges; /proc/PID/ns/user;
 * a copy of an fd given by number) or the caller's own handle. What mount_setattr's `userns` takes.
 */
export function usernsOf(steps: PlannedStep[], idmap: OverlayIdMap): number | FdHandle {
  if ('uid' in idmap) {
    const uid = idMapText(idmap.uid);
    const gid = idMapText(idmap.gid ?? idmap.uid);
    steps.push({ stage: 'userns', step: { op: 'userns', uidMap: uid, gidMap: gid } });
  } else if ('pid' in idmap) {
    steps.push({ stage: `open user namespace of pid ${idmap.pid}`, step: { op: 'open', path: `/proc/${idmap.pid}/ns/user`, flags: O.RDONLY } });
  } else if (typeof idmap.userns === 'number') {
    // A number in a batch names an earlier step: the caller's fd is reopened through /proc.
    steps.push({ stage: `open user namespace fd ${idmap.userns}`, step: { op: 'open', path: `/proc/self/fd/${idmap.userns}`, flags: O.RDONLY } });
  } else return idmap.userns as FdHandle;
  return steps.length - 1;
}

/**
 * Idmapped clones of the lower and data layers: each cloned (open_tree OPEN_TREE_CLONE: a
 * detached bind of just that directory), checked to be the directory validated (expectFile)
 * and idmapped (mount_setattr MOUNT_ATTR_IDMAP). The clones are never attached anywhere: the
 * overlay takes them by fd and keeps private copies of its own. Upper and work are not
 * idmapped: the kernel makes work/work as the mounter, whose uid an idmap of container ids does
 * not map (EOVERFLOW, and the overlay comes up read-only), so they go by fd as they are, and what
 * the container writes lands in upper with the ids it has outside. Appended to `steps`;
 * returns the step index of each layer's fd.
 */
export function idmappedClones(steps: PlannedStep[], layers: ReadonlyArray<{ field: string; path: string }>, userns: number | FdHandle): Map<string, number> {
  const fdStep = new Map<string, number>();
  for (const d of layers) {
    const fd = steps.length;
    fdStep.set(d.field, fd);
    steps.push({ stage: `open_tree ${d.field} '${d.path}'`, field: d.field, step: { op: 'openTree', path: d.path, flags: OPEN_TREE.CLONE } });
    steps.push({ stage: `check ${d.field}`, field: d.field, step: { op: 'expectFile', fd, devMajor: 0, devMinor: 0, ino: 0 } });
    steps.push({ stage: `idmap ${d.field}`, step: { op: 'mountSetattr', dirfd: fd, path: '', flags: AT.EMPTY_PATH, attrSet: MOUNT_ATTR.IDMAP, userns } });
  }
  return fdStep;
}

/**
 * The plan's steps with each expectFile check given the identity validation found for its
 * field. A directory validation did not see (a work dir made just now, by us) has none to
 * compare with: its check becomes a plain statx of the fd.
 */
export function fillIdentities(steps: readonly PlannedStep[], identities: ReadonlyMap<string, DirIdentity>): PlannedStep[] {
  return steps.map((planned) => {
    const { step, field } = planned;
    if (step.op !== 'expectFile') return planned;
    const id = field === undefined ? undefined : identities.get(field);
    if (id === undefined) return { ...planned, step: { op: 'statx', dirfd: step.fd, path: '', flags: AT.EMPTY_PATH, mask: STATX.TYPE } };
    return { ...planned, step: { ...step, devMajor: id.devMajor, devMinor: id.devMinor, ino: id.ino } };
  });
}

/** statx of the new mount point: the id mountinfo shows, and the 64-bit one where there is one. */
export function mountIdSteps(target: string, uniqueIds: boolean): PlannedStep[] {
  const step = (mask: number): PlannedStep => ({ stage: 'statx', step: { op: 'statx', path: target, flags: AT.SYMLINK_NOFOLLOW, mask } });
  return uniqueIds ? [step(STATX.MNT_ID), step(STATX.MNT_ID_UNIQUE)] : [step(STATX.MNT_ID)];
}

/** The index of the step that attaches the mount (move_mount, or mount(2)); -1 if none. */
export function attachIndex(steps: ReadonlyArray<{ step: Step }>): number {
  return steps.findIndex((s) => s.step.op === 'moveMount' || s.step.op === 'mount');
}
