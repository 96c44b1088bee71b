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

/** What runSteps() gives back for a batch. */
export interface StepsResult {
  /**
   * Per step: the handle of a kept fd, the fields of a statx, a getxattr value, listxattr names,
   * an lseek offset, a realpath, a statmount result, a recorded error (recordError), else undefined.
   */
  results: unknown[];
  /** Every message the kernel logged on the batch's fs contexts ("w overlay: ..."). */
  kernelMessages: string[];
}

/** A layer writer as native/layer_write.cc makes it (src/sys/layer-writer.ts packs its batches). */
export interface NativeLayerWriter {
  readonly closed: boolean;
  readonly busy: boolean;
  /** `count` records of 12 numbers, their names NUL-terminated in `arena`, data and xattr values in `bufs`. */
  run(recs: Float64Array, count: number, arena: Buffer, bufs: Buffer[]): Promise<void>;
  runSync(recs: Float64Array, count: number, arena: Buffer, bufs: Buffer[]): void;
  finish(): Promise<void>;
  finishSync(): void;
  close(): void;
}

/** The addon's exports (native/addon.cc, native/fd.cc, native/batch.cc, native/layer_write.cc). */
export interface NativeBinding {
  setErrorFactory(factory: (raw: RawError) => Error): void;
  errnoName(errno: number): [string | null, string];
  leakedFdCount(): number;
  adoptFd(fd: number, kind?: FdHandle['kind']): FdHandle;
  FdHandle: abstract new (...args: never[]) => FdHandle;
  constants: Record<string, number>;
  /** Opens `dir` (O_PATH|O_DIRECTORY|O_NOFOLLOW); throws the Node-shaped error. */
  LayerWriter: new (dir: string | Buffer, noOpenat2: boolean) => NativeLayerWriter;
  /**
   * `count` steps packed by src/sys/steps.ts: numbers, strings, byte buffers, the caller's
   * handles and a Float64Array for statx results. `single`: one step, its result back; else the
   * results per step, then (when the kernel logged any) the fs contexts' messages.
   */
  runSteps(nums: Float64Array, count: number, strs: Array<string | Buffer | null>, bufs: Array<Buffer | null> | undefined, handles: Array<FdHandle | number>, statx: Float64Array, single: boolean): Promise<unknown>;
  /**
   * native/layer_read.cc: per name (relative to roots[flags[i] >> 8]) a row of statx fields, a
   * symlink target or file contents in `data`, and its xattrs; `count` names done. See
   * src/sys/layer-reader.ts for the row layout.
   */
  readEntries(roots: Array<FdHandle | number>, names: Array<string | Buffer>, flags: Uint32Array, budget: number): Promise<unknown>;
  readEntriesSync(roots: Array<FdHandle | number>, names: Array<string | Buffer>, flags: Uint32Array, budget: number): unknown;
  /** sha256 on the thread pool (layer_read.cc): a state, updates one at a time, the 32-byte digest once. */
  sha256Create(): unknown;
  sha256Update(state: unknown, buffers: readonly Buffer[]): Promise<void>;
  sha256UpdateSync(state: unknown, buffers: readonly Buffer[]): void;
  sha256Digest(state: unknown): Buffer;
  /** The syscall names a readEntries row's syscall field indexes. */
  readEntriesSyscalls: string[];
  runStepsSync(nums: Float64Array, count: number, strs: Array<string | Buffer | null>, bufs: Array<Buffer | null> | undefined, handles: Array<FdHandle | number>, statx: Float64Array, single: boolean): unknown;
}
