/**
 * mountOverlay(spec): validate, probe, plan, prepare the workdir, then run the plan in one
 * native call (two when layers are opened as fds first). Either the overlay is mounted exactly
 * as asked, or an error says why and nothing is left: no mount, no fd, no directory we made.
 * mountOverlay() and mountOverlaySync() are one task with two drivers: the Promise form does
 * all of its I/O off the main thread.
 */
import { OverlayError } from '../spec/errors.js';
import { isHandle } from '../sys/args.js';
import { runAsync, runSync, steps, type Task } from '../sys/io.js';
import { isSystemError } from '../sys/errors.js';
import type { StepsResult } from '../sys/native-types.js';
import type { Step } from '../sys/steps.js';
import type { OverlaySpec } from '../spec/types.js';
import { remember } from '../read/records.js';
import { attachTask, remap } from './attach.js';
import { kernelPathForms, mountFailure } from './failure.js';
import { MAKE_HANDLE, OverlayMount } from './handle.js';
import { kernelLogCursor, kernelLogSteps } from './kmsg.js';
import { planShaped, type MountPlan } from './plan.js';
import { capabilitiesTask, type Capabilities } from './probe.js';
import { fillIdentities, type PlannedStep } from './sequences.js';
import { validateTask } from './validate.js';
import { lockPlan, prepareWorkdir, releaseWorkdir, reserveWorkdir, undoPrepare, workdirQuestions } from './workdir.js';

export interface MountOverlayOptions {
  /** Use this capability report instead of probe() (e.g. to plan for another kernel). */
  capabilities?: Capabilities;
}

/**
 * After an open phase (the /proc/self/fd fallback, whose mount data names the fds by number),
 * the rest of the steps with those fds and numbers.
 */
function secondSteps(plan: MountPlan, planned: readonly PlannedStep[], pageSize: number, first: StepsResult | undefined): Step[] {
  if (!first) return planned.map((s) => s.step);
  const offset = plan.openPhase;
  const fds = first.results.map((r) => (isHandle(r) ? r.fd : -1));
  return planned.slice(offset).map((s) => {
    const step = remap(s.step, offset, first.results);
    if (s.dataPieces && step.op === 'mount') {
      const data = s.dataPieces.map((piece) => (typeof piece === 'string' ? piece : String(fds[piece.fdOf]))).join('');
      // The plan estimated the fd numbers; the kernel would cut data past one page silently.
      if (Buffer.byteLength(data) >= pageSize) {
        throw new OverlayError('ERR_MOUNT_DATA_TOO_LONG', `the mount(2) data with this process's fd numbers is ${Buffer.byteLength(data)} bytes, over one page (${pageSize})`, {
          stage: s.stage,
          strategy: plan.strategy,
        });
      }
      return { ...step, data };
    }
    return step;
  });
}

/** ESTALE from an expectFile step: the directory at the path is not the one validated. */
function layerChanged(plan: MountPlan, err: unknown, stepIndex: number | undefined): OverlayError | undefined {
  const planned = stepIndex === undefined ? undefined : plan.steps[stepIndex];
  if (planned?.step.op !== 'expectFile' || !isSystemError(err) || err.code !== 'ESTALE') return undefined;
  const field = planned.field!;
  return new OverlayError('ERR_LAYER_CHANGED', `${field} is not the directory that was validated: its path was replaced before it was opened`, {
    field,
    stage: plan.steps[planned.step.fd as number]!.stage,
    strategy: plan.strategy,
  });
}

/** Whether index=on applies to the mount: asked for, implied by nfs_export=on, or the module default. */
function indexApplies(spec: OverlaySpec, caps: Capabilities): boolean {
  const o = spec.options ?? {};
  if (spec.upper === undefined || o.index === 'off') return false;
  return o.index === 'on' || o.nfsExport === 'on' || (o.nfsExport === undefined && caps.moduleDefaults.nfsExport === true) || caps.moduleDefaults.index === true;
}

function* mountTask(spec: OverlaySpec, options: MountOverlayOptions): Task<OverlayMount> {
  const validated = yield* validateTask(spec);
  const caps = options.capabilities ?? (yield* capabilitiesTask());
  const plan = planShaped(spec, caps);
  // One batch for what comes before the mount: a kernel log cursor, and the workdir's questions.
  const facts = { reals: validated.reals, workExisted: validated.identities.has('work') };
  // Reserved in this process before the first batch can take any lock: see reserveWorkdir().
  let prepared = reserveWorkdir(plan.spec, facts);
  let preflight;
  const logSteps = kernelLogSteps(0);
  const q = logSteps.length;
  try {
    preflight = yield* steps([...logSteps, ...workdirQuestions(plan.spec, facts, q)]);
  } catch (e) {
    releaseWorkdir(prepared);
    throw e;
  }
  const cursor = kernelLogCursor(preflight.results, 0, logSteps);
  try {
    prepared = yield* prepareWorkdir(plan.spec, facts, preflight.results, q, prepared);
  } catch (e) {
    // Lock fds the preparation did not get as far as taking over.
    for (const r of preflight.results.slice(q)) if (isHandle(r)) r.close();
    // A syscall that failed preparing says where, as a failed mount does.
    if (isSystemError(e)) Object.assign(e, { stage: (e as { stage?: string }).stage ?? 'prepare work dir', strategy: plan.strategy });
    throw e;
  }
  try {
    // The kernel log is shared by every process: only lines naming this mount's paths are its.
    const paths = kernelPathForms(plan.spec, validated.reals.values());
    const index = indexApplies(plan.spec, caps);
    // Each fd check (expectFile) compares with what validation saw (and a work dir made by
    // this call with the one it made and locked).
    const identities = new Map(validated.identities);
    if (prepared.workIdentity !== undefined) identities.set('work', prepared.workIdentity);
    const planned = fillIdentities(plan.steps, identities);
    const attached = yield* attachTask(
      { steps: planned, openPhase: plan.openPhase, target: plan.spec.target },
      {
        secondSteps: (first) => secondSteps(plan, planned, caps.pageSize, first),
        failure: function* (err, stepIndex) {
          return (
            layerChanged(plan, err, stepIndex) ??
            (yield* mountFailure(err, { stage: stepIndex !== undefined ? plan.steps[stepIndex]?.stage : undefined, strategy: plan.strategy, paths, index, cursor }))
          );
        },
      },
    );
    // Its unmount takes the same locks: the kernel frees upper and work only as umount2 returns.
    const lockPaths = lockPlan(plan.spec, facts).paths;
    const m = new OverlayMount(MAKE_HANDLE, plan, attached.mountId, attached.uniqueMountId, attached.result.kernelMessages, lockPaths);
    remember({
      mountId: m.mountId,
      ...(m.uniqueMountId !== undefined ? { uniqueMountId: m.uniqueMountId } : {}),
      target: m.target,
      spec: m.spec,
      strategy: m.strategy,
      byFd: [...m.byFd],
    });
    releaseWorkdir(prepared);
    return m;
  } catch (e) {
    yield* undoPrepare(prepared, plan.spec.work);
    throw e;
  }
}

/**
 * Mounts an overlay. Validates first (OverlaySpecError lists every problem), then mounts with
 * the best strategy this kernel has (see plan()). On failure the error is Node-shaped with
 * `stage`, `strategy`, `kernelMessages`, `kernelLog` and a `hint`, and nothing is left behind.
 */
export async function mountOverlay(spec: OverlaySpec, options: MountOverlayOptions = {}): Promise<OverlayMount> {
  return runAsync(mountTask(spec, options));
}

/** mountOverlay() on the calling thread. */
export function mountOverlaySync(spec: OverlaySpec, options: MountOverlayOptions = {}): OverlayMount {
  return runSync(mountTask(spec, options));
}
