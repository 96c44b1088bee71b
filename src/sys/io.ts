/**
 * Logic written once for both API forms. A task that does I/O is a generator that yields what
 * it needs done (a batch of steps, a file read, a mkdir, ...) and gets the answer back; runSync()
 * does each request on the calling thread, runAsync() off it (the addon's thread-pool call,
 * fs.promises). So `mountOverlaySync` and `mountOverlay` are one function with two drivers, and
 * the Promise form never blocks the event loop. A failed request is thrown into the generator
 * at its `yield`, so its try/catch/finally run as they would around a direct call.
 *
 * Tasks use the typed helpers below (`const r = yield* steps([...])`), not raw yields.
 */
// Named, not `* as fs`: a bundle copies every export of a namespace import at load (~0.3 ms).
import { chmodSync, existsSync, lstatSync, mkdirSync, promises as fsp, read as fsRead, readlinkSync, readSync, rmdirSync, rmSync, type Stats } from 'node:fs';
import { dirname } from 'node:path';
import type { StepsResult } from './native-types.js';
import { runSteps, runStepsSync, type Step } from './steps.js';

export type Request =
  | { io: 'steps'; steps: readonly Step[] }
  | { io: 'mkdir'; path: string }
  | { io: 'rm'; path: string | Buffer }
  | { io: 'rmdir'; path: string }
  | { io: 'chmod'; path: string; mode: number }
  | { io: 'lstat'; path: string }
  | { io: 'read'; fd: number; buffer: Buffer }
  | { io: 'sleep'; ms: number }
  | { io: 'readlink'; path: string };

/** A task: yields requests, gets their answers, returns T. */
export type Task<T> = Generator<Request, T, unknown>;

/**
 * Node's recursive mkdir reports ENOENT for the path when making a missing directory failed
 * for another reason (EROFS, EACCES, ENOSPC): mkdir(2) of the first missing one says which.
 */
function mkdirCause(e: unknown, path: string): unknown {
  if ((e as NodeJS.ErrnoException)?.code !== 'ENOENT') return e;
  let missing = path;
  for (let parent = dirname(missing); parent !== missing && !existsSync(parent); parent = dirname(parent)) missing = parent;
  try {
    mkdirSync(missing);
    rmdirSync(missing); // it could be made after all: the original error stands
  } catch (cause) {
    return cause;
  }
  return e;
}

/** Does one request on the calling thread. */
export function perform(r: Request): unknown {
  switch (r.io) {
    case 'steps':
      return runStepsSync(r.steps);
    case 'mkdir':
      try {
        return mkdirSync(r.path, { recursive: true });
      } catch (e) {
        throw mkdirCause(e, r.path);
      }
    case 'rm':
      return rmSync(r.path, { recursive: true, force: true });
    case 'rmdir':
      return rmdirSync(r.path);
    case 'chmod':
      return chmodSync(r.path, r.mode);
    case 'lstat':
      return lstatSync(r.path, { throwIfNoEntry: false });
    case 'read':
      return readSync(r.fd, r.buffer, 0, r.buffer.length, null);
    case 'sleep':
      return Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, r.ms);
    case 'readlink':
      return readlinkSync(r.path);
  }
}

/** Does one request off the main thread. */
export function performAsync(r: Request): Promise<unknown> {
  switch (r.io) {
    case 'steps':
      return runSteps(r.steps);
    case 'mkdir':
      return fsp.mkdir(r.path, { recursive: true }).catch((e: unknown) => {
        throw mkdirCause(e, r.path);
      });
    case 'rm':
      return fsp.rm(r.path, { recursive: true, force: true });
    case 'rmdir':
      return fsp.rmdir(r.path);
    case 'chmod':
      return fsp.chmod(r.path, r.mode);
    case 'lstat':
      return fsp.lstat(r.path).catch((e: NodeJS.ErrnoException) => {
        if (e.code === 'ENOENT') return undefined;
        throw e;
      });
    case 'read':
      return new Promise((resolve, reject) => fsRead(r.fd, r.buffer, 0, r.buffer.length, null, (e, n) => (e ? reject(e) : resolve(n))));
    case 'sleep':
      return new Promise((resolve) => setTimeout(resolve, r.ms));
    case 'readlink':
      return fsp.readlink(r.path);
  }
}

/** Whether a task's yielded value is a request (tasks that stream results yield those too). */
export function isRequest(value: unknown): value is Request {
  return typeof value === 'object' && value !== null && typeof (value as { io?: unknown }).io === 'string';
}

/** Runs a task on the calling thread. */
export function runSync<T>(task: Task<T>): T {
  let next = task.next();
  while (!next.done) {
    let answer: unknown;
    try {
      answer = perform(next.value);
    } catch (e) {
      next = task.throw(e);
      continue;
    }
    next = task.next(answer);
  }
  return next.value;
}

/** Runs a task with every request off the main thread. */
export async function runAsync<T>(task: Task<T>): Promise<T> {
  let next = task.next();
  while (!next.done) {
    let answer: unknown;
    try {
      answer = await performAsync(next.value);
    } catch (e) {
      next = task.throw(e);
      continue;
    }
    next = task.next(answer);
  }
  return next.value;
}

// ---- typed requests ----

export function* steps(list: readonly Step[]): Task<StepsResult> {
  return (yield { io: 'steps', steps: list }) as StepsResult;
}
/** A whole file (one native step: procfs and sysfs files in one call, not open/fstat/read/close). */
export function* readFile(path: string): Task<Buffer> {
  return (yield* steps([{ op: 'readFile', path }])).results[0] as Buffer;
}
export function* readText(path: string): Task<string> {
  return (yield* readFile(path)).toString('utf8');
}
/** mkdir -p; the first directory it created, if any. */
export function* mkdirs(path: string): Task<string | undefined> {
  return (yield { io: 'mkdir', path }) as string | undefined;
}
/** rmdir(2): an empty directory only. */
export function* rmdir(path: string): Task<void> {
  yield { io: 'rmdir', path };
}
/** rm -rf. */
export function* removeTree(path: string | Buffer): Task<void> {
  yield { io: 'rm', path };
}
export function* chmod(path: string, mode: number): Task<void> {
  yield { io: 'chmod', path, mode };
}
/** A symlink's target (and /proc's magic links': what an fd or cwd points to). */
export function* readlink(path: string): Task<string> {
  return (yield { io: 'readlink', path }) as string;
}
/** Waits `ms` (the Sync driver blocks the thread, as any …Sync call does). */
export function* sleep(ms: number): Task<void> {
  yield { io: 'sleep', ms };
}
/** lstat, or undefined when the path does not exist. */
export function* lstat(path: string): Task<Stats | undefined> {
  return (yield { io: 'lstat', path }) as Stats | undefined;
}
// d_type values (dirent.h).
const DT_CHR = 2;
const DT_DIR = 4;
const DT_REG = 8;
const DT_LNK = 10;
/** A character device 0/0 (a whiteout), as a scanDir step with SCAN.WHITEOUTS reports it (BSD's DT_WHT). */
export const DT_WHT = 14;

/** A directory entry with its type, as readdir(3) gives it: the Dirent methods layer readers use. */
export class DirEntry {
  readonly name: string;
  readonly type: number;
  constructor(name: string, type: number) {
    this.name = name;
    this.type = type;
  }
  isDirectory(): boolean {
    return this.type === DT_DIR;
  }
  isFile(): boolean {
    return this.type === DT_REG;
  }
  isSymbolicLink(): boolean {
    return this.type === DT_LNK;
  }
  isCharacterDevice(): boolean {
    return this.type === DT_CHR;
  }
  /** A 0/0 character device: only a scanDir step with SCAN.WHITEOUTS tells. */
  isWhiteout(): boolean {
    return this.type === DT_WHT;
  }
}

/** The entries of a directory from a readdir step's result. */
export function direntries(result: unknown): DirEntry[] {
  const [names, types] = result as [string[], string];
  return names.map((name, i) => new DirEntry(name, types.charCodeAt(i)));
}

/** A directory's entries with their types (one native step). */
export function* readdir(path: string): Task<DirEntry[]> {
  return direntries((yield* steps([{ op: 'readdir', path }])).results[0]);
}
/** scanDir flags: mark 0/0 character devices (DT_WHT); read the asked-for xattrs of subdirectories. */
export const SCAN = { WHITEOUTS: 1, DIR_XATTRS: 2 } as const;

/** A directory read by a scanDir step: its entries, and the xattrs read, by entry index then name. */
export interface ScannedDir {
  entries: DirEntry[];
  xattrs: Map<number, Map<string, Buffer>>;
}

const NO_XATTRS: Map<number, Map<string, Buffer>> = new Map();

/** A scanDir step's result. */
export function scannedDir(result: unknown): ScannedDir {
  const [names, types, marks] = result as [string[], string, Array<number | string | Buffer>];
  const entries = names.map((name, i) => new DirEntry(name, types.charCodeAt(i)));
  if (marks.length === 0) return { entries, xattrs: NO_XATTRS };
  const xattrs = new Map<number, Map<string, Buffer>>();
  for (let k = 0; k < marks.length; k += 3) {
    const i = marks[k] as number;
    let of = xattrs.get(i);
    if (of === undefined) xattrs.set(i, (of = new Map()));
    of.set(marks[k + 1] as string, marks[k + 2] as Buffer);
  }
  return { entries, xattrs };
}

/**
 * Whether `e` is the failure of a readdir or scanDir step to read the directory `path` itself
 * (not one of its entries): what a layer reader takes as an unreadable directory.
 */
export function isDirReadError(e: unknown, path: string): boolean {
  const x = e as NodeJS.ErrnoException | undefined;
  return x instanceof Error && x.syscall === 'scandir' && x.path === path;
}

export function* read(fd: number, buffer: Buffer): Task<number> {
  return (yield { io: 'read', fd, buffer }) as number;
}
