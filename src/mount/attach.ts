/**
 * Runs a mount plan's steps, for overlays and volumes alike: the open phase (directories opened
 * by fd and stat'ed, checked by the caller), then the rest with those fds; reads the new
 * mount's ids; and when a step after the one that attached the mount fails, takes the mount
 * down again, so a failed call leaves nothing mounted.
 */
import { resolve } from 'node:path';
import { MNT } from '../sys/constants.js';
import { isSystemError } from '../sys/errors.js';
import { isHandle } from '../sys/args.js';
import { steps as runSteps, type Task } from '../sys/io.js';
import type { FdHandle, StatxResult, StepsResult } from '../sys/native-types.js';
import type { Step } from '../sys/steps.js';
import { mountInfoTask } from '../read/mountinfo.js';
import { attachIndex, type PlannedStep } from './sequences.js';

export interface Attachable {
  steps: readonly PlannedStep[];
  /** Steps [0, openPhase) open and stat directories; the rest run after the caller checked them. */
  openPhase: number;
  target: string;
}

export interface Attached {
  result: StepsResult;
  /** The id mountinfo shows. */
  mountId: number;
  /** The 64-bit id, where the kernel has it. */
  uniqueMountId: number | undefined;
}

export interface AttachHooks {
  /**
   * The steps after the open phase, given its results (undefined without one): the caller
   * checks the opened fds here and fills in what depends on them. Default: the plan's steps.
   */
  secondSteps?(first: StepsResult | undefined): Step[];
  /** The error to throw for a failure at plan step `stepIndex` (undefined: before any step). */
  failure?(err: unknown, stepIndex: number | undefined): Task<unknown>;
}

/** The fd fields of a step, so phase-two steps can refer to handles opened in phase one. */
const FD_FIELDS = ['fs', 'dirfd', 'from', 'to', 'fd', 'userns', 'cwd'] as const;

/** A phase-two step with its step indexes moved down by `offset`, and phase-one ones replaced by their handles. */
export function remap(step: Step, offset: number, handles: readonly unknown[]): Step {
  const out: Record<string, unknown> = { ...step };
  for (const f of FD_FIELDS) {
    const v = out[f];
    if (typeof v !== 'number') continue;
    out[f] = v < offset ? (handles[v] as FdHandle) : v - offset;
  }
  return out as unknown as Step;
}

/** The mount ids from the plan's trailing statx steps (before Linux 5.8: the top mount at the target). */
function* mountIds(result: StepsResult, target: string): Task<{ mountId: number; uniqueMountId: number | undefined }> {
  const stats = result.results.filter((r): r is StatxResult => typeof r === 'object' && r !== null && 'mask' in r && !isHandle(r));
  // The plan's last steps: earlier statx results (a checked layer fd) are not the mount's.
  const old = stats.findLast((s) => s.mountIdUnique === false);
  const unique = stats.findLast((s) => s.mountIdUnique === true);
  let mountId = old?.mountId;
  if (mountId === undefined) {
    const top = (yield* mountInfoTask()).filter((e) => e.mountPoint === resolve(target)).at(-1);
    mountId = top?.mountId ?? -1;
  }
  return { mountId, uniqueMountId: unique?.mountId };
}

export function* attachTask(plan: Attachable, hooks: AttachHooks = {}): Task<Attached> {
  let first: StepsResult | undefined;
  let phase: 1 | 2 | 'mounted' = 1;
  try {
    if (plan.openPhase > 0) first = yield* runSteps(plan.steps.slice(0, plan.openPhase).map((s) => s.step));
    const second = hooks.secondSteps ? hooks.secondSteps(first) : plan.steps.map((s) => s.step);
    phase = 2;
    const result = yield* runSteps(second);
    phase = 'mounted';
    return { result, ...(yield* mountIds(result, plan.target)) };
  } catch (err) {
    const offset = phase === 2 ? plan.openPhase : 0;
    const stepIndex = isSystemError(err) && err.step !== undefined && phase !== 'mounted' ? err.step + offset : undefined;
    // A failure after the mount was attached (a later step, or reading its ids) takes it down
    // again before anything else is undone.
    if (phase === 'mounted' || (stepIndex !== undefined && stepIndex > attachIndex(plan.steps))) {
      try {
        yield* runSteps([{ op: 'umount2', target: plan.target, flags: MNT.UMOUNT_NOFOLLOW | MNT.DETACH }]);
      } catch {
        /* already gone */
      }
    }
    throw hooks.failure ? yield* hooks.failure(err, stepIndex) : err;
  } finally {
    for (const r of first?.results ?? []) if (isHandle(r)) r.close();
  }
}
