/**
 * Handles of the mounts this process made: each unmounts exactly its own mount (checked by
 * mount id, so a mount stacked on the same target later is never taken down by mistake), once.
 * Handles come from mountOverlay(), bindMount() and tmpfsMount(); they cannot be constructed.
 */
import { AT, LOCK, MNT, O, STATMOUNT, STATX } from '../sys/constants.js';
import { OverlayError } from '../spec/errors.js';
import { isSystemError } from '../sys/errors.js';
import { runAsync, runSync, steps, type Task } from '../sys/io.js';
import type { StatxResult } from '../sys/native-types.js';
import type { Step } from '../sys/steps.js';
import type { OverlaySpec, Strategy } from '../spec/types.js';
import { mountInfoTask } from '../read/mountinfo.js';
import { forget, rememberDetached } from '../read/records.js';
import { describeHolders, heldMountTask, mountHoldersTask, type MountHolder } from '../read/holders.js';
import type { MountPlan } from './plan.js';
import { cleanWorkdirTask, notBeingPrepared } from './workdir.js';
import { acquireLocks, lockSteps, releaseLocks } from './lock.js';

/** Only this package makes handles: `new MountHandle()` from outside throws. */
export const MAKE_HANDLE = Symbol('overlayfs: make a mount handle');

export interface UnmountOptions {
  /** MNT_DETACH: detach now, finish when no longer busy (umount -l). */
  detach?: boolean;
}

/** Every mount below `mountId` in this namespace's tree (children, their children, ...). */
export function* descendantMountIds(mountId: number): Task<number[]> {
  const entries = yield* mountInfoTask();
  const inTree = new Set([mountId]);
  // Parents are not always listed before their children: repeat until nothing is added.
  for (let grew = true; grew; ) {
    grew = false;
    for (const m of entries) {
      if (!inTree.has(m.mountId) && inTree.has(m.parentId) && m.mountId !== m.parentId) {
        inTree.add(m.mountId);
        grew = true;
      }
    }
  }
  inTree.delete(mountId);
  return [...inTree];
}

/** The id of the mount on top at `path` (`unique`: the 64-bit one), or undefined. */
function* topMountId(path: string, unique = false): Task<number | undefined> {
  const r = (yield* steps([{ op: 'statx', path, flags: AT.SYMLINK_NOFOLLOW, mask: unique ? STATX.MNT_ID_UNIQUE : STATX.MNT_ID, recordError: true }])).results[0];
  return r instanceof Error ? undefined : (r as StatxResult).mountId;
}

function* umount(target: string, detach: boolean): Task<void> {
  yield* steps([{ op: 'umount2', target, flags: MNT.UMOUNT_NOFOLLOW | (detach ? MNT.DETACH : 0) }]);
}

/**
 * umount2 under the locks a mount of these upper and work dirs takes (lock.ts): the kernel lets
 * go of them only as umount2 returns, after the overlay has left the mount table, so a mount
 * checking the table in between would find them free and share them. One batch when no other
 * process holds a lock (a busy flock fails the batch before umount2: its fds close, and the
 * locks are waited for); a detach needs none (the overlay runs on anyway).
 */
export function* lockedUmount(target: string, allLockPaths: readonly string[], detach: boolean, expect?: Step): Task<'done' | 'not ours'> {
  const lockPaths = notBeingPrepared(allLockPaths);
  const first: Step[] = expect ? [expect] : [];
  const unmount: Step = { op: 'umount2', target, flags: MNT.UMOUNT_NOFOLLOW | (detach ? MNT.DETACH : 0) };
  // The check failed: the mount on top at target is not (or no longer) the one expected.
  const notOurs = (e: unknown) => expect !== undefined && isSystemError(e) && e.step === 0;
  const locks = detach ? [] : lockSteps(lockPaths, first.length, true);
  try {
    yield* steps([...first, ...locks, unmount]);
    return 'done';
  } catch (e) {
    if (notOurs(e)) return 'not ours';
    if (!(isSystemError(e) && e.step !== undefined && e.step >= first.length && e.step < first.length + locks.length)) throw e;
  }
  // A lock is held elsewhere (or a dir cannot be locked): take them the patient way.
  const { locks: held } = yield* acquireLocks(lockPaths, undefined, 0);
  try {
    yield* steps([...first, unmount]);
    return 'done';
  } catch (e) {
    if (notOurs(e)) return 'not ours';
    throw e;
  } finally {
    releaseLocks(held);
  }
}

/**
 * An EBUSY from umount2 with who holds the mount (where /proc can tell) and the way out, as
 * `hint` and `holders`.
 */
export function* explainBusy(err: unknown, target: string, mountId: number, uniqueMountId: number | undefined, overlay: boolean): Task<unknown> {
  if (!isSystemError(err) || err.code !== 'EBUSY') return err;
  const held = yield* heldMountTask(target, mountId, uniqueMountId, overlay);
  const holders = held === undefined ? [] : (yield* mountHoldersTask([held]))[0]!;
  const who = holders.length > 0 ? `held by ${describeHolders(holders)}` : 'something holds it (nothing this process can see in /proc: a mount below it, a memory mapping, a thread\'s own cwd, or a process of another user)';
  return Object.assign(err, {
    holders,
    hint: `the mount is busy, ${who}; close those and unmount again, or unmount with detach: true (it goes when its last user does)`,
  });
}

export class MountHandle implements AsyncDisposable, Disposable {
  readonly target: string;
  /** The id mountinfo shows for this mount. */
  readonly mountId: number;
  /** The 64-bit unique id (statx STATX_MNT_ID_UNIQUE) where the kernel has it. */
  readonly uniqueMountId: number | undefined;
  #mounted = true;
  /** Mounts that came with ours (a recursive bind's copies of the source's submounts). */
  readonly #submounts: readonly number[];

  /** @internal Handles come from mountOverlay(), bindMount() and tmpfsMount(). */
  constructor(token: typeof MAKE_HANDLE, target: string, mountId: number, uniqueMountId: number | undefined, submounts: readonly number[] = []) {
    if (token !== MAKE_HANDLE) throw new TypeError('Illegal constructor: mount handles come from mountOverlay(), bindMount() and tmpfsMount()');
    this.target = target;
    this.mountId = mountId;
    this.uniqueMountId = uniqueMountId;
    this.#submounts = submounts;
  }

  get mounted(): boolean {
    return this.#mounted;
  }

  /**
   * Whether our mount is still where we put it: 'here' (on top at target), 'gone' (unmounted
   * elsewhere), or 'covered' (something else is mounted over it, or it moved).
   */
  protected *where(): Task<'here' | 'gone' | 'covered'> {
    // The short id is reused as soon as it is free: where the kernel has the 64-bit id, which
    // never is, only that one may say "ours" (else a later mount at the target could be taken).
    if (this.uniqueMountId !== undefined) {
      if ((yield* topMountId(this.target, true)) === this.uniqueMountId) return 'here';
      const sm = (yield* steps([{ op: 'statmount', mountId: this.uniqueMountId, mask: STATMOUNT.MNT_BASIC, recordError: true }])).results[0];
      return sm instanceof Error ? 'gone' : 'covered';
    }
    if ((yield* topMountId(this.target)) === this.mountId) return 'here';
    return (yield* mountInfoTask()).some((m) => m.mountId === this.mountId) ? 'covered' : 'gone';
  }

  /** False when the mount is gone already; throws ERR_MOUNT_COVERED when it is not ours to take down. */
  *#check(): Task<boolean> {
    if (!this.#mounted) return false;
    const state = yield* this.where();
    if (state === 'gone') {
      this.#gone();
      return false;
    }
    if (state === 'covered') {
      throw new OverlayError(
        'ERR_MOUNT_COVERED',
        `mount ${this.mountId} is no longer the top mount at '${this.target}' (something was mounted over it or it was moved); not unmounting`,
        { path: this.target },
      );
    }
    return true;
  }

  #gone(): void {
    this.#mounted = false;
    this.afterUnmount();
  }

  /**
   * The mount points of the submounts that came with ours and are still the top mount where
   * they are, deepest first: unmounted before ours, since a mount with children is busy. A
   * detach takes the whole tree at once and needs none of this.
   */
  *#submountsToUnmount(detach: boolean): Task<string[]> {
    if (this.#submounts.length === 0 || detach) return [];
    const byId = new Map((yield* mountInfoTask()).map((m) => [m.mountId, m]));
    const depth = (id: number): number => {
      let d = 0;
      for (let m = byId.get(id); m !== undefined && m.mountId !== this.mountId && d <= byId.size; m = byId.get(m.parentId)) d++;
      return d;
    };
    const live: number[] = [];
    for (const id of this.#submounts) if (byId.has(id) && (yield* topMountId(byId.get(id)!.mountPoint)) === id) live.push(id);
    return live.sort((a, b) => depth(b) - depth(a)).map((id) => byId.get(id)!.mountPoint);
  }

  /** umount2(target, UMOUNT_NOFOLLOW [| MNT_DETACH]) of our mount; false when it was gone already. */
  /** The dirs a mount of the same upper and work locks (lock.ts); none but for overlays. */
  protected get lockPaths(): readonly string[] {
    return [];
  }

  protected *unmountOwn(detach: boolean): Task<boolean> {
    if (!this.#mounted) return false;
    // With submounts to take down first, the check comes first; otherwise it runs in the
    // unmount's own batch (expectMount before umount2), and the slow look at where our mount
    // went only when that says it is not on top at target.
    const checkFirst = this.#submounts.length > 0 && !detach;
    if (checkFirst) {
      if (!(yield* this.#check())) return false;
      for (const sub of yield* this.#submountsToUnmount(detach)) yield* umount(sub, detach);
    }
    for (let expect = !checkFirst; ; expect = false) {
      try {
        if ((yield* lockedUmount(this.target, this.lockPaths, detach, expect ? this.#expectStep() : undefined)) === 'done') break;
      } catch (e) {
        throw yield* explainBusy(e, this.target, this.mountId, this.uniqueMountId, false);
      }
      // Gone (false), covered (throws), or back on top meanwhile: unmounted unchecked, as before.
      if (!(yield* this.#check())) return false;
    }
    this.#gone();
    return true;
  }

  /** The step that fails (ESTALE) unless the mount on top at target is ours, by the 64-bit id where there is one. */
  #expectStep(): Step {
    return this.uniqueMountId !== undefined
      ? { op: 'expectMount', path: this.target, mountId: this.uniqueMountId, unique: true }
      : { op: 'expectMount', path: this.target, mountId: this.mountId };
  }

  protected *unmountTask(options: UnmountOptions): Task<unknown> {
    yield* this.unmountOwn(options.detach === true);
    return undefined;
  }

  /**
   * umount2(target, UMOUNT_NOFOLLOW [| MNT_DETACH]). Idempotent: a second call does nothing.
   * (Typed unknown so a subclass can report more; this one resolves to undefined.)
   */
  unmount(options: UnmountOptions = {}): Promise<unknown> {
    return runAsync(this.unmountTask(options));
  }

  unmountSync(options: UnmountOptions = {}): unknown {
    return runSync(this.unmountTask(options));
  }

  /** Bookkeeping after the mount is gone (subclasses forget their records). */
  protected afterUnmount(): void {}

  async [Symbol.asyncDispose](): Promise<void> {
    await this.unmount();
  }

  [Symbol.dispose](): void {
    this.unmountSync();
  }
}

export interface OverlayUnmountOptions extends UnmountOptions {
  /** After unmounting, remove the kernel's work/ and index/ from the work dir. */
  cleanWorkdir?: boolean;
}

export interface OverlayUnmountResult {
  /**
   * The overlay runs on after this call: detached while something held it, or still mounted in
   * another mount namespace (a copy made before the unmount). Its work dir is not cleaned then.
   */
  stillInUse: boolean;
  /** What holds the detached overlay, as /proc tells (another user's processes only to root). */
  holders: MountHolder[];
  /** What cleanWorkdir removed. */
  cleaned: string[];
}

/** The overlay an unmount takes down: where, which, and its upper and work dirs. */
export interface UnmountTarget {
  target: string;
  mountId: number;
  uniqueMountId?: number | undefined;
  upper?: string | undefined;
  work?: string | undefined;
}

/**
 * The unmount rule of an overlay, for OverlayMount and `ovl umount` (which has only a mount
 * point): `unmount(detach)` does the unmount (false: it was gone already). With detach,
 * `stillInUse` says whether anything still holds the detached overlay (by /proc: fds, cwds,
 * roots, executables, copies in other mount namespaces); such an overlay runs on, on its upper
 * and work, so this process remembers it and refuses to mount them again while it lives. With
 * cleanWorkdir, a plain unmount is tried first (a busy overlay is then detached, with detach,
 * and its work dir left alone), and the work dir is cleaned only when no copy of the overlay
 * in another mount namespace still runs on it.
 */
export function* unmountAndCleanTask(
  unmount: (detach: boolean) => Task<unknown>,
  mount: UnmountTarget,
  options: OverlayUnmountOptions,
): Task<OverlayUnmountResult> {
  const clean = options.cleanWorkdir === true && mount.work !== undefined;
  const detach = options.detach === true;
  // Before the unmount (afterwards the target no longer reaches the overlay), and only while
  // it is ours on top there.
  const held = detach || clean ? yield* heldMountTask(mount.target, mount.mountId, mount.uniqueMountId, true) : undefined;
  let detached = false;
  if (detach && !clean) {
    detached = (yield* unmount(true)) !== false;
  } else {
    try {
      yield* unmount(false);
    } catch (e) {
      if (!(clean && detach && isSystemError(e) && e.code === 'EBUSY')) throw yield* explainBusy(e, mount.target, mount.mountId, mount.uniqueMountId, true);
      detached = (yield* unmount(true)) !== false;
    }
  }
  // After a detach anything may hold it; after a plain unmount, only copies elsewhere.
  const holders = held !== undefined && (detached || clean) ? (yield* mountHoldersTask([held]))[0]! : [];
  const busy = holders.length > 0;
  if (busy && mount.upper !== undefined && mount.work !== undefined) {
    const real = yield* steps([mount.upper, mount.work].map((path) => ({ op: 'realpath' as const, path, recordError: true })));
    const [upper, work] = real.results.map((r, i) => (typeof r === 'string' ? r : [mount.upper!, mount.work!][i]!));
    rememberDetached({ target: mount.target, mountId: mount.mountId, uniqueMountId: held!.uniqueMountId, dev: held!.dev, upper: upper!, work: work! });
  }
  return { stillInUse: busy, holders, cleaned: clean && !detached && !busy ? yield* cleanWorkdirTask(mount.work!) : [] };
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

  readonly #lockPaths: readonly string[];

  /** @internal Overlay handles come from mountOverlay(). */
  constructor(
    token: typeof MAKE_HANDLE,
    plan: MountPlan,
    mountId: number,
    uniqueMountId: number | undefined,
    kernelMessages: readonly string[],
    lockPaths: readonly string[] = [],
  ) {
    super(token, plan.spec.target, mountId, uniqueMountId);
    this.#lockPaths = lockPaths;
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
  override unmount(options: OverlayUnmountOptions = {}): Promise<OverlayUnmountResult> {
    return runAsync(this.unmountTask(options));
  }

  override unmountSync(options: OverlayUnmountOptions = {}): OverlayUnmountResult {
    return runSync(this.unmountTask(options));
  }

  protected override *unmountTask(options: OverlayUnmountOptions): Task<OverlayUnmountResult> {
    return yield* unmountAndCleanTask(
      (detach) => this.unmountOwn(detach),
      { target: this.target, mountId: this.mountId, uniqueMountId: this.uniqueMountId, upper: this.spec.upper, work: this.spec.work },
      options,
    );
  }

  protected override get lockPaths(): readonly string[] {
    return this.#lockPaths;
  }

  protected override afterUnmount(): void {
    forget(this.mountId);
  }
}
