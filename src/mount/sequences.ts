/**
 * The syscall sequences every mount plan is made of, written once: the new mount API's
 * fsopen → fsconfig... → create → fsmount → move_mount → close, the open-and-check phase of
 * directories passed by fd, and the statx of the mount point that reads the new mount's ids.
 * Pure: steps as data, run later by attach.ts.
 */
import { AT, MOVE_MOUNT, O, STATX } from '../sys/constants.js';
import type { Step } from '../sys/steps.js';

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
  options: { attrs: number; target: string; exclusive: boolean },
): void {
  const fs = steps.length;
  steps.push({ stage: 'fsopen', step: { op: 'fsopen', fsname } });
  for (const c of config) steps.push(c(fs));
  steps.push({ stage: 'create', step: { op: options.exclusive ? 'fsconfigCreateExcl' : 'fsconfigCreate', fs } });
  const mnt = steps.length;
  steps.push({ stage: 'fsmount', step: { op: 'fsmount', fs, attrs: options.attrs } });
  steps.push({ stage: 'move_mount', step: { op: 'moveMount', from: mnt, fromPath: '', toPath: options.target, flags: MOVE_MOUNT.F_EMPTY_PATH } });
  steps.push({ stage: 'close', step: { op: 'close', fd: mnt } });
  steps.push({ stage: 'close', step: { op: 'close', fd: fs } });
}

/** An fsconfig SET_STRING (value null: SET_FLAG) step for `key`. */
export function configString(key: string, value: string | null, stage = value === null ? `fsconfig ${key}` : `fsconfig ${key}=${value}`): ConfigStep {
  return (fs) =>
    value === null
      ? { stage, step: { op: 'fsconfigSetFlag', fs, key } }
      : { stage, step: { op: 'fsconfigSetString', fs, key, value } };
}

/**
 * Opens each directory O_PATH and stats the fd, so execution can check that each fd is the
 * directory that was validated before anything uses it. Appended to `steps`; returns the step
 * index of each field's fd.
 */
export function openAndCheck(steps: PlannedStep[], dirs: ReadonlyArray<{ field: string; path: string }>): Map<string, number> {
  const fdStep = new Map<string, number>();
  for (const d of dirs) {
    fdStep.set(d.field, steps.length);
    steps.push({ stage: `open ${d.field} '${d.path}'`, field: d.field, step: { op: 'open', path: d.path, flags: O.PATH | O.DIRECTORY, keep: true } });
  }
  for (const [field, index] of fdStep) {
    steps.push({ stage: `check ${field}`, field, step: { op: 'statx', dirfd: index, path: '', flags: AT.EMPTY_PATH, mask: STATX.BASIC_STATS } });
  }
  return fdStep;
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
