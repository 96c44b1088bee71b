/**
 * A mounted thing this process made: unmounts exactly that mount (checked by mount id, so a
 * mount stacked on the same target later is never taken down by mistake), once.
 */
import { AT, MNT, STATMOUNT, STATX } from './constants.js';
import { readMountInfo } from './mountinfo.js';
import { umount2, umount2Sync } from './sys/mount-legacy.js';
import { statmountSync } from './sys/mount-info.js';
import { statxSync } from './sys/node.js';

export interface UnmountOptions {
  /** MNT_DETACH: detach now, finish when no longer busy (umount -l). */
  detach?: boolean;
}

function topMountId(path: string): number | undefined {
  try {
    return statxSync(path, { flags: AT.SYMLINK_NOFOLLOW, mask: STATX.MNT_ID }).mountId;
  } catch {
    return undefined;
  }
}

/** Every mount below `mountId` in this namespace's tree (children, their children, ...). */
export function descendantMountIds(mountId: number): number[] {
  const entries = readMountInfo();
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

export class MountHandle implements AsyncDisposable, Disposable {
  readonly target: string;
  /** The id mountinfo shows for this mount. */
  readonly mountId: number;
  /** The 64-bit unique id (statx STATX_MNT_ID_UNIQUE) where the kernel has it. */
  readonly uniqueMountId: number | undefined;
  #mounted = true;
  /** Mounts that came with ours (a recursive bind's copies of the source's submounts). */
  readonly #submounts: readonly number[];

  constructor(target: string, mountId: number, uniqueMountId: number | undefined, submounts: readonly number[] = []) {
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
  protected where(): 'here' | 'gone' | 'covered' {
    // The short id is reused as soon as it is free: where the kernel has the 64-bit id, which
    // never is, only that one may say "ours" (else a later mount at the target could be taken).
    if (this.uniqueMountId !== undefined) {
      try {
        if (statxSync(this.target, { flags: AT.SYMLINK_NOFOLLOW, mask: STATX.MNT_ID_UNIQUE }).mountId === this.uniqueMountId) return 'here';
      } catch {
        /* target gone: ask for the mount itself */
      }
      try {
        statmountSync(this.uniqueMountId, STATMOUNT.MNT_BASIC);
        return 'covered';
      } catch {
        return 'gone';
      }
    }
    try {
      if (statxSync(this.target, { flags: AT.SYMLINK_NOFOLLOW, mask: STATX.MNT_ID }).mountId === this.mountId) return 'here';
    } catch {
      /* target gone: look in the table */
    }
    return readMountInfo().some((m) => m.mountId === this.mountId) ? 'covered' : 'gone';
  }

  #check(): boolean {
    if (!this.#mounted) return false;
    const state = this.where();
    if (state === 'gone') {
      this.#mounted = false;
      this.afterUnmount();
      return false;
    }
    if (state === 'covered') {
      const err = new Error(
        `mount ${this.mountId} is no longer the top mount at '${this.target}' (something was mounted over it or it was moved); not unmounting`,
      ) as Error & { code: string };
      err.code = 'ERR_MOUNT_COVERED';
      throw err;
    }
    return true;
  }

  /**
   * The mount points of the submounts that came with ours and are still the top mount where
   * they are, deepest first: unmounted before ours, since a mount with children is busy. A
   * detach takes the whole tree at once and needs none of this.
   */
  #submountsToUnmount(options: UnmountOptions): string[] {
    if (this.#submounts.length === 0 || options.detach) return [];
    const byId = new Map(readMountInfo().map((m) => [m.mountId, m]));
    const depth = (id: number): number => {
      let d = 0;
      for (let m = byId.get(id); m !== undefined && m.mountId !== this.mountId && d <= byId.size; m = byId.get(m.parentId)) d++;
      return d;
    };
    return this.#submounts
      .filter((id) => byId.has(id) && topMountId(byId.get(id)!.mountPoint) === id)
      .sort((a, b) => depth(b) - depth(a))
      .map((id) => byId.get(id)!.mountPoint);
  }

  /**
   * umount2(target, UMOUNT_NOFOLLOW [| MNT_DETACH]). Idempotent: a second call does nothing.
   * (Typed unknown so a subclass can report more; this one resolves to undefined.)
   */
  async unmount(options: UnmountOptions = {}): Promise<unknown> {
    if (!this.#check()) return;
    const flags = MNT.UMOUNT_NOFOLLOW | (options.detach ? MNT.DETACH : 0);
    for (const sub of this.#submountsToUnmount(options)) await umount2(sub, flags);
    await umount2(this.target, flags);
    this.#mounted = false;
    this.afterUnmount();
  }

  unmountSync(options: UnmountOptions = {}): unknown {
    if (!this.#check()) return;
    const flags = MNT.UMOUNT_NOFOLLOW | (options.detach ? MNT.DETACH : 0);
    for (const sub of this.#submountsToUnmount(options)) umount2Sync(sub, flags);
    umount2Sync(this.target, flags);
    this.#mounted = false;
    this.afterUnmount();
  }

  /** Bookkeeping after the mount is gone (subclasses forget registry entries). */
  protected afterUnmount(): void {}

  async [Symbol.asyncDispose](): Promise<void> {
    await this.unmount();
  }

  [Symbol.dispose](): void {
    this.unmountSync();
  }
}
