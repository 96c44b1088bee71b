/**
 * A mounted thing this process made: unmounts exactly that mount (checked by mount id, so a
 * mount stacked on the same target later is never taken down by mistake), once.
 */
import { AT, MNT, STATX } from './constants.js';
import { readMountInfo } from './mountinfo.js';
import { umount2, umount2Sync } from './sys/mount-legacy.js';
import { statxSync } from './sys/node.js';

export interface UnmountOptions {
  /** MNT_DETACH: detach now, finish when no longer busy (umount -l). */
  detach?: boolean;
}

export class MountHandle implements AsyncDisposable, Disposable {
  readonly target: string;
  /** The id mountinfo shows for this mount. */
  readonly mountId: number;
  /** The 64-bit unique id (statx STATX_MNT_ID_UNIQUE) where the kernel has it. */
  readonly uniqueMountId: number | undefined;
  #mounted = true;

  constructor(target: string, mountId: number, uniqueMountId: number | undefined) {
    this.target = target;
    this.mountId = mountId;
    this.uniqueMountId = uniqueMountId;
  }

  get mounted(): boolean {
    return this.#mounted;
  }

  /**
   * Whether our mount is still where we put it: 'here' (on top at target), 'gone' (unmounted
   * elsewhere), or 'covered' (something else is mounted over it, or it moved).
   */
  protected where(): 'here' | 'gone' | 'covered' {
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

  /** umount2(target, UMOUNT_NOFOLLOW [| MNT_DETACH]). Idempotent: a second call does nothing. */
  async unmount(options: UnmountOptions = {}): Promise<void> {
    if (!this.#check()) return;
    await umount2(this.target, MNT.UMOUNT_NOFOLLOW | (options.detach ? MNT.DETACH : 0));
    this.#mounted = false;
    this.afterUnmount();
  }

  unmountSync(options: UnmountOptions = {}): void {
    if (!this.#check()) return;
    umount2Sync(this.target, MNT.UMOUNT_NOFOLLOW | (options.detach ? MNT.DETACH : 0));
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
