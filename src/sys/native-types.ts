/**
 * The raw surface of the C++ addon, declared once. Everything here is exactly what
 * native/*.cc accepts and returns; user-facing validation lives in the modules that wrap it.
 */

/** An owned fd: from fsopen/fspick ('fs'), fsmount/open_tree ('mount') or open ('file'). */
export interface FdHandle extends Disposable {
  /** The fd number, or -1 once closed. */
  readonly fd: number;
  readonly kind: 'fs' | 'mount' | 'file';
  readonly closed: boolean;
  /** close(2) once; later calls do nothing. An async call using the fd keeps it open until it ends. */
  close(): void;
}

/** A raw failure as the addon reports it; `errno` is positive here. */
export interface RawError {
  errno: number;
  syscall: string;
  path?: string;
  dest?: string;
  /** fsconfig key (e.g. 'lowerdir+') or xattr name. */
  key?: string;
  /** The kernel's fs-context messages, e.g. "e overlay: Unknown parameter 'foo'". */
  kernelMessages?: string[];
  /** Index of the failing step of a batched call. */
  step?: number;
}

/** statx(2) fields the addon returns. */
export interface StatxResult {
  mask: number;
  mode: number;
  nlink: number;
  uid: number;
  gid: number;
  ino: number;
  size: number;
  devMajor: number;
  devMinor: number;
  rdevMajor: number;
  rdevMinor: number;
  /** stx_mnt_id: present when the kernel filled STATX_MNT_ID or STATX_MNT_ID_UNIQUE. */
  mountId?: number;
  mountIdUnique?: boolean;
}

/** statmount(2) fields the addon returns (each present when the kernel filled it). */
export interface StatmountResult {
  mask: number;
  sbMagic?: number;
  sbFlags?: number;
  sbDevMajor?: number;
  sbDevMinor?: number;
  mountId?: number;
  parentId?: number;
  mountIdOld?: number;
  parentIdOld?: number;
  attr?: number;
  propagation?: number;
  supportedMask?: number;
  fsType?: string;
  mountRoot?: string;
  mountPoint?: string;
  source?: string;
  /** The options as mountinfo shows them (comma separated, escaped). */
  options?: string;
  /** The filesystem options, one per entry, unescaped (STATMOUNT_OPT_ARRAY). */
  optionArray?: string[];
}

/** An fd operand of a step: the index of an earlier step that opened an fd, or a caller's handle. */
export type StepFd = number | FdHandle;

/** One step of runSteps(): the syscall and its arguments. `keep` returns the step's fd as a handle. */
export type Step =
  | { op: 'fsopen'; fsname: string; flags?: number; keep?: boolean }
  | { op: 'fspick'; dirfd?: StepFd | null; path: string; flags?: number; keep?: boolean }
  | { op: 'fsconfig'; fs: StepFd; cmd: 0 | 3 | 4 | 6 | 7 | 8; key?: string; value?: string; dirfd?: StepFd | null; path?: string }
  | { op: 'fsconfig'; fs: StepFd; cmd: 1; key: string; value: string }
  | { op: 'fsconfig'; fs: StepFd; cmd: 2; key: string; value: Buffer }
  | { op: 'fsconfig'; fs: StepFd; cmd: 5; key: string; fd: StepFd }
  | { op: 'fsmount'; fs: StepFd; flags?: number; attrs?: number; keep?: boolean }
  | { op: 'move_mount'; from?: StepFd | null; fromPath: string; to?: StepFd | null; toPath?: string; flags?: number }
  | { op: 'open_tree'; dirfd?: StepFd | null; path: string; flags?: number; keep?: boolean }
  | {
      op: 'mount_setattr';
      dirfd?: StepFd | null;
      path: string;
      flags?: number;
      attrSet?: number;
      attrClr?: number;
      propagation?: number;
      userns?: StepFd;
    }
  | { op: 'open'; dirfd?: StepFd | null; path: string; flags?: number; mode?: number; keep?: boolean }
  | { op: 'mount'; source?: string | null; target: string; fstype?: string | null; flags?: number; data?: string | null; cwd?: StepFd }
  | { op: 'umount2'; target: string; flags?: number }
  | { op: 'statx'; dirfd?: StepFd | null; path: string; flags?: number; mask?: number }
  | { op: 'close'; fd: number }
  | { op: 'mknod'; dirfd?: StepFd | null; path: string; mode: number; major?: number; minor?: number; okErrno?: number }
  | { op: 'setxattr'; path: string; name: string; value: Buffer; flags?: number; follow?: boolean; okErrno?: number }
  | { op: 'removexattr'; path: string; name: string; follow?: boolean; okErrno?: number };

export interface StepsResult {
  /** Per step: the handle of a kept fd, the statx fields of a statx step, else undefined. */
  results: Array<FdHandle | StatxResult | undefined>;
  /** Every message the kernel logged on the batch's fs contexts ("w overlay: ..."). */
  kernelMessages: string[];
}

type Fd = FdHandle | number;
type OptFd = Fd | null;
/** Declares `name` (Promise) and `nameSync` for one Op of native/worker.h. */
type Op<Name extends string, Args extends unknown[], R> = { [K in Name]: (...args: Args) => Promise<R> } & {
  [K in `${Name}Sync`]: (...args: Args) => R;
};

export type NativeBinding = {
  setErrorFactory(factory: (raw: RawError) => Error): void;
  errnoName(errno: number): [string | null, string];
  leakedFdCount(): number;
  adoptFd(fd: number, kind?: FdHandle['kind']): FdHandle;
  FdHandle: abstract new (...args: never[]) => FdHandle;
  constants: Record<string, number>;
} & Op<'open', [path: string, flags: number, mode: number], FdHandle> &
  Op<'lseek', [fd: Fd, offset: number, whence: number], number> &
  Op<'fsopen', [fsname: string, flags: number], FdHandle> &
  Op<'fspick', [dirfd: OptFd, path: string, flags: number], FdHandle> &
  Op<'fsconfigSetFlag', [fs: Fd, key: string], void> &
  Op<'fsconfigSetString', [fs: Fd, key: string, value: string], void> &
  Op<'fsconfigSetBinary', [fs: Fd, key: string, value: Buffer], void> &
  Op<'fsconfigSetPath', [fs: Fd, key: string, dirfd: OptFd, path: string, emptyPath: boolean], void> &
  Op<'fsconfigSetFd', [fs: Fd, key: string, fd: Fd], void> &
  Op<'fsconfigCreate', [fs: Fd], void> &
  Op<'fsconfigCreateExcl', [fs: Fd], void> &
  Op<'fsconfigReconfigure', [fs: Fd], void> &
  Op<'fsmount', [fs: Fd, flags: number, attrs: number], FdHandle> &
  Op<'moveMount', [from: OptFd, fromPath: string, to: OptFd, toPath: string, flags: number], void> &
  Op<'openTree', [dirfd: OptFd, path: string, flags: number], FdHandle> &
  Op<
    'mountSetattr',
    [dirfd: OptFd, path: string, flags: number, attrSet: number, attrClr: number, propagation: number, userns: OptFd],
    void
  > &
  Op<'fsReadLog', [fs: Fd], string[]> &
  Op<'mount', [source: string | null, target: string, fstype: string | null, flags: number, data: string | null], void> &
  Op<
    'mountInDir',
    [dirfd: Fd, source: string | null, target: string, fstype: string | null, flags: number, data: string | null],
    void
  > &
  Op<'umount2', [target: string, flags: number], void> &
  Op<'getxattr', [path: string, name: string, follow: boolean], Buffer> &
  Op<'fgetxattr', [fd: Fd, name: string], Buffer> &
  Op<'getxattrIfAny', [path: string, name: string, follow: boolean], Buffer | undefined> &
  Op<'setxattr', [path: string, name: string, value: Buffer, flags: number, follow: boolean], void> &
  Op<'fsetxattr', [fd: Fd, name: string, value: Buffer, flags: number], void> &
  Op<'listxattr', [path: string, follow: boolean], string[]> &
  Op<'flistxattr', [fd: Fd], string[]> &
  Op<'removexattr', [path: string, name: string, follow: boolean], void> &
  Op<'fremovexattr', [fd: Fd, name: string], void> &
  Op<'mknod', [dirfd: OptFd, path: string, mode: number, major: number, minor: number], void> &
  Op<'statx', [dirfd: OptFd, path: string, flags: number, mask: number], StatxResult> &
  /** With `out`: the 13 fields in StatxResult's order written there (the mount id ones NaN when absent). */
  { statxSync(dirfd: OptFd, path: string, flags: number, mask: number, out: Float64Array): void } &
  Op<'statmount', [mountId: number, mask: number], StatmountResult> &
  Op<'runSteps', [steps: Step[]], StepsResult> &
  Op<'runMarkers', [ops: Uint32Array, paths: string[], names: string[], values: Buffer[]], void>;
