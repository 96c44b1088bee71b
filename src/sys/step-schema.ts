/**
 * Every syscall step the addon runs, described once. From this table come:
 * - the `Step` type (below),
 * - the argument checks and the packing of steps for the addon (steps.ts),
 * - native/step_schema.h, the op codes and slots the C++ side reads (scripts/gen-step-schema.mjs;
 *   test/unit/step-schema.test.ts fails when the header is out of date).
 * Adding an op: a line here, `npm run gen:schema`, and the syscall itself in native/ (its family
 * file and one case in batch.cc's switch). Pure: nothing here loads the addon.
 */
import type { FdHandle } from './native-types.js';

/**
 * What a field holds. A `?` marks an optional field.
 * - `fd`: a handle, a raw fd number, or (in a batch) the index of an earlier step that opened one;
 *   `fd?` also takes null/undefined for AT_FDCWD.
 * - `fs`: an fs context: a handle of kind 'fs', or an earlier fsopen/fspick step. A failure reads
 *   the context's message log from it, and read(2) on any other fd would eat that fd's data.
 * - `step`: only the index of an earlier step that opened an fd (close).
 * - `str`: a C string (no NUL byte): a well-formed string, or a Buffer for a name that is not
 *   UTF-8 (as Node's fs takes paths); `str?` also null/undefined.
 * - `u32`, `u64` (up to 2^53-1), `int` (a safe integer, negative included); `u32?`, `u64?` default 0.
 * - `bool?`: false by default.
 * - `buf`: bytes: a Buffer, a Uint8Array, or a string taken as UTF-8.
 */
export type FieldKind = 'fd' | 'fd?' | 'fs' | 'step' | 'str' | 'str?' | 'u32' | 'u32?' | 'u64' | 'u64?' | 'int' | 'bool?' | 'buf';

/** What a successful step gives back (besides an fd, which `makes` says). */
export type ResultKind = 'none' | 'statx' | 'buffer' | 'names' | 'messages' | 'number' | 'string' | 'statmount' | 'entries' | 'ids' | 'scan';

export interface OpSchema {
  /** The syscall (or C library call) an error names. */
  readonly syscall: string;
  /** The kind of fd handle the step opens, if it opens one. */
  readonly makes?: FdHandle['kind'];
  readonly result?: ResultKind;
  /** Fields in the syscall's argument order. */
  readonly fields: Readonly<Record<string, FieldKind>>;
}

/** The ops, by name: each name is also the raw function (`sys.moveMount` runs one `moveMount` step). */
export const STEP_OPS = {
  // fds
  open: { syscall: 'open', makes: 'file', fields: { dirfd: 'fd?', path: 'str', flags: 'u32?', mode: 'u32?' } },
  lseek: { syscall: 'lseek', result: 'number', fields: { fd: 'fd', offset: 'int', whence: 'u32?' } },
  close: { syscall: 'close', fields: { fd: 'step' } },
  // openat2(2) with its resolve flags (RESOLVE_BENEATH, RESOLVE_NO_SYMLINKS, ...): Linux 5.6
  openat2: { syscall: 'openat2', makes: 'file', fields: { dirfd: 'fd?', path: 'str', flags: 'u32?', mode: 'u32?', resolve: 'u64?' } },
  // flock(2): LOCK_EX, LOCK_SH, LOCK_UN, | LOCK_NB; the kernel releases it when the fd closes
  flock: { syscall: 'flock', fields: { fd: 'fd', operation: 'u32' } },
  // fails ESTALE unless fd is the file with these device numbers and inode (a statx of the fd)
  expectFile: { syscall: 'statx', fields: { fd: 'fd', devMajor: 'u32', devMinor: 'u32', ino: 'u64' } },
  // fails EMEDIUMTYPE when fd is on a filesystem of this type (fstatfs f_type, e.g. the overlay's
  // 0x794c7630): a write through fd is refused in the batch that makes it, with no path to race
  refuseFsType: { syscall: 'fstatfs', fields: { fd: 'fd', fsType: 'u64' } },
  // a whole file (mountinfo, /sys parameters): open, read to the end, close
  readFile: { syscall: 'read', result: 'buffer', fields: { path: 'str' } },
  // the new mount API
  fsopen: { syscall: 'fsopen', makes: 'fs', fields: { fsname: 'str', flags: 'u32?' } },
  fspick: { syscall: 'fspick', makes: 'fs', fields: { dirfd: 'fd?', path: 'str', flags: 'u32?' } },
  fsconfigSetFlag: { syscall: 'fsconfig', fields: { fs: 'fs', key: 'str' } },
  fsconfigSetString: { syscall: 'fsconfig', fields: { fs: 'fs', key: 'str', value: 'str' } },
  fsconfigSetBinary: { syscall: 'fsconfig', fields: { fs: 'fs', key: 'str', value: 'buf' } },
  fsconfigSetPath: { syscall: 'fsconfig', fields: { fs: 'fs', key: 'str', dirfd: 'fd?', path: 'str', emptyPath: 'bool?' } },
  fsconfigSetFd: { syscall: 'fsconfig', fields: { fs: 'fs', key: 'str', fd: 'fd' } },
  fsconfigCreate: { syscall: 'fsconfig', fields: { fs: 'fs' } },
  fsconfigCreateExcl: { syscall: 'fsconfig', fields: { fs: 'fs' } },
  fsconfigReconfigure: { syscall: 'fsconfig', fields: { fs: 'fs' } },
  fsReadLog: { syscall: 'read', result: 'messages', fields: { fs: 'fs' } },
  fsmount: { syscall: 'fsmount', makes: 'mount', fields: { fs: 'fs', flags: 'u32?', attrs: 'u32?' } },
  moveMount: { syscall: 'move_mount', fields: { from: 'fd?', fromPath: 'str', to: 'fd?', toPath: 'str', flags: 'u32?' } },
  openTree: { syscall: 'open_tree', makes: 'mount', fields: { dirfd: 'fd?', path: 'str', flags: 'u32?' } },
  mountSetattr: {
    syscall: 'mount_setattr',
    fields: { dirfd: 'fd?', path: 'str', flags: 'u32?', attrSet: 'u64?', attrClr: 'u64?', propagation: 'u64?', userns: 'fd?' },
  },
  // mount(2); with `cwd`, on a short-lived thread whose cwd is that directory
  mount: { syscall: 'mount', fields: { source: 'str?', target: 'str', fstype: 'str?', flags: 'u32?', data: 'str?', cwd: 'fd?' } },
  umount2: { syscall: 'umount2', fields: { target: 'str', flags: 'u32?' } },
  statmount: { syscall: 'statmount', result: 'statmount', fields: { mountId: 'u64', mask: 'u64' } },
  // inodes
  statx: { syscall: 'statx', result: 'statx', fields: { dirfd: 'fd?', path: 'str', flags: 'u32?', mask: 'u32?' } },
  mknod: { syscall: 'mknod', fields: { dirfd: 'fd?', path: 'str', mode: 'u32', major: 'u32?', minor: 'u32?' } },
  realpath: { syscall: 'realpath', result: 'string', fields: { path: 'str' } },
  // a directory's entries with their types (d_type; fstatat where the filesystem gives none)
  readdir: { syscall: 'scandir', result: 'entries', fields: { path: 'str' } },
  statfs: { syscall: 'statfs', result: 'number', fields: { path: 'str' } },
  // xattrs: path forms are l*xattr (a symlink's own) unless `follow`
  getxattr: { syscall: 'getxattr', result: 'buffer', fields: { path: 'str', name: 'str', follow: 'bool?' } },
  setxattr: { syscall: 'setxattr', fields: { path: 'str', name: 'str', value: 'buf', flags: 'u32?', follow: 'bool?' } },
  listxattr: { syscall: 'listxattr', result: 'names', fields: { path: 'str', follow: 'bool?' } },
  removexattr: { syscall: 'removexattr', fields: { path: 'str', name: 'str', follow: 'bool?' } },
  fgetxattr: { syscall: 'fgetxattr', result: 'buffer', fields: { fd: 'fd', name: 'str' } },
  fsetxattr: { syscall: 'fsetxattr', fields: { fd: 'fd', name: 'str', value: 'buf', flags: 'u32?' } },
  flistxattr: { syscall: 'flistxattr', result: 'names', fields: { fd: 'fd' } },
  fremovexattr: { syscall: 'fremovexattr', fields: { fd: 'fd', name: 'str' } },
  // fsetxattr/fremovexattr on the file openat2(dirfd, path, flags, resolve) opens, closed after:
  // one step for an xattr of a name (fsetxattr refuses an O_PATH fd: open it O_RDONLY|O_NOFOLLOW
  // so that a link at the name is never followed). An error names the call that failed.
  fsetxattrAt: { syscall: 'fsetxattr', fields: { dirfd: 'fd?', path: 'str', flags: 'u32?', resolve: 'u64?', name: 'str', value: 'buf', xattrFlags: 'u32?' } },
  fremovexattrAt: { syscall: 'fremovexattr', fields: { dirfd: 'fd?', path: 'str', flags: 'u32?', resolve: 'u64?', name: 'str' } },
  // the kernel log as mounts read it back (native/kernel_log.cc): what /dev/kmsg's fd has goes
  // into the process's journal of records with their sequence numbers; the result is the last
  // sequence number there, then the journal's records after `since`
  kernelLog: { syscall: 'read', result: 'messages', fields: { fd: 'fd', since: 'u64?' } },
  // listmount(2) (Linux 6.8): the 64-bit ids of the mounts below `mountId` (0: the namespace's
  // root, LSMT_ROOT), in id order, after `since` (0: from the first); every page, in one step
  listmount: { syscall: 'listmount', result: 'ids', fields: { mountId: 'u64?', since: 'u64?' } },
  // fails ESTALE unless the mount on top at `path` (not following a last symlink) is the one with
  // this id: the 64-bit one (STATX_MNT_ID_UNIQUE) when `unique`, else the one mountinfo shows;
  // so an unmount in the same batch never takes down a mount stacked over ours
  expectMount: { syscall: 'statx', fields: { path: 'str', mountId: 'u64', unique: 'bool?' } },
  // a new user namespace carrying these maps (uid_map/gid_map text: "inside outside count" lines),
  // made by a short-lived child that is reaped before the step ends; the fd of the namespace
  userns: { syscall: 'clone', makes: 'file', fields: { uidMap: 'str', gidMap: 'str' } },
  // a layer directory for a reader (native/scan_dir.cc): readdir's entries, and only where their
  // type leaves it unsaid, whether a character device is a whiteout (flags 1: its type becomes
  // 14, DT_WHT, when it is 0/0) and a subdirectory's xattrs (flags 2: those of the comma-separated
  // `xattrs` it has). Result: [names, types, marks], marks = [index, xattr name, value, ...]
  scanDir: { syscall: 'scandir', result: 'scan', fields: { path: 'str', flags: 'u32?', xattrs: 'str?' } },
} as const satisfies Record<string, OpSchema>;

export type OpName = keyof typeof STEP_OPS;

/** The op names in code order: an op's code is its index here. */
export const OP_NAMES = Object.keys(STEP_OPS) as OpName[];

/** Slots per step in the packed form the addon reads (see packSlots()). */
export const SLOTS = { header: 3, fd: 2, num: 4, str: 4, buf: 1 } as const;
/** Numbers per step: opcode, bits (1 keep, 2 recordError), okErrno, then the fd and number slots. */
export const NUMS_PER_STEP = SLOTS.header + SLOTS.fd + SLOTS.num;

export type SlotClass = 'fd' | 'num' | 'str' | 'buf';

export function slotClass(kind: FieldKind): SlotClass {
  if (kind === 'fd' || kind === 'fd?' || kind === 'fs' || kind === 'step') return 'fd';
  if (kind === 'str' || kind === 'str?') return 'str';
  if (kind === 'buf') return 'buf';
  return 'num';
}

export interface FieldSlot {
  name: string;
  kind: FieldKind;
  class: SlotClass;
  /** Index within the slots of its class. */
  slot: number;
  optional: boolean;
}

/** The fields of an op with their slots: the n-th field of a class takes that class's n-th slot. */
export function packSlots(op: OpName): FieldSlot[] {
  const next: Record<SlotClass, number> = { fd: 0, num: 0, str: 0, buf: 0 };
  return Object.entries(STEP_OPS[op].fields as Record<string, FieldKind>).map(([name, kind]) => {
    const cls = slotClass(kind);
    const slot = next[cls]++;
    if (slot >= SLOTS[cls]) throw new Error(`step-schema: ${op} has more ${cls} fields than slots`);
    return { name, kind, class: cls, slot, optional: kind.endsWith('?') };
  });
}

// ---- the Step type, derived from the table ----

/** An fd operand of a step: the index of an earlier step that opened an fd, a handle, or a raw fd number. */
export type StepFd = number | FdHandle;

type FieldType<K> = K extends 'fd' | 'fs'
  ? StepFd
  : K extends 'fd?'
    ? StepFd | null
    : K extends 'step'
      ? number
      : K extends 'str'
        ? string | Buffer
        : K extends 'str?'
          ? string | Buffer | null
          : K extends 'buf'
            ? Buffer | Uint8Array | string
            : K extends 'bool?'
              ? boolean
              : number;

type Simplify<T> = { [K in keyof T]: T[K] } & {};
type IsOptional<K> = K extends `${string}?` ? true : false;

type FieldsOf<F> = { -readonly [K in keyof F as IsOptional<F[K]> extends true ? never : K]: FieldType<F[K]> } & {
  -readonly [K in keyof F as IsOptional<F[K]> extends true ? K : never]?: FieldType<F[K]> | undefined;
};

/** Fields every step may have. */
export interface StepCommon {
  /** This errno counts as success (the step's result is then undefined): e.g. ENODATA for an absent xattr. */
  okErrno?: number | undefined;
  /** A failure does not stop the batch: the step's result is its error, and the batch goes on. */
  recordError?: boolean | undefined;
}

/** Fields of a step that opens an fd. */
export interface KeepsFd {
  /** Return the fd as a handle (otherwise it is closed when the batch ends). */
  keep?: boolean | undefined;
}

type Schema = typeof STEP_OPS;

/** One step of the op `O`: `{ op: O, ...its fields }`. */
export type StepOf<O extends OpName> = Simplify<
  { op: O } & FieldsOf<Schema[O]['fields']> & StepCommon & (Schema[O] extends { makes: string } ? KeepsFd : unknown)
>;

/** The arguments of op `O` without `op`: what the single raw call takes. */
export type ArgsOf<O extends OpName> = Simplify<FieldsOf<Schema[O]['fields']>>;

/** One syscall of a runSteps() batch. */
export type Step = { [O in OpName]: StepOf<O> }[OpName];
