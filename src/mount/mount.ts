/**
 * mountOverlay(spec): validate, probe, plan, prepare the workdir, then run the plan in one
 * native call (two when layers are opened as fds first). Either the overlay is mounted exactly
 * as asked, or an error says why and nothing is left: no mount, no fd, no directory we made.
 */
import { resolve } from 'node:path';
import { MNT } from './constants.js';
import { isSystemError, type SystemError } from './errors.js';
import { KernelLogCursor } from './kmsg.js';
import type { FdHandle, StatxResult, Step, StepsResult } from './native-types.js';
import { MountHandle, type UnmountOptions } from './mount-handle.js';
import { readMountInfo } from './mountinfo.js';
import { plan as makePlan, type MountPlan } from './plan.js';
import { probe, type Capabilities } from './probe.js';
import { forget, remember } from './registry.js';
import { specPaths, validateSpecIdentities, type DirIdentity, type OverlaySpec, type Strategy } from './spec.js';
import { umount2Sync } from './sys/mount-legacy.js';
import { runSteps, runStepsSync } from './sys/steps.js';
import { isHandle } from './validate.js';
import { cleanWorkdir, prepareWorkdir, releaseWorkdir, undoPrepare, type PreparedWorkdir } from './workdir.js';

/** A failed mount: Node's fs error shape plus where and why. */
export interface OverlayMountError extends SystemError {
  /** The step that failed: `fsconfig lowerdir+ '/x'`, `create`, `fsmount`, `move_mount`, `mount`. */
  stage: string;
  strategy: Strategy;
  /** `overlayfs:` lines the kernel logged during the call (where /dev/kmsg is readable). */
  kernelLog: string[];
  /** What usually causes this, when known. */
  hint?: string;
}

export interface MountOverlayOptions {
  /** Use this capability report instead of probe() (e.g. to plan for another kernel). */
  capabilities?: Capabilities;
}

export interface OverlayUnmountOptions extends UnmountOptions {
  /** After unmounting, remove the kernel's work/ and index/ from the work dir. */
  cleanWorkdir?: boolean;
}

export interface OverlayUnmountResult {
  /** Detached while busy: the overlay runs on until its last user is gone (work dir not cleaned). */
  stillInUse: boolean;
  /** What cleanWorkdir removed. */
  cleaned: string[];
}

/** A mounted overlay. Unmount it with unmount() or `await using`. */
export class OverlayMount extends MountHandle {
  readonly spec: OverlaySpec;
  readonly strategy: Strategy;
  readonly plan: MountPlan;
  /** Warnings and information the kernel logged on the fs context while mounting. */
  readonly kernelMessages: readonly string[];
  /**
   * Spec fields given to the kernel as fds: /proc/self/mountinfo cannot show their paths
   * (the kernel prints d_path of the fd); this handle and inspect() in this process can.
   */
  readonly byFd: readonly string[];

  constructor(plan: MountPlan, mountId: number, uniqueMountId: number | undefined, kernelMessages: string[]) {
    super(plan.spec.target, mountId, uniqueMountId);
    this.spec = plan.spec;
    this.strategy = plan.strategy;
    this.plan = plan;
    this.kernelMessages = kernelMessages;
    this.byFd = plan.byFd;
  }

  /**
   * Unmounts. With `cleanWorkdir` the kernel's work/ and index/ are removed afterwards; with
   * `detach` too, a plain unmount is tried first, and if the overlay is busy it is detached but
   * its work dir left alone (a detached overlay keeps running on it until its last user is gone).
   */
  override async unmount(options: OverlayUnmountOptions = {}): Promise<OverlayUnmountResult> {
    const clean = cleaning(this.spec.work, options);
    let busy = false;
    try {
      await super.unmount({ detach: options.detach === true && !clean });
    } catch (e) {
      if (!(clean && options.detach && isSystemError(e) && e.code === 'EBUSY')) throw e;
      await super.unmount({ detach: true });
      busy = true;
    }
    return cleaned(this.spec.work, clean, busy);
  }

  override unmountSync(options: OverlayUnmountOptions = {}): OverlayUnmountResult {
    return unmountAndCleanSync((detach) => super.unmountSync({ detach }), this.spec.work, options);
  }

  protected override afterUnmount(): void {
    forget(this.mountId);
  }
}

function cleaning(work: string | undefined, options: OverlayUnmountOptions): boolean {
  return options.cleanWorkdir === true && work !== undefined;
}

function cleaned(work: string | undefined, clean: boolean, busy: boolean): OverlayUnmountResult {
  return { stillInUse: busy, cleaned: clean && !busy ? cleanWorkdir(work!) : [] };
}

/**
 * The unmount rule shared by OverlayMount and `ovl umount` (which has only a mount point):
 * `unmount(detach)` does the unmount. With cleanWorkdir and detach, a plain unmount is tried
 * first; a busy overlay is then detached and its work dir, which it still runs on, left alone.
 */
export function unmountAndCleanSync(
  unmount: (detach: boolean) => unknown,
  work: string | undefined,
  options: OverlayUnmountOptions,
): OverlayUnmountResult {
  const clean = cleaning(work, options);
  let busy = false;
  try {
    unmount(options.detach === true && !clean);
  } catch (e) {
    if (!(clean && options.detach && isSystemError(e) && e.code === 'EBUSY')) throw e;
    unmount(true);
    busy = true;
  }
  return cleaned(work, clean, busy);
}

const HINTS: Array<[RegExp, string]> = [
  [/must reside under the same mount/, 'work must be on the same mount as upper (a bind mount of the same filesystem is a different mount)'],
  [/must be separate subtrees/, 'work must not be inside upper, nor upper inside work'],
  [/not supported as upperdir|not supported over overlayfs/, 'the upper is on an overlay (or a filesystem overlay cannot write to): use a real filesystem such as ext4, xfs or tmpfs for upper and work'],
  [/incompat feature 'volatile'/, 'an earlier volatile mount left work/work/incompat/volatile: if it ended without a crash, mount again with clearVolatile: true'],
  [/needs to support d_type/, 'the upper filesystem has no d_type (xfs made with ftype=0?): whiteouts would show as files'],
  [/requires permission to access trusted xattrs/, 'in a user namespace trusted.overlay.* xattrs are not available: use the userxattr option'],
  [/failed to verify upper root origin/, "index=on recorded other lower layers for this upper: mount with options.index 'off', or remove the work dir's index/"],
  // The kernel refuses a shared upper/work when the new mount has index=on (with index=off it only warns).
  [/in-use as upperdir\/workdir/, "another overlay uses this upper or work dir, which index=on refuses to share: unmount that overlay first (or mount with options.index 'off', accepting undefined behaviour)"],
  [/filesystem on .* is read-only/, 'upper and work must be on a writable filesystem, on a mount that is not read-only'],
  [/too many lower directories/, 'the kernel takes at most 500 lower layers'],
  [/conflicting (lowerdir|upperdir) path|overlapping/, 'a layer is given twice, or one layer is inside another'],
];

function hintFor(err: SystemError, stage: string, words: string): string | undefined {
  for (const [re, hint] of HINTS) if (re.test(words)) return hint;
  if (stage === 'fsopen' && err.code === 'EPERM') return 'mounting needs CAP_SYS_ADMIN: run as root, or inside a user namespace that owns the mount namespace (unshare -Urm)';
  if (stage === 'fsopen' && err.code === 'ENODEV') return 'the overlay filesystem is not available: modprobe overlay';
  if (err.code === 'EBUSY' && stage.startsWith('fsconfig')) return 'the fs context is dead after a failed create: start again with a new one';
  if (err.code === 'EPERM' && stage === 'mount') return 'mounting needs CAP_SYS_ADMIN over the mount namespace';
  if (err.code === 'ENOENT' && stage === 'move_mount') return 'the target does not exist any more (removed since validation?)';
  if (err.code === 'ENOENT' && stage === 'mount') return 'a layer, upper, work or the target does not exist any more (removed since validation?)';
  if (err.code === 'ENOENT' && (stage === 'create' || stage.startsWith('open'))) {
    return 'a layer, upper or work path does not exist any more (removed since validation?)';
  }
  if (err.code === 'ELOOP') return 'a layer is given twice, or one layer is inside another';
  return undefined;
}

/** Strips the level of fs-context messages ("e overlay: x") and kernel log prefixes. */
function kernelWords(fsMessages: readonly string[], kmsg: readonly string[]): string {
  const fromFs = fsMessages.filter((m) => m.startsWith('e ')).map((m) => m.slice(2));
  return [...fromFs, ...kmsg].join('; ');
}

/** Mount attempts of this process under way, and started: the kernel log is shared by all. */
let attemptsInFlight = 0;
let attemptsStarted = 0;

function decorate(err: unknown, p: MountPlan, stepIndex: number | undefined, cursor: KernelLogCursor | null, alone: boolean): unknown {
  if (!isSystemError(err)) {
    cursor?.close();
    return err;
  }
  const e = err as OverlayMountError;
  const stage = stepIndex !== undefined ? (p.steps[stepIndex]?.stage ?? e.syscall) : e.syscall;
  const kernelLog = cursor ? cursor.read() : [];
  // Every overlay line logged meanwhile is kept in kernelLog; with other mounts of ours under
  // way, only lines naming one of this spec's paths may speak for this failure.
  const paths = specPaths(p.spec).map((x) => x.path);
  const ours = alone ? kernelLog : kernelLog.filter((line) => paths.some((path) => line.includes(path)));
  const words = kernelWords(e.kernelMessages ?? [], ours);
  if (words) {
    const before = e.message;
    e.message += ` (${words})`;
    if (e.stack?.startsWith(`Error: ${before}`)) e.stack = `Error: ${e.message}${e.stack.slice(`Error: ${before}`.length)}`;
  }
  e.stage = stage;
  e.strategy = p.strategy;
  e.kernelLog = kernelLog;
  const hint = hintFor(e, stage, words);
  if (hint !== undefined) e.hint = hint;
  return e;
}

/** The fd fields of a step, so phase-two steps can refer to handles opened in phase one. */
const FD_FIELDS = ['fs', 'dirfd', 'from', 'to', 'fd', 'userns', 'cwd'] as const;

function remap(step: Step, offset: number, handles: ReadonlyArray<FdHandle | StatxResult | undefined>): Step {
  const out: Record<string, unknown> = { ...step };
  for (const f of FD_FIELDS) {
    const v = out[f];
    if (typeof v !== 'number') continue;
    out[f] = v < offset ? handles[v] : v - offset;
  }
  return out as unknown as Step;
}

function sameDir(st: StatxResult, id: DirIdentity | undefined): boolean {
  return id !== undefined && st.ino === id.ino && st.devMajor === id.devMajor && st.devMinor === id.devMinor;
}

/** One mount attempt, split so the sync and Promise forms share everything but the calls. */
class Attempt {
  readonly plan: MountPlan;
  readonly prepared: PreparedWorkdir;
  readonly cursor: KernelLogCursor | null;
  readonly identities: Map<string, DirIdentity>;
  readonly caps: Capabilities;
  phaseOne: StepsResult | undefined;
  /** No other attempt of this process was under way when this one started. */
  readonly #startedAlone: boolean;
  readonly #serial: number;
  #ended = false;

  constructor(spec: OverlaySpec, options: MountOverlayOptions) {
    this.identities = validateSpecIdentities(spec);
    const caps = options.capabilities ?? probe();
    this.caps = caps;
    this.plan = makePlan(spec, caps);
    this.prepared = prepareWorkdir(this.plan.spec);
    // The work dir may have just been made: it is what gets mounted now.
    this.cursor = KernelLogCursor.open();
    this.#startedAlone = attemptsInFlight === 0;
    attemptsInFlight++;
    this.#serial = ++attemptsStarted;
  }

  /** Whether this attempt ran with no other of this process overlapping it; ends the attempt. */
  #end(): boolean {
    if (!this.#ended) attemptsInFlight--;
    this.#ended = true;
    return this.#startedAlone && attemptsStarted === this.#serial;
  }

  firstSteps(): Step[] | undefined {
    return this.plan.openPhase > 0 ? this.plan.steps.slice(0, this.plan.openPhase).map((s) => s.step) : undefined;
  }

  /** Checks each opened fd is the validated directory, then builds phase two with those fds. */
  secondSteps(first: StepsResult | undefined): Step[] {
    this.phaseOne = first;
    const offset = this.plan.openPhase;
    if (!first) return this.plan.steps.map((s) => s.step);
    this.plan.steps.slice(0, offset).forEach((s, i) => {
      const r = first.results[i];
      if (s.step.op !== 'statx' || r === undefined || isHandle(r)) return;
      const field = s.field!;
      const validated = this.identities.get(field);
      // A work dir created just now has nothing to compare with.
      if (validated === undefined && field === 'work') return;
      if (validated === undefined || !sameDir(r, validated)) {
        const err = new Error(`${field} is not the directory that was validated: its path was replaced before it was opened`) as Error & {
          code: string;
          field: string;
          stage: string;
          strategy: Strategy;
        };
        err.code = 'ERR_LAYER_CHANGED';
        err.field = field;
        err.stage = this.plan.steps[(s.step as { dirfd: number }).dirfd]!.stage;
        err.strategy = this.plan.strategy;
        throw err;
      }
    });
    const fds = first.results.map((r) => (isHandle(r) ? r.fd : -1));
    return this.plan.steps.slice(offset).map((s) => {
      const step = remap(s.step, offset, first.results);
      if (s.dataPieces && step.op === 'mount') {
        const data = s.dataPieces.map((piece) => (typeof piece === 'string' ? piece : String(fds[piece.fdOf]))).join('');
        // The plan estimated the fd numbers; the kernel would cut data past one page silently.
        if (Buffer.byteLength(data) >= this.caps.pageSize) {
          const err = new Error(`the mount(2) data with this process's fd numbers is ${Buffer.byteLength(data)} bytes, over one page (${this.caps.pageSize})`) as Error & {
            code: string;
            stage: string;
            strategy: Strategy;
          };
          err.code = 'ERR_MOUNT_DATA_TOO_LONG';
          err.stage = s.stage;
          err.strategy = this.plan.strategy;
          throw err;
        }
        return { ...step, data };
      }
      return step;
    });
  }

  finish(result: StepsResult): OverlayMount {
    this.#end();
    this.closePhaseOne();
    this.cursor?.close();
    const stats = result.results.filter((r): r is StatxResult => r !== undefined && !isHandle(r));
    const old = stats.find((s) => s.mountIdUnique === false);
    const unique = stats.find((s) => s.mountIdUnique === true);
    // Before Linux 5.8 statx has no mount id: the top mount at the target in mountinfo is ours.
    const mountId = old?.mountId ?? readMountInfo().filter((e) => e.mountPoint === resolve(this.plan.spec.target)).at(-1)?.mountId ?? -1;
    const m = new OverlayMount(this.plan, mountId, unique?.mountId, result.kernelMessages);
    releaseWorkdir(this.prepared);
    remember({
      mountId: m.mountId,
      ...(m.uniqueMountId !== undefined ? { uniqueMountId: m.uniqueMountId } : {}),
      target: m.target,
      spec: m.spec,
      strategy: m.strategy,
      byFd: [...m.byFd],
    });
    return m;
  }

  fail(err: unknown, phase: 1 | 2 | 'mounted'): unknown {
    this.closePhaseOne();
    const step = isSystemError(err) && err.step !== undefined && phase !== 'mounted' ? err.step + (phase === 2 ? this.plan.openPhase : 0) : undefined;
    // A failure after the mount was attached (a later step, or building the handle) takes it
    // down again before the work dir goes: nothing is left half-done.
    const attachedAt = this.plan.steps.findIndex((s) => s.step.op === 'move_mount' || s.step.op === 'mount');
    if (phase === 'mounted' || (step !== undefined && step > attachedAt)) {
      try {
        umount2Sync(this.plan.spec.target, MNT.UMOUNT_NOFOLLOW | MNT.DETACH);
      } catch {
        /* already gone */
      }
    }
    undoPrepare(this.prepared);
    return decorate(err, this.plan, step, this.cursor, this.#end());
  }

  private closePhaseOne(): void {
    for (const r of this.phaseOne?.results ?? []) if (isHandle(r)) r.close();
    this.phaseOne = undefined;
  }
}

/**
 * Mounts an overlay. Validates first (OverlaySpecError lists every problem), then mounts with
 * the best strategy this kernel has (see plan()). On failure the error is Node-shaped with
 * `stage`, `strategy`, `kernelMessages`, `kernelLog` and a `hint`, and nothing is left behind.
 */
export async function mountOverlay(spec: OverlaySpec, options: MountOverlayOptions = {}): Promise<OverlayMount> {
  const attempt = new Attempt(spec, options);
  let phase: 1 | 2 | 'mounted' = 1;
  try {
    const firstSteps = attempt.firstSteps();
    const first = firstSteps ? await runSteps(firstSteps) : undefined;
    const second = attempt.secondSteps(first);
    phase = 2;
    const done = await runSteps(second);
    phase = 'mounted';
    return attempt.finish(done);
  } catch (e) {
    throw attempt.fail(e, phase);
  }
}

/** mountOverlay() on the calling thread. */
export function mountOverlaySync(spec: OverlaySpec, options: MountOverlayOptions = {}): OverlayMount {
  const attempt = new Attempt(spec, options);
  let phase: 1 | 2 | 'mounted' = 1;
  try {
    const firstSteps = attempt.firstSteps();
    const first = firstSteps ? runStepsSync(firstSteps) : undefined;
    const second = attempt.secondSteps(first);
    phase = 2;
    const done = runStepsSync(second);
    phase = 'mounted';
    return attempt.finish(done);
  } catch (e) {
    throw attempt.fail(e, phase);
  }
}
