/**
 * remount(target, attributes): changes what `mount -o remount,...` changes on a mounted
 * overlay: the mount's attributes (mount_setattr), and for read-only/read-write its superblock
 * too (fspick + fsconfig "ro"/"rw" + reconfigure), so `ro` means what mount(8) means by it.
 * Overlay options cannot change on a mounted overlay: the kernel refuses them in reconfigure.
 */
import { AT, FSPICK, MOUNT_ATTR } from '../sys/constants.js';
import { runAsync, runSync, steps, type Task } from '../sys/io.js';
import type { Step } from '../sys/steps.js';
import { OverlaySpecError } from '../spec/errors.js';
import { checkAttributes } from '../spec/shape.js';
import type { MountAttributes } from '../spec/types.js';

/** mount_setattr's attr_set and attr_clr for the attributes given (undefined ones unchanged). */
export function attributeChange(a: MountAttributes): { set: number; clr: number } {
  let set = 0;
  let clr = 0;
  const flag = (v: boolean | undefined, bit: number) => {
    if (v === true) set |= bit;
    else if (v === false) clr |= bit;
  };
  flag(a.readOnly, MOUNT_ATTR.RDONLY);
  flag(a.nosuid, MOUNT_ATTR.NOSUID);
  flag(a.nodev, MOUNT_ATTR.NODEV);
  flag(a.noexec, MOUNT_ATTR.NOEXEC);
  flag(a.nodiratime, MOUNT_ATTR.NODIRATIME);
  flag(a.nosymfollow, MOUNT_ATTR.NOSYMFOLLOW);
  if (a.atime !== undefined) {
    // The atime modes are one field: clear it, then set the mode (relatime is 0).
    clr |= MOUNT_ATTR._ATIME;
    set |= a.atime === 'noatime' ? MOUNT_ATTR.NOATIME : a.atime === 'strictatime' ? MOUNT_ATTR.STRICTATIME : MOUNT_ATTR.RELATIME;
  }
  return { set, clr };
}

function* remountTask(target: string, attributes: MountAttributes): Task<void> {
  const problems = checkAttributes(attributes);
  if (typeof target !== 'string' || target.length === 0) problems.unshift({ field: 'target', problem: 'must be a non-empty path' });
  if (problems.length > 0) throw new OverlaySpecError(problems);
  const { set, clr } = attributeChange(attributes);
  const list: Step[] = [];
  const superblock = (ro: boolean) => {
    list.push({ op: 'fspick', path: target, flags: FSPICK.SYMLINK_NOFOLLOW });
    const fs = list.length - 1;
    list.push({ op: 'fsconfigSetFlag', fs, key: ro ? 'ro' : 'rw' }, { op: 'fsconfigReconfigure', fs }, { op: 'close', fd: fs });
  };
  // Read-write: the superblock first (a writable mount of a read-only superblock cannot
  // write); read-only: the mount first, so nothing can write through it meanwhile.
  if (attributes.readOnly === false) superblock(false);
  if (set !== 0 || clr !== 0) list.push({ op: 'mountSetattr', path: target, flags: AT.SYMLINK_NOFOLLOW, attrSet: set, attrClr: clr });
  if (attributes.readOnly === true) superblock(true);
  if (list.length > 0) yield* steps(list);
}

/**
 * Changes the attributes of the mount at `target` (read-only, nosuid, nodev, noexec, atime,
 * nodiratime, nosymfollow); attributes left undefined stay as they are. `readOnly` also sets
 * the superblock read-only or read-write, as `mount -o remount,ro` does. Linux 5.12+.
 */
export function remount(target: string, attributes: MountAttributes): Promise<void> {
  return runAsync(remountTask(target, attributes));
}

export function remountSync(target: string, attributes: MountAttributes): void {
  runSync(remountTask(target, attributes));
}
