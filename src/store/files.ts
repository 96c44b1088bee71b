/**
 * The store's file primitives: whole-file writes by rename (a reader or a crash sees the old
 * file or the new one, never half of one), JSON records read with a shape check, and flock
 * locks (the kernel releases them when the process dies: no lock file whose existence is the
 * lock, nothing to clean up by hand after a kill -9).
 */
import { randomBytes } from 'node:crypto';
import { lstatSync, readdirSync } from 'node:fs';
import { open, readdir, readFile, rename, rm, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { OverlayError } from '../spec/errors.js';
import { flock, open as openFd, type FdHandle } from '../sys/fd.js';
import { LOCK, O } from '../sys/constants.js';

/** Temp files of writeAtomic: `.NAME.tmp-PID-RANDOM`, in the directory of NAME. */
export const TEMP_FILE = /^\..*\.tmp-\d+-[0-9a-f]+$/;

/**
 * Writes `data` to `path` by way of a temp file in the same directory, fsync'd, renamed over
 * `path`, the directory fsync'd: after this returns the new content survives a power cut, and
 * at no instant is there a partial file at `path`.
 */
export async function writeAtomic(path: string, data: string | Uint8Array, mode = 0o644): Promise<void> {
  const temp = join(dirname(path), `.${basename(path)}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`);
  const fh = await open(temp, 'wx', mode);
  try {
    await fh.writeFile(data);
    await fh.sync();
  } catch (e) {
    await fh.close();
    await unlink(temp).catch(() => {});
    throw e;
  }
  await fh.close();
  try {
    await rename(temp, path);
  } catch (e) {
    await unlink(temp).catch(() => {});
    throw e;
  }
  await syncDir(dirname(path));
}

export async function syncDir(dir: string): Promise<void> {
  const fh = await open(dir, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/** A JSON record, or undefined when there is none; ERR_STORE when it is not what `check` wants. */
export async function readRecord<T>(path: string, check: (v: unknown) => v is T): Promise<T | undefined> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new OverlayError('ERR_STORE', `'${path}' is not JSON: the store is damaged`, { path });
  }
  if (!check(value)) throw new OverlayError('ERR_STORE', `'${path}' is not a valid record: the store is damaged`, { path });
  return value;
}

export const writeRecord = (path: string, value: unknown): Promise<void> => writeAtomic(path, `${JSON.stringify(value, null, 2)}\n`);

/** Removes a file; false when it was not there. */
export async function removeFile(path: string): Promise<boolean> {
  try {
    await unlink(path);
    return true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw e;
  }
}

export const removeTree = (path: string): Promise<void> => rm(path, { recursive: true, force: true, maxRetries: 2 });

/** A directory's entry names, [] when it does not exist. */
export async function names(dir: string): Promise<string[]> {
  try {
    return await readdir(dir);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw e;
  }
}

/** A held flock lock; release() (or dispose) closes the fd, which releases it. */
export class StoreLock implements AsyncDisposable, Disposable {
  readonly path: string;
  readonly #fd: FdHandle;

  private constructor(path: string, fd: FdHandle) {
    this.path = path;
    this.#fd = fd;
  }

  /**
   * Takes the lock on `path` (made if missing): shared or exclusive; waits for it unless
   * `wait` is false, then undefined when another process holds it.
   */
  static async take(path: string, mode: 'shared' | 'exclusive', wait = true): Promise<StoreLock | undefined> {
    const fd = await openFd(path, O.RDONLY | O.CREAT, { mode: 0o600 });
    // Polled with LOCK_NB, never a blocking flock: a waiting lock must not hold one of the
    // thread pool's few threads (four waiters would starve the very work they wait for).
    for (let delay = 1; ; delay = Math.min(delay * 2, 50)) {
      try {
        await flock(fd, (mode === 'shared' ? LOCK.SH : LOCK.EX) | LOCK.NB);
        return new StoreLock(path, fd);
      } catch (e) {
        // Linux's EWOULDBLOCK is EAGAIN (the same errno, 11), and errors name it EAGAIN.
        const code = (e as NodeJS.ErrnoException).code;
        const busy = code === 'EAGAIN' || code === 'EWOULDBLOCK';
        if (!busy || !wait) {
          fd.close();
          if (busy) return undefined;
          throw e;
        }
      }
      await new Promise((resolve) => setTimeout(resolve, delay));
    }
  }

  release(): void {
    this.#fd.close();
  }

  [Symbol.dispose](): void {
    this.release();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    this.release();
  }
}

/**
 * What a directory's files take, as du --apparent-size counts (and docker's sizes): the sizes
 * of everything but directories, a hard-linked file once. Synchronous: a walk of lstat calls
 * costs far less on the main thread than one thread-pool hop each.
 */
export function diskUsage(dir: string): { size: number; entries: number } {
  const seen = new Set<string>();
  let size = 0;
  let entries = 0;
  const walk = (d: string) => {
    let list;
    try {
      list = readdirSync(d, { withFileTypes: true });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw e;
    }
    for (const e of list) {
      entries++;
      const p = join(d, e.name);
      if (e.isDirectory()) {
        walk(p);
        continue;
      }
      const st = lstatSync(p, { throwIfNoEntry: false });
      if (!st) continue;
      if (st.nlink > 1) {
        const key = `${st.dev}:${st.ino}`;
        if (seen.has(key)) continue;
        seen.add(key);
      }
      size += st.size;
    }
  };
  walk(dir);
  return { size, entries };
}

/**
 * What a directory takes on disk as du counts it (and containerd's snapshotters report Usage):
 * the blocks of every entry, the directories and the directory itself included, a hard-linked
 * file once; and the number of inodes (the directory itself included).
 */
export function diskBlocks(dir: string): { size: number; inodes: number } {
  const seen = new Set<string>();
  let size = 0;
  let inodes = 0;
  const count = (p: string): boolean => {
    const st = lstatSync(p, { throwIfNoEntry: false });
    if (!st) return false;
    if (st.nlink > 1 && !st.isDirectory()) {
      const key = `${st.dev}:${st.ino}`;
      if (seen.has(key)) return false;
      seen.add(key);
    }
    inodes++;
    size += st.blocks * 512;
    return st.isDirectory();
  };
  const walk = (d: string) => {
    let list;
    try {
      list = readdirSync(d);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw e;
    }
    for (const name of list) {
      const p = join(d, name);
      if (count(p)) walk(p);
    }
  };
  if (count(dir)) walk(dir);
  return { size, inodes };
}
